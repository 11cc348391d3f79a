//! Jobs of `backend = "kubernetes"` processors: one batch/v1 Job per attempt, watched to its
//! end, adopted by the next launcher when one dies, deleted on a timeout or a cancel.

use std::{collections::BTreeMap, time::Duration};

use chrono::Utc;
use nrt_events::{Alert, JobDead, JobFailed, JobStarted, JobSucceeded, Severity, streams};
use processor_launcher::{
    Config, JobRecord, JobState,
    backend::{BackendJob, attempt_name},
    store::JobStore,
};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::{
    fake_api::{FakeApi, Route, complete_status, failed_status, job_pod},
    harness::{Harness, S2_GRANULE, WAIT, job, next_lifecycle, processors::CONTAINER_IMAGE},
    outputs::{Written, assert_outputs, eventually, metadata, put, read_manifest, write_outputs},
};

const MANIFEST_URI: &str = "NRT_JOB_MANIFEST_URI";
const OUTPUT_URI: &str = "NRT_JOB_OUTPUT_URI";
/// What the processor container logs.
const LOG: &str = "reading tile T54PXA\nclassifying snow\nwriting result.tif\n";

/// A launcher whose cluster is `api`.
fn config(harness: &Harness, api: &FakeApi) -> Config {
    let mut config = harness.config();
    config.kubernetes.api_url = Some(api.url());
    config
}

async fn next_created(created: &mut UnboundedReceiver<Value>) -> Value {
    tokio::time::timeout(WAIT, created.recv())
        .await
        .expect("no Job was created")
        .unwrap()
}

fn name_of(job: &Value) -> String {
    job["metadata"]["name"].as_str().unwrap().to_owned()
}

/// The container's environment as the kubelet gives it (`$$` in the spec stands for `$`).
fn env_of(job: &Value) -> BTreeMap<String, String> {
    job["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|var| {
            let value = var["value"].as_str().unwrap().replace("$$", "$");
            (var["name"].as_str().unwrap().to_owned(), value)
        })
        .collect()
}

/// `jobs/<processor>/<job_id>/attempt-<n>/`, where a remote attempt's manifest and outputs go.
fn attempt_prefix(processor: &str, job_id: &str, attempt: u32) -> String {
    format!("jobs/{processor}/{job_id}/attempt-{attempt}/")
}

/// Plays the Job's pod to a clean exit: the container writes its outputs where
/// `NRT_JOB_OUTPUT_URI` says and exits 0, and the Job controller marks the Job complete.
async fn run_to_completion(harness: &Harness, api: &FakeApi, job: &Value) -> Written {
    let written = write_outputs(harness, &env_of(job)[OUTPUT_URI]).await;
    let name = name_of(job);
    let exited = json!({ "terminated": { "exitCode": 0, "reason": "Completed" } });
    api.put_pod(job_pod(&name, "Succeeded", exited), LOG);
    api.set_job_status(&name, complete_status());
    written
}

fn deletes_of(api: &FakeApi, name: &str) -> usize {
    let path = format!("/apis/batch/v1/namespaces/nrt-jobs/jobs/{name}");
    api.requests_to(Route::DeleteJob)
        .iter()
        .filter(|delete| delete.path == path)
        .count()
}

