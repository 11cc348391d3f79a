//! Retracted inputs over a real nats-server, SeaweedFS and STAC API: the derived item is marked
//! in both targets with one alert; `ignore` and products nothing derives from change nothing; a
//! job replayed after the retraction keeps its item marked.

mod common;

use bytes::Bytes;
use catalogue_publisher::{
    CONSUMER, Config, RETRACTIONS, config::RetractionPolicy, config::Target,
};
use common::*;
use nrt_events::{
    Alert, DeadLetter, Envelope, ItemPublished, ProductRetracted, Severity, stable_hash,
    streams::{self, KV_CATALOGUE_DERIVATIONS},
};
use nrt_nats::EventTap;
use nrt_stac_server::StacServer;
use serde_json::Value;
use url::Url;

fn with_api(stac: &StacServer) -> impl Fn(Config) -> Config {
    let url = Url::parse(&stac.url()).unwrap();
    move |mut config| {
        config.targets = vec![Target::S3, Target::StacApi];
        config.stac_api.url = Some(url.clone());
        config
    }
}

fn retraction_of(name: &str) -> ProductRetracted {
    let product = product(name);
    ProductRetracted {
        key: product.key,
        feed_id: product.feed_id,
        name: product.name,
        collection: Some(product.collection),
        product_type: Some(product.product_type),
        retracted_at: "2026-02-01T10:00:00Z".parse().unwrap(),
        cause: Some("Duplicated product".into()),
        feed: "cdse".into(),
    }
}

async fn alerts(harness: &Harness) -> EventTap {
    EventTap::open(
        &harness.js,
        streams::ALERTS.name,
        "alerts.warning.derived-item-retracted",
    )
    .await
    .unwrap()
}

/// Publishes `job`'s succeeded event and waits for its item.
async fn publish(harness: &Harness, products: &[&str]) -> ItemPublished {
    let mut published = EventTap::open(
        &harness.js,
        streams::CATALOGUE.name,
        "catalogue.published.>",
    )
    .await
    .unwrap();
    let job = harness.job(products).await;
    harness.publisher.publish(job).await.unwrap();
    published.next::<ItemPublished>(WAIT).await.unwrap().data
}

/// Publishes the retraction and waits until the service settled it.
async fn retract(harness: &Harness, retracted: ProductRetracted) {
    let ack = harness.publisher.publish(retracted).await.unwrap();
    harness
        .wait_until_handled_by(&RETRACTIONS, ack.sequence)
        .await;
}

