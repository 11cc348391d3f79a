//! The timeliness watchdog over a real nats-server, with a clock the test moves: overdue alerts
//! at the right time naming the right stage, cleared by publication, silent feeds, and state that
//! survives a restart. Checks run every 50 ms of real time; the clock says what time they judge.

use std::{collections::BTreeMap, path::Path, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use notifier::watchdog::{
    self, CollectionDeadline, FeedCadence, ITEM_EVENTS, JOB_EVENTS, PRODUCT_EVENTS, WatchdogConfig,
    WatchdogError,
    state::{JobWatch, Reported, Watch},
};
use nrt_events::{
    Alert, EventData, ItemPublished, JobDead, JobFailed, JobInput, JobRequested, JobStarted,
    JobSucceeded, ProductDiscovered, Severity, streams,
};
use nrt_nats::{
    ConsumerSpec, EventTap, Mesh, NatsConfig, NatsServer, Publisher,
    async_nats::jetstream::{self, consumer::pull},
};
use nrt_runtime::{Clock, Readiness, shutdown};

const WAIT: Duration = Duration::from_secs(20);
const S2: &str = "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505";
const S1: &str = "S1A_IW_GRDH_1SDV_20260101T012439_20260101T012508_062567_07D772_8DAD";
const S1_OTHER: &str = "S1C_IW_GRDH_1SDV_20260101T001022_20260101T001052_005702_00B654_2A4D";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// When every test's clock starts: just after the recorded S1 product's publication.
fn start_time() -> DateTime<Utc> {
    at("2026-01-01T04:00:00Z")
}

fn recorded(name: &str) -> ProductDiscovered {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/products")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn config() -> WatchdogConfig {
    WatchdogConfig {
        check_interval: Duration::from_millis(50),
        ..WatchdogConfig::default()
    }
}

/// A watchdog running on its own connection, as one notifier replica.
struct Running {
    stop: shutdown::Trigger,
    task: tokio::task::JoinHandle<Result<(), WatchdogError>>,
}

impl Running {
    async fn start(nats: &NatsServer, config: WatchdogConfig, clock: &Clock) -> Self {
        let nats_config = NatsConfig::local(nats.url());
        let mesh = Mesh::connect("notifier", &nats_config, Readiness::default())
            .await
            .unwrap();
        let (stop, shutdown) = shutdown::manual();
        let clock = clock.clone();
        let task =
            tokio::spawn(async move { watchdog::run(&config, &mesh, clock, shutdown).await });
        Self { stop, task }
    }

    async fn stop(self) {
        self.stop.trigger();
        self.task.await.unwrap().unwrap();
    }
}

/// What the test publishes and reads, as the other services would.
struct Peers {
    js: jetstream::Context,
    publisher: Publisher,
    alerts: EventTap,
}

impl Peers {
    async fn open(nats: &NatsServer) -> Self {
        let js = nats.jetstream().await;
        nrt_nats::apply_topology(&js, Default::default())
            .await
            .unwrap();
        Self {
            publisher: Publisher::new(js.clone(), "test"),
            alerts: EventTap::open(&js, streams::ALERTS.name, "alerts.>")
                .await
                .unwrap(),
            js,
        }
    }

    /// Publishes `event` and waits until the watchdog consumer `spec` has handled it.
    async fn handled<T: EventData>(&self, spec: &ConsumerSpec, event: T) {
        let ack = self.publisher.publish(event).await.unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(consumer) = self
                .js
                .get_consumer_from_stream::<pull::Config, _, _>(spec.durable, spec.stream.name)
                .await
                && let Ok(info) = consumer.get_info().await
                && info.ack_floor.stream_sequence >= ack.sequence
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} did not handle stream sequence {} in time",
                spec.durable,
                ack.sequence
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn next_alert(&mut self) -> Alert {
        self.alerts.next::<Alert>(WAIT).await.unwrap().data
    }

    /// The overdue report in the watchdog's record of a job, once the alert is marked there:
    /// a check raises the alert first, then marks it.
    async fn reported(&self, key: &str) -> Reported {
        let bucket = self.js.get_key_value(streams::KV_WATCHDOG).await.unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let value = bucket.get(key).await.unwrap().expect("record present");
            if let Watch::Job(JobWatch {
                overdue: Some(reported),
                ..
            }) = serde_json::from_slice(&value).unwrap()
            {
                return reported;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{key} never marked overdue"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn request(job_id: &str, inputs: &[&ProductDiscovered], deadline: DateTime<Utc>) -> JobRequested {
    JobRequested {
        job_id: job_id.into(),
        rule: "snow-s2".into(),
        processor: "snow-cover".into(),
        processor_version: "1.2.0".into(),
        inputs: inputs
            .iter()
            .map(|product| JobInput::from(*product))
            .collect(),
        parameters: BTreeMap::new(),
        priority: 0,
        deadline: Some(deadline),
    }
}

fn started(job_id: &str) -> JobStarted {
    JobStarted {
        job_id: job_id.into(),
        processor: "snow-cover".into(),
        processor_version: "1.2.0".into(),
        attempt: 1,
        backend: "local".into(),
        input_keys: vec![S2.into()],
        started_at: start_time(),
    }
}

fn failed(job_id: &str, will_retry: bool) -> JobFailed {
    JobFailed {
        job_id: job_id.into(),
        rule: "snow-s2".into(),
        processor: "snow-cover".into(),
        processor_version: "1.2.0".into(),
        attempt: 1,
        input_keys: vec![S2.into()],
        reason: "exited with code 3".into(),
        exit_code: Some(3),
        log_tail: vec!["ERROR no cloud mask in product".into()],
        will_retry,
    }
}

fn succeeded(job_id: &str) -> JobSucceeded {
    JobSucceeded {
        job_id: job_id.into(),
        rule: "snow-s2".into(),
        processor: "snow-cover".into(),
        processor_version: "1.2.0".into(),
        attempt: 1,
        inputs: vec![JobInput::from(&recorded(S2))],
        outputs: Vec::new(),
        metadata: None,
        started_at: start_time(),
        finished_at: start_time(),
    }
}

fn item(job_id: &str, input_keys: &[&str]) -> ItemPublished {
    ItemPublished {
        item_id: format!("{job_id}-snow"),
        collection: "snow-cover".into(),
        item_href: format!("s3://catalogue/snow-cover/items/{job_id}-snow.json"),
        job_id: job_id.into(),
        processor: "snow-cover".into(),
        input_keys: input_keys.iter().map(|key| (*key).to_owned()).collect(),
        datetime: None,
        bbox: None,
        published_at: Utc::now(),
    }
}

#[tokio::test]
async fn a_job_past_its_deadline_is_reported_once_as_not_launched_and_cleared_by_its_item() {
    let nats = NatsServer::start().await;
    let mut mesh = Peers::open(&nats).await;
    let clock = Clock::manual(start_time());
    let watchdog = Running::start(&nats, config(), &clock).await;
    let deadline = start_time() + TimeDelta::hours(3);
    mesh.handled(&JOB_EVENTS, request("job-late", &[&recorded(S2)], deadline))
        .await;

    clock.set(deadline + TimeDelta::minutes(5));
    let overdue = mesh.next_alert().await;
    assert_eq!(overdue.kind, "product-overdue");
    assert_eq!(overdue.severity, Severity::Warning);
    assert_eq!(overdue.about, "job-late");
    assert_eq!(
        overdue.message,
        format!(
            "Job job-late on {S2} (rule snow-s2, processor snow-cover) is 5m past its deadline \
             2026-01-01T07:00:00Z and not published: triggered, not launched."
        )
    );

    clock.advance(TimeDelta::minutes(10));
    mesh.handled(&ITEM_EVENTS, item("job-late", &[S2])).await;
    // The next alert is the clearance: the overdue one was not raised again in between.
    let cleared = mesh.next_alert().await;
    assert_eq!(
        (
            cleared.kind.as_str(),
            cleared.severity,
            cleared.about.as_str()
        ),
        ("product-overdue-cleared", Severity::Info, "job-late")
    );
    assert!(
        cleared.message.contains("15m after its deadline"),
        "{}",
        cleared.message
    );
    watchdog.stop().await;
}

#[tokio::test]
async fn each_overdue_job_names_the_stage_it_is_stuck_at() {
    let nats = NatsServer::start().await;
    let mut mesh = Peers::open(&nats).await;
    let clock = Clock::manual(start_time());
    let watchdog = Running::start(&nats, config(), &clock).await;
    let s2 = recorded(S2);
    let deadline = start_time() + TimeDelta::hours(1);
    for job in ["job-dead", "job-failed", "job-running", "job-succeeded"] {
        mesh.handled(&JOB_EVENTS, request(job, &[&s2], deadline))
            .await;
        mesh.handled(&JOB_EVENTS, started(job)).await;
    }
    mesh.handled(&JOB_EVENTS, failed("job-failed", true)).await;
    mesh.handled(&JOB_EVENTS, failed("job-dead", false)).await;
    let dead = JobDead {
        job_id: "job-dead".into(),
        rule: "snow-s2".into(),
        processor: "snow-cover".into(),
        processor_version: "1.2.0".into(),
        attempts: 1,
        input_keys: vec![S2.into()],
        reason: "used its 1 attempts".into(),
    };
    mesh.handled(&JOB_EVENTS, dead).await;
    mesh.handled(&JOB_EVENTS, succeeded("job-succeeded")).await;

    clock.set(deadline + TimeDelta::seconds(1));
    let mut stages = BTreeMap::new();
    for _ in 0..4 {
        let alert = mesh.next_alert().await;
        assert_eq!(alert.kind, "product-overdue");
        stages.insert(alert.about, alert.message);
    }
    let ends = [
        (
            "job-dead",
            "dead. It gave up after 1 attempt(s): used its 1 attempts.",
        ),
        (
            "job-failed",
            "failed, retrying. Attempt 1 failed: exited with code 3.",
        ),
        ("job-running", "launched and running."),
        ("job-succeeded", "succeeded, not published."),
    ];
    for (job, end) in ends {
        assert!(stages[job].ends_with(end), "{job}: {}", stages[job]);
    }
    watchdog.stop().await;
}

#[tokio::test]
async fn a_job_published_before_its_deadline_raises_no_alert() {
    let nats = NatsServer::start().await;
    let mut mesh = Peers::open(&nats).await;
    let clock = Clock::manual(start_time());
    let watchdog = Running::start(&nats, config(), &clock).await;
    let s2 = recorded(S2);
    let deadline = start_time() + TimeDelta::hours(3);
    mesh.handled(&JOB_EVENTS, request("job-on-time", &[&s2], deadline))
        .await;
    clock.advance(TimeDelta::hours(1));
    mesh.handled(&ITEM_EVENTS, item("job-on-time", &[S2])).await;
    // Checks go through the records in key order, so the canary's alert comes after the
    // published job was judged at the same time.
    mesh.handled(&JOB_EVENTS, request("zz-canary", &[&s2], deadline))
        .await;

    clock.set(deadline + TimeDelta::hours(1));
    let first = mesh.next_alert().await;
    assert_eq!(
        (first.kind.as_str(), first.about.as_str()),
        ("product-overdue", "zz-canary")
    );
    watchdog.stop().await;
}

#[tokio::test]
async fn a_silent_feed_is_reported_after_its_cadence_and_cleared_by_its_next_product() {
    let nats = NatsServer::start().await;
    let mut mesh = Peers::open(&nats).await;
    let clock = Clock::manual(start_time());
    let hourly = FeedCadence {
        expected_every: Duration::from_secs(3600),
    };
    let config = WatchdogConfig {
        feeds: BTreeMap::from([("cdse".to_owned(), hourly), ("stac-dlr".to_owned(), hourly)]),
        ..config()
    };
    let watchdog = Running::start(&nats, config, &clock).await;
    mesh.handled(&PRODUCT_EVENTS, recorded(S1)).await;

    clock.advance(TimeDelta::minutes(61));
    let silent = mesh.next_alert().await;
    assert_eq!(
        (silent.kind.as_str(), silent.severity, silent.about.as_str()),
        ("feed-silent", Severity::Warning, "cdse")
    );
    assert_eq!(
        silent.message,
        format!(
            "Feed cdse delivered no product for 1h 1m (expected one every 1h); the last, {S1}, \
             was seen at 2026-01-01T04:00:00Z (published in the feed at 2026-01-01T03:55:50Z)."
        )
    );
    // A feed never heard from counts its silence from the watchdog's start.
    let never = mesh.next_alert().await;
    assert_eq!(
        (never.kind.as_str(), never.about.as_str()),
        ("feed-silent", "stac-dlr")
    );
    assert!(
        never
            .message
            .contains("none was seen since watching began at 2026-01-01T04:00:00Z")
    );

    mesh.handled(&PRODUCT_EVENTS, recorded(S1_OTHER)).await;
    let cleared = mesh.next_alert().await;
    assert_eq!(
        (
            cleared.kind.as_str(),
            cleared.severity,
            cleared.about.as_str()
        ),
        ("feed-silent-cleared", Severity::Info, "cdse")
    );
    assert!(cleared.message.contains(S1_OTHER));
    watchdog.stop().await;
}

#[tokio::test]
async fn a_product_no_rule_selected_in_time_is_reported_as_discovered_not_triggered() {
    let nats = NatsServer::start().await;
    let mut mesh = Peers::open(&nats).await;
    let clock = Clock::manual(start_time());
    let config = WatchdogConfig {
        collections: BTreeMap::from([(
            "SENTINEL-1".to_owned(),
            CollectionDeadline {
                deadline: Duration::from_secs(3600),
            },
        )]),
        ..config()
    };
    let watchdog = Running::start(&nats, config, &clock).await;
    mesh.handled(&PRODUCT_EVENTS, recorded(S1)).await;

    // Published in the feed at 03:55:50, so due to be selected by 04:55:50.
    clock.set(at("2026-01-01T05:00:00Z"));
    let overdue = mesh.next_alert().await;
    assert_eq!(
        (overdue.kind.as_str(), overdue.about.as_str()),
        ("product-overdue", S1)
    );
    assert!(
        overdue
            .message
            .contains("4m 9s past its deadline 2026-01-01T04:55:50Z: discovered, not triggered"),
        "{}",
        overdue.message
    );

    let late_rule = request(
        "job-late-rule",
        &[&recorded(S1)],
        at("2026-01-01T08:00:00Z"),
    );
    mesh.handled(&JOB_EVENTS, late_rule).await;
    mesh.handled(&ITEM_EVENTS, item("job-late-rule", &[S1]))
        .await;
    let cleared = mesh.next_alert().await;
    assert_eq!(
        (cleared.kind.as_str(), cleared.about.as_str()),
        ("product-overdue-cleared", S1)
    );
    watchdog.stop().await;
}

#[tokio::test]
async fn a_restarted_watchdog_keeps_what_it_reported_and_raises_nothing_twice() {
    let nats = NatsServer::start().await;
    let mut mesh = Peers::open(&nats).await;
    let clock = Clock::manual(start_time());
    let s2 = recorded(S2);
    let deadline = start_time() + TimeDelta::hours(3);
    let first = Running::start(&nats, config(), &clock).await;
    mesh.handled(&JOB_EVENTS, request("job-late", &[&s2], deadline))
        .await;
    clock.set(deadline + TimeDelta::minutes(1));
    assert_eq!(mesh.next_alert().await.about, "job-late");
    let reported = mesh.reported("job.job-late").await;
    first.stop().await;

    clock.advance(TimeDelta::hours(1));
    let second = Running::start(&nats, config(), &clock).await;
    // The canary sorts after the late job: once it is reported, the late job was judged again.
    mesh.handled(&JOB_EVENTS, request("zz-canary", &[&s2], deadline))
        .await;
    let canary = mesh.next_alert().await;
    assert_eq!(canary.about, "zz-canary");
    assert_eq!(mesh.reported("job.job-late").await, reported);

    mesh.handled(&ITEM_EVENTS, item("job-late", &[S2])).await;
    let cleared = mesh.next_alert().await;
    assert_eq!(
        (cleared.kind.as_str(), cleared.about.as_str()),
        ("product-overdue-cleared", "job-late")
    );
    second.stop().await;
}

#[tokio::test]
async fn an_event_that_is_not_what_its_subject_says_is_passed_over_and_left_to_its_consumer() {
    let nats = NatsServer::start().await;
    let mut mesh = Peers::open(&nats).await;
    let clock = Clock::manual(start_time());
    let watchdog = Running::start(&nats, config(), &clock).await;
    let mut dead_letters = EventTap::open(&mesh.js, streams::DLQ.name, "dlq.notifier")
        .await
        .unwrap();
    mesh.publisher
        .publish_raw(
            "jobs.requested.snow-cover".into(),
            "not-a-cloudevent",
            bytes::Bytes::from_static(b"{\"job_id\":\"x\"}"),
        )
        .await
        .unwrap();
    // The launcher, which consumes it, dead-letters it; the watchdog reads on past it.
    let deadline = start_time() + TimeDelta::hours(3);
    mesh.handled(
        &JOB_EVENTS,
        request("job-after", &[&recorded(S2)], deadline),
    )
    .await;
    assert!(
        dead_letters
            .drain_raw(Duration::from_millis(300))
            .await
            .is_empty()
    );
    clock.set(deadline + TimeDelta::minutes(5));
    let overdue = mesh.next_alert().await;
    assert_eq!(
        (overdue.kind.as_str(), overdue.about.as_str()),
        ("product-overdue", "job-after")
    );
    watchdog.stop().await;
}

#[tokio::test]
async fn a_disabled_watchdog_reads_nothing() {
    let nats = NatsServer::start().await;
    let mesh = Peers::open(&nats).await;
    let config = WatchdogConfig {
        enabled: false,
        ..config()
    };
    let watchdog = Running::start(&nats, config, &Clock::manual(start_time())).await;
    watchdog.task.await.unwrap().unwrap();
    let consumer = mesh
        .js
        .get_consumer_from_stream::<pull::Config, _, _>(JOB_EVENTS.durable, streams::JOBS.name)
        .await;
    assert!(
        consumer.is_err(),
        "a disabled watchdog declared its consumer"
    );
}
