//! The processor's part of a remote attempt, played by the test as a processor image would:
//! read the manifest from S3, write the outputs under the output URI. Then what the launcher
//! made of them.

use std::{collections::BTreeMap, time::Duration};

use bytes::Bytes;
use nrt_events::JobOutput;
use processor_launcher::JobManifest;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{BUCKET, Harness, WAIT};

/// What a processor wrote, by path under its output URI.
pub type Written = BTreeMap<String, Bytes>;

/// The bucket and key of an `s3://` URI.
pub fn s3_location(uri: &str) -> (&str, &str) {
    uri.strip_prefix("s3://")
        .and_then(|location| location.split_once('/'))
        .unwrap_or_else(|| panic!("not an s3:// URI: {uri}"))
}

/// The manifest at `uri`, read as the processor reads it.
pub async fn read_manifest(harness: &Harness, uri: &str) -> JobManifest {
    let (bucket, key) = s3_location(uri);
    assert_eq!(bucket, BUCKET);
    serde_json::from_slice(&harness.s3_object(key).await).unwrap()
}

/// A GeoTIFF and its metadata sidecar, written under `output_uri`.
pub async fn write_outputs(harness: &Harness, output_uri: &str) -> Written {
    let written = Written::from([
        ("result.tif".to_owned(), geotiff()),
        (
            "metadata.json".to_owned(),
            Bytes::from(metadata().to_string()),
        ),
    ]);
    for (path, body) in &written {
        put(harness, output_uri, path, body.clone()).await;
    }
    written
}

/// Writes one file under `output_uri`.
pub async fn put(harness: &Harness, output_uri: &str, path: &str, body: Bytes) {
    let (bucket, prefix) = s3_location(output_uri);
    let client = nrt_s3::client(&harness.seaweed.config()).await;
    let content_type = content_type_of(path);
    nrt_s3::put_bytes(
        &client,
        bucket,
        &format!("{prefix}{path}"),
        body,
        content_type,
    )
    .await
    .unwrap();
}

fn content_type_of(path: &str) -> &'static str {
    if path.ends_with(".json") {
        "application/json"
    } else {
        "image/tiff"
    }
}

/// A little-endian TIFF header and some pixels: bytes whose checksum means something.
fn geotiff() -> Bytes {
    let mut bytes = b"II*\0\x08\0\0\0".to_vec();
    bytes.extend((0..4096u32).map(|n| (n * 7 % 251) as u8));
    Bytes::from(bytes)
}

/// The sidecar a snow-cover processor writes next to its product.
pub fn metadata() -> Value {
    json!({
        "start_datetime": "2020-08-08T01:03:11Z",
        "end_datetime": "2020-08-08T01:03:11Z",
        "properties": { "snow:cover_percent": 42.5 },
    })
}

/// Checks that `outputs` are exactly `written`, stored under `output_prefix` with their sizes
/// and checksums, both as reported and as stored.
pub async fn assert_outputs(
    harness: &Harness,
    outputs: &[JobOutput],
    output_prefix: &str,
    written: &Written,
) {
    let mut paths: Vec<&str> = outputs.iter().map(|output| output.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        written.keys().map(String::as_str).collect::<Vec<_>>()
    );
    for output in outputs {
        let body = &written[&output.path];
        assert_eq!(output.bucket, BUCKET);
        assert_eq!(output.key, format!("{output_prefix}{}", output.path));
        assert_eq!(output.size, body.len() as u64, "{}", output.path);
        assert_eq!(output.sha256, sha256(body), "{}", output.path);
        let stored = harness.s3_object(&output.key).await;
        assert_eq!(sha256(&stored), output.sha256, "{}", output.key);
    }
    let media_type = |path: &str| {
        outputs
            .iter()
            .find(|output| output.path == path)
            .and_then(|output| output.media_type.clone())
    };
    assert_eq!(
        media_type("result.tif").as_deref(),
        Some("image/tiff; application=geotiff")
    );
    assert_eq!(
        media_type("metadata.json").as_deref(),
        Some("application/json")
    );
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Waits until `holds` is true; `what` says what was awaited when it never is.
pub async fn eventually(what: &str, holds: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !holds() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
