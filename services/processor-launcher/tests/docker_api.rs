//! The Docker backend against a fake engine speaking the documented Engine API: versioned paths,
//! `{"message": ...}` errors, JSON-lines pulls, multiplexed logs. Each test asserts what the
//! engine was asked and what the backend made of the answers.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::{Query, State},
    http::{Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use bollard::{API_DEFAULT_VERSION, Docker};
use nrt_registry::Resources;
use processor_launcher::backend::{
    BackendJob, ContainerAttempt, ContainerBackend, Ended, attempt_name,
    docker::{DockerBackend, DockerConfig, PullPolicy},
};
use serde_json::{Value, json};

const IMAGE: &str = "ghcr.io/nrt/snow:1.4.0";
const JOB_ID: &str = "s2/T32TNS/2024-01-01";

fn attempt() -> ContainerAttempt {
    ContainerAttempt {
        name: attempt_name(JOB_ID, 1),
        job_id: JOB_ID.into(),
        processor: "snow-cover".into(),
        processor_version: "1.4.0".into(),
        attempt: 1,
        image: IMAGE.into(),
        command: vec!["/usr/bin/snow".into(), "--fast".into()],
        env: BTreeMap::from([("NRT_MANIFEST".into(), "/nrt/job/manifest.json".into())]),
        resources: Resources {
            cpu: Some(2.0),
            memory_mib: Some(512),
            gpu: 1,
        },
        timeout: Duration::from_secs(60),
        job_dir: Some(PathBuf::from("/var/lib/nrt/jobs/abc/attempt-1")),
        nomad_job: None,
    }
}

fn config(pull: PullPolicy) -> DockerConfig {
    DockerConfig {
        pull,
        network: Some("nrt".into()),
        user: Some("1000:1000".into()),
        ..DockerConfig::default()
    }
}

#[tokio::test]
async fn a_missing_image_is_pulled_then_the_container_is_created_exactly_and_started() {
    let engine = FakeEngine::start(Engine::with_registry([IMAGE])).await;
    let attempt = attempt();

    let job = engine
        .backend(config(PullPolicy::IfMissing))
        .launch(&attempt)
        .await
        .unwrap();

    let id = engine.container_id(&attempt.name);
    assert_eq!(
        job,
        BackendJob {
            backend: "docker".into(),
            name: attempt.name.clone(),
            id: id.clone()
        }
    );
    assert_eq!(
        engine.calls(),
        [
            format!("GET /images/{IMAGE}/json"),
            "POST /images/create".into(),
            "POST /containers/create".into(),
            format!("POST /containers/{id}/start"),
        ]
    );
    let requests = engine.requests();
    assert_eq!(
        requests[1].query,
        query([("fromImage", IMAGE), ("platform", "")])
    );
    assert_eq!(
        requests[2].query,
        query([("name", attempt.name.as_str()), ("platform", "")])
    );
    assert_eq!(
        requests[2].body,
        Some(json!({
            "Image": IMAGE,
            "Entrypoint": ["/usr/bin/snow"],
            "Cmd": ["--fast"],
            "Env": ["NRT_MANIFEST=/nrt/job/manifest.json"],
            "Labels": {
                "nrt-mesh.io/job-name": attempt.name,
                "nrt-mesh.io/processor": "snow-cover",
                "nrt-mesh.io/attempt": "1",
                "nrt-mesh.io/managed": "true",
                "nrt-mesh.io/job-id": JOB_ID,
            },
            "WorkingDir": "/nrt/job",
            "User": "1000:1000",
            "HostConfig": {
                "Mounts": [{
                    "Type": "bind",
                    "Source": "/var/lib/nrt/jobs/abc/attempt-1",
                    "Target": "/nrt/job",
                    "ReadOnly": false,
                }],
                "NanoCpus": 2_000_000_000_i64,
                "Memory": 512 * 1024 * 1024,
                "MemorySwap": 512 * 1024 * 1024,
                "DeviceRequests": [{"Driver": "nvidia", "Count": 1, "Capabilities": [["gpu"]]}],
                "NetworkMode": "nrt",
                "AutoRemove": false,
                "SecurityOpt": ["no-new-privileges"],
                "CapDrop": ["ALL"],
                "ReadonlyRootfs": false,
            },
        }))
    );
    assert_eq!(engine.status_of(&id), "running");
}

/// bollard 0.21 builds `/v1.53/...` and then joins the absolute path over it, so requests go
/// unversioned and the engine answers with its own API version: engines older than API 1.53
/// work. Should bollard start sending the prefix, `DockerBackend::connect` has to negotiate the
/// version (`Docker::negotiate_version`) or older engines refuse every request with a 400.
#[tokio::test]
async fn requests_go_without_an_api_version_prefix() {
    let engine = FakeEngine::start(Engine::default()).await;
    let backend = engine.backend(config(PullPolicy::Never));
    backend.find(&attempt()).await.unwrap();
    assert_eq!(engine.requests()[0].version, None);
}

#[tokio::test]
async fn pull_always_pulls_an_image_the_engine_has_and_never_pulls_nothing() {
    let busybox = "busybox:latest";
    let engine =
        FakeEngine::start(Engine::with_images([IMAGE, busybox]).and_registry([busybox])).await;
    let untagged = ContainerAttempt {
        image: "busybox".into(),
        ..attempt()
    };
    engine
        .backend(config(PullPolicy::Always))
        .launch(&untagged)
        .await
        .unwrap();
    let pulls = engine.requests_to("POST /images/create");
    assert_eq!(pulls.len(), 1);
    assert_eq!(
        pulls[0].query,
        query([
            ("fromImage", "busybox"),
            ("platform", ""),
            ("tag", "latest")
        ]),
        "an untagged image is pulled as latest, not every tag"
    );

    let second = ContainerAttempt {
        name: attempt_name(JOB_ID, 2),
        ..attempt()
    };
    let before = engine.requests().len();
    engine
        .backend(config(PullPolicy::Never))
        .launch(&second)
        .await
        .unwrap();
    let after = engine.calls().split_off(before);
    assert!(
        after.iter().all(|call| !call.contains("/images/")),
        "{after:?}"
    );
}

#[tokio::test]
async fn the_container_runs_as_the_launchers_user_unless_one_is_configured() {
    let engine = FakeEngine::start(Engine::with_images([IMAGE])).await;
    let unconfigured = DockerConfig::default();
    engine
        .backend(unconfigured)
        .launch(&attempt())
        .await
        .unwrap();
    // SAFETY: getuid and getgid always succeed.
    let launcher = unsafe { format!("{}:{}", libc::getuid(), libc::getgid()) };
    let created = &engine.requests_to("POST /containers/create")[0];
    assert_eq!(created.body.as_ref().unwrap()["User"], json!(launcher));
}

#[tokio::test]
async fn launching_an_attempt_twice_adopts_the_first_container() {
    let engine = FakeEngine::start(Engine::with_images([IMAGE])).await;
    let backend = engine.backend(config(PullPolicy::IfMissing));
    let first = backend.launch(&attempt()).await.unwrap();
    let second = backend.launch(&attempt()).await.unwrap();

    assert_eq!(first, second);
    assert_eq!(engine.state().containers.len(), 1, "no second container");
    assert_eq!(
        engine
            .requests_to(&format!("POST /containers/{}/start", first.id))
            .len(),
        1,
        "a running container is not started again"
    );
    assert_eq!(
        engine
            .requests_to(&format!("GET /containers/{}/json", first.name))
            .len(),
        1,
        "the conflict is resolved by inspecting the name"
    );
}

#[tokio::test]
async fn an_adopted_container_is_started_only_if_it_never_ran() {
    let engine = FakeEngine::start(Engine::with_images([IMAGE])).await;
    let never_started = attempt();
    let exited = ContainerAttempt {
        name: attempt_name(JOB_ID, 2),
        ..attempt()
    };
    let created_id = engine.add_container(&never_started.name, "created", Exit::code(0));
    let exited_id = engine.add_container(&exited.name, "exited", Exit::code(0));
    let backend = engine.backend(config(PullPolicy::IfMissing));

    assert_eq!(backend.launch(&never_started).await.unwrap().id, created_id);
    assert_eq!(backend.launch(&exited).await.unwrap().id, exited_id);

    assert_eq!(engine.status_of(&created_id), "running");
    assert_eq!(engine.status_of(&exited_id), "exited", "not run twice");
    assert!(
        engine
            .requests_to(&format!("POST /containers/{exited_id}/start"))
            .is_empty()
    );
}

#[tokio::test]
async fn find_returns_the_container_by_name_or_nothing() {
    let engine = FakeEngine::start(Engine::default()).await;
    let backend = engine.backend(config(PullPolicy::IfMissing));
    assert_eq!(backend.find(&attempt()).await.unwrap(), None);
    let id = engine.add_container(&attempt().name, "running", Exit::code(0));
    assert_eq!(backend.find(&attempt()).await.unwrap().unwrap().id, id);
}

#[tokio::test]
async fn a_configured_tcp_host_is_where_requests_go() {
    let engine = FakeEngine::start(Engine::default()).await;
    let id = engine.add_container(&attempt().name, "running", Exit::code(0));
    let config = DockerConfig {
        host: Some(format!("tcp://{}", engine.addr)),
        ..DockerConfig::default()
    };
    let backend = DockerBackend::connect(&config).unwrap();
    assert_eq!(backend.find(&attempt()).await.unwrap().unwrap().id, id);
}

async fn wait_for(exit: Exit) -> (Ended, FakeEngine) {
    let engine = FakeEngine::start(Engine::default()).await;
    let id = engine.add_container(&attempt().name, "running", exit);
    let ended = engine
        .backend(config(PullPolicy::IfMissing))
        .wait(&job(id))
        .await
        .unwrap();
    (ended, engine)
}

#[tokio::test]
async fn exit_code_zero_succeeds() {
    let (ended, engine) = wait_for(Exit::code(0)).await;
    assert_eq!(ended, Ended::Succeeded);
    let id = engine.container_id(&attempt().name);
    let waits = engine.requests_to(&format!("POST /containers/{id}/wait"));
    assert_eq!(waits[0].query, query([("condition", "not-running")]));
}

#[tokio::test]
async fn a_non_zero_exit_code_fails_with_that_code() {
    let (ended, _engine) = wait_for(Exit::code(3)).await;
    assert_eq!(
        ended,
        Ended::Failed {
            exit_code: Some(3),
            reason: "exited with code 3".into()
        }
    );
}

#[tokio::test]
async fn an_oom_killed_container_fails_as_oomkilled() {
    let (ended, _engine) = wait_for(Exit {
        code: 137,
        oom_killed: true,
    })
    .await;
    assert_eq!(
        ended,
        Ended::Failed {
            exit_code: Some(137),
            reason: "OOMKilled".into()
        }
    );
}

#[tokio::test]
async fn a_container_the_engine_no_longer_has_vanished() {
    let engine = FakeEngine::start(Engine::default()).await;
    let ended = engine
        .backend(config(PullPolicy::IfMissing))
        .wait(&job("0".repeat(64)))
        .await
        .unwrap();
    assert_eq!(ended, Ended::Vanished);
}

#[tokio::test]
async fn kill_force_removes_the_container_and_a_gone_one_is_fine() {
    let engine = FakeEngine::start(Engine::default()).await;
    let id = engine.add_container(&attempt().name, "running", Exit::code(0));
    let backend = engine.backend(config(PullPolicy::IfMissing));

    backend.kill(&job(id.clone())).await.unwrap();
    backend.kill(&job(id.clone())).await.unwrap();

    assert!(engine.state().containers.is_empty());
    let removals = engine.requests_to(&format!("DELETE /containers/{id}"));
    assert_eq!(removals.len(), 2);
    assert_eq!(
        removals[0].query,
        query([("force", "true"), ("link", "false"), ("v", "false")])
    );
}

#[tokio::test]
async fn the_log_tail_interleaves_stdout_and_stderr_demultiplexed() {
    let engine = FakeEngine::start(Engine::default()).await;
    let id = engine.add_container(&attempt().name, "exited", Exit::code(1));
    engine.container(&id, |container| {
        container.logs = vec![
            (Stream::Stdout, "reading inputs\n".into()),
            (Stream::Stderr, "warning: cloudy\n".into()),
            (Stream::Stdout, "writing output\n".into()),
            (Stream::Stderr, "error: disk full\n".into()),
        ];
    });

    let tail = engine
        .backend(config(PullPolicy::IfMissing))
        .log_tail(&job(id.clone()), 3)
        .await
        .unwrap();

    assert_eq!(
        tail,
        ["warning: cloudy", "writing output", "error: disk full"]
    );
    let logs = engine.requests_to(&format!("GET /containers/{id}/logs"));
    assert_eq!(logs[0].query["tail"], "3");
    assert_eq!(
        (&*logs[0].query["stdout"], &*logs[0].query["stderr"]),
        ("true", "true")
    );
}

#[tokio::test]
async fn an_image_no_registry_has_is_a_permanent_error_naming_it() {
    let engine = FakeEngine::start(Engine::default()).await;
    let error = engine
        .backend(config(PullPolicy::IfMissing))
        .launch(&attempt())
        .await
        .unwrap_err();

    assert!(!error.transient);
    assert_eq!(
        error.to_string(),
        format!("docker could not pull the image for {}", attempt().name)
    );
    let cause = error.source.to_string();
    assert!(cause.contains(IMAGE), "{cause}");
    assert!(engine.requests_to("POST /containers/create").is_empty());
}

#[tokio::test]
async fn creating_from_a_missing_image_without_pulling_is_a_permanent_error() {
    let engine = FakeEngine::start(Engine::default()).await;
    let error = engine
        .backend(config(PullPolicy::Never))
        .launch(&attempt())
        .await
        .unwrap_err();
    assert!(!error.transient);
    assert_eq!(error.operation, "create");
    let cause = error.source.to_string();
    assert!(
        cause.contains("404") && cause.contains(&format!("No such image: {IMAGE}")),
        "{cause}"
    );
}

#[tokio::test]
async fn an_engine_failure_is_transient() {
    let engine = FakeEngine::start(Engine::with_images([IMAGE])).await;
    engine.state().failing = true;
    let error = engine
        .backend(config(PullPolicy::Never))
        .launch(&attempt())
        .await
        .unwrap_err();
    assert!(error.transient);
    assert!(error.source.to_string().contains("500"), "{}", error.source);
}

#[tokio::test]
async fn an_unreachable_engine_is_transient() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let docker =
        Docker::connect_with_http(&format!("http://{addr}"), 5, API_DEFAULT_VERSION).unwrap();
    let backend = DockerBackend::with_client(docker, &config(PullPolicy::IfMissing));

    let launch = backend.launch(&attempt()).await.unwrap_err();
    assert!(launch.transient);
    assert_eq!(launch.operation, "inspect the image for");
    let wait = backend.wait(&job("0".repeat(64))).await.unwrap_err();
    assert!(wait.transient);
}

