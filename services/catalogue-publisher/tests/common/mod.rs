//! A real nats-server and SeaweedFS, the service running against them, and realistic jobs whose
//! outputs are real objects in S3 and whose inputs are the golden products of `testdata/products/`.

#![allow(dead_code)] // each test binary uses part of the harness

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::OnceLock,
    time::Duration,
};

use bytes::Bytes;
use catalogue_publisher::{CONSUMER, Config, schema::StacValidator};
use chrono::{DateTime, Utc};
use nrt_events::{JobInput, JobOutput, JobSucceeded, ProductDiscovered};
use nrt_nats::{
    ConsumerSpec, NatsConfig, NatsServer, Publisher, TopologyOptions, apply_topology,
    async_nats::jetstream::{
        self,
        consumer::{self, PullConsumer},
    },
};
use nrt_runtime::{HealthConfig, shutdown};
use nrt_s3::{aws_sdk_s3::Client, seaweed::SeaweedServer};
use nrt_telemetry::TelemetryConfig;
use serde_json::{Value, json};
use url::Url;

pub const WAIT: Duration = Duration::from_secs(30);
pub const CATALOGUE_BUCKET: &str = "catalogue";
pub const OUTPUTS_BUCKET: &str = "outputs";
pub const PREFIX: &str = "stac";

