//! The Nomad backend against a fake agent that answers as Nomad's HTTP API documents (no Nomad
//! runs here): the requests the backend sends, and what it makes of the answers.

mod nomad;

use std::{collections::BTreeMap, error::Error, time::Duration};

use axum::http::{Method, StatusCode};
use nomad::{FakeNomad, Received};
use nrt_registry::Resources;
use nrt_runtime::Secret;
use processor_launcher::backend::{
    BackendError, BackendJob, ContainerAttempt, ContainerBackend, Ended, attempt_name,
    nomad::{MANIFEST_JSON_VARIABLE, NomadBackend, NomadConfig, parameterized_job},
};
use serde_json::json;

const PARENT: &str = "nrt-snow";
const TOKEN: &str = "5f3b9c1e-7d1a-4c2e-9a7b-acl-token";
const MANIFEST: &str = r#"{"job_id":"job-1","attempt":2}"#;
/// `MANIFEST` in standard base64.
const MANIFEST_BASE64: &str = "eyJqb2JfaWQiOiJqb2ItMSIsImF0dGVtcHQiOjJ9";

fn config(nomad: &FakeNomad) -> NomadConfig {
    NomadConfig {
        address: nomad.url.clone(),
        token: Some(Secret::new(TOKEN)),
        namespace: Some("eo".into()),
        region: Some("eu".into()),
        datacenters: vec!["dc1".into()],
        poll_every_ms: 5,
        register_jobs: true,
    }
}

fn backend(nomad: &FakeNomad) -> NomadBackend {
    NomadBackend::new(config(nomad)).unwrap()
}

fn attempt(number: u32) -> ContainerAttempt {
    ContainerAttempt {
        name: attempt_name("job-1", number),
        job_id: "job-1".into(),
        processor: "snow".into(),
        processor_version: "1.2.0".into(),
        attempt: number,
        image: "registry.example/snow:1.2.0".into(),
        command: vec![
            "snow".into(),
            "--job".into(),
            "${NOMAD_META_nrt_job_id}".into(),
        ],
        env: BTreeMap::from([
            ("GREETING".into(), "hello world".into()),
            (MANIFEST_JSON_VARIABLE.into(), MANIFEST.into()),
        ]),
        resources: Resources {
            cpu: Some(2.0),
            memory_mib: Some(2048),
            gpu: 0,
        },
        timeout: Duration::from_secs(600),
        job_dir: None,
        nomad_job: Some(PARENT.into()),
    }
}

