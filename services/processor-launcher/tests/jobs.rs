//! The launcher against a real nats-server and a real SeaweedFS: jobs run once, outputs land
//! under their prefix, failures retry then die, and bad input is dead-lettered.

mod harness;

use chrono::{TimeDelta, Utc};
use harness::{AUX_PRODUCT, Harness, S1_SLICE, S2_GRANULE, WAIT, job, next_lifecycle};
use nrt_events::{
    Alert, DeadLetter, JobDead, JobFailed, JobStarted, JobSucceeded, Severity, streams,
};
use processor_launcher::{CONSUMER, JobRecord, JobState};
use sha2::{Digest, Sha256};

#[tokio::test]
async fn a_job_runs_and_its_outputs_land_under_the_job_prefix_with_checksums() {
    let harness = Harness::start().await;
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.>").await;
    let request = job(
        "footprint",
        "job-success",
        &[S2_GRANULE, S1_SLICE, AUX_PRODUCT],
    );
    harness.request(request.clone()).await;

    let started: JobStarted = next_lifecycle(&mut lifecycle).await;
    assert_eq!((started.attempt, started.backend.as_str()), (1, "local"));
    assert_eq!(started.input_keys.len(), 3);
    let succeeded: JobSucceeded = next_lifecycle(&mut lifecycle).await;
    assert_eq!(succeeded.attempt, 1);
    assert_eq!(succeeded.inputs, request.inputs, "inputs are carried over");

    let mut paths: Vec<&str> = succeeded.outputs.iter().map(|o| o.path.as_str()).collect();
    paths.sort();
    assert_eq!(
        paths,
        ["coverage.json", "footprint.geojson", "metadata.json"]
    );
    for output in &succeeded.outputs {
        assert_eq!(output.bucket, harness::BUCKET);
        assert_eq!(
            output.key,
            format!("jobs/footprint/job-success/{}", output.path)
        );
        let stored = harness.s3_object(&output.key).await;
        assert_eq!(output.size, stored.len() as u64);
        assert_eq!(output.sha256, hex(&Sha256::digest(&stored)));
    }
    let geojson = succeeded
        .outputs
        .iter()
        .find(|o| o.path == "footprint.geojson")
        .unwrap();
    assert_eq!(geojson.media_type.as_deref(), Some("application/geo+json"));

    let metadata = succeeded.metadata.expect("the sidecar is passed on");
    assert_eq!(metadata["geometry"]["type"], "MultiPolygon");
    assert_eq!(metadata["properties"]["footprint:input_count"], 3);
    assert!(metadata["start_datetime"].is_string());

    let keys = harness.s3_keys().await;
    assert!(keys.contains(&"jobs/footprint/job-success/logs/attempt-1/stdout.txt".into()));
    assert!(keys.contains(&"jobs/footprint/job-success/logs/attempt-1/stderr.txt".into()));
    let stdout = harness
        .s3_object("jobs/footprint/job-success/logs/attempt-1/stdout.txt")
        .await;
    assert!(String::from_utf8_lossy(&stdout).contains("3 inputs, 1 without footprint"));

    let record = harness.record("job-success").await.unwrap();
    assert_eq!((record.state, record.attempt), (JobState::Succeeded, 1));
    assert_eq!(record.outputs, succeeded.outputs);
}

#[tokio::test]
async fn a_redelivered_or_repeated_request_never_runs_the_job_twice() {
    let mut harness = Harness::start().await;
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.succeeded.>").await;
    let request = job("counted", "job-once", &[S2_GRANULE]);
    harness.request(request.clone()).await;
    let first: JobSucceeded = next_lifecycle(&mut lifecycle).await;

    // The same request under another message id: JetStream keeps it, the launcher must not run it.
    let again = harness
        .request_again(request.clone(), "a-second-copy")
        .await;
    harness.wait_acknowledged(again).await;

    // The whole stream once more, as after a consumer reset.
    harness.stop_launcher().await;
    harness
        .js
        .delete_consumer_from_stream(CONSUMER.durable, CONSUMER.stream.name)
        .await
        .unwrap();
    harness.start_launcher();
    harness.wait_acknowledged(again).await;

    assert_eq!(harness.runs(), ["run job-once"], "the processor ran once");
    let repeats = lifecycle
        .drain_raw(std::time::Duration::from_millis(500))
        .await;
    assert!(
        repeats.is_empty(),
        "republished outcomes are dropped as duplicates: {repeats:?}"
    );
    let record = harness.record("job-once").await.unwrap();
    assert_eq!((record.state, record.attempt), (JobState::Succeeded, 1));
    assert_eq!(record.outputs, first.outputs);
}

