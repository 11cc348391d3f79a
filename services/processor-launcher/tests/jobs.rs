//! The launcher against a real nats-server and a real SeaweedFS: jobs run once, outputs land
//! under their prefix, a dead launcher's job is taken over, a lost one is stopped.

mod harness;

use chrono::{TimeDelta, Utc};
use harness::{AUX_PRODUCT, Harness, S1_SLICE, S2_GRANULE, job, next_lifecycle};
use nrt_events::{JobFailed, JobStarted, JobSucceeded, streams};
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