/// The error and its sources, as one line.
fn chain(error: &BackendError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// Deadline against a hang, not a speed check.
async fn waited(backend: &NomadBackend, job: &BackendJob) -> Ended {
    tokio::time::timeout(Duration::from_secs(10), backend.wait(job))
        .await
        .expect("wait returns")
        .unwrap()
}

fn encoded(job_id: &str) -> String {
    job_id.replace('/', "%2F")
}

#[tokio::test]
async fn launch_registers_the_parameterized_job_then_dispatches_meta_payload_and_token() {
    let nomad = FakeNomad::start().await;
    let attempt = attempt(2);

    let job = backend(&nomad).launch(&attempt).await.unwrap();

    let children = nomad.children(PARENT);
    assert_eq!(children.len(), 1);
    assert_eq!(
        job,
        BackendJob {
            backend: "nomad".into(),
            name: attempt.name.clone(),
            id: children[0].clone(),
        }
    );
    let received = nomad.received();
    let calls: Vec<(Method, &str)> = received
        .iter()
        .map(|r| (r.method.clone(), r.path.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            (Method::POST, "/v1/jobs"),
            (Method::POST, "/v1/job/nrt-snow/dispatch"),
        ]
    );
    for request in &received {
        assert_eq!(request.token.as_deref(), Some(TOKEN));
        assert_eq!(request.query["namespace"], "eo");
        assert_eq!(request.query["region"], "eu");
    }

    let spec = &received[0].body.as_ref().unwrap()["Job"];
    assert_eq!(spec["ID"], PARENT);
    assert_eq!(spec["Type"], "batch");
    assert_eq!(spec["Namespace"], "eo");
    assert_eq!(
        spec["ParameterizedJob"],
        json!({ "Payload": "required", "MetaRequired": ["nrt_job_id", "nrt_attempt", "nrt_job_name"] })
    );
    let task = &spec["TaskGroups"][0]["Tasks"][0];
    assert_eq!(
        task["Config"],
        json!({
            "image": "registry.example/snow:1.2.0",
            "entrypoint": ["snow", "--job", "${NOMAD_META_nrt_job_id}"],
        })
    );
    assert_eq!(
        task["Env"],
        json!({ "GREETING": "hello world", "NRT_JOB_MANIFEST": "${NOMAD_TASK_DIR}/manifest.json" }),
        "the manifest JSON travels as the payload, not in the environment"
    );
    assert_eq!(task["Resources"], json!({ "CPU": 2000, "MemoryMB": 2048 }));

    let dispatch = &received[1];
    assert_eq!(dispatch.query["idempotency_token"], attempt.name);
    assert_eq!(
        dispatch.body.as_ref().unwrap(),
        &json!({
            "Meta": { "nrt_job_id": "job-1", "nrt_attempt": "2", "nrt_job_name": attempt.name },
            "Payload": MANIFEST_BASE64,
            "IdempotencyToken": attempt.name,
        })
    );
}

#[tokio::test]
async fn launching_the_same_attempt_again_adopts_its_dispatch_instead_of_making_another() {
    let nomad = FakeNomad::start().await;
    let attempt = attempt(1);
    let first_launcher = backend(&nomad);

    let first = first_launcher.launch(&attempt).await.unwrap();
    let again = first_launcher.launch(&attempt).await.unwrap();
    // A launcher that took the job over knows nothing of the first one's dispatch.
    let taken_over = backend(&nomad).launch(&attempt).await.unwrap();

    assert_eq!(again, first);
    assert_eq!(taken_over, first);
    assert_eq!(nomad.children(PARENT), [first.id.as_str()]);
    let registrations = nomad
        .received()
        .iter()
        .filter(|r| r.path == "/v1/jobs")
        .count();
    assert_eq!(registrations, 2, "once per launcher, not once per launch");
}

#[tokio::test]
async fn a_parameterized_job_deleted_behind_the_launchers_back_is_registered_again() {
    let nomad = FakeNomad::start().await;
    let backend = backend(&nomad);
    backend.launch(&attempt(1)).await.unwrap();
    nomad.agent().jobs.remove(PARENT);

    let error = backend.launch(&attempt(2)).await.unwrap_err();
    assert!(error.transient, "{}", chain(&error));
    let job = backend.launch(&attempt(2)).await.unwrap();

    assert!(nomad.children(PARENT).contains(&job.id));
    let registrations = nomad
        .received()
        .iter()
        .filter(|r| r.path == "/v1/jobs")
        .count();
    assert_eq!(registrations, 2);
}

#[tokio::test]
async fn find_returns_the_dispatch_whose_meta_names_the_attempt() {
    let nomad = FakeNomad::start().await;
    let backend = backend(&nomad);
    let first = backend.launch(&attempt(1)).await.unwrap();
    let second = backend.launch(&attempt(2)).await.unwrap();

    assert_eq!(backend.find(&attempt(1)).await.unwrap(), Some(first));
    assert_eq!(backend.find(&attempt(2)).await.unwrap(), Some(second));
    assert_eq!(backend.find(&attempt(3)).await.unwrap(), None);
    let list = nomad
        .received()
        .into_iter()
        .find(|r| r.method == Method::GET && r.path == "/v1/jobs")
        .unwrap();
    assert_eq!(list.query["prefix"], "nrt-snow/dispatch-");
    assert_eq!(list.query["meta"], "true");
}

#[tokio::test]
async fn wait_follows_the_allocation_by_blocking_queries_until_the_task_exits_0() {
    let nomad = FakeNomad::start().await;
    let backend = backend(&nomad);
    let job = backend.launch(&attempt(1)).await.unwrap();
    let alloc = "5457f16d-0f87-8e6b-5e91-0c7da3a41eb7";
    nomad.set_allocations(
        &job.id,
        &[
            &[("allocation-pending", alloc, 20)],
            &[("allocation-running", alloc, 20)],
            &[("allocation-complete", alloc, 20)],
        ],
    );
    let first_index = nomad.agent().index - 2;

    assert_eq!(waited(&backend, &job).await, Ended::Succeeded);

    let polls: Vec<Received> = nomad
        .received()
        .into_iter()
        .filter(|r| r.path == format!("/v1/job/{}/allocations", encoded(&job.id)))
        .collect();
    assert_eq!(polls.len(), 3);
    assert!(!polls[0].query.contains_key("index"));
    assert_eq!(polls[1].query["index"], first_index.to_string());
    assert_eq!(polls[2].query["index"], (first_index + 1).to_string());
    assert_eq!(polls[2].query["wait"], "60s");
}

#[tokio::test]
async fn wait_reports_the_exit_code_and_the_event_message_of_a_failed_task() {
    let nomad = FakeNomad::start().await;
    let backend = backend(&nomad);
    let job = backend.launch(&attempt(1)).await.unwrap();
    let alloc = "a8198d79-cfdb-6593-a999-1e9adabcba2e";
    nomad.set_allocations(
        &job.id,
        &[
            &[("allocation-running", alloc, 20)],
            &[("allocation-failed-exit-3", alloc, 20)],
        ],
    );

    assert_eq!(
        waited(&backend, &job).await,
        Ended::Failed {
            exit_code: Some(3),
            reason: "Terminated: Exit Code: 3, Exit Message: \"no usable input\"".into(),
        }
    );
}

#[tokio::test]
async fn wait_reports_a_lost_allocation_as_failed() {
    let nomad = FakeNomad::start().await;
    let backend = backend(&nomad);
    let job = backend.launch(&attempt(1)).await.unwrap();
    let alloc = "cd13d9b9-4f97-7184-c88b-7b451981616b";
    nomad.set_allocations(&job.id, &[&[("allocation-lost", alloc, 20)]]);

    assert_eq!(
        waited(&backend, &job).await,
        Ended::Failed {
            exit_code: None,
            reason: "allocation lost: alloc is lost since its node is down".into(),
        }
    );
}

#[tokio::test]
async fn wait_reports_a_job_gone_from_nomad_as_vanished() {
    let nomad = FakeNomad::start().await;
    let backend = backend(&nomad);
    let job = backend.launch(&attempt(1)).await.unwrap();
    nomad.agent().jobs.remove(&job.id);

    assert_eq!(waited(&backend, &job).await, Ended::Vanished);
}

#[tokio::test]
async fn wait_reports_a_job_stopped_before_placement_as_failed() {
    let nomad = FakeNomad::start().await;
    let backend = backend(&nomad);
    let job = backend.launch(&attempt(1)).await.unwrap();
    nomad.agent().jobs.get_mut(&job.id).unwrap()["Stop"] = json!(true);

    assert_eq!(
        waited(&backend, &job).await,
        Ended::Failed {
            exit_code: None,
            reason: "stopped before an allocation ran".into(),
        }
    );
}

#[tokio::test]
async fn kill_purges_the_dispatched_job_and_one_already_gone_is_no_error() {
    let nomad = FakeNomad::start().await;
    let backend = backend(&nomad);
    let job = backend.launch(&attempt(1)).await.unwrap();

    backend.kill(&job).await.unwrap();
    backend.kill(&job).await.unwrap();

    assert!(nomad.children(PARENT).is_empty());
    let deletes: Vec<Received> = nomad
        .received()
        .into_iter()
        .filter(|r| r.method == Method::DELETE)
        .collect();
    assert_eq!(deletes.len(), 2);
    assert_eq!(deletes[0].path, format!("/v1/job/{}", encoded(&job.id)));
    assert_eq!(deletes[0].query["purge"], "true");
}

#[tokio::test]
async fn log_tail_reads_the_end_of_the_latest_allocations_stderr() {
    let nomad = FakeNomad::start().await;
    let backend = backend(&nomad);
    let job = backend.launch(&attempt(1)).await.unwrap();
    let (earlier, latest) = (
        "516d2753-0513-cfc7-57ac-2d6fac18b9dc",
        "ed344e0a-7290-d117-41d3-a64f853ca3c2",
    );
    nomad.set_allocations(
        &job.id,
        &[&[
            ("allocation-failed-exit-3", earlier, 20),
            ("allocation-complete", latest, 30),
        ]],
    );
    let stderr: String = (1..=500).map(|n| format!("line {n}\n")).collect();
    nomad.agent().stderr.insert(latest.into(), stderr);

    let lines = backend.log_tail(&job, 3).await.unwrap();

    assert_eq!(lines, ["line 498", "line 499", "line 500"]);
    let read = nomad.received().pop().unwrap();
    assert_eq!(read.path, format!("/v1/client/fs/logs/{latest}"));
    for (name, value) in [
        ("task", "processor"),
        ("type", "stderr"),
        ("origin", "end"),
        ("offset", "1536"),
        ("plain", "true"),
    ] {
        assert_eq!(read.query[name], value, "{name}");
    }
}

#[tokio::test]
async fn a_refused_token_is_a_permanent_error_that_says_so() {
    let nomad = FakeNomad::start().await;
    nomad.fail_with(StatusCode::FORBIDDEN, "Permission denied");
    let attempt = attempt(1);

    let error = backend(&nomad).launch(&attempt).await.unwrap_err();

    assert!(!error.transient);
    assert_eq!(
        chain(&error),
        format!(
            "nomad could not register the parameterized job of {}: POST /v1/jobs: Nomad refused \
             the request (403 Forbidden: Permission denied); check the ACL token (nomad.token or \
             NOMAD_TOKEN) and its policy for this namespace",
            attempt.name
        )
    );
}

#[tokio::test]
async fn a_server_error_is_transient() {
    let nomad = FakeNomad::start().await;
    let backend = backend(&nomad);
    let job = backend.launch(&attempt(1)).await.unwrap();
    nomad.fail_with(StatusCode::INTERNAL_SERVER_ERROR, "No cluster leader");

    let error = backend.wait(&job).await.unwrap_err();

    assert!(error.transient);
    assert_eq!(
        chain(&error),
        format!(
            "nomad could not wait for {}: GET /v1/job/{}/allocations: Nomad answered 500 \
             Internal Server Error: No cluster leader",
            job.name,
            encoded(&job.id)
        )
    );
}

#[tokio::test]
async fn a_manifest_over_16_kib_is_refused_before_any_request() {
    let nomad = FakeNomad::start().await;
    let mut attempt = attempt(1);
    attempt
        .env
        .insert(MANIFEST_JSON_VARIABLE.into(), " ".repeat(20_000));

    let error = backend(&nomad).launch(&attempt).await.unwrap_err();

    assert!(!error.transient);
    assert_eq!(
        chain(&error),
        format!(
            "nomad could not dispatch {}: the manifest payload is 20000 bytes, over Nomad's \
             dispatch payload limit of 16384 bytes",
            attempt.name
        )
    );
    assert!(nomad.received().is_empty());
}

#[tokio::test]
async fn with_operator_managed_jobs_nothing_is_registered_and_a_missing_one_is_permanent() {
    let nomad = FakeNomad::start().await;
    let backend = NomadBackend::new(NomadConfig {
        register_jobs: false,
        ..config(&nomad)
    })
    .unwrap();
    let attempt = attempt(1);

    let error = backend.launch(&attempt).await.unwrap_err();
    assert!(!error.transient);
    assert!(
        chain(&error).ends_with(
            "POST /v1/job/nrt-snow/dispatch: Nomad answered 500 Internal Server Error: \
             parameterized job not found"
        ),
        "{}",
        chain(&error)
    );

    // The operator registers it.
    nomad.register(&parameterized_job(PARENT, &attempt, &config(&nomad)));
    let job = backend.launch(&attempt).await.unwrap();

    assert_eq!(nomad.children(PARENT), [job.id]);
    assert!(nomad.received().iter().all(|r| r.path != "/v1/jobs"));
}
