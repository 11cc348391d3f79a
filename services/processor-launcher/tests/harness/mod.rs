//! A launcher over a real nats-server and a real SeaweedFS, with a registry of test processors:
//! the real `nrt-footprint` and small shell scripts written into the test's directory.

use std::{
    collections::BTreeMap,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::OnceLock,
    time::Duration,
};

use async_nats::jetstream::{self, consumer::pull};
use bytes::Bytes;
use nrt_events::{Envelope, EventData, JobInput, JobRequested, ProductDiscovered, streams};
use nrt_nats::{EventTap, NatsConfig, NatsServer, Publisher, TopologyOptions, apply_topology};
use nrt_runtime::{HealthConfig, shutdown};
use nrt_s3::seaweed::SeaweedServer;
use nrt_telemetry::TelemetryConfig;
use processor_launcher::{CONSUMER, Config, JobRecord};

pub const WAIT: Duration = Duration::from_secs(30);
pub const BUCKET: &str = "outputs";

/// Appends one line per run to `$RUN_LOG`, then runs the real processor.
const COUNTED: &str = r#"echo "run $1" >> "$RUN_LOG"
exec "$FOOTPRINT" --manifest "$NRT_JOB_MANIFEST""#;
/// Records its pid, then outlives any timeout.
const SLEEPER: &str = r#"echo $$ > "$PID_FILE"
exec sleep 60"#;
/// Takes a while, then runs the real processor.
const SLOW: &str = r#"sleep 2
exec "$FOOTPRINT" --manifest "$NRT_JOB_MANIFEST""#;
/// Writes a name with a control character and tries to write outside its output directory.
const UNSAFE_NAMES: &str = r#"printf ok > "$1/good.txt"
printf x > "$1/../escaped.txt"
printf x > "$1/bad$(printf '\001')name.txt""#;

pub struct Harness {
    pub nats: NatsServer,
    pub seaweed: SeaweedServer,
    pub dir: tempfile::TempDir,
    pub js: jetstream::Context,
    publisher: Publisher,
    launcher: Option<(shutdown::Trigger, tokio::task::JoinHandle<()>)>,
}

impl Harness {
    /// Servers up, topology declared, no launcher yet: a test may prepare state first.
    pub async fn prepare() -> Self {
        let (nats, seaweed) = tokio::join!(NatsServer::start(), SeaweedServer::start());
        let js = nats.jetstream().await;
        apply_topology(&js, TopologyOptions::default())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_registry(dir.path());
        Self {
            publisher: Publisher::new(js.clone(), "test"),
            nats,
            seaweed,
            dir,
            js,
            launcher: None,
        }
    }

    pub async fn start() -> Self {
        let mut harness = Self::prepare().await;
        harness.start_launcher();
        harness
    }

    pub fn config(&self) -> Config {
        Config {
            nats: NatsConfig::local(self.nats.url()),
            telemetry: TelemetryConfig::default(),
            health: HealthConfig { listen: None },
            s3: self.seaweed.config(),
            outputs_bucket: BUCKET.into(),
            registry_file: self.dir.path().join("processors.toml"),
            work_dir: self.dir.path().join("work"),
            concurrency: 4,
            lease_secs: 3,
            drain_timeout_secs: 10,
        }
    }

    pub fn start_launcher(&mut self) {
        let (stop, shutdown) = shutdown::manual();
        let task = tokio::spawn(processor_launcher::run(self.config(), shutdown));
        let task = tokio::spawn(async move {
            if let Err(error) = task.await.expect("launcher does not panic") {
                panic!("launcher stopped: {}", nrt_nats::describe_error(&error));
            }
        });
        self.launcher = Some((stop, task));
    }

    /// Stops the launcher and waits for its drain.
    pub async fn stop_launcher(&mut self) {
        if let Some((stop, task)) = self.launcher.take() {
            stop.trigger();
            task.await.unwrap();
        }
    }

    /// Publishes the request as the trigger does; the stream sequence it got.
    pub async fn request(&self, request: JobRequested) -> u64 {
        self.publisher.publish(request).await.unwrap().sequence
    }

    /// Publishes the same request again under another message id, so JetStream keeps it.
    pub async fn request_again(&self, request: JobRequested, message_id: &str) -> u64 {
        let event = Envelope::new("/nrt-mesh/test", request);
        let ack = self
            .publisher
            .publish_raw(event.subject(), message_id, Bytes::from(event.to_json()))
            .await
            .unwrap();
        assert!(!ack.duplicate);
        ack.sequence
    }

    pub async fn tap(&self, stream: &str, filter: &str) -> EventTap {
        EventTap::open(&self.js, stream, filter).await.unwrap()
    }

    pub async fn record(&self, job_id: &str) -> Option<JobRecord> {
        let kv = self.js.get_key_value(streams::KV_JOBS).await.unwrap();
        let value = kv.get(job_id).await.unwrap()?;
        Some(serde_json::from_slice(&value).unwrap())
    }

    /// Waits until the launcher's consumer has acknowledged everything up to `sequence`.
    pub async fn wait_acknowledged(&self, sequence: u64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            // A restarted launcher declares its consumer a moment after it starts.
            let consumer = self
                .js
                .get_consumer_from_stream::<pull::Config, _, _>(
                    CONSUMER.durable,
                    CONSUMER.stream.name,
                )
                .await;
            let info = match consumer {
                Ok(mut consumer) => Some(consumer.info().await.unwrap().clone()),
                Err(_) => None,
            };
            if info.as_ref().is_some_and(|info| {
                info.ack_floor.stream_sequence >= sequence
                    && info.num_pending == 0
                    && info.num_ack_pending == 0
            }) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "request {sequence} not acknowledged: {info:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn s3_keys(&self) -> Vec<String> {
        let client = nrt_s3::client(&self.seaweed.config()).await;
        let mut keys = nrt_s3::list_keys(&client, BUCKET, "").await.unwrap();
        keys.sort();
        keys
    }