#[tokio::test]
async fn a_failing_processor_is_retried_then_declared_dead_with_an_alert() {
    let harness = Harness::start().await;
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.>").await;
    let mut alerts = harness
        .tap(streams::ALERTS.name, "alerts.critical.job-dead")
        .await;
    let mut request = job("footprint", "job-fails", &[S2_GRANULE]);
    request
        .parameters
        .insert("fail_with_exit_code".into(), 3.into());
    harness.request(request).await;

    for attempt in 1..=2 {
        let started: JobStarted = next_lifecycle(&mut lifecycle).await;
        assert_eq!(started.attempt, attempt);
        let failed: JobFailed = next_lifecycle(&mut lifecycle).await;
        assert_eq!(failed.attempt, attempt);
        assert_eq!(failed.exit_code, Some(3));
        assert_eq!(failed.reason, "the processor exited with code 3");
        assert!(
            failed
                .log_tail
                .iter()
                .any(|line| line.contains("failing on purpose")),
            "{:?}",
            failed.log_tail
        );
        assert_eq!(failed.will_retry, attempt < 2);
    }
    let dead: JobDead = next_lifecycle(&mut lifecycle).await;
    assert_eq!(dead.attempts, 2);
    assert_eq!(dead.reason, "the processor exited with code 3");
    let alert = alerts.next::<Alert>(WAIT).await.unwrap().data;
    assert_eq!(
        (alert.severity, alert.kind.as_str()),
        (Severity::Critical, "job-dead")
    );
    assert_eq!(alert.about, "job-fails");

    let record = harness.record("job-fails").await.unwrap();
    assert_eq!((record.state, record.attempt), (JobState::Dead, 2));
    let keys = harness.s3_keys().await;
    assert!(keys.contains(&"jobs/footprint/job-fails/logs/attempt-2/stderr.txt".into()));
}

#[tokio::test]
async fn a_process_past_its_timeout_is_killed_and_the_attempt_fails() {
    let harness = Harness::start().await;
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.>").await;
    harness
        .request(job("sleeper", "job-sleeps", &[S2_GRANULE]))
        .await;

    let _: JobStarted = next_lifecycle(&mut lifecycle).await;
    let failed: JobFailed = next_lifecycle(&mut lifecycle).await;
    assert_eq!(
        failed.reason,
        "the processor ran past its timeout of 1s and was killed"
    );
    assert_eq!(failed.exit_code, None);
    assert!(!failed.will_retry);
    let _: JobDead = next_lifecycle(&mut lifecycle).await;
    harness.wait_gone(&harness.pid_of("sleeper").await).await;
}

#[tokio::test]
async fn a_launcher_that_loses_its_lease_kills_the_process() {
    let harness = Harness::start().await;
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.>").await;
    harness
        .request(job("holder", "job-stolen", &[S2_GRANULE]))
        .await;
    let _: JobStarted = next_lifecycle(&mut lifecycle).await;

    // Another launcher moves the record, as one that took the job over would.
    let kv = harness.js.get_key_value(streams::KV_JOBS).await.unwrap();
    let entry = kv.entry("job-stolen").await.unwrap().unwrap();
    let mut stolen: JobRecord = serde_json::from_slice(&entry.value).unwrap();
    stolen.owner = Some("other-launcher#7".into());
    stolen.lease_expires_at = Some(Utc::now() + TimeDelta::minutes(10));
    kv.update(
        "job-stolen",
        serde_json::to_vec(&stolen).unwrap().into(),
        entry.revision,
    )
    .await
    .unwrap();

    // The next renewal loses its compare-and-set: the process dies, the record stays theirs.
    harness.wait_gone(&harness.pid_of("holder").await).await;
    let record = harness.record("job-stolen").await.unwrap();
    assert_eq!(record.owner.as_deref(), Some("other-launcher#7"));
    assert_eq!(record.state, JobState::Running);
}