async fn api_item(stac: &StacServer, event: &ItemPublished) -> Value {
    let url = format!(
        "{}/collections/{}/items/{}",
        stac.url(),
        event.collection,
        event.item_id
    );
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

fn assert_marked(item: &Value, input: &str) {
    if let Err(errors) = validator().validate_item(item) {
        panic!("{errors:#?}\n{item:#}");
    }
    let properties = &item["properties"];
    assert_eq!(properties["nrt:retracted"], true, "{item:#}");
    assert_eq!(properties["nrt:retraction_cause"], "Duplicated product");
    assert_eq!(properties["nrt:retracted_input"], format!("{input}.SAFE"));
    let at: chrono::DateTime<chrono::Utc> = properties["nrt:retracted_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        at,
        "2026-02-01T10:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    );
}

#[tokio::test]
async fn a_retracted_input_marks_its_item_in_both_targets_with_one_alert() {
    let stac = StacServer::start().await;
    let harness = Harness::start_configured(1, with_api(&stac)).await;
    let mut alerts = alerts(&harness).await;
    let event = publish(&harness, &[S2_T54PXA]).await;

    harness
        .publisher
        .publish(retraction_of(S2_T54PXA))
        .await
        .unwrap();
    let alert = alerts.next::<Alert>(WAIT).await.unwrap().data;
    assert_eq!(alert.severity, Severity::Warning);
    assert_eq!(alert.about, event.item_id);
    assert!(alert.message.contains(S2_T54PXA), "{}", alert.message);
    assert!(
        alert.message.contains("Duplicated product"),
        "{}",
        alert.message
    );

    // The alert is raised once both targets are marked.
    assert_marked(&harness.read_uri(&event.item_href).await, S2_T54PXA);
    assert_marked(&api_item(&stac, &event).await, S2_T54PXA);
    assert!(
        alerts
            .next_raw(std::time::Duration::from_secs(1))
            .await
            .is_err(),
        "a second alert was raised"
    );
    harness.stop().await;
}

#[tokio::test]
async fn a_job_replayed_after_the_retraction_keeps_its_item_marked() {
    let stac = StacServer::start().await;
    let harness = Harness::start_configured(1, with_api(&stac)).await;
    let mut alerts = alerts(&harness).await;
    let job = harness.job(&[S2_T54PXA]).await;
    let envelope = Envelope::new("/test", job);
    let body = Bytes::from(envelope.to_json());
    let mut published = EventTap::open(
        &harness.js,
        streams::CATALOGUE.name,
        "catalogue.published.>",
    )
    .await
    .unwrap();
    harness
        .publisher
        .publish_raw(envelope.subject(), &envelope.id, body.clone())
        .await
        .unwrap();
    let event = published.next::<ItemPublished>(WAIT).await.unwrap().data;
    harness
        .publisher
        .publish(retraction_of(S2_T54PXA))
        .await
        .unwrap();
    alerts.next::<Alert>(WAIT).await.unwrap();

    let replay = harness
        .publisher
        .publish_raw(envelope.subject(), "replay-after-retraction", body)
        .await
        .unwrap();
    harness.wait_until_handled(replay.sequence).await;
    assert_eq!(harness.consumer_info(&CONSUMER).await.num_redelivered, 0);
    assert_marked(&harness.read_uri(&event.item_href).await, S2_T54PXA);
    assert_marked(&api_item(&stac, &event).await, S2_T54PXA);
    harness.stop().await;
}

#[tokio::test]
async fn with_retractions_ignored_the_item_stays_as_published() {
    let harness = Harness::start_configured(1, |config| Config {
        retractions: RetractionPolicy::Ignore,
        ..config
    })
    .await;
    let mut alerts = alerts(&harness).await;
    let event = publish(&harness, &[S2_T54PXA]).await;
    let before = harness.read_uri(&event.item_href).await;

    retract(&harness, retraction_of(S2_T54PXA)).await;
    assert_eq!(harness.read_uri(&event.item_href).await, before);
    assert!(
        alerts
            .next_raw(std::time::Duration::from_secs(1))
            .await
            .is_err(),
        "an alert was raised"
    );
    harness.stop().await;
}

#[tokio::test]
async fn a_retraction_nothing_derives_from_is_acknowledged_and_changes_nothing() {
    let harness = Harness::start(1).await;
    let mut dlq = EventTap::open(&harness.js, streams::DLQ.name, "dlq.catalogue-publisher")
        .await
        .unwrap();
    let event = publish(&harness, &[S2_T54PXA]).await;
    let before = harness.read_uri(&event.item_href).await;

    let unrelated = retraction_of(S1C_SLICE_1);
    let key = stable_hash([unrelated.key.as_str()]);
    retract(&harness, unrelated).await;
    let info = harness.consumer_info(&RETRACTIONS).await;
    assert_eq!(info.num_redelivered, 0, "{info:?}");
    assert_eq!(harness.read_uri(&event.item_href).await, before);
    let derivations = harness
        .js
        .get_key_value(KV_CATALOGUE_DERIVATIONS)
        .await
        .unwrap();
    assert!(derivations.entry(key).await.unwrap().is_none());
    assert!(
        dlq.next::<DeadLetter>(std::time::Duration::from_secs(1))
            .await
            .is_err(),
        "the retraction was dead-lettered"
    );
    harness.stop().await;
}
