//! SeaweedFS, a real distributed S3 server, started as a child process for tests: master,
//! volume, filer and S3 gateway on free loopback ports, data in a temporary directory.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

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
    #[error("SeaweedFS could not bind a port another process took first: {line}")]
    PortTaken { line: String },
    #[error(
        "SeaweedFS refuses to store anything: the disk holding its data is nearly full ({line}); free some space"
    )]
    DiskFull { line: String },
    #[error("SeaweedFS S3 on port {port} did not answer within {timeout:?}; its log: {log}")]
    NotReady {
        port: u16,
        timeout: Duration,
        log: String,
    },
}

/// SeaweedFS's default floor is 1% of the disk (2.5 GB of a 250 GB disk), under which every volume
/// turns read-only; test data needs megabytes, and a shared CI disk may well be that full.
const TEST_MIN_FREE_SPACE: &str = "256MiB";
/// A ready server answers the probe's tiny write in milliseconds, even on a loaded CI machine.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
const ACCESS_KEY: &str = "nrt-test";
const SECRET_KEY: &str = "nrt-test-secret";
const IDENTITIES: &str = r#"{"identities":[{"name":"nrt-test","credentials":[{"accessKey":"nrt-test","secretKey":"nrt-test-secret"}],"actions":["Admin","Read","List","Tagging","Write"]}]}"#;

pub struct SeaweedServer {
    child: Child,
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

    /// Starts SeaweedFS, trying again on fresh ports when a port picked as free was taken by
    /// another process before SeaweedFS bound it (tests run in parallel and each start picks eight).
    pub async fn try_start() -> Result<Self, SeaweedError> {
        Self::try_start_keeping_free(TEST_MIN_FREE_SPACE).await
    }

    /// As [`Self::try_start`], with SeaweedFS refusing writes once less than `min_free_space`
    /// (its syntax: `256MiB`, `10GiB`, or a percentage up to 100) is free on the data disk.
    pub async fn try_start_keeping_free(min_free_space: &str) -> Result<Self, SeaweedError> {
        const ATTEMPTS: usize = 4;
        let binary = find_binary()?;
        let mut attempt = 1;
        loop {
            match Self::start_once(&binary, min_free_space).await {
                Err(SeaweedError::PortTaken { .. }) if attempt < ATTEMPTS => {
                    tracing::warn!(
                        attempt,
                        "SeaweedFS lost a port race; starting again on new ports"
                    );
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    async fn start_once(binary: &Path, min_free_space: &str) -> Result<Self, SeaweedError> {
        let spawn_error = |source| SeaweedError::Spawn {
            binary: binary.display().to_string(),
            source,
        };
        let dir = tempfile::Builder::new()
            .prefix("nrt-seaweed-")
            .tempdir()
            .map_err(spawn_error)?;
        // Every listener gets an explicit port: SeaweedFS otherwise derives gRPC ports as +10000,
        // which may be a port another test's server already holds.
        let [
            master,
            master_grpc,
            volume,
            volume_grpc,
            filer,
            filer_grpc,
            s3_port,
            s3_grpc,
        ] = distinct_free_ports().map_err(spawn_error)?;
        let log_path = dir.path().join("weed.log");
        let log = std::fs::File::create(&log_path).map_err(spawn_error)?;
        // A real identity: requests are signature-checked as in production.
        let identities = dir.path().join("s3.json");
        std::fs::write(&identities, IDENTITIES).map_err(spawn_error)?;
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).map_err(spawn_error)?;
        let child = Command::new(binary)
            .arg("server")
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-dir={}", data.display()))
            .arg(format!("-master.port={master}"))
            .arg(format!("-master.port.grpc={master_grpc}"))
            .arg(format!("-volume.port={volume}"))
            .arg(format!("-volume.port.grpc={volume_grpc}"))
            .arg(format!("-filer.port={filer}"))
            .arg(format!("-filer.port.grpc={filer_grpc}"))
            .arg("-s3")
            .arg(format!("-s3.port={s3_port}"))
            .arg(format!("-s3.port.grpc={s3_grpc}"))
            .arg(format!("-s3.config={}", identities.display()))
            // Side services SeaweedFS starts on fixed ports by default: off, so tests never collide.
            .args([
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-master.volumeSizeLimitMB=64",
                "-volume.max=20",
            ])
            .arg(format!("-volume.minFreeSpace={min_free_space}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .current_dir(dir.path())
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_error)?;
        let mut server = Self {
            child,
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

    /// Ready means a bucket can be created and written, not merely that the port is open.
    async fn probe(client: &aws_sdk_s3::Client) -> bool {
        crate::ensure_bucket(client, "nrt-ready-probe")
            .await
            .is_ok()
            && crate::put_bytes(
                client,
                "nrt-ready-probe",
                "probe",
                "ok".into(),
                "text/plain",
            )
            .await
            .is_ok()
    }

    async fn wait_ready(&mut self, log_path: &Path) -> Result<(), SeaweedError> {
        let timeout = Duration::from_secs(60);
        let client = crate::client(&self.config()).await;
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            // A server that died (a port taken, a bad flag) will never answer: report it now.
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            // SeaweedFS logs "dir … disk free 0.76% < required 1.00%" and keeps running, unwritable
            // for as long as the disk stays full.
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            if let Some(line) = log
                .lines()
                .find(|line| line.contains("disk free") && line.contains("< required"))
            {
                return Err(SeaweedError::DiskFull {
                    line: line.to_owned(),
                });
            }
            // A write to an unwritable SeaweedFS hangs until the S3 client gives up: bounded, so
            // the log is looked at again well before the deadline.
            if let Ok(true) = tokio::time::timeout(PROBE_TIMEOUT, Self::probe(&client)).await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let log = std::fs::read_to_string(log_path).unwrap_or_default();
        if let Some(line) = log
            .lines()
            .find(|line| line.contains("address already in use"))
        {
            return Err(SeaweedError::PortTaken {
                line: line.to_owned(),
            });
        }
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        Err(SeaweedError::NotReady {
            port: self.s3_port,
            timeout,
            log: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        })
    }
}

fn find_binary() -> Result<PathBuf, SeaweedError> {
    nrt_runtime::tools::find_tool("NRT_WEED", "bin/weed", Path::is_file)
        .ok_or(SeaweedError::NotFound)
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
