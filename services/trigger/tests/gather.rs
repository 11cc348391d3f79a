//! Joins, periodic rules and retractions over a real nats-server: groups kept in JetStream KV,
//! completed by whichever replica gets the last product, closed on time by a clock the test
//! moves, and undone by retractions.

// Each test file uses part of the shared harness.
#[allow(dead_code)]
mod harness;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use nrt_events::{
    Alert, Envelope, JobRequested, ProductDiscovered, ProductRetracted, job_id, streams,
};
use nrt_nats::{EventTap, NatsServer, Publisher, TopologyOptions, apply_topology, async_nats};
use nrt_runtime::{Clock, shutdown};
use trigger::Error;

use harness::{S1_GRD, S2_54PXA, S2_55PBR, WAIT, config, product};

/// The next slice of S1_GRD's datatake (07D772, two slices).
const S1_GRD_NEXT: &str = "S1A_IW_GRDH_1SDV_20260101T012508_20260101T012542_062567_07D772_7994";
/// The five slices of datatake 00B654 and four of 00B656, sensed on 2026-01-01.
const DATATAKE_00B654: [&str; 5] = [
    "S1C_IW_GRDH_1SDV_20260101T001022_20260101T001052_005702_00B654_2A4D",
    "S1C_IW_GRDH_1SDV_20260101T001052_20260101T001117_005702_00B654_ABF9",
    "S1C_IW_GRDH_1SDV_20260101T001117_20260101T001142_005702_00B654_AC68",
    "S1C_IW_GRDH_1SDV_20260101T001142_20260101T001207_005702_00B654_FFDA",
    "S1C_IW_GRDH_1SDV_20260101T001207_20260101T001237_005702_00B654_B17E",
];
const DATATAKE_00B656: [&str; 4] = [
    "S1C_IW_GRDH_1SDV_20260101T003022_20260101T003051_005703_00B656_058A",
    "S1C_IW_GRDH_1SDV_20260101T003051_20260101T003116_005703_00B656_34E1",
    "S1C_IW_GRDH_1SDV_20260101T003116_20260101T003141_005703_00B656_10EC",
    "S1C_IW_GRDH_1SDV_20260101T003141_20260101T003209_005703_00B656_6C32",
];

const RULES: &str = r#"
[[rules]]
name = "datastrip-mosaic"
processor = "footprint"
collections = ["SENTINEL-2"]
[rules.join]
key = "{attributes.productGroupId}"
timeout = "6h"
on_timeout = "partial"
[[rules.join.inputs]]
name = "west"
[[rules.join.inputs.where]]
attribute = "tileId"
op = "eq"
value = "54PXA"
[[rules.join.inputs]]
name = "east"
[[rules.join.inputs.where]]
attribute = "tileId"
op = "eq"
value = "55PBR"

[[rules]]
name = "datatake-pair"
processor = "sar-backscatter"
[[rules.where]]
attribute = "datatakeID"
op = "eq"
value = 513906
[rules.join]
key = "{attributes.datatakeID}"
count = 2
timeout = "1h"
on_timeout = "alert"

[[rules]]
name = "datatake-00B654"
processor = "sar-backscatter"
[[rules.where]]
attribute = "datatakeID"
op = "eq"
value = 46676
[rules.join]
key = "{attributes.datatakeID}"
count = 5
timeout = "1h"
on_timeout = "alert"

[[rules]]
name = "datatake-00B656"
processor = "sar-backscatter"
[[rules.where]]
attribute = "datatakeID"
op = "eq"
value = 46678
[rules.join]
key = "{attributes.datatakeID}"
count = 4
timeout = "1h"
on_timeout = "alert"

[[rules]]
name = "s1-monthly"
processor = "sar-backscatter"
product_types = ["IW_GRDH_1S"]
[[rules.where]]
attribute = "platformSerialIdentifier"
op = "eq"
value = "A"
[rules.periodic]
every = "month"
grace = "1d"
[rules.parameters]
month = "{period}"

[[rules]]
name = "s2-footprint"
processor = "footprint"
product_types = ["S2MSI1C"]
"#;

