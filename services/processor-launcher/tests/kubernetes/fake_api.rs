//! A Kubernetes API server for one test: the batch/v1 Job and core/v1 Pod endpoints the
//! launcher calls, answering as the API documents it (objects with uid and resourceVersion,
//! `Status` objects for refusals, newline-delimited watch events). Jobs live in memory; watch
//! sessions are scripted by the test, and applied to the stored Job as they are streamed. With
//! no session scripted, a watch streams the Job changes after its resourceVersion as they
//! happen: creations, deletions, and the statuses the test sets as the Job controller would.

// Each test binary uses part of the fake.
#![allow(dead_code)]

use std::{
    collections::{BTreeMap, VecDeque},
    convert::Infallible,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Query, State},
    http::{Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use futures::stream::{self, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

/// What a request asked for, by the API's own route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    CreateJob,
    GetJob,
    WatchJobs,
    DeleteJob,
    ListPods,
    ReadLog,
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub route: Route,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub body: Option<Value>,
}

#[derive(Default)]
struct Cluster {
    jobs: BTreeMap<String, Value>,
    pods: Vec<Value>,
    logs: BTreeMap<String, String>,
    watch_sessions: VecDeque<Vec<Value>>,
    refusals: Vec<(Route, StatusCode, Value)>,
    requests: Vec<Recorded>,
    resource_version: u64,
    /// Every change made through the API or [`FakeApi::set_job_status`], as a watch event,
    /// oldest first: a watch from a resourceVersion gets those after it.
    job_events: Vec<Value>,
    changes: Changes,
    /// Where each created Job is sent, once a test asked with [`FakeApi::created_jobs`].
    created: Option<mpsc::UnboundedSender<Value>>,
}

/// The Job changes as they happen, for the watches that are open.
struct Changes(broadcast::Sender<Value>);

impl Default for Changes {
    fn default() -> Self {
        Self(broadcast::channel(256).0)
    }
}

impl Cluster {
    fn next_resource_version(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    /// Records a change of `job` (which carries its new resourceVersion) for the watches.
    fn job_changed(&mut self, kind: &str, job: Value) {
        let event = event(kind, &job);
        self.job_events.push(event.clone());
        // No open watch is no error: the change is in `job_events` for the next one.
        let _ = self.changes.0.send(event);
    }
}

pub struct FakeApi {
    url: String,
    cluster: Arc<Mutex<Cluster>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeApi {
    pub async fn start() -> Self {
        let cluster = Arc::new(Mutex::new(Cluster {
            resource_version: 100,
            ..Cluster::default()
        }));
        let app = Router::new().fallback(serve).with_state(cluster.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url,
            cluster,
            server,
        }
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Stores a Job as if created earlier, with the uid and resourceVersion it has.
    pub fn put_job(&self, job: Value) {
        let name = job["metadata"]["name"].as_str().unwrap().to_owned();
        self.cluster.lock().unwrap().jobs.insert(name, job);
    }

    pub fn jobs(&self) -> Vec<Value> {
        self.cluster
            .lock()
            .unwrap()
            .jobs
            .values()
            .cloned()
            .collect()
    }

    pub fn put_pod(&self, pod: Value, log: &str) {
        let mut cluster = self.cluster.lock().unwrap();
        let name = pod["metadata"]["name"].as_str().unwrap().to_owned();
        cluster.logs.insert(name, log.to_owned());
        cluster.pods.push(pod);
    }

    /// The events of the next watch request; the server then ends it. With no session left, a
    /// watch stays open and silent, as the real one does while nothing changes.
    pub fn script_watch(&self, events: Vec<Value>) {
        self.cluster
            .lock()
            .unwrap()
            .watch_sessions
            .push_back(events);
    }

    /// The next request to `route` is answered with `code` and the `Status` object `status`.
    pub fn refuse_next(&self, route: Route, code: u16, status: Value) {
        let code = StatusCode::from_u16(code).unwrap();
        self.cluster
            .lock()
            .unwrap()
            .refusals
            .push((route, code, status));
    }

    /// Every Job created from now on, as stored (with its uid), in creation order.
    pub fn created_jobs(&self) -> mpsc::UnboundedReceiver<Value> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.cluster.lock().unwrap().created = Some(sender);
        receiver
    }

    /// Sets the Job's status as the Job controller would, under a new resourceVersion, and
    /// tells the open watches.
    pub fn set_job_status(&self, name: &str, status: Value) {
        let mut cluster = self.cluster.lock().unwrap();
        let resource_version = cluster.next_resource_version();
        let job = cluster
            .jobs
            .get_mut(name)
            .unwrap_or_else(|| panic!("no Job {name}"));
        job["metadata"]["resourceVersion"] = json!(resource_version);
        job["status"] = status;
        let job = job.clone();
        cluster.job_changed("MODIFIED", job);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.cluster.lock().unwrap().requests.clone()
    }

    pub fn requests_to(&self, route: Route) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.route == route)
            .collect()
    }
}

/// A `Status` object as the API returns it for a refused request about the Job `name`.
pub fn job_status(code: u16, reason: &str, message: &str, name: &str) -> Value {
    status(
        code,
        reason,
        message,
        json!({ "name": name, "group": "batch", "kind": "jobs" }),
    )
}

fn status(code: u16, reason: &str, message: &str, details: Value) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details,
        "code": code,
    })
}

