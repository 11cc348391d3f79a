//! A real nats-server with the mesh's streams, an embedded S3 publishing to it, and an SDK client.

#![allow(dead_code)] // Each test file uses its own part of the harness.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use nrt_embedded_s3::{EmbeddedS3, EmbeddedS3Options};
use nrt_events::s3::S3Notification;
use nrt_nats::{EventTap, Mesh, NatsConfig, NatsServer};
use nrt_s3::aws_sdk_s3;

pub const BUCKET: &str = "outputs";
pub const ACCESS_KEY: &str = "nrt-test";
pub const SECRET_KEY: &str = "nrt-test-secret";
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Harness {
    pub nats: NatsServer,
    pub mesh: Mesh,
    pub s3: EmbeddedS3,
    pub client: aws_sdk_s3::Client,
    /// Holds `root` (the S3 data) and nothing else, so writes that escape it show up here.
    pub parent: tempfile::TempDir,
}

impl Harness {
    /// NATS with the mesh's streams, and an embedded S3 with bucket `outputs` publishing events.
    pub async fn start() -> Self {
        let nats = NatsServer::start().await;
        let mesh = Mesh::connect(
            "embedded-s3-test",
            &NatsConfig::local(nats.url()),
            nrt_runtime::Readiness::default(),
        )
        .await
        .expect("mesh connects to the test server");
        let parent = tempfile::tempdir().unwrap();
        let s3 = EmbeddedS3::start(EmbeddedS3Options {
            events: Some(mesh.publisher.clone()),
            buckets: vec![BUCKET.into()],
            ..EmbeddedS3Options::local(parent.path().join("s3"), ACCESS_KEY, SECRET_KEY)
        })
        .await
        .expect("embedded S3 starts");
        let client = nrt_s3::client(&s3.config()).await;
        Self {
            nats,
            mesh,
            s3,
            client,
            parent,
        }
    }

    pub fn root(&self) -> PathBuf {
        self.parent.path().join("s3")
    }

    /// The object events of `bucket`, from the first.
    pub async fn tap(&self, bucket: &str) -> EventTap {
        EventTap::open(
            &self.mesh.js,
            "OBJECTS",
            &nrt_events::s3::object_subject(bucket),
        )
        .await
        .expect("OBJECTS stream exists")
    }
}

/// The next object event on the tap, parsed as the mesh's consumers parse it.
pub async fn next_notification(tap: &mut EventTap) -> S3Notification {
    let (_, body) = tap.next_raw(WAIT).await.expect("an object event arrives");
    serde_json::from_slice(&body).unwrap_or_else(|error| {
        panic!(
            "event is not an S3 notification ({error}): {}",
            String::from_utf8_lossy(&body)
        )
    })
}

/// Events up to and including the one for `last_key`: with a final marker write, this reads
/// exactly what the writes before it produced, without waiting for silence.
pub async fn notifications_until(tap: &mut EventTap, last_key: &str) -> Vec<S3Notification> {
    let mut seen = Vec::new();
    loop {
        let notification = next_notification(tap).await;
        let is_last = decoded_key(&notification) == last_key;
        seen.push(notification);
        if is_last {
            return seen;
        }
    }
}

pub fn decoded_key(notification: &S3Notification) -> String {
    notification.records[0]
        .s3
        .object
        .decoded_key()
        .expect("keys are UTF-8")
}

pub fn event_name(notification: &S3Notification) -> &str {
    &notification.records[0].event_name
}

/// Every file and directory under `dir` with its size: what changed on disk, anywhere.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let entry = entry.unwrap();
            let metadata = entry.metadata().unwrap();
            if metadata.is_dir() {
                pending.push(entry.path());
            }
            entries.insert(entry.path(), metadata.len());
        }
    }
    entries
}

/// The ETag HEAD reports, without its quotes, as events carry it.
pub async fn head_etag(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    let head = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("object exists");
    head.e_tag().unwrap().trim_matches('"').to_owned()
}