fn job(id: String) -> BackendJob {
    BackendJob {
        backend: "docker".into(),
        name: attempt().name,
        id,
    }
}

fn query<const N: usize>(pairs: [(&str, &str); N]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

// ---- The fake engine ----

/// One request as the engine received it, the version prefix taken off the path.
#[derive(Debug, Clone)]
struct Received {
    method: Method,
    version: Option<String>,
    path: String,
    query: BTreeMap<String, String>,
    body: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout = 1,
    Stderr = 2,
}

#[derive(Debug, Clone, Copy)]
struct Exit {
    code: i64,
    oom_killed: bool,
}

impl Exit {
    fn code(code: i64) -> Self {
        Self {
            code,
            oom_killed: false,
        }
    }
}

#[derive(Debug)]
struct Container {
    id: String,
    name: String,
    status: &'static str,
    /// How the container ends once waited for.
    exit: Exit,
    logs: Vec<(Stream, String)>,
}

#[derive(Default)]
struct Engine {
    /// Images the engine holds, `repository:tag`.
    images: BTreeSet<String>,
    /// Images its registry would serve.
    registry: BTreeSet<String>,
    containers: Vec<Container>,
    received: Vec<Received>,
    /// Answer every request with a 500, as an engine that lost its containerd does.
    failing: bool,
}

impl Engine {
    fn with_images<const N: usize>(images: [&str; N]) -> Self {
        Self {
            images: images.into_iter().map(ToOwned::to_owned).collect(),
            ..Self::default()
        }
    }

    fn with_registry<const N: usize>(images: [&str; N]) -> Self {
        Self::default().and_registry(images)
    }

    fn and_registry<const N: usize>(mut self, images: [&str; N]) -> Self {
        self.registry = images.into_iter().map(ToOwned::to_owned).collect();
        self
    }

    fn container(&mut self, key: &str) -> Option<&mut Container> {
        // The engine takes a name or an id wherever it takes a container.
        self.containers
            .iter_mut()
            .find(|container| container.id == key || container.name == key)
    }
}

struct FakeEngine {
    addr: SocketAddr,
    engine: Arc<Mutex<Engine>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeEngine {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeEngine {
    async fn start(engine: Engine) -> Self {
        let engine = Arc::new(Mutex::new(engine));
        let app = Router::new().fallback(answer).with_state(engine.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            addr,
            engine,
            server,
        }
    }

    fn backend(&self, config: DockerConfig) -> DockerBackend {
        let docker =
            Docker::connect_with_http(&format!("http://{}", self.addr), 10, API_DEFAULT_VERSION)
                .unwrap();
        DockerBackend::with_client(docker, &config)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Engine> {
        self.engine.lock().unwrap()
    }

    fn requests(&self) -> Vec<Received> {
        self.state().received.clone()
    }

    /// `METHOD /path` of every request, in order.
    fn calls(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|request| format!("{} {}", request.method, request.path))
            .collect()
    }

    fn requests_to(&self, call: &str) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|request| format!("{} {}", request.method, request.path) == call)
            .collect()
    }

    fn add_container(&self, name: &str, status: &'static str, exit: Exit) -> String {
        let mut engine = self.state();
        let id = container_id(engine.containers.len());
        engine.containers.push(Container {
            id: id.clone(),
            name: name.to_owned(),
            status,
            exit,
            logs: Vec::new(),
        });
        id
    }

    fn container(&self, key: &str, change: impl FnOnce(&mut Container)) {
        change(self.state().container(key).unwrap());
    }

    fn container_id(&self, name: &str) -> String {
        self.state().container(name).unwrap().id.clone()
    }

    fn status_of(&self, id: &str) -> &'static str {
        self.state().container(id).unwrap().status
    }
}

