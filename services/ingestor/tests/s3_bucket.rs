//! A bucket products land in, reconciled by listing: objects whose events never arrived (here, a
//! real SeaweedFS server that sends none) are discovered once each under the catalogue's
//! identity, and an object naming no product goes to the DLQ with the reason.

mod common;

use bytes::Bytes;
use common::*;
use ingestor::{FeedConfig, SourceConfig, s3::BucketSource};
use nrt_events::DeadLetter;
use nrt_s3::seaweed::SeaweedServer;

const BUCKET: &str = "eodata";
const S1: &str = "Sentinel-1/SAR/IW_GRDH_1S/2026/01/01/\
    S1A_IW_GRDH_1SDV_20260101T012439_20260101T012508_062567_07D772_8DAD.SAFE";
const S2: &str = "Sentinel-2/MSI/L1C/2020/08/08/\
    S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505.SAFE";

async fn put(client: &nrt_s3::aws_sdk_s3::Client, key: &str) {
    nrt_s3::put_bytes(
        client,
        BUCKET,
        key,
        Bytes::from_static(b"<xml/>"),
        "application/xml",
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_listing_finds_products_whose_events_were_lost_once_each() {
    let (nats, seaweed) = tokio::join!(nats(), SeaweedServer::start());
    let client = nrt_s3::client(&seaweed.config()).await;
    nrt_s3::ensure_bucket(&client, BUCKET).await.unwrap();
    put(&client, &format!("{S1}/measurement/s1a-iw-grd-vv.tiff")).await;
    put(&client, &format!("{S1}/manifest.safe")).await;
    put(&client, "incoming/README.zip").await;

    let mut source = BucketSource::new(BUCKET, seaweed.config());
    source.events = false;
    // Whole objects written at once: nothing to wait for before listing them.
    source.settle = std::time::Duration::ZERO;
    let mut feed = FeedConfig::new("bucket", SourceConfig::S3Bucket(source));
    feed.start_from = Some("2000-01-01T00:00:00Z".parse().unwrap());
    feed.poll_interval = std::time::Duration::from_millis(200);
    let mut products = products_tap(&nats).await;
    let mut dead_letters = dead_letters_tap(&nats).await;
    let ingestor = Ingestor::start(config(&nats, vec![feed]));

    let first = next_products(&mut products, 1).await.remove(0);
    assert_eq!(
        first.key,
        "S1A_IW_GRDH_1SDV_20260101T012439_20260101T012508_062567_07D772_8DAD"
    );
    assert_eq!(
        first.s3_uri.as_deref(),
        Some(format!("s3://{BUCKET}/{S1}").as_str())
    );
    assert_eq!(first.feed, "bucket");
    let letter: DeadLetter = dead_letters.next(WAIT).await.unwrap().data;
    assert_eq!(
        letter.error,
        "object s3://eodata/incoming/README.zip: key names no Sentinel product and the feed \
         configures no collection"
    );
    assert!(
        letter.subject.starts_with("ListObjectsV2 s3://eodata/"),
        "{}",
        letter.subject
    );

    // Written later, found by a later listing; the first is not found again.
    put(&client, &format!("{S2}/manifest.safe")).await;
    let second = next_products(&mut products, 1).await.remove(0);
    assert_eq!(
        second.key,
        "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505"
    );
    assert!(products.drain_raw(QUIET).await.is_empty());
    assert!(
        dead_letters.drain_raw(QUIET).await.is_empty(),
        "dead-lettered once"
    );
    ingestor.stop().await;
    assert_eq!(stored_product_count(&nats).await, 2);
    assert!(stored_cursor(&nats, "bucket.listing").await.is_some());
}
