use nrt_events::{ProductDiscovered, ProductRetracted};

use super::*;
use crate::{config::FeedConfig, subscription::fixture};

const CDSE: &str = "https://catalogue.dataspace.copernicus.eu/odata/v1";

fn golden(key: &str) -> ProductDiscovered {
    let path = format!(
        "{}/../../testdata/products/{key}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A reader for the feed `generate.py` maps for (named `cdse`, at the real CDSE URL), so that
/// products compare equal to their golden files. Nothing here reaches the network.
fn reader() -> NotificationReader {
    let feed = FeedConfig::cdse("cdse", Url::parse(CDSE).unwrap());
    let client = Arc::new(HttpClient::new(&feed, None).unwrap());
    NotificationReader::new("cdse", feed.odata().unwrap(), client)
}

async fn read_text(text: &str) -> Batch {
    reader()
        .read(&split_body(text.as_bytes()).unwrap())
        .await
        .unwrap()
}

fn discovered(batch: &Batch) -> Vec<&ProductDiscovered> {
    batch
        .discovered
        .iter()
        .map(|fact| match fact {
            Discovery::Discovered(product) => product.as_ref(),
            other => panic!("not a discovery: {other:?}"),
        })
        .collect()
}

fn retracted(batch: &Batch) -> Vec<&ProductRetracted> {
    batch
        .discovered
        .iter()
        .map(|fact| match fact {
            Discovery::Retracted(product) => product.as_ref(),
            other => panic!("not a retraction: {other:?}"),
        })
        .collect()
}

fn errors(batch: &Batch) -> Vec<String> {
    batch.rejected.iter().map(|r| r.error.to_string()).collect()
}

#[tokio::test]
async fn a_pushed_created_notification_is_the_product_the_catalogue_feed_would_discover() {
    let batch = read_text(&fixture("push_notification_created_S2MSI1C.json")).await;
    assert_eq!(errors(&batch), Vec::<String>::new());
    assert_eq!(
        discovered(&batch),
        [&golden(
            "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505"
        )]
    );
    assert_eq!(batch.last_ack_id, None, "push notifications carry no AckId");
}

#[tokio::test]
async fn a_modified_notification_is_a_discovery_under_the_same_identity() {
    let batch = read_text(&fixture("push_notification_modified_IW_GRDH_1S.json")).await;
    let key = "S1C_IW_GRDH_1SDV_20260101T001052_20260101T001117_005702_00B654_ABF9";
    assert_eq!(discovered(&batch), [&golden(key)]);
}

#[tokio::test]
async fn the_entity_is_read_from_value_or_from_value_capitalised() {
    let text = fixture("push_notification_modified_IW_GRDH_1S.json");
    let capitalised = text.replacen("\"value\":", "\"Value\":", 1);
    assert_ne!(capitalised, text);
    let lower = read_text(&text).await;
    let upper = read_text(&capitalised).await;
    assert_eq!(discovered(&upper), discovered(&lower));
    assert_eq!(upper.discovered.len(), 1);
}

#[tokio::test]
async fn a_deleted_notification_retracts_the_product_with_its_deletion_date_and_cause() {
    let batch = read_text(&fixture("push_notification_deleted_IW_GRDH_1S.json")).await;
    let retraction = retracted(&batch)[0];
    assert_eq!(
        retraction.key,
        "S1C_IW_GRDH_1SDV_20260101T001117_20260101T001142_005702_00B654_AC68"
    );
    assert_eq!(retraction.feed_id, "2ce7b9b2-1011-4bef-a833-daae17d3d165");
    assert_eq!(
        retraction.retracted_at,
        "2025-02-10T08:30:03.907283Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    );
    assert_eq!(retraction.cause.as_deref(), Some("Corrupted product"));
    assert_eq!(
        (
            retraction.collection.as_deref(),
            retraction.product_type.as_deref()
        ),
        (Some("SENTINEL-1"), Some("IW_GRDH_1S"))
    );
}

#[tokio::test]
async fn a_deleted_notification_without_its_entity_is_retracted_from_the_envelope() {
    let mut notifications: Value =
        serde_json::from_str(&fixture("push_notification_deleted_IW_GRDH_1S.json")).unwrap();
    notifications[0].as_object_mut().unwrap().remove("value");
    let batch = read_text(&notifications.to_string()).await;
    let retraction = retracted(&batch)[0];
    assert_eq!(
        retraction.name,
        "S1C_IW_GRDH_1SDV_20260101T001117_20260101T001142_005702_00B654_AC68.SAFE"
    );
    assert_eq!(
        retraction.retracted_at,
        "2025-02-10T08:30:04.127132Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap(),
        "dated by the notification"
    );
    assert_eq!(retraction.cause, None);
}

#[test]
fn notifications_kept_past_three_days_are_completed_from_the_catalogue() {
    let body = fixture("pull_read_response_after_3_days.json");
    let reader = reader();
    let readings: Vec<Reading> = split_body(body.as_bytes())
        .unwrap()
        .iter()
        .enumerate()
        .map(|(position, raw)| {
            let notification = serde_json::from_str(raw.get()).unwrap();
            reader.reading(&notification, position).unwrap()
        })
        .collect();
    assert_eq!(
        readings,
        [
            Reading::Fetch {
                product_id: "d2ff986b-9454-43d6-95e0-1a0ae27019d7".into(),
                label: "notification for product id d2ff986b-9454-43d6-95e0-1a0ae27019d7".into(),
            },
            Reading::Fetch {
                product_id: "33ad5694-9208-4001-ae4f-6d7cd0579ce0".into(),
                label: "notification for product id 33ad5694-9208-4001-ae4f-6d7cd0579ce0".into(),
            },
        ]
    );
    assert_eq!(
        product_url(&reader.catalogue, "d2ff986b-9454-43d6-95e0-1a0ae27019d7").as_str(),
        "https://catalogue.dataspace.copernicus.eu/odata/v1/Products(d2ff986b-9454-43d6-95e0-1a0ae27019d7)?%24expand=Attributes"
    );
}

#[tokio::test]
async fn a_pulled_batch_is_acknowledged_by_its_last_ack_id() {
    let batch = read_text(&fixture("pull_read_response_created_IW_GRDH_1S.json")).await;
    assert_eq!(batch.discovered.len(), 2);
    assert_eq!(
        batch.last_ack_id.as_deref(),
        Some("MTcxMDc1NjcwNjY2NC0wOjk5MWM0NzMwLWNmNmYtNDMyYS05ZjZjLTQ3YmUwMjMwZmY0NQ==")
    );
}

#[tokio::test]
async fn unreadable_notifications_are_rejected_whole_naming_the_field_and_the_rest_kept() {
    let good: Value =
        serde_json::from_str(&fixture("push_notification_created_S2MSI1C.json")).unwrap();
    let pulled: Value =
        serde_json::from_str(&fixture("pull_read_response_created_IW_GRDH_1S.json")).unwrap();
    let with = |pointer: &str, value: Value| {
        let mut notification = good.clone();
        *notification.pointer_mut(pointer).unwrap() = value;
        notification
    };
    let mut without_type = good.clone();
    without_type["value"]["Attributes"]
        .as_array_mut()
        .unwrap()
        .retain(|attribute| attribute["Name"] != "productType");
    let name = "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505.SAFE";
    for (notification, expected) in [
        (
            with("/SubscriptionEvent", json!("archived")),
            format!(
                "notification for product {name}: SubscriptionEvent is not one of created, modified, deleted"
            ),
        ),
        (
            with("/ProductId", Value::Null),
            format!("notification for product {name}: ProductId is missing"),
        ),
        (
            with("/ProductId", json!("../../Subscriptions(x)/Ack")),
            format!("notification for product {name}: ProductId is not a CDSE product id (a UUID)"),
        ),
        (
            with("/value", json!([])),
            format!(
                "notification for product {name}: value is not a product entity (a JSON object)"
            ),
        ),
        (
            without_type,
            format!("product {name}: Attributes.productType is missing or not a string"),
        ),
        (
            json!("created"),
            "notification [1]: notification is not a JSON object".to_owned(),
        ),
    ] {
        let body = json!([pulled[0], notification, pulled[1]]).to_string();
        let notifications = split_body(body.as_bytes()).unwrap();
        let batch = reader().read(&notifications).await.unwrap();
        assert_eq!(errors(&batch), [expected]);
        assert_eq!(batch.discovered.len(), 2, "the readable ones are kept");
        assert_eq!(
            batch.rejected[0].entity,
            notifications[1].get(),
            "rejected byte for byte"
        );
        assert_eq!(batch.last_ack_id.as_deref(), pulled[1]["AckId"].as_str());
    }
}

#[test]
fn a_body_is_one_notification_or_an_array_of_them_kept_byte_for_byte() {
    let one = fixture("push_notification_created_S2MSI1C.json");
    let split = split_body(one.as_bytes()).unwrap();
    assert_eq!(split.len(), 1);
    assert_eq!(split[0].get(), one.trim());
    let many = fixture("pull_read_response_created_IW_GRDH_1S.json");
    assert_eq!(split_body(many.as_bytes()).unwrap().len(), 2);
    assert!(split_body(b"[]").unwrap().is_empty());
}

#[test]
fn bodies_that_are_not_notifications_are_named() {
    let elided = fixture("push_notification_created_S2MSI2A.DOCS-ELIDED-NOT-JSON.txt");
    for (body, expected) in [
        (elided.as_bytes(), "expected value at line 36 column 18"),
        (
            b"\"created\"".as_slice(),
            "expected a notification object or an array",
        ),
        (b"{\"SubscriptionEvent\":".as_slice(), "EOF while parsing"),
        (b"\xff\xfe".as_slice(), "expected value at line 1 column 1"),
    ] {
        let error = split_body(body).unwrap_err().to_string();
        assert!(error.starts_with(expected), "{error}");
    }
}