#[tokio::test]
async fn shutdown_lets_a_running_job_finish_before_the_launcher_stops() {
    let mut harness = Harness::start().await;
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.>").await;
    harness
        .request(job("slow", "job-drained", &[S2_GRANULE]))
        .await;
    let _: JobStarted = next_lifecycle(&mut lifecycle).await;

    harness.stop_launcher().await;
    let succeeded: JobSucceeded = next_lifecycle(&mut lifecycle).await;
    assert_eq!(succeeded.job_id, "job-drained");
    let record = harness.record("job-drained").await.unwrap();
    assert_eq!(record.state, JobState::Succeeded);
}

#[tokio::test]
async fn an_unsafe_output_name_fails_the_job_and_nothing_is_staged_outside_the_prefix() {
    let harness = Harness::start().await;
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.>").await;
    harness
        .request(job("unsafe-names", "job-unsafe", &[S2_GRANULE]))
        .await;

    let _: JobStarted = next_lifecycle(&mut lifecycle).await;
    let failed: JobFailed = next_lifecycle(&mut lifecycle).await;
    assert!(
        failed.reason.starts_with(
            r#"staging the outputs failed: output "bad\u{1}name.txt" has a name that cannot be staged"#
        ),
        "{}",
        failed.reason
    );
    assert_eq!(failed.exit_code, Some(0));
    let _: JobDead = next_lifecycle(&mut lifecycle).await;

    let keys = harness.s3_keys().await;
    assert_eq!(
        keys,
        [
            "jobs/unsafe-names/job-unsafe/logs/attempt-1/stderr.txt",
            "jobs/unsafe-names/job-unsafe/logs/attempt-1/stdout.txt",
        ],
        "only the logs: no output of a set with an unsafe name, nothing from outside output/"
    );
}

#[tokio::test]
async fn a_malformed_request_is_dead_lettered_with_the_reason() {
    let harness = Harness::start().await;
    let mut dead_letters = harness
        .tap(streams::DLQ.name, "dlq.processor-launcher")
        .await;
    let client = harness.nats.client().await;
    let js = async_nats::jetstream::new(client);
    js.publish("jobs.requested.footprint", "{not a cloudevent".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let letter = dead_letters.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert_eq!(letter.payload, "{not a cloudevent");
    assert!(
        letter
            .error
            .starts_with("message is not a job.requested event this service reads"),
        "{}",
        letter.error
    );

    harness
        .request(job("footprint", "../../etc", &[S2_GRANULE]))
        .await;
    let letter = dead_letters.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert!(
        letter.error.contains(r#"job_id "../../etc""#),
        "{}",
        letter.error
    );

    let mut unknown = job("footprint", "job-unknown", &[S2_GRANULE]);
    unknown.processor_version = "9.9.9".into();
    harness.request(unknown).await;
    let letter = dead_letters.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert!(
        letter.error.contains("the registry has version 1.0.0"),
        "{}",
        letter.error
    );
}

#[tokio::test]
async fn a_lease_left_by_a_dead_launcher_is_taken_over_and_the_job_runs_once() {
    let mut harness = Harness::prepare().await;
    let request = job("counted", "job-orphan", &[S2_GRANULE]);
    let long_ago = Utc::now() - TimeDelta::minutes(5);
    let orphan = JobRecord {
        state: JobState::Running,
        attempt: 1,
        owner: Some("dead-launcher#0".into()),
        lease_expires_at: Some(long_ago + TimeDelta::seconds(30)),
        started_at: Some(long_ago),
        ..JobRecord::requested("job-orphan", "counted", "1.0.0", 999, long_ago)
    };
    let kv = harness.js.get_key_value(streams::KV_JOBS).await.unwrap();
    kv.create("job-orphan", serde_json::to_vec(&orphan).unwrap().into())
        .await
        .unwrap();
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.>").await;
    harness.start_launcher();
    harness.request(request).await;

    let failed: JobFailed = next_lifecycle(&mut lifecycle).await;
    assert_eq!(failed.attempt, 1);
    assert!(
        failed
            .reason
            .contains("dead-launcher#0 stopped renewing its lease"),
        "{}",
        failed.reason
    );
    assert!(failed.will_retry);
    let started: JobStarted = next_lifecycle(&mut lifecycle).await;
    assert_eq!(started.attempt, 2);
    let succeeded: JobSucceeded = next_lifecycle(&mut lifecycle).await;
    assert_eq!(succeeded.attempt, 2);
    assert_eq!(harness.runs(), ["run job-orphan"]);
    let record = harness.record("job-orphan").await.unwrap();
    assert_eq!(record.state, JobState::Succeeded);
    assert_ne!(record.owner.as_deref(), Some("dead-launcher#0"));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