/// When the test starts: after every golden product's sensing, inside no period's grace.
const START: &str = "2026-01-15T00:00:00Z";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// Trigger replicas sharing one nats-server and one clock.
struct Mesh {
    server: NatsServer,
    js: async_nats::jetstream::Context,
    ingestor: Publisher,
    clock: Clock,
    files: tempfile::TempDir,
    replicas: Vec<(
        shutdown::Trigger,
        tokio::task::JoinHandle<Result<(), Error>>,
    )>,
}

impl Mesh {
    async fn start(replicas: usize) -> Self {
        let server = NatsServer::start().await;
        let js = server.jetstream().await;
        apply_topology(&js, TopologyOptions::default())
            .await
            .unwrap();
        let mut mesh = Self {
            ingestor: Publisher::new(js.clone(), "ingestor"),
            server,
            js,
            clock: Clock::manual(at(START)),
            files: tempfile::tempdir().unwrap(),
            replicas: Vec::new(),
        };
        for _ in 0..replicas {
            mesh.add_replica();
        }
        mesh
    }

    fn add_replica(&mut self) {
        let mut config = config(self.server.url(), &self.files, RULES);
        // Several products at once per replica, so that replicas race on the same groups.
        config.concurrency = 8;
        let (stop, shutdown) = shutdown::manual();
        let service = tokio::spawn(trigger::run_at(config, self.clock.clone(), shutdown));
        self.replicas.push((stop, service));
    }

    async fn stop_replicas(&mut self) {
        for (stop, service) in self.replicas.drain(..) {
            stop.trigger();
            let outcome = tokio::time::timeout(WAIT, service).await.unwrap().unwrap();
            assert!(outcome.is_ok(), "{outcome:?}");
        }
    }

    async fn discover(&self, stem: &str) {
        self.publish(product(stem)).await;
    }

    async fn publish(&self, product: ProductDiscovered) {
        let event = Envelope::new("/nrt-mesh/ingestor", product);
        self.ingestor.publish_envelope(&event).await.unwrap();
    }

    async fn retract(&self, stem: &str) {
        let product = product(stem);
        let event = Envelope::new(
            "/nrt-mesh/ingestor",
            ProductRetracted {
                key: product.key.clone(),
                feed_id: product.feed_id.clone(),
                name: product.name.clone(),
                collection: Some(product.collection.clone()),
                product_type: Some(product.product_type.clone()),
                retracted_at: at(START),
                cause: Some("Duplicated product".into()),
                feed: product.feed,
            },
        );
        self.ingestor.publish_envelope(&event).await.unwrap();
    }

    async fn tap(&self, stream: &str, subjects: &str) -> EventTap {
        EventTap::open(&self.js, stream, subjects).await.unwrap()
    }

    /// Waits until every product published so far was handled by a replica.
    async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            // Missing until the first replica has declared it.
            let consumer = self
                .js
                .get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(
                    trigger::CONSUMER.durable,
                    streams::PRODUCTS.name,
                )
                .await;
            if let Ok(mut consumer) = consumer {
                let info = consumer.info().await.unwrap();
                if info.num_pending == 0 && info.num_ack_pending == 0 {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the products were not all handled"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn next_job(tap: &mut EventTap) -> JobRequested {
    tap.next::<JobRequested>(WAIT).await.unwrap().data
}

fn keys(job: &JobRequested) -> Vec<&str> {
    job.inputs.iter().map(|input| input.key.as_str()).collect()
}

#[tokio::test]
async fn a_join_requests_one_job_with_every_input_once_complete() {
    let mut mesh = Mesh::start(1).await;
    let mut jobs = mesh
        .tap(streams::JOBS.name, "jobs.requested.footprint")
        .await;
    mesh.discover(S2_54PXA).await;
    mesh.discover(S2_55PBR).await;

    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next_job(&mut jobs).await);
    }
    let mosaic: Vec<_> = seen
        .iter()
        .filter(|job| job.rule == "datastrip-mosaic")
        .collect();
    let [mosaic] = &mosaic[..] else {
        panic!("{seen:?}")
    };
    assert_eq!(keys(mosaic), [S2_54PXA, S2_55PBR]);
    assert_eq!(
        mosaic.job_id,
        job_id(
            "datastrip-mosaic",
            "footprint",
            "1.0.0",
            [S2_54PXA, S2_55PBR]
        )
    );
    assert!(jobs.drain_raw(Duration::from_millis(500)).await.is_empty());
    mesh.stop_replicas().await;
}

