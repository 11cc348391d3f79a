//! The Kubernetes backend against a fake API server that answers as the Kubernetes API
//! documents it: Jobs created once and adopted, watched to their end, deleted, logs read.

#[path = "kubernetes/fake_api.rs"]
mod fake_api;

use std::{collections::BTreeMap, time::Duration};

use fake_api::{FakeApi, Route, event, expired_event, job_status};
use nrt_registry::Resources;
use processor_launcher::backend::{
    BackendError, BackendJob, ContainerAttempt, ContainerBackend, Ended, attempt_name,
    kubernetes::{KubernetesBackend, KubernetesConfig, job_manifest},
};
use serde_json::{Value, json};

/// Long enough for any of these exchanges; reaching it means the backend waits for nothing.
const DEADLINE: Duration = Duration::from_secs(20);

fn attempt() -> ContainerAttempt {
    ContainerAttempt {
        name: attempt_name("s2-tile-T32TLR", 1),
        job_id: "s2-tile-T32TLR".to_owned(),
        processor: "snow-cover".to_owned(),
        processor_version: "1.4.0".to_owned(),
        attempt: 1,
        image: "registry.example/snow-cover:1.4.0".to_owned(),
        command: vec![
            "snow-cover".to_owned(),
            "--manifest=/nrt/job/manifest.json".to_owned(),
        ],
        env: BTreeMap::from([("NRT_JOB_ID".to_owned(), "s2-tile-T32TLR".to_owned())]),
        resources: Resources {
            cpu: Some(1.5),
            memory_mib: Some(4096),
            gpu: 0,
        },
        timeout: Duration::from_secs(3600),
        job_dir: None,
        nomad_job: None,
    }
}

fn config(api: &FakeApi) -> KubernetesConfig {
    KubernetesConfig {
        api_url: Some(api.url()),
        ..KubernetesConfig::default()
    }
}

async fn backend(api: &FakeApi) -> KubernetesBackend {
    KubernetesBackend::connect(config(api)).await.unwrap()
}

/// A Job as the API server returns it: the manifest plus uid, resourceVersion and status.
fn stored_job(uid: &str, resource_version: &str, conditions: Value) -> Value {
    let mut job =
        serde_json::to_value(job_manifest(&attempt(), &KubernetesConfig::default())).unwrap();
    job["metadata"]["uid"] = json!(uid);
    job["metadata"]["resourceVersion"] = json!(resource_version);
    job["metadata"]["creationTimestamp"] = json!("2026-01-01T10:00:00Z");
    job["status"] = json!({ "active": 1, "conditions": conditions });
    job
}

fn condition(type_: &str, reason: &str, message: &str) -> Value {
    json!({
        "type": type_, "status": "True", "reason": reason, "message": message,
        "lastProbeTime": "2026-01-01T10:05:00Z", "lastTransitionTime": "2026-01-01T10:05:00Z",
    })
}

fn launched(uid: &str) -> BackendJob {
    BackendJob {
        backend: "kubernetes".to_owned(),
        name: attempt().name,
        id: uid.to_owned(),
    }
}

async fn wait(backend: &KubernetesBackend, job: &BackendJob) -> Result<Ended, BackendError> {
    tokio::time::timeout(DEADLINE, backend.wait(job))
        .await
        .expect("wait did not end")
}

fn error_chain(error: &BackendError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn launch_creates_one_job_named_after_the_attempt() {
    let api = FakeApi::start().await;
    let backend = backend(&api).await;

    let job = backend.launch(&attempt()).await.unwrap();

    let creates = api.requests_to(Route::CreateJob);
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].path, "/apis/batch/v1/namespaces/nrt-jobs/jobs");
    let body = creates[0].body.clone().unwrap();
    assert_eq!(
        body,
        serde_json::to_value(job_manifest(&attempt(), &config(&api))).unwrap()
    );
    assert_eq!(body["metadata"]["name"], json!(attempt().name));
    assert_eq!(
        body["metadata"]["labels"]["nrt-mesh.io/job-name"],
        json!(attempt().name)
    );
    assert_eq!(
        body["metadata"]["annotations"]["nrt-mesh.io/job-id"],
        json!("s2-tile-T32TLR")
    );
    assert_eq!(body["spec"]["backoffLimit"], json!(0));
    assert_eq!(
        body["spec"]["template"]["spec"]["containers"][0]["resources"],
        json!({
            "requests": { "cpu": "1500m", "memory": "4096Mi" },
            "limits": { "cpu": "1500m", "memory": "4096Mi" },
        })
    );
    let stored_uid = api.jobs()[0]["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(job, launched(&stored_uid));
    assert_eq!(backend.find(&attempt()).await.unwrap(), Some(job));
}