    pub async fn s3_object(&self, key: &str) -> Bytes {
        let client = nrt_s3::client(&self.seaweed.config()).await;
        nrt_s3::get_bytes(&client, BUCKET, key)
            .await
            .unwrap()
            .unwrap()
    }

    /// Lines the `counted` processor appended: one per run.
    pub fn runs(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("runs.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The pid a sleeper script (`sleeper` or `holder`) recorded, once it has.
    pub async fn pid_of(&self, processor: &str) -> String {
        let path = self.dir.path().join(format!("{processor}.pid"));
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(pid) = std::fs::read_to_string(&path)
                && pid.ends_with('\n')
            {
                return pid.trim().to_owned();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{processor} never started"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the process is gone (or a zombie left for init to reap).
    pub async fn wait_gone(&self, pid: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let gone = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => true,
                Ok(stat) => stat.contains(") Z"),
            };
            if gone {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "process {pid} still runs"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some((stop, _)) = &self.launcher {
            stop.trigger();
        }
    }
}

/// The next lifecycle event on a tap of `jobs.>`, skipping requests, decoded as `T`.
pub async fn next_lifecycle<T: EventData>(tap: &mut EventTap) -> T {
    loop {
        let (subject, body) = tap.next_raw(WAIT).await.unwrap();
        if subject.starts_with("jobs.requested.") {
            continue;
        }
        return Envelope::<T>::from_json(&body)
            .unwrap_or_else(|error| panic!("{subject}: expected {}: {error}", T::TYPE))
            .data;
    }
}

/// A job request over golden CDSE products, as the trigger makes one.
pub fn job(processor: &str, job_id: &str, products: &[&str]) -> JobRequested {
    JobRequested {
        job_id: job_id.into(),
        rule: "test-rule".into(),
        processor: processor.into(),
        processor_version: "1.0.0".into(),
        inputs: products
            .iter()
            .map(|name| JobInput::from(&golden(name)))
            .collect(),
        parameters: BTreeMap::new(),
    }
}

pub fn golden(name: &str) -> ProductDiscovered {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/products")
        .join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

pub const S2_GRANULE: &str = "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505";
pub const S1_SLICE: &str = "S1C_IW_GRDH_1SDV_20260101T001022_20260101T001052_005702_00B654_2A4D";
pub const AUX_PRODUCT: &str = "S1A_AUX_INS_V20140406T010000_G20140409T142540";

fn write_registry(dir: &Path) {
    let scripts = dir.join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    for (name, body) in [
        ("counted.sh", COUNTED),
        ("sleeper.sh", SLEEPER),
        ("unsafe-names.sh", UNSAFE_NAMES),
        ("slow.sh", SLOW),
    ] {
        let path = scripts.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let footprint = footprint_binary().display().to_string();
    let dir = dir.display();
    // Scripts are named relative to the registry's directory, as operators write them.
    let registry = format!(
        r#"
[processors.footprint]
version = "1.0.0"
command = ["{footprint}", "--manifest", "{{manifest}}"]
timeout_secs = 60
max_attempts = 2
retry_delays_secs = [1]

[processors.counted]
version = "1.0.0"
command = ["scripts/counted.sh", "{{job_id}}"]
env = {{ RUN_LOG = "{dir}/runs.log", FOOTPRINT = "{footprint}" }}
max_attempts = 2
retry_delays_secs = [1]

[processors.sleeper]
version = "1.0.0"
command = ["scripts/sleeper.sh"]
env = {{ PID_FILE = "{dir}/sleeper.pid" }}
timeout_secs = 1
max_attempts = 1

[processors.holder]
version = "1.0.0"
command = ["scripts/sleeper.sh"]
env = {{ PID_FILE = "{dir}/holder.pid" }}
timeout_secs = 120
max_attempts = 1

[processors.slow]
version = "1.0.0"
command = ["scripts/slow.sh"]
env = {{ FOOTPRINT = "{footprint}" }}

[processors.unsafe-names]
version = "1.0.0"
command = ["scripts/unsafe-names.sh", "{{output_dir}}"]
max_attempts = 1
"#
    );
    std::fs::write(format!("{dir}/processors.toml"), registry).unwrap();
}

/// The real processor, built into this test executable's target directory: Cargo gives a test
/// the path of its own package's binaries only, so the test builds `nrt-footprint` itself (a
/// no-op when it is up to date) with the profile the tests were built with.
pub fn footprint_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            // <target>/<profile>/deps/<test>
            let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_owned();
            let target_dir = profile_dir.parent().unwrap();
            let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
                Some("debug") => "dev".to_owned(),
                Some(other) => other.to_owned(),
                None => panic!("unexpected test path {}", exe.display()),
            };
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "nrt-footprint",
                    "--profile",
                    &profile,
                ])
                .arg("--target-dir")
                .arg(target_dir)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .unwrap();
            assert!(status.success(), "building nrt-footprint failed");
            profile_dir.join("nrt-footprint")
        })
        .clone()
}
