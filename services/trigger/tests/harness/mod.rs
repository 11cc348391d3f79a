//! A trigger running against its own nats-server, fed recorded CDSE products as the ingestor
//! would publish them.

use std::{path::PathBuf, time::Duration};

use bytes::Bytes;
use nrt_events::{Envelope, JobRequested, ProductDiscovered, job_id, streams};
use nrt_nats::{
    EventTap, NatsConfig, NatsServer, Publisher, TopologyOptions, apply_topology,
    async_nats::jetstream,
};
use nrt_runtime::{HealthConfig, shutdown};
use nrt_telemetry::TelemetryConfig;
use trigger::{CONSUMER, Config, Error};

pub const WAIT: Duration = Duration::from_secs(20);

pub const S2_54PXA: &str = "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505";
pub const S2_55PBR: &str = "S2A_MSIL1C_20200808T010311_N0500_R045_T55PBR_20230413T212505";
pub const S1_GRD: &str = "S1A_IW_GRDH_1SDV_20260101T012439_20260101T012508_062567_07D772_8DAD";
pub const S1_AUX_INS: &str = "S1A_AUX_INS_V20140406T010000_G20140409T142540";
pub const S1_POEORB: &str =
    "S1A_OPER_AUX_POEORB_OPOD_20210301T144249_V20140411T225944_20140413T005944.EOF";

pub const REGISTRY: &str = r#"
[processors.footprint]
version = "1.0.0"
command = ["nrt-footprint", "--manifest", "{manifest}"]

[processors.sar-backscatter]
version = "2.1.0"
command = ["sar-backscatter", "{manifest}"]
"#;

pub const RULES: &str = r#"
[[rules]]
name = "s2-l1c-footprint"
processor = "footprint"
collections = ["SENTINEL-2"]
product_types = ["S2MSI1C"]
[rules.parameters]
resolution = 20

[[rules]]
name = "s2-clear-sky"
processor = "footprint"
collections = ["SENTINEL-2"]
[[rules.where]]
attribute = "cloudCover"
op = "le"
value = 80

[[rules]]
name = "s1-grd-ascending"
processor = "sar-backscatter"
collections = ["SENTINEL-1"]
product_types = ["IW_GRDH_1S"]
[[rules.where]]
attribute = "orbitDirection"
op = "eq"
value = "ASCENDING"
"#;

pub fn product(stem: &str) -> ProductDiscovered {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/products")
        .join(format!("{stem}.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// The id the trigger must give the job of `rule` on `product`.
pub fn expected_job(rule: &str, processor: &str, version: &str, product: &str) -> String {
    job_id(rule, processor, version, [product])
}

pub struct Harness {
    /// Killed on drop: held for the whole test.
    _server: NatsServer,
    pub js: jetstream::Context,
    /// Publishes as the ingestor would.
    ingestor: Publisher,
    stop: shutdown::Trigger,
    service: tokio::task::JoinHandle<Result<(), Error>>,
    _files: tempfile::TempDir,
}

pub fn config(nats_url: String, files: &tempfile::TempDir, rules: &str) -> Config {
    let rules_file = files.path().join("rules.toml");
    let registry_file = files.path().join("processors.toml");
    std::fs::write(&rules_file, rules).unwrap();
    std::fs::write(&registry_file, REGISTRY).unwrap();
    Config {
        nats: NatsConfig::local(nats_url),
        telemetry: TelemetryConfig::default(),
        health: HealthConfig { listen: None },
        rules_file,
        registry_file,
        rules_from: trigger::config::RulesFrom::File,
        // Short, so that the reload tests see a new version soon after writing it.
        reload_every: Duration::from_millis(200),
        // One at a time: a product's job requests are in JOBS before the next product is read.
        concurrency: 1,
        gathering: trigger::GatherConfig {
            sweep_every_ms: 100,
            ..trigger::GatherConfig::default()
        },
    }
}

pub async fn start() -> Harness {
    let server = NatsServer::start().await;
    let js = server.jetstream().await;
    // Declared here too, so the test can publish before the trigger has connected.
    apply_topology(&js, TopologyOptions::default())
        .await
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    let (stop, shutdown) = shutdown::manual();
    let service = tokio::spawn(trigger::run(config(server.url(), &files, RULES), shutdown));
    Harness {
        ingestor: Publisher::new(js.clone(), "ingestor"),
        _server: server,
        js,
        stop,
        service,
        _files: files,
    }
}

impl Harness {
    pub async fn discover(&self, stem: &str) -> Envelope<ProductDiscovered> {
        let event = Envelope::new("/nrt-mesh/ingestor", product(stem));
        let ack = self.ingestor.publish_envelope(&event).await.unwrap();
        assert!(!ack.duplicate);
        event
    }

    pub async fn publish_body(&self, subject: &str, message_id: &str, body: Vec<u8>) {
        self.ingestor
            .publish_raw(subject.into(), message_id, Bytes::from(body))
            .await
            .unwrap();
    }

    pub async fn jobs_tap(&self) -> EventTap {
        EventTap::open(&self.js, streams::JOBS.name, "jobs.requested.>")
            .await
            .unwrap()
    }

    /// The next job request on `tap`, with the subject it was published on.
    pub async fn next_job(&self, tap: &mut EventTap) -> (String, JobRequested) {
        let (subject, body) = tap.next_raw(WAIT).await.unwrap();
        (subject, Envelope::from_json(&body).unwrap().data)
    }

    pub async fn stream_messages(&self, stream: &str) -> u64 {
        let mut stream = self.js.get_stream(stream).await.unwrap();
        stream.info().await.unwrap().state.messages
    }

    pub async fn trigger_consumer(&self) -> Option<jetstream::consumer::PullConsumer> {
        self.js
            .get_consumer_from_stream::<jetstream::consumer::pull::Config, _, _>(
                CONSUMER.durable,
                CONSUMER.stream.name,
            )
            .await
            .ok()
    }

    /// Stops the trigger and checks it drained and returned cleanly.
    pub async fn stop(self) {
        self.stop.trigger();
        let outcome = tokio::time::timeout(WAIT, self.service)
            .await
            .expect("trigger stops within the drain time")
            .unwrap();
        assert!(outcome.is_ok(), "{outcome:?}");
    }
}
