//! A bucket's object events, end to end over a real nats-server: the embedded S3 announces every
//! write on `objects.<bucket>` as MinIO's NATS target does, recorded notifications of other
//! senders arrive on the same subject, and the ingestor publishes each product once, dead-letters
//! what it cannot read, and resumes from its durable consumer after a restart.

mod common;

use bytes::Bytes;
use common::*;
use ingestor::{FeedConfig, SourceConfig, s3::BucketSource};
use nrt_embedded_s3::{EmbeddedS3, EmbeddedS3Options};
use nrt_events::{DeadLetter, s3::S3Object, streams};
use nrt_nats::{Mesh, NatsConfig, NatsServer, async_nats};

const BUCKET: &str = "eodata";
const S1: &str = "Sentinel-1/SAR/IW_GRDH_1S/2026/01/01/\
    S1A_IW_GRDH_1SDV_20260101T012439_20260101T012508_062567_07D772_8DAD.SAFE";
const S2: &str = "Sentinel-2/MSI/L1C/2020/08/08/\
    S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505.SAFE";
const S3_OLCI: &str = "Sentinel-3/OLCI/OL_1_EFR___/2024/06/07/\
    S3A_OL_1_EFR____20240607T095427_20240607T095727_20240608T101651_0179_113_136_2160_PS1_O_NT_003.SEN3";

struct Bucket {
    s3: EmbeddedS3,
    client: nrt_s3::aws_sdk_s3::Client,
    _mesh: Mesh,
    _root: tempfile::TempDir,
}

/// The embedded S3 with bucket `eodata`, announcing its writes on the test's nats-server.
async fn bucket(nats: &NatsServer) -> Bucket {
    let mesh = Mesh::connect(
        "embedded-s3",
        &NatsConfig::local(nats.url()),
        nrt_runtime::Readiness::default(),
    )
    .await
    .unwrap();
    let root = tempfile::tempdir().unwrap();
    let s3 = EmbeddedS3::start(EmbeddedS3Options {
        events: Some(mesh.publisher.clone()),
        buckets: vec![BUCKET.into()],
        ..EmbeddedS3Options::local(root.path(), "nrt-test", "nrt-test-secret")
    })
    .await
    .unwrap();
    let client = nrt_s3::client(&s3.config()).await;
    Bucket {
        s3,
        client,
        _mesh: mesh,
        _root: root,
    }
}

impl Bucket {
    async fn put(&self, key: &str) {
        nrt_s3::put_bytes(
            &self.client,
            BUCKET,
            key,
            Bytes::from_static(b"<xml/>"),
            "application/xml",
        )
        .await
        .unwrap();
    }

    fn feed(&self) -> FeedConfig {
        let mut source = BucketSource::new(BUCKET, self.s3.config());
        // Only events here: the listing would find the same products and hide a lost event.
        source.reconcile = false;
        FeedConfig::new("landing", SourceConfig::S3Bucket(source))
    }
}

/// A notification another sender recorded (MinIO 2016, the older `EventType` form), about `key`.
fn recorded_minio_notification(key: &str) -> String {
    let root = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/fixtures/s3-events/"
    );
    std::fs::read_to_string(format!(
        "{root}minio/minio_nats_ObjectCreated_Put_2016.json"
    ))
    .unwrap()
    .replace("\"name\":\"images\"", &format!("\"name\":\"{BUCKET}\""))
    .replace(
        "\"key\":\"myphoto.jpg\"",
        &format!("\"key\":{:?}", S3Object::encode_key(key)),
    )
}

async fn publish_raw(nats: &NatsServer, body: String) {
    let subject = nrt_events::s3::object_subject(BUCKET);
    let js = nats.jetstream().await;
    js.publish(subject, body.into())
        .await
        .unwrap()
        .await
        .unwrap();
}

#[tokio::test]
async fn written_products_are_discovered_once_from_their_object_events() {
    let nats = nats().await;
    let bucket = bucket(&nats).await;
    let mut products = products_tap(&nats).await;
    let mut letters = dead_letters_tap(&nats).await;
    let ingestor = Ingestor::start(config(&nats, vec![bucket.feed()]));

    // The parts land first, the manifest last, as uploaders write a SAFE.
    bucket
        .put(&format!("{S1}/measurement/s1a-iw-grd-vv.tiff"))
        .await;
    bucket.put(&format!("{S1}/manifest.safe")).await;
    let product = next_products(&mut products, 1).await.remove(0);
    assert_eq!(
        product.key,
        "S1A_IW_GRDH_1SDV_20260101T012439_20260101T012508_062567_07D772_8DAD"
    );
    assert_eq!(
        product.s3_uri.as_deref(),
        Some(format!("s3://{BUCKET}/{S1}").as_str())
    );
    assert_eq!(product.feed, "landing");

    // A rewritten manifest is a second event for the same product: JetStream keeps one.
    bucket.put(&format!("{S1}/manifest.safe")).await;
    // The older MinIO form, a key with a space, and an object that names no product.
    publish_raw(
        &nats,
        recorded_minio_notification(&format!("{S2}/manifest.safe")),
    )
    .await;
    bucket.put("incoming/Read Me.zip").await;
    let product = next_products(&mut products, 1).await.remove(0);
    assert_eq!(
        product.key,
        "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505"
    );
    let letter: DeadLetter = letters.next(WAIT).await.unwrap().data;
    assert_eq!(letter.subject, "objects.eodata");
    assert_eq!(
        letter.error,
        "object s3://eodata/incoming/Read Me.zip: key names no Sentinel product and the feed \
         configures no collection"
    );

    // Not an S3 notification at all: dead-lettered byte for byte, naming what is missing.
    publish_raw(
        &nats,
        r#"{"Records": [{"eventName": "s3:ObjectCreated:Put"}]}"#.into(),
    )
    .await;
    let letter: DeadLetter = letters.next(WAIT).await.unwrap().data;
    assert_eq!(
        letter.error,
        "unreadable object notification: Records[0].s3: is missing"
    );
    assert_eq!(
        letter.payload,
        r#"{"Records": [{"eventName": "s3:ObjectCreated:Put"}]}"#
    );

    // Down while a product lands: the durable consumer hands its event over after the restart.
    ingestor.stop().await;
    bucket.put(&format!("{S3_OLCI}/xfdumanifest.xml")).await;
    let ingestor = Ingestor::start(config(&nats, vec![bucket.feed()]));
    let product = next_products(&mut products, 1).await.remove(0);
    assert!(
        product.key.starts_with("S3A_OL_1_EFR____20240607T095427"),
        "{}",
        product.key
    );
    ingestor.stop().await;
    assert_eq!(stored_product_count(&nats).await, 3, "each product once");
}

#[tokio::test]
async fn a_consumer_is_declared_per_feed_and_survives_a_nats_restart() {
    let mut nats = nats().await;
    let bucket = bucket(&nats).await;
    let ingestor = Ingestor::start(config(&nats, vec![bucket.feed()]));
    let js = nats.jetstream().await;
    eventually("the feed's durable consumer exists", async || {
        js.get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(
            "ingestor-landing",
            streams::OBJECTS.name,
        )
        .await
        .is_ok()
    })
    .await;

    nats.restart().await.unwrap();
    publish_raw(
        &nats,
        recorded_minio_notification(&format!("{S2}/manifest.safe")),
    )
    .await;
    let mut products = products_tap(&nats).await;
    let product = next_products(&mut products, 1).await.remove(0);
    assert_eq!(
        product.key,
        "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505"
    );
    ingestor.stop().await;
}