/// The watch event of an expired resourceVersion (etcd compacted it): HTTP 200, then this.
pub fn expired_event(from_version: &str) -> Value {
    json!({
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": format!("too old resource version: {from_version} (200)"),
            "reason": "Expired",
            "code": 410,
        },
    })
}

pub fn event(kind: &str, object: &Value) -> Value {
    json!({ "type": kind, "object": object })
}

/// A Job condition as the Job controller writes it.
pub fn job_condition(type_: &str, reason: &str, message: &str) -> Value {
    json!({
        "type": type_, "status": "True", "reason": reason, "message": message,
        "lastProbeTime": "2026-01-01T10:05:00Z", "lastTransitionTime": "2026-01-01T10:05:00Z",
    })
}

/// The status of a Job whose pod exited 0 (Kubernetes 1.31+ sets `SuccessCriteriaMet` first).
pub fn complete_status() -> Value {
    let reached = "Reached expected number of succeeded pods";
    json!({
        "startTime": "2026-01-01T10:00:01Z",
        "completionTime": "2026-01-01T10:05:00Z",
        "succeeded": 1, "ready": 0, "terminating": 0,
        "uncountedTerminatedPods": {},
        "conditions": [
            job_condition("SuccessCriteriaMet", "CompletionsReached", reached),
            job_condition("Complete", "CompletionsReached", reached),
        ],
    })
}

/// The status of a Job that failed for `reason` (`BackoffLimitExceeded`, `DeadlineExceeded`).
pub fn failed_status(reason: &str, message: &str) -> Value {
    json!({
        "startTime": "2026-01-01T10:00:01Z",
        "failed": 1, "ready": 0, "terminating": 0,
        "uncountedTerminatedPods": {},
        "conditions": [
            job_condition("FailureTarget", reason, message),
            job_condition("Failed", reason, message),
        ],
    })
}

/// The pod the Job controller makes for the Job `job_name`, labelled as it labels them, with
/// the processor container in `state` (`{"terminated": {...}}`, `{"running": {}}`).
pub fn job_pod(job_name: &str, phase: &str, state: Value) -> Value {
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": format!("{job_name}-x7k2p"),
            "namespace": "nrt-jobs",
            "uid": format!("pod-uid-{job_name}"),
            "creationTimestamp": "2026-01-01T10:00:01Z",
            "labels": { "batch.kubernetes.io/job-name": job_name, "job-name": job_name },
        },
        "spec": { "containers": [{ "name": "processor" }] },
        "status": {
            "phase": phase,
            "containerStatuses": [{
                "name": "processor", "image": "", "imageID": "", "ready": false,
                "restartCount": 0, "state": state,
            }],
        },
    })
}