pub const S2_T54PXA: &str = "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505";
pub const S1C_SLICE_1: &str = "S1C_IW_GRDH_1SDV_20260101T001022_20260101T001052_005702_00B654_2A4D";
pub const S1C_SLICE_2: &str = "S1C_IW_GRDH_1SDV_20260101T001052_20260101T001117_005702_00B654_ABF9";

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Names of the golden products that have a footprint.
pub fn products_with_footprints() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(testdata().join("products"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .filter(|path| product_at(path).footprint.is_some())
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn product_at(path: &Path) -> ProductDiscovered {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

pub fn product(name: &str) -> ProductDiscovered {
    product_at(&testdata().join("products").join(format!("{name}.json")))
}

pub fn validator() -> &'static StacValidator {
    static VALIDATOR: OnceLock<StacValidator> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| StacValidator::offline(&testdata().join("fixtures/stac-schema")).unwrap())
}

pub struct Harness {
    pub nats: NatsServer,
    pub seaweed: SeaweedServer,
    pub s3: Client,
    pub js: jetstream::Context,
    pub publisher: Publisher,
    stop: shutdown::Trigger,
    replicas: Vec<tokio::task::JoinHandle<Result<(), catalogue_publisher::Error>>>,
}

impl Harness {
    /// Servers plus `replicas` instances of the service sharing one durable consumer.
    pub async fn start(replicas: usize) -> Self {
        Self::start_configured(replicas, |config| config).await
    }

    /// [`Harness::start`] with the service's configuration changed by `configure`.
    pub async fn start_configured(replicas: usize, configure: impl Fn(Config) -> Config) -> Self {
        let (nats, seaweed) = tokio::join!(NatsServer::start(), start_seaweed());
        let js = nats.jetstream().await;
        apply_topology(&js, TopologyOptions::default())
            .await
            .unwrap();
        let s3 = nrt_s3::client(&seaweed.config()).await;
        let (stop, shutdown) = shutdown::manual();
        let mut harness = Self {
            publisher: Publisher::new(js.clone(), "test"),
            nats,
            seaweed,
            s3,
            js,
            stop,
            replicas: Vec::new(),
        };
        for _ in 0..replicas {
            let run = catalogue_publisher::run(configure(harness.config()), shutdown.clone());
            harness.replicas.push(tokio::spawn(run));
        }
        harness
    }

    pub fn config(&self) -> Config {
        Config {
            nats: NatsConfig::local(self.nats.url()),
            ..catalogue_config(&self.seaweed)
        }
    }

    /// A succeeded `footprint` job on `products`, its outputs uploaded as the launcher would.
    pub async fn job(&self, products: &[&str]) -> JobSucceeded {
        footprint_job(&self.s3, products).await
    }

    /// The object at `uri` (`s3://bucket/key`), parsed.
    pub async fn read_uri(&self, uri: &str) -> Value {
        let url = Url::parse(uri).unwrap();
        let bucket = url.host_str().unwrap();
        let key = url.path().trim_start_matches('/');
        self.read(bucket, key).await
    }

    pub async fn read(&self, bucket: &str, key: &str) -> Value {
        let body = self.bytes(bucket, key).await;
        serde_json::from_slice(&body).unwrap()
    }

    pub async fn bytes(&self, bucket: &str, key: &str) -> Bytes {
        nrt_s3::get_bytes(&self.s3, bucket, key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no object s3://{bucket}/{key}"))
    }

    /// Waits, with a deadline, until the service has settled every job up to `sequence`.
    pub async fn wait_until_handled(&self, sequence: u64) {
        self.wait_until_handled_by(&CONSUMER, sequence).await;
    }

    /// Waits, with a deadline, until `consumer` has settled every message up to `sequence`.
    pub async fn wait_until_handled_by(&self, consumer: &ConsumerSpec, sequence: u64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let info = self.consumer_info(consumer).await;
            if info.ack_floor.stream_sequence >= sequence && info.num_ack_pending == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "message {sequence} not handled within {WAIT:?}: {info:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn consumer_info(&self, consumer: &ConsumerSpec) -> consumer::Info {
        let mut consumer: PullConsumer = self
            .js
            .get_consumer_from_stream(consumer.durable, consumer.stream.name)
            .await
            .unwrap();
        consumer.info().await.unwrap().clone()
    }

    /// Stops every replica and checks each ended cleanly.
    pub async fn stop(self) {
        self.stop.trigger();
        for replica in self.replicas {
            replica.await.unwrap().unwrap();
        }
    }
}

/// A succeeded `footprint` job on `products`, its outputs uploaded as the launcher would.
pub async fn footprint_job(s3: &Client, products: &[&str]) -> JobSucceeded {
    let products: Vec<ProductDiscovered> = products.iter().map(|name| product(name)).collect();
    let inputs: Vec<JobInput> = products.iter().map(JobInput::from).collect();
    let job_id = nrt_events::job_id(
        "footprints",
        "footprint",
        "1.0.0",
        inputs.iter().map(|input| input.key.as_str()),
    );
    let footprints: Vec<&geojson::Geometry> = products
        .iter()
        .filter_map(|product| product.footprint.as_ref())
        .collect();
    let geojson = json!({"type": "FeatureCollection", "features": footprints.iter().map(|geometry| {
        json!({"type": "Feature", "geometry": geometry, "properties": {}})
    }).collect::<Vec<_>>()});
    nrt_s3::ensure_bucket(s3, OUTPUTS_BUCKET).await.unwrap();
    let sidecar = json!({"algorithm": "footprint-union", "inputs": inputs.len()});
    let outputs = vec![
        upload(
            s3,
            &job_id,
            "footprint.geojson",
            &geojson,
            "application/geo+json",
        )
        .await,
        upload(s3, &job_id, "metadata.json", &sidecar, "application/json").await,
    ];
    JobSucceeded {
        job_id,
        rule: "footprints".into(),
        processor: "footprint".into(),
        processor_version: "1.0.0".into(),
        attempt: 1,
        inputs,
        outputs,
        metadata: Some(sidecar),
        started_at: at("2026-01-01T02:00:00Z"),
        finished_at: at("2026-01-01T02:00:04.5Z"),
    }
}

async fn upload(
    s3: &Client,
    job_id: &str,
    path: &str,
    body: &Value,
    media_type: &str,
) -> JobOutput {
    let key = format!("jobs/footprint/{job_id}/{path}");
    let bytes = Bytes::from(serde_json::to_vec(body).unwrap());
    let stored = nrt_s3::put_bytes(s3, OUTPUTS_BUCKET, &key, bytes, media_type)
        .await
        .unwrap();
    JobOutput {
        path: path.into(),
        bucket: stored.bucket,
        key: stored.key,
        size: stored.size,
        sha256: stored.sha256,
        media_type: Some(media_type.into()),
    }
}

/// The service's configuration for `seaweed`; NATS at its default address.
pub fn catalogue_config(seaweed: &SeaweedServer) -> Config {
    Config {
        nats: NatsConfig::local("nats://127.0.0.1:4222"),
        telemetry: TelemetryConfig::default(),
        health: HealthConfig { listen: None },
        s3: seaweed.config(),
        catalogue_bucket: CATALOGUE_BUCKET.into(),
        catalogue_prefix: PREFIX.into(),
        public_base_url: None,
        collections: BTreeMap::new(),
        sidecar_path: "metadata.json".into(),
        concurrency: 4,
        // The rest as a deployment without a file has it.
        ..catalogue_publisher::config::load(None).expect("the defaults are valid")
    }
}

/// SeaweedFS picks free ports, but another process may take one before it binds them all
/// (seen with several test binaries starting servers at once): try again on fresh ports.
pub async fn start_seaweed() -> SeaweedServer {
    let mut failures = Vec::new();
    for _ in 0..3 {
        match SeaweedServer::try_start().await {
            Ok(server) => return server,
            Err(error) => failures.push(error.to_string()),
        }
    }
    panic!("SeaweedFS did not start: {failures:#?}");
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// Resolves a relative href against the `s3://` URI of the document holding it.
pub fn resolve(document_uri: &str, href: &str) -> String {
    Url::parse(document_uri)
        .unwrap()
        .join(href)
        .unwrap()
        .to_string()
}

/// The hrefs of a document's links with relation `rel`.
pub fn hrefs(document: &Value, rel: &str) -> Vec<String> {
    document["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|link| link["rel"] == rel)
        .map(|link| link["href"].as_str().unwrap().to_owned())
        .collect()
}