#[tokio::test]
async fn a_job_runs_as_one_kubernetes_job_and_its_outputs_are_collected_from_s3() {
    let api = FakeApi::start().await;
    let mut created = api.created_jobs();
    let mut harness = Harness::prepare().await;
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.>").await;
    harness.start_launcher_with(config(&harness, &api));
    let request = job("kube-snow", "job-kube-ok", &[S2_GRANULE]);
    harness.request(request.clone()).await;

    let job = next_created(&mut created).await;
    let name = attempt_name("job-kube-ok", 1);
    let prefix = attempt_prefix("kube-snow", "job-kube-ok", 1);
    let manifest_uri = format!("s3://outputs/{prefix}manifest.json");
    let output_uri = format!("s3://outputs/{prefix}output/");
    assert_eq!(name_of(&job), name);
    assert_eq!(
        job["metadata"]["labels"],
        json!({
            "nrt-mesh.io/job-name": name, "nrt-mesh.io/processor": "kube-snow",
            "nrt-mesh.io/attempt": "1", "nrt-mesh.io/managed": "true",
        })
    );
    assert_eq!(
        job["metadata"]["annotations"]["nrt-mesh.io/job-id"],
        "job-kube-ok"
    );
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], CONTAINER_IMAGE);
    assert_eq!(
        container["command"],
        json!([
            "snow-cover",
            "--manifest",
            manifest_uri,
            "--output",
            output_uri
        ])
    );
    assert_eq!(
        env_of(&job),
        BTreeMap::from([
            (MANIFEST_URI.to_owned(), manifest_uri.clone()),
            (OUTPUT_URI.to_owned(), output_uri.clone()),
        ])
    );
    let manifest = read_manifest(&harness, &manifest_uri).await;
    assert_eq!(
        (manifest.job_id.as_str(), manifest.attempt),
        ("job-kube-ok", 1)
    );
    assert_eq!(manifest.output_uri.as_deref(), Some(output_uri.as_str()));
    assert_eq!(manifest.inputs.len(), 1);
    let started: JobStarted = next_lifecycle(&mut lifecycle).await;
    assert_eq!(started.attempt, 1);

    let written = run_to_completion(&harness, &api, &job).await;
    let succeeded: JobSucceeded = next_lifecycle(&mut lifecycle).await;

    assert_eq!(succeeded.attempt, 1);
    assert_outputs(
        &harness,
        &succeeded.outputs,
        &format!("{prefix}output/"),
        &written,
    )
    .await;
    assert_eq!(succeeded.metadata, Some(metadata()));
    let record = harness.record("job-kube-ok").await.unwrap();
    assert_eq!((record.state, record.attempt), (JobState::Succeeded, 1));
    assert_eq!(record.outputs, succeeded.outputs);
    assert_eq!(
        record.backend_job,
        Some(BackendJob {
            backend: "kubernetes".into(),
            name: name.clone(),
            id: job["metadata"]["uid"].as_str().unwrap().to_owned(),
        })
    );
    let log_tail = harness
        .s3_object("jobs/kube-snow/job-kube-ok/logs/attempt-1/log-tail.txt")
        .await;
    assert_eq!(log_tail, LOG.as_bytes(), "the pod's log outlives the Job");
    assert_eq!(api.requests_to(Route::CreateJob).len(), 1);
    assert_eq!(deletes_of(&api, &name), 1, "a settled Job is removed");
    assert!(api.jobs().is_empty());
}

#[tokio::test]
async fn job_started_names_the_backend_that_runs_the_attempt() {
    let api = FakeApi::start().await;
    let mut harness = Harness::prepare().await;
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.started.>").await;
    harness.start_launcher_with(config(&harness, &api));
    harness
        .request(job("kube-snow", "job-kube-started", &[S2_GRANULE]))
        .await;

    let started: JobStarted = next_lifecycle(&mut lifecycle).await;

    assert_eq!(started.backend, "kubernetes");
}

#[tokio::test]
async fn a_launcher_that_dies_leaves_its_running_job_to_the_next_which_adopts_it() {
    let api = FakeApi::start().await;
    let mut created = api.created_jobs();
    let mut harness = Harness::prepare().await;
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.>").await;
    // No drain: the launcher lets go of its job at once, renewing nothing, as a dead one would.
    let dying = Config {
        drain_timeout_secs: 0,
        ..config(&harness, &api)
    };
    harness.start_launcher_with(dying);
    harness
        .request(job("kube-snow", "job-kube-adopted", &[S2_GRANULE]))
        .await;
    let job = next_created(&mut created).await;
    let _: JobStarted = next_lifecycle(&mut lifecycle).await;

    harness.stop_launcher().await;
    let orphaned = harness.record("job-kube-adopted").await.unwrap();
    assert_eq!(orphaned.state, JobState::Running);
    assert!(orphaned.backend_job.is_some());
    harness.start_launcher_with(config(&harness, &api));
    let adopted = harness
        .record_when("job-kube-adopted", |record| record.owner != orphaned.owner)
        .await;
    assert_eq!((adopted.state, adopted.attempt), (JobState::Running, 1));
    assert_eq!(adopted.backend_job, orphaned.backend_job);
    // The first launcher's watch, then the adopter's: it watches the Job that runs.
    eventually("the adopter watches the Job", || {
        api.requests_to(Route::WatchJobs).len() >= 2
    })
    .await;

    let written = run_to_completion(&harness, &api, &job).await;
    let succeeded: JobSucceeded = next_lifecycle(&mut lifecycle).await;

    assert_eq!(succeeded.attempt, 1);
    let prefix = attempt_prefix("kube-snow", "job-kube-adopted", 1);
    assert_outputs(
        &harness,
        &succeeded.outputs,
        &format!("{prefix}output/"),
        &written,
    )
    .await;
    assert_eq!(
        api.requests_to(Route::CreateJob).len(),
        1,
        "never a second Job"
    );
    let record = harness.record("job-kube-adopted").await.unwrap();
    assert_eq!((record.state, record.attempt), (JobState::Succeeded, 1));
    assert_eq!(record.owner, adopted.owner);
    let later = lifecycle.drain_raw(Duration::from_secs(1)).await;
    assert!(later.is_empty(), "one start, one outcome: {later:?}");
}