#[tokio::test]
async fn launching_an_existing_job_adopts_it_instead_of_creating_another() {
    let api = FakeApi::start().await;
    api.put_job(stored_job("uid-of-the-first", "42", json!([])));
    let backend = backend(&api).await;

    let job = backend.launch(&attempt()).await.unwrap();

    assert_eq!(job, launched("uid-of-the-first"));
    assert_eq!(api.jobs().len(), 1);
    let routes: Vec<Route> = api.requests().iter().map(|r| r.route).collect();
    assert_eq!(routes, [Route::CreateJob, Route::GetJob]);
}

#[tokio::test]
async fn find_answers_none_when_the_job_does_not_exist() {
    let api = FakeApi::start().await;
    assert_eq!(backend(&api).await.find(&attempt()).await.unwrap(), None);
}

#[tokio::test]
async fn wait_watches_the_job_from_its_version_until_complete() {
    let api = FakeApi::start().await;
    api.put_job(stored_job("u1", "5", json!([])));
    api.script_watch(vec![
        event("MODIFIED", &stored_job("u1", "6", json!([]))),
        event(
            "MODIFIED",
            &stored_job(
                "u1",
                "7",
                json!([
                    condition(
                        "SuccessCriteriaMet",
                        "CompletionsReached",
                        "Reached expected number of succeeded pods"
                    ),
                    condition(
                        "Complete",
                        "CompletionsReached",
                        "Reached expected number of succeeded pods"
                    ),
                ]),
            ),
        ),
    ]);

    let ended = wait(&backend(&api).await, &launched("u1")).await.unwrap();

    assert_eq!(ended, Ended::Succeeded);
    let watches = api.requests_to(Route::WatchJobs);
    assert_eq!(watches.len(), 1);
    let query = &watches[0].query;
    assert_eq!(query["watch"], "true");
    assert_eq!(query["resourceVersion"], "5");
    assert_eq!(
        query["fieldSelector"],
        format!("metadata.name={}", attempt().name)
    );
}

#[tokio::test]
async fn a_job_past_its_deadline_fails_with_the_reason_kubernetes_gives() {
    let api = FakeApi::start().await;
    api.put_job(stored_job("u1", "5", json!([])));
    let deadline = "Job was active longer than specified deadline";
    api.script_watch(vec![event(
        "MODIFIED",
        &stored_job(
            "u1",
            "6",
            json!([
                condition("FailureTarget", "DeadlineExceeded", deadline),
                condition("Failed", "DeadlineExceeded", deadline),
            ]),
        ),
    )]);

    let ended = wait(&backend(&api).await, &launched("u1")).await.unwrap();

    assert_eq!(
        ended,
        Ended::Failed {
            exit_code: None,
            reason: format!("DeadlineExceeded: {deadline}"),
        }
    );
    let pod_lists = api.requests_to(Route::ListPods);
    assert_eq!(pod_lists.len(), 1);
    assert_eq!(
        pod_lists[0].query["labelSelector"],
        format!("batch.kubernetes.io/job-name={}", attempt().name)
    );
}

#[tokio::test]
async fn a_failed_job_reports_its_containers_exit_code_and_termination_reason() {
    let api = FakeApi::start().await;
    let backoff = "Job has reached the specified backoff limit";
    api.put_job(stored_job(
        "u1",
        "9",
        json!([condition("Failed", "BackoffLimitExceeded", backoff)]),
    ));
    api.put_pod(
        pod(json!({ "terminated": { "exitCode": 137, "reason": "OOMKilled" } })),
        "reading tile\n",
    );

    let ended = wait(&backend(&api).await, &launched("u1")).await.unwrap();

    assert_eq!(
        ended,
        Ended::Failed {
            exit_code: Some(137),
            reason: format!(
                "BackoffLimitExceeded: {backoff}; container processor: OOMKilled (exit code 137)"
            ),
        }
    );
    assert!(
        api.requests_to(Route::WatchJobs).is_empty(),
        "a finished job needs no watch"
    );
}

