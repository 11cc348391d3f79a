//! A real `nats-server` with JetStream, started as a child process: the embedded default of
//! `nrtmesh dev`, and the server every integration test starts for itself (free port, temporary
//! store, killed on drop, restartable on the same port and store).

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use async_nats::jetstream;
use tokio::process::{Child, Command};

/// The oldest server this project runs on: earlier 2.12 releases have known security flaws, and
/// Debian's 2.9 lacks the JetStream features used here.
pub const MINIMUM_VERSION: (u32, u32, u32) = (2, 12, 6);

/// How often JetStream fsyncs its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncInterval {
    /// The server's default (every two minutes): fast, but a power loss can drop recent writes.
    Default,
    /// fsync every write: what a single-node deployment needs to lose nothing on power loss.
    Always,
}

#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// `None` picks a free port.
    pub port: Option<u16>,
    /// `None` uses a temporary directory removed with the server.
    pub store_dir: Option<PathBuf>,
    pub sync_interval: SyncInterval,
    /// Serve the monitoring endpoint (`/jsz`, `/healthz`) as KEDA's scaler and operators use it.
    pub monitoring: bool,
    pub binary: Option<PathBuf>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            port: None,
            store_dir: None,
            sync_interval: SyncInterval::Always,
            monitoring: false,
            binary: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "nats-server not found: run `make tools` (installs it into .tools/bin), or set NRT_NATS_SERVER to its path"
    )]
    NotFound,
    #[error("{binary} is nats-server {found}; nrt-mesh needs {}.{}.{} or newer (run `make tools`)", MINIMUM_VERSION.0, MINIMUM_VERSION.1, MINIMUM_VERSION.2)]
    TooOld { binary: String, found: String },
    #[error("could not run {binary}")]
    Spawn {
        binary: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not prepare the server's files")]
    Files(#[source] std::io::Error),
    #[error("nats-server on port {port} did not accept connections within {timeout:?}")]
    NotReady { port: u16, timeout: Duration },
    #[error("nats-server exited as it started, {status}: is port {port} taken?")]
    Exited {
        port: u16,
        status: std::process::ExitStatus,
    },
}

pub struct NatsServer {
    child: Option<Child>,
    /// Unique to this server: a client that reaches another server on the port is not fooled.
    name: String,
    binary: PathBuf,
    config_file: PathBuf,
    port: u16,
    monitoring_port: Option<u16>,
    store_dir: PathBuf,
    _temp: tempfile::TempDir,
}

impl NatsServer {
    /// A fresh server for one test: free port, temporary store, fsync on every write.
    ///
    /// # Panics
    /// When the server cannot start; tests want the reason on screen.
    pub async fn start() -> Self {
        match Self::start_with(ServerOptions::default()).await {
            Ok(server) => server,
            Err(error) => panic!("{}", crate::describe_error(&error)),
        }
    }

    /// Starts a server; on a port it picked itself, again on a fresh one when another process
    /// took that port first (tests start servers in parallel).
    pub async fn start_with(options: ServerOptions) -> Result<Self, ServerError> {
        const ATTEMPTS: usize = 3;
        let binary = match &options.binary {
            Some(binary) => binary.clone(),
            None => find_binary()?,
        };
        check_version(&binary).await?;
        let mut attempt = 1;
        loop {
            match Self::start_once(&binary, &options).await {
                Err(ServerError::Exited { port, .. })
                    if options.port.is_none() && attempt < ATTEMPTS =>
                {
                    tracing::warn!(port, attempt, "nats-server lost its port; starting again");
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    /// One start of `binary`, found and checked by `start_with`.
    async fn start_once(binary: &Path, options: &ServerOptions) -> Result<Self, ServerError> {
        let temp = tempfile::Builder::new()
            .prefix("nrt-nats-")
            .tempdir()
            .map_err(ServerError::Files)?;
        let name = temp.path().file_name().map_or_else(
            || "nrt-nats".into(),
            |name| name.to_string_lossy().into_owned(),
        );
        let store_dir = options
            .store_dir
            .clone()
            .unwrap_or_else(|| temp.path().join("jetstream"));
        let port = match options.port {
            Some(port) => port,
            None => free_port().map_err(ServerError::Files)?,
        };
        let monitoring_port = if options.monitoring {
            Some(free_port().map_err(ServerError::Files)?)
        } else {
            None
        };
        let config_file = temp.path().join("nats-server.conf");
        let config = ServerConfig {
            name: &name,
            port,
            monitoring_port,
            store_dir: &store_dir,
            sync: options.sync_interval,
        };
        std::fs::write(&config_file, config.to_string()).map_err(ServerError::Files)?;
        let mut server = Self {
            child: None,
            name,
            binary: binary.to_owned(),
            config_file,
            port,
            monitoring_port,
            store_dir,
            _temp: temp,
        };
        server.spawn().await?;
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The monitoring endpoint, e.g. `http://127.0.0.1:8222`, when enabled.
    pub fn monitoring_url(&self) -> Option<String> {
        self.monitoring_port
            .map(|port| format!("http://127.0.0.1:{port}"))
    }

    pub fn store_dir(&self) -> &Path {
        &self.store_dir
    }

    /// The server's process id, to measure it or signal it.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    pub async fn client(&self) -> async_nats::Client {
        async_nats::connect(self.url())
            .await
            .expect("test server accepts connections")
    }

    pub async fn jetstream(&self) -> jetstream::Context {
        jetstream::new(self.client().await)
    }

    /// SIGKILLs the server, as a crash or an OOM kill would.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the server again on the same port with the same store.
    pub async fn restart(&mut self) -> Result<(), ServerError> {
        self.kill().await;
        self.spawn().await
    }

    async fn spawn(&mut self) -> Result<(), ServerError> {
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&self.config_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| ServerError::Spawn {
                binary: self.binary.display().to_string(),
                source,
            })?;
        self.child = Some(child);
        let timeout = Duration::from_secs(15);
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(ServerError::Exited {
                    port: self.port,
                    status,
                });
            }
            if let Ok(client) = async_nats::connect(self.url()).await {
                // Ready means this server answers with JetStream, not just that the port is open.
                let ours = client.server_info().server_name == self.name;
                if ours && jetstream::new(client).query_account().await.is_ok() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(ServerError::NotReady {
            port: self.port,
            timeout,
        })
    }
}

struct ServerConfig<'a> {
    name: &'a str,
    port: u16,
    monitoring_port: Option<u16>,
    store_dir: &'a Path,
    sync: SyncInterval,
}

impl std::fmt::Display for ServerConfig<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "server_name: {:?}", self.name)?;
        writeln!(f, "listen: \"127.0.0.1:{}\"", self.port)?;
        if let Some(port) = self.monitoring_port {
            writeln!(f, "http: \"127.0.0.1:{port}\"")?;
        }
        writeln!(f, "max_payload: 2MB")?;
        writeln!(f, "jetstream {{")?;
        writeln!(f, "  store_dir: {:?}", self.store_dir.display().to_string())?;
        if self.sync == SyncInterval::Always {
            writeln!(f, "  sync_interval: always")?;
        }
        writeln!(f, "}}")
    }
}