#[tokio::test]
async fn an_oom_killed_job_fails_its_attempt_and_the_retry_is_a_new_job() {
    let api = FakeApi::start().await;
    let mut created = api.created_jobs();
    let mut harness = Harness::prepare().await;
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.>").await;
    harness.start_launcher_with(config(&harness, &api));
    harness
        .request(job("kube-snow", "job-kube-oom", &[S2_GRANULE]))
        .await;

    let first = next_created(&mut created).await;
    let first_name = name_of(&first);
    assert_eq!(first_name, attempt_name("job-kube-oom", 1));
    // The container wrote part of its product before the kernel killed it.
    let partial = bytes::Bytes::from_static(b"II*\0partial");
    put(&harness, &env_of(&first)[OUTPUT_URI], "result.tif", partial).await;
    let killed = json!({ "terminated": { "exitCode": 137, "reason": "OOMKilled" } });
    api.put_pod(
        job_pod(&first_name, "Failed", killed),
        "reading tile T54PXA\nallocating 9 GiB\n",
    );
    let backoff = "Job has reached the specified backoff limit";
    api.set_job_status(&first_name, failed_status("BackoffLimitExceeded", backoff));

    let started: JobStarted = next_lifecycle(&mut lifecycle).await;
    assert_eq!(started.attempt, 1);
    let failed: JobFailed = next_lifecycle(&mut lifecycle).await;
    assert_eq!(failed.attempt, 1);
    assert!(failed.will_retry);
    assert_eq!(failed.exit_code, Some(137));
    assert_eq!(
        failed.reason,
        format!(
            "the processor exited with code 137: BackoffLimitExceeded: {backoff}; \
             container processor: OOMKilled (exit code 137)"
        )
    );
    assert_eq!(failed.log_tail, ["reading tile T54PXA", "allocating 9 GiB"]);
    assert_eq!(deletes_of(&api, &first_name), 1);

    let second = next_created(&mut created).await;
    let second_name = name_of(&second);
    assert!(second_name.ends_with("-2"), "{second_name}");
    assert_eq!(second_name, attempt_name("job-kube-oom", 2));
    let prefix = attempt_prefix("kube-snow", "job-kube-oom", 2);
    assert_eq!(
        env_of(&second)[OUTPUT_URI],
        format!("s3://outputs/{prefix}output/")
    );
    let written = run_to_completion(&harness, &api, &second).await;
    let started: JobStarted = next_lifecycle(&mut lifecycle).await;
    assert_eq!(started.attempt, 2);
    let succeeded: JobSucceeded = next_lifecycle(&mut lifecycle).await;

    assert_eq!(succeeded.attempt, 2);
    // Only the second attempt's files: the partial one of the first stays where it was.
    assert_outputs(
        &harness,
        &succeeded.outputs,
        &format!("{prefix}output/"),
        &written,
    )
    .await;
    let record = harness.record("job-kube-oom").await.unwrap();
    assert_eq!((record.state, record.attempt), (JobState::Succeeded, 2));
    assert_eq!(
        record.backend_job.map(|job| job.name),
        Some(second_name.clone())
    );
    let creates: Vec<String> = api
        .requests_to(Route::CreateJob)
        .iter()
        .map(|create| name_of(create.body.as_ref().unwrap()))
        .collect();
    assert_eq!(creates, [first_name, second_name]);
}