#[tokio::test]
async fn an_expired_watch_starts_again_from_a_fresh_get() {
    let api = FakeApi::start().await;
    api.put_job(stored_job("u1", "5", json!([])));
    api.script_watch(vec![
        event("MODIFIED", &stored_job("u1", "8", json!([]))),
        expired_event("8"),
    ]);
    let complete = json!([condition("Complete", "CompletionsReached", "")]);
    api.script_watch(vec![event("MODIFIED", &stored_job("u1", "9", complete))]);

    let ended = wait(&backend(&api).await, &launched("u1")).await.unwrap();

    assert_eq!(ended, Ended::Succeeded);
    let routes: Vec<(Route, Option<String>)> = api
        .requests()
        .into_iter()
        .map(|r| (r.route, r.query.get("resourceVersion").cloned()))
        .collect();
    assert_eq!(
        routes,
        [
            (Route::GetJob, None),
            (Route::WatchJobs, Some("5".to_owned())),
            (Route::GetJob, None),
            (Route::WatchJobs, Some("8".to_owned())),
        ]
    );
}

#[tokio::test]
async fn a_watch_refused_with_410_gone_also_starts_again_from_a_fresh_get() {
    let api = FakeApi::start().await;
    api.put_job(stored_job("u1", "5", json!([])));
    let message = "too old resource version: 5 (200)";
    api.refuse_next(
        Route::WatchJobs,
        410,
        job_status(410, "Expired", message, ""),
    );
    let complete = json!([condition("Complete", "CompletionsReached", "")]);
    api.script_watch(vec![event("MODIFIED", &stored_job("u1", "201", complete))]);

    let ended = wait(&backend(&api).await, &launched("u1")).await.unwrap();

    assert_eq!(ended, Ended::Succeeded);
    assert_eq!(api.requests_to(Route::GetJob).len(), 2);
    assert_eq!(api.requests_to(Route::WatchJobs).len(), 2);
}

#[tokio::test]
async fn a_watch_the_server_ends_resumes_from_the_last_version_seen() {
    let api = FakeApi::start().await;
    api.put_job(stored_job("u1", "5", json!([])));
    let bookmark = json!({
        "type": "BOOKMARK",
        "object": { "kind": "Job", "apiVersion": "batch/v1", "metadata": { "resourceVersion": "12" } },
    });
    api.script_watch(vec![
        event("MODIFIED", &stored_job("u1", "7", json!([]))),
        bookmark,
    ]);
    let complete = json!([condition("Complete", "CompletionsReached", "")]);
    api.script_watch(vec![event("MODIFIED", &stored_job("u1", "13", complete))]);

    let ended = wait(&backend(&api).await, &launched("u1")).await.unwrap();

    assert_eq!(ended, Ended::Succeeded);
    let versions: Vec<String> = api
        .requests_to(Route::WatchJobs)
        .into_iter()
        .map(|r| r.query["resourceVersion"].clone())
        .collect();
    assert_eq!(versions, ["5", "12"]);
    assert_eq!(api.requests_to(Route::GetJob).len(), 1);
}

#[tokio::test]
async fn a_job_deleted_while_watched_has_vanished() {
    let api = FakeApi::start().await;
    let job = stored_job("u1", "5", json!([]));
    api.put_job(job.clone());
    api.script_watch(vec![event("DELETED", &job)]);

    let ended = wait(&backend(&api).await, &launched("u1")).await.unwrap();

    assert_eq!(ended, Ended::Vanished);
}

#[tokio::test]
async fn a_job_missing_or_recreated_under_another_uid_has_vanished() {
    let api = FakeApi::start().await;
    let backend = backend(&api).await;
    assert_eq!(
        wait(&backend, &launched("u1")).await.unwrap(),
        Ended::Vanished
    );

    api.put_job(stored_job("u2", "5", json!([])));
    assert_eq!(
        wait(&backend, &launched("u1")).await.unwrap(),
        Ended::Vanished
    );
    assert!(api.requests_to(Route::WatchJobs).is_empty());
}

