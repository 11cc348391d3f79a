//! A fake Nomad agent answering as Nomad's HTTP API documents (status codes, JSON bodies,
//! plain-text errors, `X-Nomad-Index`), recording every request it receives. The allocation
//! fixtures beside it follow the documented `GET /v1/job/:job_id/allocations` entries.

// Each test binary uses part of the fake.
#![allow(dead_code)]

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
};

use axum::{
    Json, Router,
    body::{Body, to_bytes},
    extract::{Path, Query, Request, State},
    http::{Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

pub type Params = HashMap<String, String>;
type Shared = Arc<Mutex<Agent>>;

/// A request as the fake agent received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    /// As sent: a dispatched job's `/` is `%2F`.
    pub path: String,
    pub query: Params,
    pub token: Option<String>,
    pub body: Option<Value>,
}

#[derive(Default)]
pub struct Agent {
    received: Vec<Received>,
    pub jobs: BTreeMap<String, Value>,
    /// Per job, the allocation lists it answers in turn with their index; the last one stays.
    allocations: HashMap<String, VecDeque<(u64, Vec<Value>)>>,
    /// Per allocation, its processor task's stderr.
    pub stderr: HashMap<String, String>,
    /// Nomad's raft index, moved by every change.
    pub index: u64,
    /// When set, every request is answered with this status and plain-text message.
    failure: Option<(StatusCode, &'static str)>,
    /// Where each new dispatch is sent, once a test asked with [`FakeNomad::dispatches`].
    dispatched: Option<mpsc::UnboundedSender<Dispatched>>,
}

/// A job Nomad made from a dispatch request: what the scheduler would now place.
#[derive(Debug, Clone)]
pub struct Dispatched {
    /// The dispatched job's id, `<parent>/dispatch-<time>-<suffix>`.
    pub job_id: String,
    /// The request as received: `Meta`, and the manifest as the base64 `Payload` the task
    /// finds in its `local/` directory.
    pub request: Value,
}

impl Agent {
    fn next_index(&mut self) -> u64 {
        self.index += 1;
        self.index
    }

    /// Stores a `{"Job": ...}` registration; returns the index it is at.
    fn register(&mut self, body: &Value) -> u64 {
        let index = self.next_index();
        let mut job = body["Job"].clone();
        job["ParentID"] = json!("");
        job["Status"] = json!("running");
        job["CreateIndex"] = json!(index);
        let id = job["ID"].as_str().unwrap().to_owned();
        self.jobs.insert(id, job);
        index
    }
}

pub struct FakeNomad {
    pub url: String,
    agent: Shared,
}

impl FakeNomad {
    pub async fn start() -> Self {
        let agent = Shared::default();
        let app = Router::new()
            .route("/v1/jobs", get(list_jobs).post(register_job))
            .route("/v1/job/{id}", get(read_job).delete(stop_job))
            .route("/v1/job/{id}/dispatch", post(dispatch_job))
            .route("/v1/job/{id}/allocations", get(job_allocations))
            .route("/v1/client/fs/logs/{alloc_id}", get(stream_logs))
            .layer(middleware::from_fn_with_state(agent.clone(), record))
            .with_state(agent.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, agent }
    }

    pub fn agent(&self) -> MutexGuard<'_, Agent> {
        self.agent.lock().unwrap()
    }

    pub fn received(&self) -> Vec<Received> {
        self.agent().received.clone()
    }

    pub fn fail_with(&self, status: StatusCode, message: &'static str) {
        self.agent().failure = Some((status, message));
    }

    /// The job's allocation lists, answered one per request, each a list of
    /// `(fixture, allocation id, CreateIndex)`.
    pub fn set_allocations(&self, job_id: &str, steps: &[&[(&str, &str, u64)]]) {
        let mut agent = self.agent();
        let steps = steps
            .iter()
            .map(|step| {
                let allocations = step
                    .iter()
                    .map(|(fixture, id, create_index)| {
                        allocation(fixture, job_id, id, *create_index)
                    })
                    .collect();
                (agent.next_index(), allocations)
            })
            .collect();
        agent.allocations.insert(job_id.to_owned(), steps);
    }

    /// Every job dispatched from now on (not a dispatch answered by its idempotency token).
    pub fn dispatches(&self) -> mpsc::UnboundedReceiver<Dispatched> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.agent().dispatched = Some(sender);
        receiver
    }

    /// As an operator would, outside the backend.
    pub fn register(&self, spec: &Value) {
        self.agent().register(spec);
    }

    /// The ids of the jobs dispatched from `parent`.
    pub fn children(&self, parent: &str) -> Vec<String> {
        let agent = self.agent();
        agent
            .jobs
            .values()
            .filter(|job| job["ParentID"] == parent)
            .map(|job| job["ID"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn allocation(fixture: &str, job_id: &str, id: &str, create_index: u64) -> Value {
    let path = format!("{}/tests/nomad/{fixture}.json", env!("CARGO_MANIFEST_DIR"));
    let mut allocation: Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    allocation["ID"] = json!(id);
    allocation["JobID"] = json!(job_id);
    allocation["Name"] = json!(format!("{job_id}.processor[0]"));
    allocation["CreateIndex"] = json!(create_index);
    allocation["ModifyIndex"] = json!(create_index + 2);
    allocation
}

async fn record(State(agent): State<Shared>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap();
    let query = Query::<Params>::try_from_uri(&parts.uri).map_or_else(|_| Params::new(), |q| q.0);
    let failure = {
        let mut agent = agent.lock().unwrap();
        agent.received.push(Received {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            query,
            token: parts
                .headers
                .get("X-Nomad-Token")
                .map(|value| value.to_str().unwrap().to_owned()),
            body: serde_json::from_slice(&bytes).ok(),
        });
        agent.failure
    };
    match failure {
        Some((status, message)) => plain(status, message),
        None => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    }
}

/// Nomad's error answers: a status and a plain-text message.
fn plain(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain")],
        message.to_owned(),
    )
        .into_response()
}

fn indexed(index: u64, body: Value) -> Response {
    ([("X-Nomad-Index", index.to_string())], Json(body)).into_response()
}

async fn register_job(State(agent): State<Shared>, Json(body): Json<Value>) -> Response {
    let index = agent.lock().unwrap().register(&body);
    // A parameterized job gets no evaluation.
    Json(json!({
        "EvalID": "", "EvalCreateIndex": 0, "JobModifyIndex": index, "Warnings": "",
        "Index": index, "LastContact": 0, "KnownLeader": false,
    }))
    .into_response()
}

async fn list_jobs(State(agent): State<Shared>, Query(query): Query<Params>) -> Response {
    let agent = agent.lock().unwrap();
    let prefix = query.get("prefix").map_or("", String::as_str);
    let with_meta = query.get("meta").is_some_and(|meta| meta == "true");
    let stubs: Vec<Value> = agent
        .jobs
        .values()
        .filter(|job| job["ID"].as_str().unwrap().starts_with(prefix))
        .map(|job| {
            let mut stub = json!({
                "ID": job["ID"], "ParentID": job["ParentID"], "Name": job["ID"],
                "Type": "batch", "Priority": 50, "Status": job["Status"],
                "StatusDescription": "", "ParameterizedJob": job["ParentID"] == "",
                "CreateIndex": job["CreateIndex"], "ModifyIndex": job["CreateIndex"],
                "JobModifyIndex": job["CreateIndex"],
            });
            if with_meta {
                stub["Meta"] = job["Meta"].clone();
            }
            stub
        })
        .collect();
    indexed(agent.index, json!(stubs))
}

async fn read_job(State(agent): State<Shared>, Path(id): Path<String>) -> Response {
    let agent = agent.lock().unwrap();
    match agent.jobs.get(&id) {
        Some(job) => indexed(agent.index, job.clone()),
        None => plain(StatusCode::NOT_FOUND, "job not found"),
    }
}

async fn stop_job(
    State(agent): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<Params>,
) -> Response {
    let mut agent = agent.lock().unwrap();
    if !agent.jobs.contains_key(&id) {
        return plain(StatusCode::NOT_FOUND, "job not found");
    }
    if query.get("purge").is_some_and(|purge| purge == "true") {
        agent.jobs.remove(&id);
    } else {
        agent.jobs.get_mut(&id).unwrap()["Stop"] = json!(true);
    }
    let index = agent.next_index();
    Json(json!({
        "EvalID": "d092fdc0-e1fd-2536-67d8-43af8ca798ac", "EvalCreateIndex": index,
        "JobModifyIndex": index,
    }))
    .into_response()
}

/// Nomad's `Job.Dispatch`: checks the parent and the request, answers a known idempotency
/// token with the job it made for it, else makes the child job.
async fn dispatch_job(
    State(agent): State<Shared>,
    Path(parent): Path<String>,
    Query(query): Query<Params>,
    Json(request): Json<Value>,
) -> Response {
    let mut agent = agent.lock().unwrap();
    let Some(parameterized) = agent.jobs.get(&parent).cloned() else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "parameterized job not found",
        );
    };
    if request.get("Payload").is_none() {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Payload is not provided but required by parameterized job",
        );
    }
    for key in parameterized["ParameterizedJob"]["MetaRequired"]
        .as_array()
        .unwrap()
    {
        if request["Meta"].get(key.as_str().unwrap()).is_none() {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("Dispatch did not provide required meta keys: [{key}]"),
            );
        }
    }
    let token = query.get("idempotency_token").cloned().unwrap_or_default();
    let existing = agent.jobs.values().find(|job| {
        job["ParentID"] == parent.as_str() && job["DispatchIdempotencyToken"] == token.as_str()
    });
    if let (false, Some(existing)) = (token.is_empty(), existing) {
        return indexed(
            agent.index,
            json!({
                "Index": existing["CreateIndex"], "JobCreateIndex": existing["CreateIndex"],
                "EvalCreateIndex": 0, "EvalID": "", "DispatchedJobID": existing["ID"],
            }),
        );
    }
    let index = agent.next_index();
    let id = format!("{parent}/dispatch-{}-{index:08x}", 1_700_000_000 + index);
    let mut child = parameterized.clone();
    child["ID"] = json!(id);
    child["ParentID"] = json!(parent);
    child["Dispatched"] = json!(true);
    child["Status"] = json!("pending");
    child["CreateIndex"] = json!(index);
    child["DispatchIdempotencyToken"] = json!(token);
    for (key, value) in request["Meta"].as_object().unwrap() {
        child["Meta"][key] = value.clone();
    }
    agent.jobs.insert(id.clone(), child);
    if let Some(dispatched) = &agent.dispatched {
        let _ = dispatched.send(Dispatched {
            job_id: id.clone(),
            request,
        });
    }
    indexed(
        index,
        json!({
            "Index": index, "JobCreateIndex": index, "EvalCreateIndex": index,
            "EvalID": "e5f55fac-bc69-119d-528a-1fc7ade5e02c", "DispatchedJobID": id,
        }),
    )
}

async fn job_allocations(State(agent): State<Shared>, Path(id): Path<String>) -> Response {
    let mut agent = agent.lock().unwrap();
    let current = agent.index;
    let Some(steps) = agent.allocations.get_mut(&id) else {
        return indexed(current, json!([]));
    };
    let (index, allocations) = if steps.len() > 1 {
        steps.pop_front().unwrap()
    } else {
        steps.front().cloned().unwrap()
    };
    indexed(index, json!(allocations))
}

async fn stream_logs(
    State(agent): State<Shared>,
    Path(alloc_id): Path<String>,
    Query(query): Query<Params>,
) -> Response {
    let agent = agent.lock().unwrap();
    let Some(stderr) = agent.stderr.get(&alloc_id) else {
        return plain(
            StatusCode::NOT_FOUND,
            &format!("Unknown allocation \"{alloc_id}\""),
        );
    };
    let offset: usize = query["offset"].parse().unwrap();
    let start = stderr.len().saturating_sub(offset);
    plain(StatusCode::OK, &stderr[start..])
}