#[tokio::test]
async fn a_job_past_its_timeout_is_deleted_and_with_no_attempt_left_the_job_is_dead() {
    let api = FakeApi::start().await;
    let mut created = api.created_jobs();
    let mut harness = Harness::prepare().await;
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.>").await;
    let mut alerts = harness.tap(streams::ALERTS.name, "alerts.>").await;
    harness.start_launcher_with(config(&harness, &api));
    harness
        .request(job("kube-stuck", "job-kube-stuck", &[S2_GRANULE]))
        .await;

    // The pod runs and never ends.
    let name = name_of(&next_created(&mut created).await);
    api.put_pod(
        job_pod(&name, "Running", json!({ "running": {} })),
        "classifying snow\n",
    );
    let _: JobStarted = next_lifecycle(&mut lifecycle).await;
    let failed: JobFailed = next_lifecycle(&mut lifecycle).await;

    let reason = format!(
        "the processor ran past its timeout of 2s and its kubernetes job {name} was stopped"
    );
    assert_eq!(failed.reason, reason);
    assert!(!failed.will_retry);
    assert_eq!(failed.log_tail, ["classifying snow"]);
    let deletes = api.requests_to(Route::DeleteJob);
    assert_eq!(deletes.len(), 1);
    assert_eq!(
        deletes[0].path,
        format!("/apis/batch/v1/namespaces/nrt-jobs/jobs/{name}")
    );
    assert_eq!(
        deletes[0].body.as_ref().unwrap()["propagationPolicy"],
        "Background",
        "the pod goes with its Job"
    );
    assert!(api.jobs().is_empty());
    let dead: JobDead = next_lifecycle(&mut lifecycle).await;
    assert_eq!((dead.attempts, dead.reason.as_str()), (1, reason.as_str()));
    let alert: Alert = next_lifecycle(&mut alerts).await;
    assert_eq!(
        (alert.kind.as_str(), alert.severity),
        ("job-dead", Severity::Critical)
    );
    let record = harness.record("job-kube-stuck").await.unwrap();
    assert_eq!((record.state, record.cancelled), (JobState::Dead, false));
}

#[tokio::test]
async fn a_cancelled_job_has_its_kubernetes_job_deleted_and_is_dead() {
    let api = FakeApi::start().await;
    let mut created = api.created_jobs();
    let mut harness = Harness::prepare().await;
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.>").await;
    let mut alerts = harness.tap(streams::ALERTS.name, "alerts.>").await;
    harness.start_launcher_with(config(&harness, &api));
    harness
        .request(job("kube-snow", "job-kube-cancelled", &[S2_GRANULE]))
        .await;
    let name = name_of(&next_created(&mut created).await);
    let _: JobStarted = next_lifecycle(&mut lifecycle).await;

    cancel(&harness, "job-kube-cancelled", "wrong area").await;

    // The owner loses its next lease renewal, deletes the Job, and publishes the end.
    let dead: JobDead = next_lifecycle(&mut lifecycle).await;
    assert_eq!(dead.reason, "cancelled by an operator: wrong area");
    assert_eq!(deletes_of(&api, &name), 1);
    assert!(api.jobs().is_empty());
    let alert: Alert = next_lifecycle(&mut alerts).await;
    assert_eq!(
        (alert.kind.as_str(), alert.severity),
        ("job-cancelled", Severity::Warning)
    );
    let record = harness.record("job-kube-cancelled").await.unwrap();
    assert_eq!((record.state, record.cancelled), (JobState::Dead, true));
    assert_eq!(api.requests_to(Route::CreateJob).len(), 1);
}

/// Cancels the job as `nrtmesh cancel` does: by compare-and-set, again when the owner's lease
/// renewal came first.
async fn cancel(harness: &Harness, job_id: &str, reason: &str) {
    let store = JobStore::new(harness.js.get_key_value(streams::KV_JOBS).await.unwrap());
    loop {
        let found = store.get(job_id).await.unwrap().unwrap();
        assert_eq!(found.record.state, JobState::Running);
        let cancelled: JobRecord = found.record.cancelled(reason, Utc::now()).unwrap();
        if store
            .update(&cancelled, found.revision)
            .await
            .unwrap()
            .is_some()
        {
            return;
        }
    }
}