/// What the engine makes of an image reference: no tag means `latest`.
fn normalized(image: &str) -> String {
    let last_component = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last_component.contains(':') {
        image.to_owned()
    } else {
        format!("{image}:latest")
    }
}

fn container_id(index: usize) -> String {
    format!("{:064x}", 0xc0ffee + index)
}

async fn answer(
    State(engine): State<Arc<Mutex<Engine>>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (version, path) = split_version(uri.path());
    let query = Query::<BTreeMap<String, String>>::try_from_uri(&uri)
        .map(|Query(query)| query)
        .unwrap_or_default();
    let received = Received {
        method: method.clone(),
        version,
        path: path.clone(),
        query: query.clone(),
        body: serde_json::from_slice(&body).ok(),
    };
    let mut engine = engine.lock().unwrap();
    engine.received.push(received.clone());
    if engine.failing {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "containerd is not running",
        );
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (Method::GET, ["images", .., "json"]) => {
            let image = path
                .trim_start_matches("/images/")
                .trim_end_matches("/json");
            inspect_image(&engine, image)
        }
        (Method::POST, ["images", "create"]) => pull(&mut engine, &query),
        (Method::POST, ["containers", "create"]) => {
            create(&mut engine, &query["name"], received.body.unwrap())
        }
        (Method::GET, ["containers", key, "json"]) => inspect_container(&mut engine, key),
        (Method::POST, ["containers", key, "start"]) => start(&mut engine, key),
        (Method::POST, ["containers", key, "wait"]) => wait(&mut engine, key),
        (Method::GET, ["containers", key, "logs"]) => logs(&mut engine, key, &query),
        (Method::DELETE, ["containers", key]) => remove(&mut engine, key),
        _ => error(StatusCode::NOT_FOUND, "page not found"),
    }
}