#[tokio::test]
async fn a_refused_spec_is_a_permanent_error_naming_the_job_and_the_api_message() {
    let api = FakeApi::start().await;
    let name = attempt().name;
    let message = format!(
        "Job.batch \"{name}\" is invalid: spec.template.spec.containers[0].image: Required value"
    );
    api.refuse_next(
        Route::CreateJob,
        422,
        job_status(422, "Invalid", &message, &name),
    );

    let error = backend(&api).await.launch(&attempt()).await.unwrap_err();

    assert!(!error.transient);
    assert_eq!((error.backend, error.operation), ("kubernetes", "create"));
    assert_eq!(error.name, name);
    let text = error_chain(&error);
    assert!(
        text.contains(&format!("kubernetes could not create {name}")),
        "{text}"
    );
    assert!(text.contains("422 Invalid"), "{text}");
    assert!(text.contains(&message), "{text}");
}

#[tokio::test]
async fn an_unavailable_or_unreachable_api_is_a_transient_error() {
    let api = FakeApi::start().await;
    let message = "the server is currently unable to handle the request";
    api.refuse_next(
        Route::GetJob,
        503,
        job_status(503, "ServiceUnavailable", message, ""),
    );
    let error = backend(&api).await.find(&attempt()).await.unwrap_err();
    assert!(error.transient, "{}", error_chain(&error));
    assert!(error_chain(&error).contains(message));

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = KubernetesBackend::connect(KubernetesConfig {
        api_url: Some(url),
        ..KubernetesConfig::default()
    })
    .await
    .unwrap();
    let error = unreachable.launch(&attempt()).await.unwrap_err();
    assert!(error.transient, "{}", error_chain(&error));
    assert_eq!(error.operation, "create");
}

#[tokio::test]
async fn kill_deletes_the_job_and_its_pods_and_tolerates_a_job_already_gone() {
    let api = FakeApi::start().await;
    api.put_job(stored_job("u1", "5", json!([])));
    let backend = backend(&api).await;

    backend.kill(&launched("u1")).await.unwrap();
    backend.kill(&launched("u1")).await.unwrap();

    assert!(api.jobs().is_empty());
    let deletes = api.requests_to(Route::DeleteJob);
    assert_eq!(deletes.len(), 2);
    assert_eq!(
        deletes[0].path,
        format!("/apis/batch/v1/namespaces/nrt-jobs/jobs/{}", attempt().name)
    );
    assert_eq!(
        deletes[0].body.as_ref().unwrap()["propagationPolicy"],
        json!("Background")
    );
}

#[tokio::test]
async fn log_tail_reads_the_last_lines_of_the_processor_container() {
    let api = FakeApi::start().await;
    let backend = backend(&api).await;
    assert!(
        backend
            .log_tail(&launched("u1"), 2)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        api.requests_to(Route::ReadLog).is_empty(),
        "no pod, no log to read"
    );

    api.put_pod(
        pod(json!({ "running": {} })),
        "reading tile\nclassifying\nwriting cog\n",
    );
    let tail = backend.log_tail(&launched("u1"), 2).await.unwrap();

    assert_eq!(tail, ["classifying", "writing cog"]);
    let reads = api.requests_to(Route::ReadLog);
    assert_eq!(
        reads[0].path,
        format!(
            "/api/v1/namespaces/nrt-jobs/pods/{}-x7k2p/log",
            attempt().name
        )
    );
    assert_eq!(reads[0].query["tailLines"], "2");
    assert_eq!(reads[0].query["container"], "processor");
}

/// The Job's pod, labelled by the Job controller, with the processor container in `state`.
fn pod(state: Value) -> Value {
    let name = attempt().name;
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": format!("{name}-x7k2p"),
            "namespace": "nrt-jobs",
            "uid": "pod-uid",
            "creationTimestamp": "2026-01-01T10:00:01Z",
            "labels": { "batch.kubernetes.io/job-name": name, "job-name": name },
        },
        "spec": { "containers": [{ "name": "processor", "image": "registry.example/snow-cover:1.4.0" }] },
        "status": {
            "phase": "Failed",
            "containerStatuses": [{
                "name": "processor", "image": "registry.example/snow-cover:1.4.0",
                "imageID": "", "ready": false, "restartCount": 0, "state": state,
            }],
        },
    })
}
