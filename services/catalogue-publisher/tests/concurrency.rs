//! Replicas racing on one collection: the S3 conditional writes the catalogue relies on, as a
//! real SeaweedFS implements them, and the catalogue and service built on them.

mod common;

use std::collections::BTreeSet;

use bytes::Bytes;
use catalogue_publisher::{
    catalogue,
    handler::layout_of,
    item::{ItemContext, build_item},
    store::{ObjectStore, Precondition, S3Store, Written, verify_conditional_writes},
};
use common::*;
use futures::future::join_all;
use nrt_events::{ItemPublished, streams};
use nrt_nats::EventTap;
use nrt_s3::seaweed::SeaweedServer;

const RACERS: usize = 16;

async fn store(seaweed: &SeaweedServer) -> S3Store {
    let client = nrt_s3::client(&seaweed.config()).await;
    nrt_s3::ensure_bucket(&client, CATALOGUE_BUCKET)
        .await
        .unwrap();
    S3Store::new(client, CATALOGUE_BUCKET)
}

fn body(text: String) -> Bytes {
    Bytes::from(text)
}

#[tokio::test]
async fn seaweedfs_honours_if_match_and_if_none_match() {
    let seaweed = start_seaweed().await;
    let store = store(&seaweed).await;
    let key = "stac/footprint/collection.json";
    let created = store
        .put_if(
            key,
            body("v1".into()),
            "application/json",
            Precondition::Absent,
        )
        .await
        .unwrap();
    assert_eq!(created, Written::Yes);
    let again = store
        .put_if(
            key,
            body("v1'".into()),
            "application/json",
            Precondition::Absent,
        )
        .await
        .unwrap();
    assert_eq!(again, Written::PreconditionFailed);

    let v1 = store.get_versioned(key).await.unwrap().unwrap();
    assert_eq!(v1.body, "v1");
    let replace = Precondition::Unchanged(v1.etag.clone());
    let updated = store
        .put_if(key, body("v2".into()), "application/json", replace.clone())
        .await
        .unwrap();
    assert_eq!(updated, Written::Yes);
    let stale = store
        .put_if(key, body("v3".into()), "application/json", replace)
        .await
        .unwrap();
    assert_eq!(stale, Written::PreconditionFailed);
    assert_eq!(store.get(key).await.unwrap().unwrap(), "v2");

    let layout = layout_of(&catalogue_config(&seaweed));
    verify_conditional_writes(&store, &layout, &seaweed.endpoint())
        .await
        .unwrap();
}

#[tokio::test]
async fn of_many_writers_holding_one_etag_exactly_one_wins() {
    let seaweed = start_seaweed().await;
    let store = store(&seaweed).await;
    let key = "stac/footprint/collection.json";
    store
        .put(key, body("v0".into()), "application/json")
        .await
        .unwrap();
    let etag = store.get_versioned(key).await.unwrap().unwrap().etag;

    let outcomes = join_all((0..RACERS).map(|racer| {
        let (store, etag) = (store.clone(), etag.clone());
        async move {
            let precondition = Precondition::Unchanged(etag);
            let written = store
                .put_if(
                    key,
                    body(format!("racer {racer}")),
                    "application/json",
                    precondition,
                )
                .await
                .unwrap();
            (racer, written)
        }
    }))
    .await;
    let winners: Vec<usize> = outcomes
        .iter()
        .filter(|(_, written)| *written == Written::Yes)
        .map(|(racer, _)| *racer)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let stored = store.get(key).await.unwrap().unwrap();
    assert_eq!(stored, format!("racer {}", winners[0]));
}

#[tokio::test]
async fn of_many_concurrent_creators_exactly_one_wins() {
    let seaweed = start_seaweed().await;
    let store = store(&seaweed).await;
    let key = "stac/catalog.json";
    let outcomes = join_all((0..RACERS).map(|racer| {
        let store = store.clone();
        async move {
            store
                .put_if(
                    key,
                    body(format!("racer {racer}")),
                    "application/json",
                    Precondition::Absent,
                )
                .await
                .unwrap()
        }
    }))
    .await;
    let winners = outcomes
        .iter()
        .filter(|written| **written == Written::Yes)
        .count();
    assert_eq!(winners, 1, "{outcomes:?}");
}

#[tokio::test]
async fn concurrent_additions_to_one_collection_lose_no_link() {
    let seaweed = start_seaweed().await;
    let store = store(&seaweed).await;
    let config = catalogue_config(&seaweed);
    let layout = layout_of(&config);
    let collection = config.collection_for("footprint");
    let products = products_with_footprints();
    assert!(products.len() >= RACERS);
    let client = nrt_s3::client(&seaweed.config()).await;
    let mut jobs = Vec::new();
    for name in &products[..RACERS] {
        jobs.push(footprint_job(&client, &[name]).await);
    }
    let items: Vec<_> = jobs
        .iter()
        .map(|job| {
            let context = ItemContext {
                collection: &collection,
                layout: &layout,
                sidecar_path: &config.sidecar_path,
            };
            build_item(job, &context).unwrap()
        })
        .collect();

    let results = join_all(
        items
            .iter()
            .map(|item| catalogue::add_item(&store, &layout, &collection, item)),
    )
    .await;
    for result in results {
        result.unwrap();
    }

    let document = serde_json::from_slice::<serde_json::Value>(
        &store
            .get(&layout.collection_key("footprint"))
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    let linked: BTreeSet<String> = hrefs(&document, "item").into_iter().collect();
    let expected: BTreeSet<String> = items
        .iter()
        .map(|item| format!("./items/{}.json", item.id))
        .collect();
    assert_eq!(linked, expected);
    assert_eq!(hrefs(&document, "item").len(), RACERS, "no link twice");
    validator().validate_collection(&document).unwrap();
}

#[tokio::test]
async fn two_publishers_on_one_collection_lose_no_item_link() {
    const JOBS: usize = 12;
    let harness = Harness::start(2).await;
    let mut published = EventTap::open(
        &harness.js,
        streams::CATALOGUE.name,
        "catalogue.published.>",
    )
    .await
    .unwrap();
    let products = products_with_footprints();
    for name in &products[..JOBS] {
        let job = harness.job(&[name]).await;
        harness.publisher.publish(job).await.unwrap();
    }
    let mut announced = BTreeSet::new();
    for _ in 0..JOBS {
        let event = published.next::<ItemPublished>(WAIT).await.unwrap().data;
        announced.insert(event.item_id);
    }
    assert_eq!(announced.len(), JOBS);

    let collection = harness
        .read(
            CATALOGUE_BUCKET,
            &format!("{PREFIX}/footprint/collection.json"),
        )
        .await;
    let linked: BTreeSet<String> = hrefs(&collection, "item").into_iter().collect();
    let expected: BTreeSet<String> = announced
        .iter()
        .map(|id| format!("./items/{id}.json"))
        .collect();
    assert_eq!(linked, expected);
    assert_eq!(hrefs(&collection, "item").len(), JOBS, "no link twice");
    let catalog = harness
        .read(CATALOGUE_BUCKET, &format!("{PREFIX}/catalog.json"))
        .await;
    assert_eq!(hrefs(&catalog, "child"), ["./footprint/collection.json"]);
    harness.stop().await;
}