#[tokio::test]
async fn a_group_survives_a_trigger_restart() {
    let mut mesh = Mesh::start(1).await;
    let mut jobs = mesh
        .tap(streams::JOBS.name, "jobs.requested.footprint")
        .await;
    mesh.discover(S2_54PXA).await;
    mesh.settle().await;
    mesh.stop_replicas().await;

    mesh.add_replica();
    mesh.discover(S2_55PBR).await;
    let mut mosaic = None;
    while mosaic.is_none() {
        let job = next_job(&mut jobs).await;
        mosaic = (job.rule == "datastrip-mosaic").then_some(job);
    }
    assert_eq!(keys(&mosaic.unwrap()), [S2_54PXA, S2_55PBR]);
    mesh.stop_replicas().await;
}

#[tokio::test]
async fn a_partial_join_requests_what_came_when_its_timeout_passes() {
    let mut mesh = Mesh::start(1).await;
    let mut jobs = mesh
        .tap(streams::JOBS.name, "jobs.requested.footprint")
        .await;
    mesh.discover(S2_54PXA).await;
    let plain = next_job(&mut jobs).await;
    assert_eq!(plain.rule, "s2-footprint");
    mesh.settle().await;
    assert!(jobs.drain_raw(Duration::from_millis(300)).await.is_empty());

    mesh.clock.advance(TimeDelta::hours(6));
    let partial = next_job(&mut jobs).await;
    assert_eq!(partial.rule, "datastrip-mosaic");
    assert_eq!(keys(&partial), [S2_54PXA]);
    mesh.stop_replicas().await;
}

#[tokio::test]
async fn an_alerting_join_raises_its_alert_when_its_timeout_passes() {
    let mut mesh = Mesh::start(1).await;
    let mut alerts = mesh.tap(streams::ALERTS.name, "alerts.>").await;
    let mut jobs = mesh
        .tap(streams::JOBS.name, "jobs.requested.sar-backscatter")
        .await;
    mesh.discover(S1_GRD).await;
    mesh.settle().await;

    mesh.clock.advance(TimeDelta::minutes(59));
    assert!(
        alerts
            .drain_raw(Duration::from_millis(400))
            .await
            .is_empty(),
        "not yet due"
    );
    mesh.clock.advance(TimeDelta::minutes(1));
    let alert = alerts.next::<Alert>(WAIT).await.unwrap().data;
    assert_eq!(alert.kind, "join-timed-out");
    assert_eq!(alert.about, "datatake-pair/513906");
    assert!(
        alert.message.contains("products: 1 of 2"),
        "{}",
        alert.message
    );
    assert!(
        jobs.drain_raw(Duration::from_millis(300)).await.is_empty(),
        "an alerting join requests nothing"
    );
    mesh.stop_replicas().await;
}

#[tokio::test]
async fn two_replicas_racing_on_the_same_groups_make_one_job_per_group() {
    let mut mesh = Mesh::start(2).await;
    let mut jobs = mesh
        .tap(streams::JOBS.name, "jobs.requested.sar-backscatter")
        .await;
    let slices = DATATAKE_00B654.iter().chain(DATATAKE_00B656.iter());
    // Published together: both replicas pull them in parallel and add to the same two groups.
    futures::future::join_all(slices.map(|stem| mesh.discover(stem))).await;

    let mut seen = vec![next_job(&mut jobs).await, next_job(&mut jobs).await];
    mesh.settle().await;
    seen.extend(
        jobs.drain_raw(Duration::from_millis(500))
            .await
            .into_iter()
            .map(|(_, body)| Envelope::<JobRequested>::from_json(&body).unwrap().data),
    );
    let mut by_rule: Vec<(&str, usize)> = seen
        .iter()
        .map(|job| (job.rule.as_str(), job.inputs.len()))
        .collect();
    by_rule.sort();
    assert_eq!(by_rule, [("datatake-00B654", 5), ("datatake-00B656", 4)]);
    // Each published once: no repeat even reached the stream's duplicate filter.
    assert_eq!(
        mesh.js
            .get_stream(streams::JOBS.name)
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .state
            .messages,
        2
    );
    mesh.stop_replicas().await;
}

