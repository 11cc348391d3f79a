//! A launcher over a real nats-server and a real SeaweedFS, with a registry of test processors:
//! the real `nrt-footprint` and small shell scripts written into the test's directory.

// Each test file uses part of the harness.
#![allow(dead_code)]

pub mod processors;

use std::{collections::BTreeMap, path::Path, time::Duration};

use async_nats::jetstream::{self, consumer::pull};
use bytes::Bytes;
use nrt_events::{Envelope, EventData, JobInput, JobRequested, ProductDiscovered, streams};
use nrt_nats::{EventTap, NatsConfig, NatsServer, Publisher, TopologyOptions, apply_topology};
use nrt_runtime::{HealthConfig, shutdown};
use nrt_s3::seaweed::SeaweedServer;
use nrt_telemetry::TelemetryConfig;
use processor_launcher::{CONSUMER, Config, JobRecord, backend::kubernetes::KubernetesConfig};

pub const WAIT: Duration = Duration::from_secs(30);
pub const BUCKET: &str = "outputs";
/// The registry has Kubernetes processors, so every launcher makes a Kubernetes client: without
/// a URL it would look for a kubeconfig. Nothing listens here; tests that run Kubernetes jobs
/// point the launcher at their fake API.
const NO_KUBERNETES_API: &str = "http://127.0.0.1:9";

pub struct Harness {
    pub nats: NatsServer,
    pub seaweed: SeaweedServer,
    pub dir: tempfile::TempDir,
    pub js: jetstream::Context,
    publisher: Publisher,
    /// In-process launcher replicas, in start order.
    launchers: Vec<(shutdown::Trigger, tokio::task::JoinHandle<()>)>,
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
        processors::write_registry(dir.path());
        Self {
            publisher: Publisher::new(js.clone(), "test"),
            nats,
            seaweed,
            dir,
            js,
            launchers: Vec::new(),
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
            global_concurrency: None,
            docker: Default::default(),
            kubernetes: KubernetesConfig {
                api_url: Some(NO_KUBERNETES_API.into()),
                ..KubernetesConfig::default()
            },
            nomad: Default::default(),
            lease_secs: 3,
            drain_timeout_secs: 10,
        }
    }

    /// Starts one more launcher replica in this process.
    pub fn start_launcher(&mut self) {
        self.start_launcher_with(self.config());
    }

    pub fn start_launcher_with(&mut self, config: Config) {
        let (stop, shutdown) = shutdown::manual();
        let task = tokio::spawn(processor_launcher::run(config, shutdown));
        let task = tokio::spawn(async move {
            if let Err(error) = task.await.expect("launcher does not panic") {
                panic!("launcher stopped: {}", nrt_nats::describe_error(&error));
            }
        });
        self.launchers.push((stop, task));
    }

    /// Stops every launcher replica and waits for their drains.
    pub async fn stop_launcher(&mut self) {
        for (stop, task) in self.launchers.drain(..) {
            stop.trigger();
            task.await.unwrap();
        }
    }

    /// The configuration as a file for the `processor-launcher` binary.
    pub fn config_file(&self) -> std::path::PathBuf {
        let config = self.config();
        let s3 = &config.s3;
        let text = format!(
            r#"outputs_bucket = "{bucket}"
registry_file = "{registry}"
work_dir = "{work}"
lease_secs = {lease}
drain_timeout_secs = {drain}
[nats]
url = "{nats}"
[telemetry]
log_filter = "warn"
log_format = "pretty"
[health]
listen = "127.0.0.1:0"
[s3]
endpoint = "{endpoint}"
region = "{region}"
access_key_id = "{key}"
secret_access_key = "{secret}"
[kubernetes]
api_url = "{kubernetes}"
"#,
            bucket = config.outputs_bucket,
            registry = config.registry_file.display(),
            work = config.work_dir.display(),
            lease = config.lease_secs,
            drain = config.drain_timeout_secs,
            nats = config.nats.url,
            endpoint = s3.endpoint.as_deref().unwrap(),
            region = s3.region,
            key = s3.access_key_id.as_deref().unwrap(),
            secret = s3.secret_access_key.as_ref().unwrap().expose(),
            kubernetes = config.kubernetes.api_url.as_deref().unwrap(),
        );
        let path = self.dir.path().join("launcher.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Lines a processor appended to `<name>.log` in the test directory.
    pub fn log_lines(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log")))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
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

    /// The job's record once `holds` is true of it.
    pub async fn record_when(&self, job_id: &str, holds: impl Fn(&JobRecord) -> bool) -> JobRecord {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let record = self.record(job_id).await;
            if let Some(record) = record.as_ref().filter(|record| holds(record)) {
                return record.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the record of {job_id} never got there: {record:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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
        for (stop, _) in &self.launchers {
            stop.trigger();
        }
    }
}

/// The next lifecycle event on a tap of `jobs.>`, skipping requests, decoded as `T`.
pub async fn next_lifecycle<T: EventData>(tap: &mut EventTap) -> T {
    next_lifecycle_within(tap, WAIT).await
}

pub async fn next_lifecycle_within<T: EventData>(tap: &mut EventTap, wait: Duration) -> T {
    loop {
        let (subject, body) = tap.next_raw(wait).await.unwrap();
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
        priority: 0,
        deadline: None,
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