async fn serve(
    State(cluster): State<Arc<Mutex<Cluster>>>,
    method: Method,
    uri: Uri,
    Query(query): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    let segments: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    let route = match (&method, segments.as_slice()) {
        (&Method::POST, ["apis", "batch", "v1", "namespaces", _, "jobs"]) => Route::CreateJob,
        (&Method::GET, ["apis", "batch", "v1", "namespaces", _, "jobs"])
            if query.get("watch").map(String::as_str) == Some("true") =>
        {
            Route::WatchJobs
        }
        (&Method::GET, ["apis", "batch", "v1", "namespaces", _, "jobs", _]) => Route::GetJob,
        (&Method::DELETE, ["apis", "batch", "v1", "namespaces", _, "jobs", _]) => Route::DeleteJob,
        (&Method::GET, ["api", "v1", "namespaces", _, "pods"]) => Route::ListPods,
        (&Method::GET, ["api", "v1", "namespaces", _, "pods", _, "log"]) => Route::ReadLog,
        _ => return (StatusCode::NOT_FOUND, "404 page not found").into_response(),
    };
    let mut cluster = cluster.lock().unwrap();
    cluster.requests.push(Recorded {
        route,
        path: uri.path().to_owned(),
        query: query.clone(),
        body: serde_json::from_slice(&body).ok(),
    });
    if let Some(at) = cluster.refusals.iter().position(|(r, ..)| *r == route) {
        let (_, code, status) = cluster.refusals.remove(at);
        return json_response(code, status);
    }
    let name = segments.get(6).copied().unwrap_or_default();
    match route {
        Route::CreateJob => create_job(&mut cluster, serde_json::from_slice(&body).unwrap()),
        Route::GetJob => match cluster.jobs.get(name) {
            Some(job) => json_response(StatusCode::OK, job.clone()),
            None => not_found("batch", "jobs", name),
        },
        Route::DeleteJob => match cluster.jobs.remove(name) {
            Some(job) => {
                let mut deleted = job.clone();
                deleted["metadata"]["resourceVersion"] = json!(cluster.next_resource_version());
                cluster.job_changed("DELETED", deleted);
                json_response(
                    StatusCode::OK,
                    json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": { "name": name, "group": "batch", "kind": "jobs",
                                 "uid": job["metadata"]["uid"] },
                    }),
                )
            }
            None => not_found("batch", "jobs", name),
        },
        Route::WatchJobs => match cluster.watch_sessions.pop_front() {
            Some(events) => scripted_watch(&mut cluster, events),
            None => live_watch(&cluster, &query),
        },
        Route::ListPods => list_pods(&cluster, query.get("labelSelector")),
        Route::ReadLog => read_log(&cluster, segments[5], query.get("tailLines")),
    }
}

fn create_job(cluster: &mut Cluster, mut job: Value) -> Response {
    let name = job["metadata"]["name"].as_str().unwrap().to_owned();
    if cluster.jobs.contains_key(&name) {
        let message = format!("jobs.batch \"{name}\" already exists");
        let refusal = job_status(409, "AlreadyExists", &message, &name);
        return json_response(StatusCode::CONFLICT, refusal);
    }
    let resource_version = cluster.next_resource_version();
    let metadata = job["metadata"].as_object_mut().unwrap();
    metadata.insert("uid".into(), json!(format!("uid-{resource_version}")));
    metadata.insert("resourceVersion".into(), json!(resource_version));
    metadata.insert("creationTimestamp".into(), json!("2026-01-01T10:00:00Z"));
    job["status"] = json!({});
    cluster.jobs.insert(name, job.clone());
    cluster.job_changed("ADDED", job.clone());
    if let Some(created) = &cluster.created {
        let _ = created.send(job.clone());
    }
    json_response(StatusCode::CREATED, job)
}