#[tokio::test]
async fn a_periodic_rule_requests_its_job_once_the_period_and_grace_have_passed() {
    let mut mesh = Mesh::start(1).await;
    let mut jobs = mesh
        .tap(streams::JOBS.name, "jobs.requested.sar-backscatter")
        .await;
    mesh.discover(S1_GRD).await;
    mesh.discover(S1_GRD_NEXT).await;
    // The pair join completes at once; the monthly synthesis waits.
    assert_eq!(next_job(&mut jobs).await.rule, "datatake-pair");
    mesh.settle().await;

    mesh.clock.set(at("2026-02-01T23:59:00Z"));
    assert!(
        jobs.drain_raw(Duration::from_millis(400)).await.is_empty(),
        "grace runs to Feb 2"
    );
    mesh.clock.set(at("2026-02-02T00:00:00Z"));
    let monthly = next_job(&mut jobs).await;
    assert_eq!(monthly.rule, "s1-monthly");
    assert_eq!(keys(&monthly), [S1_GRD, S1_GRD_NEXT]);
    assert_eq!(monthly.parameters["month"], "2026-01");
    mesh.stop_replicas().await;
}

#[tokio::test]
async fn a_retraction_cancels_the_open_join_and_names_the_jobs_already_requested() {
    let mut mesh = Mesh::start(1).await;
    let mut jobs = mesh
        .tap(streams::JOBS.name, "jobs.requested.footprint")
        .await;
    let mut alerts = mesh.tap(streams::ALERTS.name, "alerts.>").await;
    mesh.discover(S2_54PXA).await;
    let plain = next_job(&mut jobs).await;
    assert_eq!(plain.rule, "s2-footprint");

    mesh.retract(S2_54PXA).await;
    let alert = alerts.next::<Alert>(WAIT).await.unwrap().data;
    assert_eq!(alert.kind, "input-retracted");
    assert_eq!(alert.about, format!("{}/{S2_54PXA}", plain.job_id));

    // The join it opened is cancelled: the other tile makes its own plain job, no mosaic.
    mesh.discover(S2_55PBR).await;
    assert_eq!(next_job(&mut jobs).await.rule, "s2-footprint");
    mesh.settle().await;
    mesh.clock.advance(TimeDelta::hours(7));
    assert!(
        jobs.drain_raw(Duration::from_millis(500)).await.is_empty(),
        "neither a complete nor a partial mosaic"
    );
    mesh.stop_replicas().await;
}

#[tokio::test]
async fn open_groups_and_their_timeouts_survive_a_nats_restart() {
    let mut mesh = Mesh::start(1).await;
    mesh.discover(S1_GRD).await;
    mesh.settle().await;

    mesh.server.restart().await.unwrap();
    let mut alerts = mesh.tap(streams::ALERTS.name, "alerts.>").await;
    mesh.clock.advance(TimeDelta::hours(1));
    let alert = alerts.next::<Alert>(WAIT).await.unwrap().data;
    assert_eq!(alert.kind, "join-timed-out");
    assert_eq!(alert.about, "datatake-pair/513906");
    mesh.stop_replicas().await;
}

#[tokio::test]
async fn an_unreadable_retraction_is_dead_lettered_with_the_reason() {
    let mut mesh = Mesh::start(1).await;
    let mut dead_letters = mesh.tap(streams::DLQ.name, "dlq.trigger").await;
    mesh.ingestor
        .publish_raw(
            "products.retracted.SENTINEL-2.S2MSI1C".into(),
            "garbled-retraction",
            b"{\"specversion\": \"1.0\", \"id\"".to_vec().into(),
        )
        .await
        .unwrap();
    let dead = dead_letters
        .next::<nrt_events::DeadLetter>(WAIT)
        .await
        .unwrap()
        .data;
    assert!(
        dead.error
            .starts_with("message is not a product.retracted event this service reads"),
        "{}",
        dead.error
    );
    assert_eq!(dead.subject, "products.retracted.SENTINEL-2.S2MSI1C");
    mesh.stop_replicas().await;
}
