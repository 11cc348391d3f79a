//! A real STAC API for tests: stac-fastapi-pgstac with its Transactions extension, on a
//! PostgreSQL + PostGIS cluster of its own (free loopback ports, a temporary directory), stopped
//! on drop. `make tools` installs both; see DEPENDENCIES.md, "A real STAC API, as started here".
//!
//! The cluster runs as the `postgres` OS user when the tests run as root, since PostgreSQL
//! refuses root. The server processes are this process's own children, so that dropping the
//! server stops them: `runuser` would fork and wait, and killing it would orphan PostgreSQL.

use std::{
    os::unix::{fs::MetadataExt, process::CommandExt},
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::process::{Child, Command};

/// How long each server may take to answer after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Log lines shown when a server fails.
const LOG_TAIL: usize = 25;

#[derive(Debug, thiserror::Error)]
pub enum StacServerError {
    #[error("{what} not found: {hint}")]
    NotFound {
        what: &'static str,
        hint: &'static str,
    },
    #[error("could not prepare the server's files")]
    Files(#[source] std::io::Error),
    #[error("could not run {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{step} failed ({status}); its output ends:\n{output}")]
    Step {
        step: String,
        status: std::process::ExitStatus,
        output: String,
    },
    #[error("{what} could not bind port {port}, taken since it was picked: {line}")]
    PortTaken {
        what: &'static str,
        port: u16,
        line: String,
    },
    #[error(
        "{what} on port {port} did not answer: it exited, or {timeout:?} passed; its log ends:\n{log}"
    )]
    NotReady {
        what: &'static str,
        port: u16,
        timeout: Duration,
        log: String,
    },
    #[error("request to {url} failed")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{method} {url} answered {status}: {body}")]
    Refused {
        method: &'static str,
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("the STAC document has no string `{0}`")]
    Document(&'static str),
}

/// A running stac-fastapi-pgstac and its PostgreSQL cluster.
pub struct StacServer {
    /// `None` until the cluster is ready for it.
    api: Option<Child>,
    api_port: u16,
    postgres: Child,
    pg_ctl: PathBuf,
    data: PathBuf,
    user: Option<(u32, u32)>,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl StacServer {
    /// # Panics
    /// When the servers cannot start; tests want the reason, with the log, on screen.
    pub async fn start() -> Self {
        match Self::try_start().await {
            Ok(server) => server,
            Err(error) => panic!(
                "the STAC API did not start: {}",
                nrt_runtime::describe_error(&error)
            ),
        }
    }

    /// Starts both servers, again on fresh ports when another process took a port picked as
    /// free before the server bound it (tests run in parallel).
    pub async fn try_start() -> Result<Self, StacServerError> {
        const ATTEMPTS: usize = 3;
        let tools = Tools::find()?;
        let mut attempt = 1;
        loop {
            match Self::start_once(&tools).await {
                Err(StacServerError::PortTaken { .. }) if attempt < ATTEMPTS => {
                    tracing::warn!(
                        attempt,
                        "A STAC API server lost a port race; starting again"
                    );
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    /// The API's landing page, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    /// Creates a collection, or replaces the one with its id.
    pub async fn upsert_collection(&self, collection: &Value) -> Result<(), StacServerError> {
        let id = text(collection, "id")?;
        let created = self
            .send("POST", format!("{}/collections", self.url()), collection)
            .await?;
        if created {
            return Ok(());
        }
        self.send(
            "PUT",
            format!("{}/collections/{id}", self.url()),
            collection,
        )
        .await
        .map(drop)
    }

    /// Adds an item to its collection (which must exist), or replaces the one with its id.
    pub async fn upsert_item(&self, item: &Value) -> Result<(), StacServerError> {
        let collection = text(item, "collection")?;
        let id = text(item, "id")?;
        let items = format!("{}/collections/{collection}/items", self.url());
        if self.send("POST", items.clone(), item).await? {
            return Ok(());
        }
        self.send("PUT", format!("{items}/{id}"), item)
            .await
            .map(drop)
    }

    /// Sends `document`; `Ok(false)` when a POST found it there already (409).
    async fn send(
        &self,
        method: &'static str,
        url: String,
        document: &Value,
    ) -> Result<bool, StacServerError> {
        let request = match method {
            "POST" => self.client.post(&url),
            _ => self.client.put(&url),
        };
        let response =
            request
                .json(document)
                .send()
                .await
                .map_err(|source| StacServerError::Request {
                    url: url.clone(),
                    source,
                })?;
        let status = response.status();
        if status.is_success() {
            return Ok(true);
        }
        if status == StatusCode::CONFLICT && method == "POST" {
            return Ok(false);
        }
        Err(StacServerError::Refused {
            method,
            url,
            status,
            body: response.text().await.unwrap_or_default(),
        })
    }

    async fn start_once(tools: &Tools) -> Result<Self, StacServerError> {
        let dir = tempfile::Builder::new()
            .prefix("nrt-pgstac-")
            .tempdir()
            .map_err(StacServerError::Files)?;
        let user = postgres_user()?;
        if let Some((uid, gid)) = user {
            // The cluster's files and socket are the postgres user's.
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(StacServerError::Files)?;
        }
        let data = dir.path().join("data");
        let run = |program: &Path| {
            let mut command = Command::new(program);
            if let Some((uid, gid)) = user {
                command.uid(uid).gid(gid);
            }
            command.current_dir(dir.path());
            command
        };
        step(
            run(&tools.pg_bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]),
            "initdb",
        )
        .await?;

        let [pg_port, api_port] = distinct_free_ports().map_err(StacServerError::Files)?;
        let pg_log = dir.path().join("postgres.log");
        let postgres = run(&tools.pg_bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(pg_port.to_string())
            .arg("-k")
            .arg(dir.path())
            // A throwaway cluster: durability buys nothing and costs seconds.
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(&pg_log)?)
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_error(&tools.pg_bin.join("postgres")))?;
        // From here on, a failure drops `server`, which stops what was started.
        let mut server = Self {
            api: None,
            api_port,
            postgres,
            pg_ctl: tools.pg_bin.join("pg_ctl"),
            data,
            user,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client without TLS settings builds"),
            _dir: dir,
        };
        server.wait_for_postgres(tools, pg_port, &pg_log).await?;

        let pg_env = [
            ("PGHOST", "127.0.0.1".to_owned()),
            ("PGPORT", pg_port.to_string()),
            ("PGUSER", "postgres".to_owned()),
            // Trust authentication on loopback: the password is never checked, but the API's
            // settings require one.
            ("PGPASSWORD", "unused".to_owned()),
            ("PGDATABASE", "pgstac".to_owned()),
        ];
        let psql = |database: &str, sql: &str| {
            let mut command = Command::new(tools.pg_bin.join("psql"));
            command.envs(pg_env.clone()).args([
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-d",
                database,
                "-c",
                sql,
            ]);
            command
        };
        step(
            &mut psql("postgres", "CREATE DATABASE pgstac"),
            "create database",
        )
        .await?;
        step(
            &mut psql("pgstac", "CREATE EXTENSION postgis"),
            "create extension postgis",
        )
        .await?;
        step(
            Command::new(&tools.pypgstac)
                .arg("migrate")
                .envs(pg_env.clone()),
            "pypgstac migrate",
        )
        .await?;
        // pgstac compares an item property in CQL2 as text unless a queryable types it: a feed
        // asking for `updated >= TIMESTAMP(...)` needs these, as on any pgstac deployment.
        step(
            &mut psql(
                "pgstac",
                "SET search_path TO pgstac, public; \
                 INSERT INTO queryables (name, definition, property_wrapper, property_index_type) \
                 VALUES \
                 ('created', '{\"type\": \"string\", \"format\": \"date-time\"}', 'to_tstz', 'BTREE'), \
                 ('updated', '{\"type\": \"string\", \"format\": \"date-time\"}', 'to_tstz', 'BTREE')",
            ),
            "declare the created and updated queryables",
        )
        .await?;

        let api_log = server._dir.path().join("api.log");
        let log = log_file(&api_log)?;
        let api = Command::new(&tools.uvicorn)
            .args(["stac_fastapi.pgstac.app:create_app", "--factory"])
            // The packaged runner binds 0.0.0.0; tests stay on loopback.
            .args(["--host", "127.0.0.1", "--port", &api_port.to_string()])
            .envs(pg_env)
            .env("ENABLE_TRANSACTIONS_EXTENSIONS", "true")
            // Its settings also read a `.env` in the working directory: ours has none.
            .current_dir(server._dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(StacServerError::Files)?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_error(&tools.uvicorn))?;
        server.api = Some(api);
        server.wait_for_api(&api_log).await?;
        Ok(server)
    }

    async fn wait_for_postgres(
        &mut self,
        tools: &Tools,
        port: u16,
        log: &Path,
    ) -> Result<(), StacServerError> {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        while tokio::time::Instant::now() < deadline {
            if matches!(self.postgres.try_wait(), Ok(Some(_))) {
                break;
            }
            let ready = Command::new(tools.pg_bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .await
                .is_ok_and(|status| status.success());
            if ready {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(not_ready("PostgreSQL", port, log, "could not bind"))
    }

    async fn wait_for_api(&mut self, log: &Path) -> Result<(), StacServerError> {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        while tokio::time::Instant::now() < deadline {
            // A server that died (a port taken, a bad setting) will never answer: report it now.
            if self
                .api
                .as_mut()
                .is_none_or(|api| matches!(api.try_wait(), Ok(Some(_))))
            {
                break;
            }
            if let Ok(response) = self.client.get(self.url()).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(not_ready(
            "stac-fastapi-pgstac",
            self.api_port,
            log,
            "address already in use",
        ))
    }
}

impl Drop for StacServer {
    fn drop(&mut self) {
        if let Some(api) = &mut self.api {
            let _ = api.start_kill();
        }
        // A fast shutdown releases the cluster's shared memory, which a killed postmaster
        // leaves behind; pg_ctl refuses root like the server does.
        let mut pg_ctl = std::process::Command::new(&self.pg_ctl);
        pg_ctl
            .arg("stop")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "-t", "10"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((uid, gid)) = self.user {
            pg_ctl.uid(uid).gid(gid);
        }
        if !pg_ctl.status().is_ok_and(|status| status.success()) {
            let _ = self.postgres.start_kill();
        }
    }
}

/// Where PostgreSQL's programs and the STAC API's Python tools are.
struct Tools {
    pg_bin: PathBuf,
    pypgstac: PathBuf,
    uvicorn: PathBuf,
}

impl Tools {
    /// `NRT_PG_BIN`, else the newest `/usr/lib/postgresql/<version>/bin` with PostGIS
    /// installed; `NRT_STAC_VENV`, else `.tools/venv` in this checkout (found upwards from the
    /// working directory or the running binary).
    fn find() -> Result<Self, StacServerError> {
        let pg_bin = match std::env::var_os("NRT_PG_BIN") {
            Some(dir) => PathBuf::from(dir),
            None => newest_postgis_cluster().ok_or(StacServerError::NotFound {
                what: "PostgreSQL with PostGIS",
                hint: "run `make tools` (as root on Debian it installs postgresql and \
                       postgresql-15-postgis-3), or set NRT_PG_BIN to the directory of initdb",
            })?,
        };
        let venv = nrt_runtime::tools::find_tool("NRT_STAC_VENV", "venv", |venv| {
            venv.join("bin/pypgstac").is_file()
        })
        .ok_or(StacServerError::NotFound {
            what: "pypgstac and stac-fastapi-pgstac",
            hint: "run `make tools`, or set NRT_STAC_VENV to the virtualenv holding them",
        })?;
        Ok(Self {
            pg_bin,
            pypgstac: venv.join("bin/pypgstac"),
            uvicorn: venv.join("bin/uvicorn"),
        })
    }
}

fn newest_postgis_cluster() -> Option<PathBuf> {
    let versions = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    versions
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let postgis = format!("/usr/share/postgresql/{version}/extension/postgis.control");
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && Path::new(&postgis).is_file())
                .then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
}

/// The `postgres` user's uid and gid when this process is root, which PostgreSQL refuses to
/// run as; `None` runs the cluster as the current user.
fn postgres_user() -> Result<Option<(u32, u32)>, StacServerError> {
    let euid = std::fs::metadata("/proc/self")
        .map_err(StacServerError::Files)?
        .uid();
    if euid != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(StacServerError::Files)?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.as_slice() {
                ["postgres", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
                _ => None,
            }
        })
        .map(Some)
        .ok_or(StacServerError::NotFound {
            what: "the postgres OS user, which runs the cluster when tests run as root",
            hint: "install Debian's postgresql package, which creates it",
        })
}

/// Runs a setup command to completion; its output is the error when it fails.
async fn step(command: &mut Command, name: &str) -> Result<(), StacServerError> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|source| StacServerError::Spawn {
            program: Path::new(command.as_std().get_program())
                .display()
                .to_string(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Err(StacServerError::Step {
        step: name.to_owned(),
        status: output.status,
        output: tail(&text),
    })
}

fn log_file(path: &Path) -> Result<std::fs::File, StacServerError> {
    std::fs::File::create(path).map_err(StacServerError::Files)
}

fn spawn_error(program: &Path) -> impl FnOnce(std::io::Error) -> StacServerError {
    let program = program.display().to_string();
    move |source| StacServerError::Spawn { program, source }
}

/// Why a server did not answer: a port race when its log says so (`port_taken`), else its log.
fn not_ready(what: &'static str, port: u16, log: &Path, port_taken: &str) -> StacServerError {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    if let Some(line) = text
        .lines()
        .find(|line| line.to_ascii_lowercase().contains(port_taken))
    {
        return StacServerError::PortTaken {
            what,
            port,
            line: line.to_owned(),
        };
    }
    StacServerError::NotReady {
        what,
        port,
        timeout: READY_TIMEOUT,
        log: tail(&text),
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n")
}

fn text<'a>(document: &'a Value, field: &'static str) -> Result<&'a str, StacServerError> {
    document
        .get(field)
        .and_then(Value::as_str)
        .ok_or(StacServerError::Document(field))
}

/// Ports free right now and distinct from one another: all are bound at once before any is
/// released, so the operating system cannot hand out the same one twice.
fn distinct_free_ports<const N: usize>() -> std::io::Result<[u16; N]> {
    let listeners = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut ports = [0; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}
