//! Processors outside the launcher, over a real nats-server and a real SeaweedFS: outputs and a
//! completion marker written straight into S3, the marker's object notification on
//! `objects.<bucket>`, and the item, its announcement or the dead letter that follow.
//!
//! SeaweedFS cannot send bucket notifications, so each test sends the one MinIO would: the
//! recorded MinIO notification with the bucket and key replaced.

mod common;

use std::collections::BTreeMap;

use bytes::Bytes;
use catalogue_publisher::{
    Config,
    marker::{CompletionMarker, consumer_spec},
};
use common::*;
use nrt_events::{
    DeadLetter, Envelope, ItemPublished, JobInput,
    s3::{S3Object, object_subject},
    streams,
};
use nrt_nats::{ConsumerSpec, EventTap};
use nrt_s3::StoredObject;
use serde_json::{Value, json};

/// The configured bucket; its name has a dot, so its subject is `objects.eo_runs`.
const BUCKET: &str = "eo.runs";
const RUNS: &str = "runs/snow";
const PROCESSOR: &str = "snow-cover-ext";

fn entry() -> CompletionMarker {
    CompletionMarker {
        bucket: BUCKET.into(),
        prefix: RUNS.into(),
        processor: PROCESSOR.into(),
        processor_version: "unknown".into(),
        rule: "s3-marker".into(),
        marker: "_SUCCESS".into(),
    }
}

fn with_markers(config: Config) -> Config {
    Config {
        completion_markers: vec![entry()],
        ..config
    }
}

fn marker_consumer() -> ConsumerSpec {
    consumer_spec(&[entry()]).unwrap()
}

async fn start() -> Harness {
    let harness = Harness::start_configured(1, with_markers).await;
    nrt_s3::ensure_bucket(&harness.s3, BUCKET).await.unwrap();
    harness
}

async fn write(harness: &Harness, key: &str, body: impl Into<Bytes>) -> StoredObject {
    let media_type = nrt_s3::media_type(key);
    nrt_s3::put_bytes(&harness.s3, BUCKET, key, body.into(), media_type)
        .await
        .unwrap()
}

/// Bytes whose checksum means something: a TIFF header and some pixels.
fn raster(seed: u32) -> Bytes {
    let mut bytes = b"II*\0\x08\0\0\0".to_vec();
    bytes.extend((0..8192u32).map(|n| ((n + seed) * 7 % 251) as u8));
    Bytes::from(bytes)
}

fn sidecar() -> Value {
    json!({
        "datetime": "2026-01-15T10:30:21Z",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[6.0, 45.0], [7.4, 45.0], [7.4, 46.0], [6.0, 46.0], [6.0, 45.0]]],
        },
        "algorithm": "fsc-ndsi",
    })
}

/// The outputs of one run in `directory`, its sidecar among them, by path below the directory.
async fn write_outputs(harness: &Harness, directory: &str) -> BTreeMap<String, StoredObject> {
    let mut written = BTreeMap::new();
    for (path, body) in [
        ("fsc.tif", raster(0)),
        ("tiles/t32tlr.tif", raster(1)),
        ("metadata.json", Bytes::from(sidecar().to_string())),
    ] {
        let stored = write(harness, &format!("{directory}/{path}"), body).await;
        written.insert(path.to_owned(), stored);
    }
    written
}

/// The recorded MinIO notification of a put, about `key` in `bucket`.
fn notification(bucket: &str, key: &str) -> Bytes {
    let recorded = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/fixtures/s3-events/minio/minio_kafka_ObjectCreated_Put_2019.json"
    );
    let mut body: Value = serde_json::from_slice(&std::fs::read(recorded).unwrap()).unwrap();
    body["Key"] = format!("{bucket}/{key}").into();
    let s3 = &mut body["Records"][0]["s3"];
    s3["bucket"]["name"] = bucket.into();
    s3["bucket"]["arn"] = format!("arn:aws:s3:::{bucket}").into();
    s3["object"]["key"] = S3Object::encode_key(key).into();
    Bytes::from(body.to_string())
}