/// `/v1.53/containers/create` → (`v1.53`, `/containers/create`); unversioned paths are valid too.
fn split_version(path: &str) -> (Option<String>, String) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let first = parts.next().unwrap_or_default();
    let is_version = first.strip_prefix('v').is_some_and(|number| {
        number.split('.').count() == 2 && number.split('.').all(|n| n.parse::<u32>().is_ok())
    });
    match (is_version, parts.next()) {
        (true, Some(rest)) => (Some(first.to_owned()), format!("/{rest}")),
        _ => (None, path.to_owned()),
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

fn no_such_container(key: &str) -> Response {
    error(StatusCode::NOT_FOUND, &format!("No such container: {key}"))
}

fn inspect_image(engine: &Engine, image: &str) -> Response {
    let image = normalized(image);
    if !engine.images.contains(&image) {
        return error(StatusCode::NOT_FOUND, &format!("No such image: {image}"));
    }
    let body = json!({ "Id": format!("sha256:{}", container_id(99)), "RepoTags": [image] });
    axum::Json(body).into_response()
}

fn pull(engine: &mut Engine, query: &BTreeMap<String, String>) -> Response {
    let repository = &query["fromImage"];
    let image = match query.get("tag") {
        Some(tag) => format!("{repository}:{tag}"),
        None => normalized(repository),
    };
    if !engine.registry.contains(&image) {
        let message = format!(
            "pull access denied for {repository}, repository does not exist or may require \
             'docker login': denied: requested access to the resource is denied"
        );
        return error(StatusCode::NOT_FOUND, &message);
    }
    engine.images.insert(image.clone());
    let progress = [
        json!({"status": format!("Pulling from {repository}"), "id": "1.4.0"}),
        json!({"status": "Pull complete", "progressDetail": {}, "id": "9c0abc9c5bd3"}),
        json!({"status": format!("Status: Downloaded newer image for {image}")}),
    ];
    let lines: String = progress.iter().map(|line| format!("{line}\r\n")).collect();
    ([(header::CONTENT_TYPE, "application/json")], lines).into_response()
}

fn create(engine: &mut Engine, name: &str, body: Value) -> Response {
    if let Some(existing) = engine.container(name) {
        let message = format!(
            "Conflict. The container name \"/{name}\" is already in use by container \"{}\". \
             You have to remove (or rename) that container to be able to reuse that name.",
            existing.id
        );
        return error(StatusCode::CONFLICT, &message);
    }
    let image = normalized(body["Image"].as_str().unwrap_or_default());
    if !engine.images.contains(&image) {
        return error(StatusCode::NOT_FOUND, &format!("No such image: {image}"));
    }
    let id = container_id(engine.containers.len());
    engine.containers.push(Container {
        id: id.clone(),
        name: name.to_owned(),
        status: "created",
        exit: Exit::code(0),
        logs: Vec::new(),
    });
    let created = json!({ "Id": id, "Warnings": [] });
    (StatusCode::CREATED, axum::Json(created)).into_response()
}

fn inspect_container(engine: &mut Engine, key: &str) -> Response {
    let Some(container) = engine.container(key) else {
        return no_such_container(key);
    };
    let has_exited = container.status == "exited";
    let exit = if has_exited {
        container.exit
    } else {
        Exit::code(0)
    };
    let body = json!({
        "Id": container.id,
        "Created": "2024-01-01T00:00:00.000000000Z",
        "Path": "/usr/bin/snow",
        "Args": ["--fast"],
        "State": {
            "Status": container.status,
            "Running": container.status == "running",
            "Paused": false,
            "Restarting": false,
            "OOMKilled": exit.oom_killed,
            "Dead": false,
            "Pid": if container.status == "running" { 4242 } else { 0 },
            "ExitCode": exit.code,
            "Error": "",
            "StartedAt": "2024-01-01T00:00:01.000000000Z",
            "FinishedAt": if has_exited { "2024-01-01T00:01:00.000000000Z" } else { "0001-01-01T00:00:00Z" },
        },
        "Image": format!("sha256:{}", container_id(99)),
        "Name": format!("/{}", container.name),
        "RestartCount": 0,
    });
    axum::Json(body).into_response()
}

fn start(engine: &mut Engine, key: &str) -> Response {
    let Some(container) = engine.container(key) else {
        return no_such_container(key);
    };
    if container.status == "running" {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    container.status = "running";
    StatusCode::NO_CONTENT.into_response()
}

fn wait(engine: &mut Engine, key: &str) -> Response {
    let Some(container) = engine.container(key) else {
        return no_such_container(key);
    };
    container.status = "exited";
    axum::Json(json!({ "StatusCode": container.exit.code, "Error": null })).into_response()
}

/// Docker's stream format without a TTY: per frame 1 byte stream, 3 zero bytes, the payload's
/// length as a big-endian u32, then the payload.
fn logs(engine: &mut Engine, key: &str, query: &BTreeMap<String, String>) -> Response {
    let Some(container) = engine.container(key) else {
        return no_such_container(key);
    };
    let tail = query
        .get("tail")
        .and_then(|tail| tail.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    let skipped = container.logs.len().saturating_sub(tail);
    let mut body = Vec::new();
    for (stream, line) in &container.logs[skipped..] {
        body.extend_from_slice(&[*stream as u8, 0, 0, 0]);
        body.extend_from_slice(&u32::try_from(line.len()).unwrap().to_be_bytes());
        body.extend_from_slice(line.as_bytes());
    }
    let content_type = "application/vnd.docker.multiplexed-stream";
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn remove(engine: &mut Engine, key: &str) -> Response {
    let before = engine.containers.len();
    engine
        .containers
        .retain(|container| container.id != key && container.name != key);
    if engine.containers.len() == before {
        return no_such_container(key);
    }
    StatusCode::NO_CONTENT.into_response()
}
