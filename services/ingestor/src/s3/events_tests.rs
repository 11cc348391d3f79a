use std::sync::atomic::Ordering;

use bytes::Bytes;
use nrt_s3::S3Config;

use nrt_events::s3::S3Object;

use super::*;
use crate::testing::MemorySink;

const MANIFEST: &str = "Sentinel-1/SAR/IW_GRDH_1S/2026/01/01/\
    S1A_IW_GRDH_1SDV_20260101T012439_20260101T012508_062567_07D772_8DAD.SAFE/manifest.safe";
const PRODUCT: &str = "S1A_IW_GRDH_1SDV_20260101T012439_20260101T012508_062567_07D772_8DAD";

fn fixture(path: &str) -> String {
    let root = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/fixtures/s3-events/"
    );
    std::fs::read_to_string(format!("{root}{path}")).expect("fixture exists")
}

/// MinIO's current format as recorded, with the object moved to `key` in bucket `images`.
fn minio_put(key: &str) -> String {
    fixture("minio/minio_kafka_ObjectCreated_Put_2019.json").replace(
        "\"key\": \"myphoto.jpg\"",
        &format!("\"key\": {:?}", S3Object::encode_key(key)),
    )
}

fn events() -> ObjectEvents<MemorySink> {
    let source = BucketSource::new("images", S3Config::local("http://127.0.0.1:1", "k", "s"));
    ObjectEvents::new("landing", &source, MemorySink::default())
}

fn delivery(body: impl Into<Bytes>) -> Delivery {
    Delivery {
        subject: "objects.images".into(),
        payload: body.into(),
        headers: None,
        stream_sequence: 1,
        attempt: 1,
    }
}

fn published_keys(events: &ObjectEvents<MemorySink>) -> Vec<String> {
    let published = events.sink.published.lock().unwrap();
    published
        .iter()
        .map(|product| product.key().to_owned())
        .collect()
}

#[tokio::test]
async fn a_manifest_written_publishes_its_product() {
    let events = events();
    let body = minio_put(MANIFEST);
    assert!(body.contains("manifest.safe"), "the fixture was rewritten");
    events.handle(&delivery(body)).await.unwrap();
    let published = events.sink.published.lock().unwrap();
    let Discovery::Discovered(product) = &published[0] else {
        panic!("{published:?}");
    };
    assert_eq!(product.key, PRODUCT);
    assert_eq!(product.feed, "landing");
    assert_eq!(
        product.s3_uri.as_deref(),
        Some(
            format!(
                "s3://images/{}",
                MANIFEST.trim_end_matches("/manifest.safe")
            )
            .as_str()
        )
    );
    assert_eq!(
        product.published_at,
        "2019-09-10T17:41:54Z"
            .parse::<chrono::DateTime<Utc>>()
            .unwrap(),
        "dated by the event"
    );
}

#[tokio::test]
async fn a_manifest_arriving_through_sqs_is_read_the_same() {
    let events = events();
    let body = fixture("lambda/powertools_s3SqsEvent_s3-via-sqs.json")
        .replace(r#"\"name\":\"xxx\""#, r#"\"name\":\"images\""#)
        .replace("test.pdf", &S3Object::encode_key(MANIFEST));
    events.handle(&delivery(body)).await.unwrap();
    assert_eq!(published_keys(&events), [PRODUCT]);
}

#[tokio::test]
async fn parts_removals_other_buckets_and_test_events_publish_nothing() {
    let events = events();
    let part = MANIFEST.replace("manifest.safe", "measurement/s1a-iw-grd-vv.tiff");
    let removal = fixture("lambda/powertools_s3Event_ObjectRemoved_Delete.json")
        .replace("lambda-artifacts-deafc19498e3f2df", "images")
        .replace("b21b84d653bb07b05b1e6b33684dc11b", MANIFEST);
    let other_bucket = minio_put(MANIFEST).replace("\"name\": \"images\"", "\"name\": \"i-mages\"");
    for body in [
        minio_put(&part),
        removal,
        other_bucket,
        fixture("aws/s3_test_event.aws-docs.json"),
    ] {
        events.handle(&delivery(body)).await.unwrap();
    }
    assert!(published_keys(&events).is_empty());
}

#[tokio::test]
async fn an_unreadable_notification_is_a_permanent_error_naming_the_field() {
    let events = events();
    let body = minio_put(MANIFEST).replace("\"key\": \"Sentinel", "\"kee\": \"Sentinel");
    let error = events.handle(&delivery(body)).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "unreadable object notification: Records[0].s3.object.key: is missing"
    );
    assert!(!error.is_transient(), "redelivery cannot fix it");
}

#[tokio::test]
async fn an_object_naming_no_product_is_refused_after_the_others_are_published() {
    let events = events();
    let mut notification: serde_json::Value = serde_json::from_str(&minio_put(MANIFEST)).unwrap();
    let records = notification["Records"].as_array_mut().unwrap();
    let mut readme = records[0].clone();
    readme["s3"]["object"]["key"] = "incoming/README.zip".into();
    records.insert(0, readme);
    let body = notification.to_string();
    let error = events.handle(&delivery(body)).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "object s3://images/incoming/README.zip: key names no Sentinel product and the feed \
         configures no collection"
    );
    assert!(!error.is_transient());
    assert_eq!(published_keys(&events), [PRODUCT]);
}

#[tokio::test]
async fn a_publish_failure_is_retried_by_redelivery() {
    let events = events();
    events.sink.unreachable.store(true, Ordering::SeqCst);
    let error = events
        .handle(&delivery(minio_put(MANIFEST)))
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error}");
}

#[test]
fn each_feed_has_its_own_durable_consumer_on_its_bucket() {
    let source = BucketSource::new("eo.data", S3Config::local("http://127.0.0.1:1", "k", "s"));
    let spec = consumer_spec("landing", &source);
    assert_eq!(spec.durable, "ingestor-landing");
    assert_eq!(spec.filter_subjects, [object_subject("eo.data")]);
    assert_eq!(spec.stream.name, "OBJECTS");
}
