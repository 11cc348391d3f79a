//! A CDSE push subscription over HTTP against a real JetStream: CDSE is answered 200 only once
//! the product is stored, 503 while it cannot be, 400 (with the body dead-lettered) when the body
//! cannot be read, 401 without the subscription's credentials and 413 past the size limit.

mod common;

use common::*;
use nrt_cdse_replay::{ReplayFeed, ReplayOptions};
use nrt_events::{DeadLetter, ProductRetracted};
use nrt_nats::NatsServer;
use reqwest::StatusCode;

const CDSE: &str = "https://catalogue.dataspace.copernicus.eu/odata/v1";
fn golden_as_pushed(key: &str, feed: &str) -> nrt_events::ProductDiscovered {
    let mut product = golden_products().remove(key).unwrap();
    product.feed = feed.into();
    product
}

#[tokio::test]
async fn a_notification_is_answered_200_only_once_its_product_is_stored() {
    let nats = nats().await;
    let feed = push_feed(CDSE);
    let url = endpoint(&feed);
    let ingestor = Ingestor::start(config(&nats, vec![feed]));
    let response = post(
        &url,
        subscription_fixture("push_notification_created_S2MSI1C.json"),
        Some(PUSH_PASSWORD),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    // No waiting: the answer came after the PubAck.
    assert_eq!(stored_product_count(&nats).await, 1);
    let stored = next_products(&mut products_tap(&nats).await, 1).await;
    let key = "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505";
    assert_eq!(stored, [golden_as_pushed(key, "push")]);
    ingestor.stop().await;
}

#[tokio::test]
async fn the_same_notification_twice_is_one_event() {
    let nats = nats().await;
    let feed = push_feed(CDSE);
    let url = endpoint(&feed);
    let mut wire = WireTap::open(&nats).await;
    let ingestor = Ingestor::start(config(&nats, vec![feed]));
    let body = subscription_fixture("push_notification_modified_IW_GRDH_1S.json");
    for _ in 0..2 {
        let response = post(&url, body.clone(), Some(PUSH_PASSWORD)).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let key = "S1C_IW_GRDH_1SDV_20260101T001052_20260101T001117_005702_00B654_ABF9";
    assert_eq!(wire.keys_until_quiet().await, [key, key], "published twice");
    assert_eq!(stored_product_count(&nats).await, 1, "stored once");
    ingestor.stop().await;
}

#[tokio::test]
async fn a_deleted_notification_retracts_the_product() {
    let nats = nats().await;
    let feed = push_feed(CDSE);
    let url = endpoint(&feed);
    let mut retractions = retractions_tap(&nats).await;
    let ingestor = Ingestor::start(config(&nats, vec![feed]));
    let response = post(
        &url,
        subscription_fixture("push_notification_deleted_IW_GRDH_1S.json"),
        Some(PUSH_PASSWORD),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let retracted: ProductRetracted = retractions.next(WAIT).await.unwrap().data;
    assert_eq!(
        retracted.key,
        "S1C_IW_GRDH_1SDV_20260101T001117_20260101T001142_005702_00B654_AC68"
    );
    assert_eq!(retracted.cause.as_deref(), Some("Corrupted product"));
    assert_eq!(retracted.feed, "push");
    ingestor.stop().await;
}

#[tokio::test]
async fn posts_without_the_subscription_credentials_are_refused_unread() {
    let nats = nats().await;
    let feed = push_feed(CDSE);
    let url = endpoint(&feed);
    let ingestor = Ingestor::start(config(&nats, vec![feed]));
    let body = subscription_fixture("push_notification_created_S2MSI1C.json");
    for password in [None, Some("correct horse battery stapler")] {
        let response = post(&url, body.clone(), password).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{password:?}");
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Basic realm="nrt-mesh ingestor", charset="UTF-8""#
        );
    }
    assert_eq!(stored_product_count(&nats).await, 0);
    ingestor.stop().await;
}

#[tokio::test]
async fn a_body_over_max_body_bytes_is_refused_with_413() {
    let nats = nats().await;
    let mut feed = push_feed(CDSE);
    feed.max_body_bytes = 4096;
    let url = endpoint(&feed);
    let ingestor = Ingestor::start(config(&nats, vec![feed]));
    let body = subscription_fixture("push_notification_created_S2MSI1C.json");
    assert!(body.len() > 4096);
    let response = post(&url, body, Some(PUSH_PASSWORD)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        response.text().await.unwrap(),
        "the body exceeds the feed's max_body_bytes\n"
    );
    assert_eq!(stored_product_count(&nats).await, 0);
    ingestor.stop().await;
}

#[tokio::test]
async fn an_unreadable_body_is_refused_with_400_and_dead_lettered_byte_for_byte() {
    let nats = nats().await;
    let feed = push_feed(CDSE);
    let url = endpoint(&feed);
    let mut dead_letters = dead_letters_tap(&nats).await;
    let ingestor = Ingestor::start(config(&nats, vec![feed]));
    // The docs' own example, elided where the entity would be: what a truncating proxy sends.
    let body = subscription_fixture("push_notification_created_S2MSI2A.DOCS-ELIDED-NOT-JSON.txt");
    let response = post(&url, body.clone(), Some(PUSH_PASSWORD)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let reason = "the body is not a CDSE notification: expected value at line 36 column 18";
    assert_eq!(response.text().await.unwrap(), format!("{reason}\n"));
    let letter: DeadLetter = dead_letters.next(WAIT).await.unwrap().data;
    assert_eq!(letter.payload, body);
    assert!(!letter.payload_base64);
    assert_eq!(letter.error, reason);
    assert_eq!(letter.subject, "POST /notifications (feed push)");
    assert_eq!(stored_product_count(&nats).await, 0);
    ingestor.stop().await;
}

#[tokio::test]
async fn a_notification_naming_only_its_product_is_completed_from_the_catalogue() {
    let nats = nats().await;
    let replay = ReplayFeed::recorded()
        .start(ReplayOptions::default())
        .await
        .unwrap();
    let feed = push_feed(&replay.url());
    let url = endpoint(&feed);
    let ingestor = Ingestor::start(config(&nats, vec![feed]));
    let key = "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505";
    let mut expected = golden_as_pushed(key, "push");
    let body = serde_json::json!({
        "@odata.context": "$metadata#Notification/$entity",
        "SubscriptionEvent": "created",
        "ProductId": expected.feed_id,
        "SubscriptionId": "c06f2e68-fb9e-4e22-ac57-49566e8621fb",
        "NotificationDate": "2024-01-29T10:59:08.698Z",
    });
    let response = post(&url, body.to_string(), Some(PUSH_PASSWORD)).await;
    assert_eq!(response.status(), StatusCode::OK);
    expected.href = Some(format!(
        "{}/Products({})/$value",
        replay.url(),
        expected.feed_id
    ));
    let stored = next_products(&mut products_tap(&nats).await, 1).await;
    assert_eq!(stored, [expected.clone()]);
    assert!(
        replay.requests().iter().any(|request| request
            .url
            .contains(&format!("/Products({})", expected.feed_id))),
        "the entity was asked of the catalogue"
    );
    ingestor.stop().await;
}

#[tokio::test]
async fn while_jetstream_is_down_cdse_is_told_503_and_its_retry_after_recovery_is_stored() {
    let mut nats: NatsServer = nats().await;
    let feed = push_feed(CDSE);
    let url = endpoint(&feed);
    let ingestor = Ingestor::start(config(&nats, vec![feed]));
    let body = subscription_fixture("push_notification_created_S2MSI1C.json");
    // The endpoint is up before NATS goes away: an empty batch is settled at once.
    let empty = post(&url, "[]", Some(PUSH_PASSWORD)).await;
    assert_eq!(empty.status(), StatusCode::OK);

    nats.kill().await;
    let response = post(&url, body.clone(), Some(PUSH_PASSWORD)).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.text().await.unwrap(),
        "the notification could not be published yet; send it again\n"
    );

    nats.restart().await.unwrap();
    eventually("CDSE's retry is accepted", async || {
        post(&url, body.clone(), Some(PUSH_PASSWORD)).await.status() == StatusCode::OK
    })
    .await;
    assert_eq!(stored_product_count(&nats).await, 1);
    ingestor.stop().await;
}