/// `NRT_NATS_SERVER`, else `.tools/bin/nats-server` in this checkout (found upwards from the
/// working directory or the running binary), else `nats-server` on `PATH`.
pub fn find_binary() -> Result<PathBuf, ServerError> {
    let pinned = nrt_runtime::tools::find_tool("NRT_NATS_SERVER", "bin/nats-server", Path::is_file);
    if let Some(path) = pinned {
        return Ok(path);
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("nats-server"))
                .find(|p| p.is_file())
        })
        .ok_or(ServerError::NotFound)
}

async fn check_version(binary: &Path) -> Result<(), ServerError> {
    let spawn_error = |source| ServerError::Spawn {
        binary: binary.display().to_string(),
        source,
    };
    let output = Command::new(binary)
        .arg("--version")
        .output()
        .await
        .map_err(spawn_error)?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    // "nats-server: v2.15.1"
    let version = text.rsplit('v').next().unwrap_or_default();
    let mut parts = version
        .split(['.', '-'])
        .map(|part| part.parse::<u32>().unwrap_or(0));
    let found = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    if found < MINIMUM_VERSION {
        return Err(ServerError::TooOld {
            binary: binary.display().to_string(),
            found: text,
        });
    }
    Ok(())
}

/// A port nothing listens on right now.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
