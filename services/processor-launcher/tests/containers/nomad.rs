//! Jobs of `backend = "nomad"` processors: the processor's parameterized job registered, one
//! dispatch per attempt carrying the manifest as its payload, the allocation followed to its end.

use axum::http::Method;
use base64::{Engine, prelude::BASE64_STANDARD};
use nrt_events::{JobStarted, JobSucceeded, streams};
use nrt_runtime::Secret;
use processor_launcher::{
    Config, JobManifest, JobState,
    backend::{BackendJob, attempt_name, nomad::NomadConfig},
};
use serde_json::json;

use crate::{
    harness::{Harness, S2_GRANULE, WAIT, job, next_lifecycle, processors::CONTAINER_IMAGE},
    nomad::{Dispatched, FakeNomad},
    outputs::{assert_outputs, metadata, read_manifest, write_outputs},
};

const TOKEN: &str = "0f1e2d3c-acl-token";
const ALLOCATION: &str = "5457f16d-0f87-8e6b-5e91-0c7da3a41eb7";

/// A launcher whose Nomad is `nomad`.
fn config(harness: &Harness, nomad: &FakeNomad) -> Config {
    Config {
        nomad: NomadConfig {
            address: nomad.url.clone(),
            token: Some(Secret::new(TOKEN)),
            // The fake answers blocking queries at once: poll often.
            poll_every_ms: 50,
            ..NomadConfig::default()
        },
        ..harness.config()
    }
}

#[tokio::test]
async fn a_job_runs_as_one_dispatch_with_the_manifest_as_payload_and_its_outputs_are_collected() {
    let nomad = FakeNomad::start().await;
    let mut dispatches = nomad.dispatches();
    let mut harness = Harness::prepare().await;
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.>").await;
    harness.start_launcher_with(config(&harness, &nomad));
    harness
        .request(job("nomad-snow", "job-nomad-ok", &[S2_GRANULE]))
        .await;

    let Dispatched { job_id, request } = tokio::time::timeout(WAIT, dispatches.recv())
        .await
        .expect("nothing was dispatched")
        .unwrap();
    let name = attempt_name("job-nomad-ok", 1);
    let prefix = "jobs/nomad-snow/job-nomad-ok/attempt-1/";
    assert_eq!(
        request["Meta"],
        json!({ "nrt_job_id": "job-nomad-ok", "nrt_attempt": "1", "nrt_job_name": name })
    );
    // The task's payload: the manifest, which tells it where its outputs go.
    let payload = BASE64_STANDARD
        .decode(request["Payload"].as_str().unwrap())
        .unwrap();
    let manifest: JobManifest = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        (manifest.job_id.as_str(), manifest.attempt),
        ("job-nomad-ok", 1)
    );
    let output_uri = manifest.output_uri.clone().unwrap();
    assert_eq!(output_uri, format!("s3://outputs/{prefix}output/"));
    let stored = read_manifest(&harness, &format!("s3://outputs/{prefix}manifest.json")).await;
    assert_eq!(stored, manifest, "the payload is the manifest kept in S3");
    let started: JobStarted = next_lifecycle(&mut lifecycle).await;
    assert_eq!(started.attempt, 1);

    // The task writes its outputs and exits 0.
    let written = write_outputs(&harness, &output_uri).await;
    nomad.agent().stderr.insert(
        ALLOCATION.into(),
        "classifying snow\nwrote result.tif\n".into(),
    );
    nomad.set_allocations(&job_id, &[&[("allocation-complete", ALLOCATION, 20)]]);
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
    let record = harness.record("job-nomad-ok").await.unwrap();
    assert_eq!((record.state, record.attempt), (JobState::Succeeded, 1));
    assert_eq!(
        record.backend_job,
        Some(BackendJob {
            backend: "nomad".into(),
            name: name.clone(),
            id: job_id.clone(),
        })
    );
    let log_tail = harness
        .s3_object("jobs/nomad-snow/job-nomad-ok/logs/attempt-1/log-tail.txt")
        .await;
    assert_eq!(log_tail, "classifying snow\nwrote result.tif\n".as_bytes());

    let received = nomad.received();
    assert!(received.iter().all(|r| r.token.as_deref() == Some(TOKEN)));
    let registrations: Vec<_> = received
        .iter()
        .filter(|r| r.method == Method::POST && r.path == "/v1/jobs")
        .collect();
    assert_eq!(registrations.len(), 1);
    let spec = &registrations[0].body.as_ref().unwrap()["Job"];
    assert_eq!(spec["ID"], "nrt-nomad-snow");
    assert_eq!(spec["ParameterizedJob"]["Payload"], "required");
    let task = &spec["TaskGroups"][0]["Tasks"][0];
    assert_eq!(
        task["Config"],
        json!({
            "image": CONTAINER_IMAGE,
            "entrypoint": [
                "snow-cover", "--manifest", "${NOMAD_TASK_DIR}/manifest.json",
                "--job", "${NOMAD_META_nrt_job_id}",
            ],
        })
    );
    assert_eq!(
        task["Env"],
        json!({ "NRT_JOB_MANIFEST": "${NOMAD_TASK_DIR}/manifest.json" })
    );
    let dispatches: Vec<_> = received
        .iter()
        .filter(|r| r.path == "/v1/job/nrt-nomad-snow/dispatch")
        .collect();
    assert_eq!(dispatches.len(), 1, "one dispatch per attempt");
    assert_eq!(dispatches[0].query["idempotency_token"], name);
    let purge = received
        .iter()
        .find(|r| r.method == Method::DELETE)
        .expect("the settled job is purged");
    assert_eq!(
        purge.path,
        format!("/v1/job/{}", job_id.replace('/', "%2F"))
    );
    assert_eq!(purge.query["purge"], "true");
}
