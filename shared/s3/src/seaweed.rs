//! SeaweedFS, a real distributed S3 server, started as a child process for tests: master,
//! volume, filer and S3 gateway on free loopback ports, data in a temporary directory.

use std::{path::PathBuf, process::Stdio, time::Duration};

use tokio::process::{Child, Command};

use crate::S3Config;

#[derive(Debug, thiserror::Error)]
pub enum SeaweedError {
    #[error(
        "weed not found: run `make tools` (installs SeaweedFS into .tools/bin), or set NRT_WEED to its path"
    )]
    NotFound,
    #[error("could not start {binary}")]
    Spawn {
        binary: String,
        #[source]
        source: std::io::Error,
    },
    #[error("SeaweedFS S3 on port {port} did not answer within {timeout:?}; its log: {log}")]
    NotReady {
        port: u16,
        timeout: Duration,
        log: String,
    },
}

const ACCESS_KEY: &str = "nrt-test";
const SECRET_KEY: &str = "nrt-test-secret";
const IDENTITIES: &str = r#"{"identities":[{"name":"nrt-test","credentials":[{"accessKey":"nrt-test","secretKey":"nrt-test-secret"}],"actions":["Admin","Read","List","Tagging","Write"]}]}"#;

pub struct SeaweedServer {
    _child: Child,
    s3_port: u16,
    _dir: tempfile::TempDir,
}

impl SeaweedServer {
    /// # Panics
    /// When SeaweedFS cannot start; tests want the reason on screen.
    pub async fn start() -> Self {
        match Self::try_start().await {
            Ok(server) => server,
            Err(error) => panic!("{error}"),
        }
    }

    pub async fn try_start() -> Result<Self, SeaweedError> {
        let binary = find_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("nrt-seaweed-")
            .tempdir()
            .map_err(|source| SeaweedError::Spawn {
                binary: binary.display().to_string(),
                source,
            })?;
        let port = |name: &str| -> Result<String, SeaweedError> {
            free_port_pair()
                .map(|port| format!("-{name}={port}"))
                .map_err(|source| SeaweedError::Spawn {
                    binary: binary.display().to_string(),
                    source,
                })
        };
        // Each service takes an HTTP port and a gRPC port at +10000; pick ports where both are free.
        let master = port("master.port")?;
        let volume = port("volume.port")?;
        let filer = port("filer.port")?;
        let s3_port = free_port_pair().map_err(|source| SeaweedError::Spawn {
            binary: binary.display().to_string(),
            source,
        })?;
        let log_path = dir.path().join("weed.log");
        let log = std::fs::File::create(&log_path).map_err(|source| SeaweedError::Spawn {
            binary: binary.display().to_string(),
            source,
        })?;
        // A real identity: requests are signature-checked as in production.
        let identities = dir.path().join("s3.json");
        std::fs::write(&identities, IDENTITIES).map_err(|source| SeaweedError::Spawn {
            binary: binary.display().to_string(),
            source,
        })?;
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).map_err(|source| SeaweedError::Spawn {
            binary: binary.display().to_string(),
            source,
        })?;
        let child = Command::new(&binary)
            .arg("server")
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-dir={}", data.display()))
            .args([master, volume, filer])
            .arg("-s3")
            .arg(format!("-s3.port={s3_port}"))
            .arg(format!("-s3.port.grpc={}", s3_port + 10000))
            .arg(format!("-s3.config={}", identities.display()))
            // Side services SeaweedFS starts on fixed ports by default: off, so tests never collide.
            .args([
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-master.volumeSizeLimitMB=64",
                "-volume.max=20",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .current_dir(dir.path())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| SeaweedError::Spawn {
                binary: binary.display().to_string(),
                source,
            })?;
        let server = Self {
            _child: child,
            s3_port,
            _dir: dir,
        };
        server.wait_ready(&log_path).await?;
        Ok(server)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    pub fn config(&self) -> S3Config {
        S3Config::local(self.endpoint(), ACCESS_KEY, SECRET_KEY)
    }

    async fn wait_ready(&self, log_path: &std::path::Path) -> Result<(), SeaweedError> {
        let timeout = Duration::from_secs(60);
        let client = crate::client(&self.config()).await;
        let deadline = tokio::time::Instant::now() + timeout;
        // Ready means a bucket can be created and written, not merely that the port is open.
        while tokio::time::Instant::now() < deadline {
            if crate::ensure_bucket(&client, "nrt-ready-probe")
                .await
                .is_ok()
                && crate::put_bytes(
                    &client,
                    "nrt-ready-probe",
                    "probe",
                    "ok".into(),
                    "text/plain",
                )
                .await
                .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let log = std::fs::read_to_string(log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        Err(SeaweedError::NotReady {
            port: self.s3_port,
            timeout,
            log: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        })
    }
}

fn find_binary() -> Result<PathBuf, SeaweedError> {
    if let Some(path) = std::env::var_os("NRT_WEED") {
        return Ok(PathBuf::from(path));
    }
    let starts = [std::env::current_dir().ok(), std::env::current_exe().ok()];
    for start in starts.into_iter().flatten() {
        for dir in start.ancestors() {
            let candidate = dir.join(".tools/bin/weed");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(SeaweedError::NotFound)
}

/// A port free now, whose +10000 companion (SeaweedFS's gRPC port) is free too.
fn free_port_pair() -> std::io::Result<u16> {
    for _ in 0..50 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        if port < 55000 && std::net::TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::other("no free port pair found"))
}
