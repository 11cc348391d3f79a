//! One product, several sources: the same Sentinel product seen in the CDSE catalogue, as an
//! object in a bucket and in a push notification is one `products.discovered` event, whichever
//! source saw it first. (STAC items take the same identity: see `stac_api::mapping` tests.)

mod common;

use bytes::Bytes;
use common::*;
use ingestor::{FeedConfig, SourceConfig, s3::BucketSource};
use nrt_cdse_replay::{ReplayFeed, ReplayOptions};
use nrt_s3::seaweed::SeaweedServer;

const SAFE: &str = "Sentinel-1/SAR/IW_GRDH_1S/2026/01/01/\
    S1A_IW_GRDH_1SDV_20260101T012439_20260101T012508_062567_07D772_8DAD.SAFE";

#[tokio::test]
async fn a_product_in_the_catalogue_in_a_bucket_and_pushed_is_one_event() {
    let (nats, seaweed) = tokio::join!(nats(), SeaweedServer::start());
    let replay = ReplayFeed::recorded()
        .start(ReplayOptions::default())
        .await
        .unwrap();
    let client = nrt_s3::client(&seaweed.config()).await;
    nrt_s3::ensure_bucket(&client, "eodata").await.unwrap();
    nrt_s3::put_bytes(
        &client,
        "eodata",
        &format!("{SAFE}/manifest.safe"),
        Bytes::from_static(b"<xfdu/>"),
        "application/xml",
    )
    .await
    .unwrap();
    let mut source = BucketSource::new("eodata", seaweed.config());
    source.events = false;
    // Whole objects written at once: nothing to wait for before listing them.
    source.settle = std::time::Duration::ZERO;
    let mut bucket = FeedConfig::new("bucket", SourceConfig::S3Bucket(source));
    bucket.start_from = Some("2000-01-01T00:00:00Z".parse().unwrap());
    bucket.poll_interval = std::time::Duration::from_millis(100);

    let push = push_feed(&replay.url());
    let push_url = endpoint(&push);

    let mut wire = WireTap::open(&nats).await;
    let ingestor = Ingestor::start(config(
        &nats,
        vec![replay_feed("cdse", &replay), bucket, push],
    ));
    let mut sent = wire.keys_until_quiet().await;
    // CDSE notifies a change to a product the catalogue feed has already published.
    let notification = subscription_fixture("push_notification_modified_IW_GRDH_1S.json");
    let answer = post(&push_url, notification, Some(PUSH_PASSWORD)).await;
    assert_eq!(answer.status(), reqwest::StatusCode::OK);
    sent.extend(wire.keys_until_quiet().await);
    ingestor.stop().await;

    let key = "S1A_IW_GRDH_1SDV_20260101T012439_20260101T012508_062567_07D772_8DAD";
    assert_eq!(
        sent.iter().filter(|sent| *sent == key).count(),
        2,
        "both sources published it"
    );
    let pushed = "S1C_IW_GRDH_1SDV_20260101T001052_20260101T001117_005702_00B654_ABF9";
    assert_eq!(
        sent.iter().filter(|sent| *sent == pushed).count(),
        2,
        "the catalogue and the push endpoint published it"
    );
    assert_eq!(sent.len(), 41);
    assert_eq!(
        stored_product_count(&nats).await,
        39,
        "JetStream kept it once"
    );
}
