//! The service publishing to a real STAC API (stac-fastapi-pgstac on PostgreSQL + PostGIS) and
//! to the static catalogue in a real SeaweedFS: items read back from both, found by the API's own
//! `/search`, replayed without duplicates, refused items dead-lettered; every document valid
//! against the STAC 1.1 schemas.

mod common;

use bytes::Bytes;
use catalogue_publisher::{CONSUMER, Config, config::Target, extent, readback, stac_api::api_item};
use common::*;
use nrt_events::{DeadLetter, Envelope, ItemPublished, streams};
use nrt_nats::EventTap;
use nrt_stac_server::StacServer;
use serde_json::{Value, json};
use url::Url;

const S1A_LATER: &str = "S1A_IW_GRDH_1SDV_20260121T231638_20260121T231703_062872_07E2FE_A004";

fn publishing_to(targets: Vec<Target>, stac: &StacServer) -> impl Fn(Config) -> Config {
    let url = Url::parse(&stac.url()).unwrap();
    move |mut config| {
        config.targets = targets.clone();
        config.stac_api.url = Some(url.clone());
        config
    }
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

async fn get(url: &str) -> Value {
    let response = reqwest::get(url).await.unwrap();
    assert!(response.status().is_success(), "GET {url}: {response:?}");
    response.json().await.unwrap()
}

/// The ids the API's `/search` finds for `query`, sorted.
async fn search(stac: &StacServer, query: &[(&str, &str)]) -> Vec<String> {
    let mut url = Url::parse(&format!("{}/search?limit=100", stac.url())).unwrap();
    url.query_pairs_mut().extend_pairs(query);
    let found = get(url.as_str()).await;
    let mut ids: Vec<String> = found["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn assert_valid_item(item: &Value) {
    if let Err(errors) = validator().validate_item(item) {
        panic!("{errors:#?}\n{item:#}");
    }
}

/// pgstac drops `datetime: null` from the range items it serves (stac-utils/pgstac#158, open), which
/// the STAC 1.1 schema requires: put back, everything else is validated as served.
fn with_null_datetime_restored(mut served: Value) -> Value {
    let properties = served["properties"].as_object_mut().unwrap();
    if properties.contains_key("start_datetime") && !properties.contains_key("datetime") {
        properties.insert("datetime".into(), Value::Null);
    }
    served
}

fn assert_valid_collection(collection: &Value) {
    if let Err(errors) = validator().validate_collection(collection) {
        panic!("{errors:#?}\n{collection:#}");
    }
}

fn bbox_of(item: &Value) -> [f64; 4] {
    serde_json::from_value(item["bbox"].clone()).unwrap()
}

fn overlaps(a: [f64; 4], b: [f64; 4]) -> bool {
    a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3]
}

#[tokio::test]
async fn items_reach_both_targets_read_back_alike_and_the_apis_search_finds_exactly_them() {
    let stac = StacServer::start().await;
    let harness =
        Harness::start_configured(1, publishing_to(vec![Target::S3, Target::StacApi], &stac)).await;
    let mut published = published_tap(&harness).await;
    let jobs = [
        harness.job(&[S2_T54PXA]).await,
        harness.job(&[S1C_SLICE_1, S1C_SLICE_2]).await,
        harness.job(&[S1A_LATER]).await,
    ];
    for job in &jobs {
        harness.publisher.publish(job.clone()).await.unwrap();
    }
    let mut events = Vec::new();
    for _ in &jobs {
        events.push(published.next::<ItemPublished>(WAIT).await.unwrap().data);
    }
    events.sort_by_key(|event| event.input_keys.clone());

    let mut served_items = Vec::new();
    for event in &events {
        // The static catalogue is a target: the event names its item.
        assert!(
            event.item_href.starts_with("s3://catalogue/"),
            "{}",
            event.item_href
        );
        let static_item = harness.read_uri(&event.item_href).await;
        assert_valid_item(&static_item);
        let item_url = format!(
            "{}/collections/footprint/items/{}",
            stac.url(),
            event.item_id
        );
        let served = get(&item_url).await;
        assert_valid_item(&with_null_datetime_restored(served.clone()));
        let sent: stac::Item = serde_json::from_value(static_item).unwrap();
        let sent = serde_json::to_value(api_item(&sent)).unwrap();
        assert_eq!(readback::first_difference(&sent, &served), None);
        served_items.push(served);
    }

    let static_collection = harness
        .read(
            CATALOGUE_BUCKET,
            &format!("{PREFIX}/footprint/collection.json"),
        )
        .await;
    assert_valid_collection(&static_collection);
    let served_collection = get(&format!("{}/collections/footprint", stac.url())).await;
    assert_valid_collection(&served_collection);
    assert_eq!(served_collection["license"], static_collection["license"]);
    let collection: stac::Collection = serde_json::from_value(served_collection).unwrap();
    for item in &served_items {
        let item: stac::Item = serde_json::from_value(item.clone()).unwrap();
        assert!(extent::covers(&collection.extent, &item), "{}", item.id);
    }

    let mut all: Vec<String> = events.iter().map(|event| event.item_id.clone()).collect();
    all.sort();
    assert_eq!(search(&stac, &[("collections", "footprint")]).await, all);

    let s2 = &served_items[events
        .iter()
        .position(|e| e.input_keys == [S2_T54PXA])
        .unwrap()];
    let s2_bbox = bbox_of(s2);
    for other in served_items.iter().filter(|item| item["id"] != s2["id"]) {
        assert!(
            !overlaps(bbox_of(other), s2_bbox),
            "the query below assumes apart footprints"
        );
    }
    let bbox = s2_bbox.map(|edge| edge.to_string()).join(",");
    assert_eq!(
        search(&stac, &[("collections", "footprint"), ("bbox", &bbox)]).await,
        [s2["id"].as_str().unwrap()]
    );

    let new_year = "2026-01-01T00:00:00Z/2026-01-01T23:59:59Z";
    let s1c = events
        .iter()
        .find(|event| event.input_keys.len() == 2)
        .unwrap();
    assert_eq!(
        search(
            &stac,
            &[("collections", "footprint"), ("datetime", new_year)]
        )
        .await,
        [s1c.item_id.as_str()]
    );
    harness.stop().await;
}

#[tokio::test]
async fn a_replayed_job_leaves_one_item_in_the_api_and_is_handled_without_error() {
    let stac = StacServer::start().await;
    let harness = Harness::start_configured(1, publishing_to(vec![Target::StacApi], &stac)).await;
    let mut published = published_tap(&harness).await;
    let job = harness.job(&[S2_T54PXA]).await;
    let envelope = Envelope::new("/test", job.clone());
    let body = Bytes::from(envelope.to_json());
    harness
        .publisher
        .publish_raw(envelope.subject(), &envelope.id, body.clone())
        .await
        .unwrap();
    let first = published.next::<ItemPublished>(WAIT).await.unwrap().data;
    // The API is the only target: the event names the API's item.
    let item_url = format!(
        "{}/collections/footprint/items/{}",
        stac.url(),
        first.item_id
    );
    assert_eq!(first.item_href, item_url);
    let before = get(&item_url).await;

    // A new message id gets the replay past JetStream's duplicate window: POST answers 409, and
    // the item is replaced by PUT.
    let replay = harness
        .publisher
        .publish_raw(envelope.subject(), "replay-1", body)
        .await
        .unwrap();
    harness.wait_until_handled(replay.sequence).await;

    let info = harness.consumer_info(&CONSUMER).await;
    assert_eq!(info.num_redelivered, 0, "a delivery failed: {info:?}");
    assert_eq!(
        search(&stac, &[("ids", first.item_id.as_str())]).await,
        [first.item_id.as_str()]
    );
    assert_eq!(
        search(&stac, &[("collections", "footprint")]).await.len(),
        1
    );
    assert_eq!(get(&item_url).await, before);
    // Nothing was written to the static catalogue, which is not a target.
    let written = nrt_s3::list_keys(&harness.s3, CATALOGUE_BUCKET, PREFIX)
        .await
        .unwrap_or_default();
    assert_eq!(written, Vec::<String>::new());
    harness.stop().await;
}

#[tokio::test]
async fn an_item_the_api_refuses_is_dead_lettered_naming_it_and_the_reason() {
    let stac = StacServer::start().await;
    let harness = Harness::start_configured(1, publishing_to(vec![Target::StacApi], &stac)).await;
    let mut dlq = EventTap::open(&harness.js, streams::DLQ.name, "dlq.catalogue-publisher")
        .await
        .unwrap();
    // A processor whose sidecar gives an open ring of three positions: GeoJSON needs four.
    let mut job = harness.job(&[S2_T54PXA]).await;
    job.metadata = Some(json!({
        "geometry": {"type": "Polygon", "coordinates": [[[142.0, 13.0], [143.0, 13.0], [143.0, 14.0]]]}
    }));
    harness.publisher.publish(job.clone()).await.unwrap();

    let letter = dlq.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert_eq!(letter.deliveries, Some(1), "a refused item is not retried");
    let item_id = format!("footprint-{S2_T54PXA}");
    for part in [
        format!("item {item_id}"),
        "POST".into(),
        "/collections/footprint/items".into(),
        "400".into(),
        "at least 4 items".into(),
    ] {
        assert!(
            letter.error.contains(&part),
            "{part:?} not in {}",
            letter.error
        );
    }
    assert_eq!(
        search(&stac, &[("collections", "footprint")]).await.len(),
        0
    );
    harness.stop().await;
}