/// Streams the scripted `events`, applying them to the stored Jobs, then ends the watch.
fn scripted_watch(cluster: &mut Cluster, events: Vec<Value>) -> Response {
    for event in &events {
        let name = event["object"]["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match event["type"].as_str() {
            Some("ADDED" | "MODIFIED") => {
                cluster.jobs.insert(name, event["object"].clone());
            }
            Some("DELETED") => {
                cluster.jobs.remove(&name);
            }
            _ => {}
        }
    }
    let lines = events
        .into_iter()
        .map(|event| Ok::<_, Infallible>(Bytes::from(format!("{event}\n"))));
    stream_response(Body::from_stream(stream::iter(lines).boxed()))
}

/// Streams the changes after the `resourceVersion` asked for, of the Job the `fieldSelector`
/// names, until the client goes. Taken under the cluster's lock, the changes already made and
/// the subscription to the next ones neither miss nor repeat one.
fn live_watch(cluster: &Cluster, query: &BTreeMap<String, String>) -> Response {
    let name = query
        .get("fieldSelector")
        .and_then(|selector| selector.strip_prefix("metadata.name="))
        .map(str::to_owned);
    let is_watched = move |event: &Value| {
        name.as_deref()
            .is_none_or(|name| event["object"]["metadata"]["name"] == name)
    };
    let after: Option<u64> = query.get("resourceVersion").and_then(|v| v.parse().ok());
    let made: Vec<Value> = cluster
        .job_events
        .iter()
        .filter(|event| after.is_some_and(|after| resource_version(event) > after))
        .filter(|event| is_watched(event))
        .cloned()
        .collect();
    let next = stream::unfold(cluster.changes.0.subscribe(), |mut changes| async move {
        loop {
            match changes.recv().await {
                Ok(event) => return Some((event, changes)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .filter(move |event| std::future::ready(is_watched(event)));
    let lines = stream::iter(made)
        .chain(next)
        .map(|event| Ok::<_, Infallible>(Bytes::from(format!("{event}\n"))));
    stream_response(Body::from_stream(lines.boxed()))
}

fn resource_version(event: &Value) -> u64 {
    event["object"]["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|version| version.parse().ok())
        .unwrap_or_default()
}

fn list_pods(cluster: &Cluster, selector: Option<&String>) -> Response {
    let (key, value) = selector.and_then(|s| s.split_once('=')).unwrap();
    let items: Vec<Value> = cluster
        .pods
        .iter()
        .filter(|pod| pod["metadata"]["labels"][key] == value)
        .cloned()
        .collect();
    json_response(
        StatusCode::OK,
        json!({
            "kind": "PodList", "apiVersion": "v1",
            "metadata": { "resourceVersion": cluster.resource_version.to_string() },
            "items": items,
        }),
    )
}

fn read_log(cluster: &Cluster, pod: &str, tail_lines: Option<&String>) -> Response {
    let Some(log) = cluster.logs.get(pod) else {
        return not_found("", "pods", pod);
    };
    let lines: Vec<&str> = log.lines().collect();
    let tail = tail_lines.map_or(lines.len(), |n| {
        n.parse::<usize>().unwrap().min(lines.len())
    });
    let text: String = lines[lines.len() - tail..]
        .iter()
        .map(|line| format!("{line}\n"))
        .collect();
    ([(header::CONTENT_TYPE, "text/plain")], text).into_response()
}

fn not_found(group: &str, kind: &str, name: &str) -> Response {
    let resource = if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}.{group}")
    };
    let message = format!("{resource} \"{name}\" not found");
    let details = json!({ "name": name, "group": group, "kind": kind });
    json_response(
        StatusCode::NOT_FOUND,
        status(404, "NotFound", &message, details),
    )
}

fn json_response(code: StatusCode, body: Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn stream_response(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