/// Sends a notification on the configured bucket's subject, as MinIO's NATS target would; the
/// stream sequence it got.
async fn notify(harness: &Harness, body: Bytes) -> u64 {
    harness
        .js
        .publish(object_subject(BUCKET), body)
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence
}

async fn published_tap(harness: &Harness) -> EventTap {
    EventTap::open(
        &harness.js,
        streams::CATALOGUE.name,
        "catalogue.published.>",
    )
    .await
    .unwrap()
}

async fn dead_letters(harness: &Harness) -> EventTap {
    EventTap::open(&harness.js, streams::DLQ.name, "dlq.catalogue-publisher")
        .await
        .unwrap()
}

fn item_key(item_href: &str) -> String {
    item_href
        .strip_prefix(&format!("s3://{CATALOGUE_BUCKET}/"))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_completed_directory_becomes_an_item_with_one_asset_per_output() {
    let harness = start().await;
    let mut published = published_tap(&harness).await;
    let directory = format!("{RUNS}/2026/01/15/T32TLR");
    let outputs = write_outputs(&harness, &directory).await;
    let marker = format!("{directory}/_SUCCESS");
    write(&harness, &marker, Bytes::new()).await;
    notify(&harness, notification(BUCKET, &marker)).await;

    let (subject, body) = published.next_raw(WAIT).await.unwrap();
    assert_eq!(subject, format!("catalogue.published.{PROCESSOR}"));
    let event = Envelope::<ItemPublished>::from_json(&body).unwrap().data;
    assert_eq!(event.collection, PROCESSOR);
    assert_eq!(event.processor, PROCESSOR);
    assert!(event.input_keys.is_empty());
    assert_eq!(
        event.datetime,
        Some("2026-01-15T10:30:21Z".parse().unwrap())
    );
    assert_eq!(event.bbox, Some(vec![6.0, 45.0, 7.4, 46.0]));

    let item = harness
        .read(CATALOGUE_BUCKET, &item_key(&event.item_href))
        .await;
    if let Err(errors) = validator().validate_item(&item) {
        panic!("{errors:#?}\n{item:#}");
    }
    assert_eq!(item["id"], format!("{PROCESSOR}-{}", event.job_id));
    assert_eq!(item["properties"]["nrt:rule"], "s3-marker");
    assert_eq!(
        item["properties"]["processing:software"][PROCESSOR],
        "unknown"
    );
    // Every output is an asset with its real size and checksum; the marker is none.
    let assets = item["assets"].as_object().unwrap();
    assert_eq!(assets.len(), outputs.len(), "{assets:#?}");
    for (path, stored) in &outputs {
        let name = path.rsplit('/').next().unwrap();
        let asset = &assets[name];
        assert_eq!(asset["href"], format!("s3://{BUCKET}/{directory}/{path}"));
        assert_eq!(asset["file:size"], stored.size);
        assert_eq!(asset["file:checksum"], format!("1220{}", stored.sha256));
        assert_eq!(asset["type"], nrt_s3::media_type(path));
    }
    assert_eq!(assets["metadata.json"]["roles"][0], "metadata");
    assert_eq!(assets["fsc.tif"]["roles"][0], "data");
    harness.stop().await;
}

#[tokio::test]
async fn the_same_notification_twice_leaves_one_unchanged_item() {
    let harness = start().await;
    let mut published = published_tap(&harness).await;
    let directory = format!("{RUNS}/2026/01/16/T32TLR");
    write_outputs(&harness, &directory).await;
    let marker = format!("{directory}/_SUCCESS");
    write(&harness, &marker, Bytes::new()).await;
    notify(&harness, notification(BUCKET, &marker)).await;
    let first = published.next::<ItemPublished>(WAIT).await.unwrap().data;
    let item_key = item_key(&first.item_href);
    let item_before = harness.bytes(CATALOGUE_BUCKET, &item_key).await;
    let collection_key = format!("{PREFIX}/{PROCESSOR}/collection.json");
    let collection_before = harness.bytes(CATALOGUE_BUCKET, &collection_key).await;

    // A sender retrying, or a replay: the same body as a new stream message.
    let again = notify(&harness, notification(BUCKET, &marker)).await;
    harness
        .wait_until_handled_by(&marker_consumer(), again)
        .await;

    assert_eq!(
        harness.bytes(CATALOGUE_BUCKET, &item_key).await,
        item_before
    );
    assert_eq!(
        harness.bytes(CATALOGUE_BUCKET, &collection_key).await,
        collection_before
    );
    let collection: Value = serde_json::from_slice(&collection_before).unwrap();
    assert_eq!(hrefs(&collection, "item").len(), 1);
    // The repeated announcement has the same id, and JetStream dropped it.
    assert!(
        published
            .next_raw(std::time::Duration::from_secs(1))
            .await
            .is_err(),
        "a second ItemPublished reached the stream"
    );
    harness.stop().await;
}

#[tokio::test]
async fn a_marker_naming_its_inputs_links_the_item_to_them() {
    let harness = start().await;
    let mut published = published_tap(&harness).await;
    let input = JobInput::from(&product(S2_T54PXA));
    let directory = format!("{RUNS}/2020/08/08/T54PXA");
    let stored = write(&harness, &format!("{directory}/fsc.tif"), raster(2)).await;
    let marker = format!("{directory}/_SUCCESS");
    let content = json!({
        "job_id": "snow-run-7",
        "processor_version": "3.2.1",
        "inputs": [input],
        "parameters": {"ndsi_threshold": 0.4},
    });
    write(&harness, &marker, content.to_string()).await;
    notify(&harness, notification(BUCKET, &marker)).await;

    let event = published.next::<ItemPublished>(WAIT).await.unwrap().data;
    assert_eq!(event.job_id, "snow-run-7");
    assert_eq!(event.input_keys, [S2_T54PXA]);
    assert_eq!(event.item_id, format!("{PROCESSOR}-{S2_T54PXA}"));
    let item = harness
        .read(CATALOGUE_BUCKET, &item_key(&event.item_href))
        .await;
    if let Err(errors) = validator().validate_item(&item) {
        panic!("{errors:#?}\n{item:#}");
    }
    assert_eq!(hrefs(&item, "derived_from"), [input.href.clone().unwrap()]);
    // No sidecar: the input's footprint places the item.
    assert_eq!(
        item["geometry"],
        serde_json::to_value(&input.footprint).unwrap()
    );
    assert_eq!(
        item["properties"]["processing:software"][PROCESSOR],
        "3.2.1"
    );
    assert_eq!(item["assets"]["fsc.tif"]["file:size"], stored.size);
    harness.stop().await;
}

#[tokio::test]
async fn a_malformed_marker_is_dead_lettered_with_its_key_and_nothing_is_published() {
    let harness = start().await;
    let mut dlq = dead_letters(&harness).await;
    let directory = format!("{RUNS}/2026/01/17/T32TLR");
    write_outputs(&harness, &directory).await;
    let marker = format!("{directory}/_SUCCESS");
    write(&harness, &marker, r#"{"job_id": "run-1", "#).await;
    let body = notification(BUCKET, &marker);
    let sequence = notify(&harness, body.clone()).await;

    let letter = dlq.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert_eq!(letter.service, "catalogue-publisher");
    assert_eq!(letter.subject, object_subject(BUCKET));
    assert_eq!(letter.stream_sequence, Some(sequence));
    assert_eq!(letter.payload, std::str::from_utf8(&body).unwrap());
    assert!(
        letter.error.contains(&format!("s3://{BUCKET}/{marker}")),
        "{}",
        letter.error
    );
    assert!(letter.error.contains("not valid JSON"), "{}", letter.error);
    assert_eq!(
        letter.deliveries,
        Some(1),
        "a permanent error is not retried"
    );
    let items = nrt_s3::list_keys(&harness.s3, CATALOGUE_BUCKET, &format!("{PREFIX}/"))
        .await
        .unwrap();
    assert!(
        !items.iter().any(|key| key.contains(PROCESSOR)),
        "{items:?}"
    );
    harness.stop().await;
}

#[tokio::test]
async fn markers_with_nothing_to_catalogue_are_dead_lettered_with_the_reason() {
    let harness = start().await;
    let mut dlq = dead_letters(&harness).await;
    let alone = format!("{RUNS}/2026/01/18/empty/_SUCCESS");
    write(&harness, &alone, Bytes::new()).await;
    // Outputs, but neither a sidecar geometry nor inputs to say where they are.
    let unplaced = format!("{RUNS}/2026/01/18/unplaced");
    write(&harness, &format!("{unplaced}/fsc.tif"), raster(3)).await;
    let when = json!({"datetime": "2026-01-18T10:00:00Z"});
    write(
        &harness,
        &format!("{unplaced}/metadata.json"),
        when.to_string(),
    )
    .await;
    let unplaced = format!("{unplaced}/_SUCCESS");
    write(&harness, &unplaced, Bytes::new()).await;
    notify(&harness, notification(BUCKET, &alone)).await;
    notify(&harness, notification(BUCKET, &unplaced)).await;

    let mut reasons = BTreeMap::new();
    for _ in 0..2 {
        let letter = dlq.next::<DeadLetter>(WAIT).await.unwrap().data;
        let key = if letter.error.contains(&alone) {
            &alone
        } else {
            &unplaced
        };
        reasons.insert(key.clone(), letter.error);
    }
    assert!(
        reasons[&alone].contains("no outputs beside it"),
        "{reasons:#?}"
    );
    assert!(reasons[&unplaced].contains("geometry"), "{reasons:#?}");
    assert!(
        reasons[&unplaced].contains(&format!("s3://{BUCKET}/{unplaced}")),
        "{reasons:#?}"
    );
    harness.stop().await;
}

#[tokio::test]
async fn objects_that_are_not_markers_publish_nothing() {
    let harness = start().await;
    let mut published = published_tap(&harness).await;
    let mut dlq = dead_letters(&harness).await;
    let directory = format!("{RUNS}/2026/01/19/T32TLR");
    write_outputs(&harness, &directory).await;
    // An output, a marker outside the prefix, a removed marker, and a marker of another bucket
    // whose subject is the same (`eo_runs`).
    notify(
        &harness,
        notification(BUCKET, &format!("{directory}/fsc.tif")),
    )
    .await;
    write(&harness, "elsewhere/run/fsc.tif", raster(4)).await;
    write(&harness, "elsewhere/run/_SUCCESS", Bytes::new()).await;
    notify(&harness, notification(BUCKET, "elsewhere/run/_SUCCESS")).await;
    let mut removal: Value =
        serde_json::from_slice(&notification(BUCKET, &format!("{directory}/_SUCCESS"))).unwrap();
    removal["EventName"] = "s3:ObjectRemoved:Delete".into();
    removal["Records"][0]["eventName"] = "s3:ObjectRemoved:Delete".into();
    notify(&harness, Bytes::from(removal.to_string())).await;
    notify(
        &harness,
        notification("eo_runs", &format!("{directory}/_SUCCESS")),
    )
    .await;
    // Then a real completion, so the consumer is known to be reading.
    let marker = format!("{directory}/_SUCCESS");
    write(&harness, &marker, Bytes::new()).await;
    let last = notify(&harness, notification(BUCKET, &marker)).await;

    let event = published.next::<ItemPublished>(WAIT).await.unwrap().data;
    assert!(event.item_href.contains(PROCESSOR), "{}", event.item_href);
    harness
        .wait_until_handled_by(&marker_consumer(), last)
        .await;
    let quiet = std::time::Duration::from_millis(500);
    assert!(published.next_raw(quiet).await.is_err(), "a second item");
    assert!(dlq.next_raw(quiet).await.is_err(), "a dead letter");
    harness.stop().await;
}
