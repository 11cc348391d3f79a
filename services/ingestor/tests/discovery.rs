//! Products from the replayed CDSE feed become `products.discovered` events: every one exactly
//! once across polls and restarts, ties at the cursor included, and malformed entries in the DLQ.

mod common;

use std::collections::{BTreeSet, HashSet};

use common::*;
use nrt_cdse_replay::{Fault, ReleaseSchedule, ReplayFeed, ReplayOptions};
use nrt_events::DeadLetter;
use serde_json::{Value, json};

#[tokio::test]
async fn every_recorded_product_is_discovered_once_across_polls_and_a_restart() {
    let nats = nats().await;
    let replay = ReplayFeed::recorded()
        .start(ReplayOptions {
            schedule: ReleaseSchedule::Manual { visible: 15 },
            ..ReplayOptions::default()
        })
        .await
        .unwrap();
    let mut wire = WireTap::open(&nats).await;
    let mut tap = products_tap(&nats).await;
    let config = config(&nats, vec![replay_feed("cdse", &replay)]);

    let ingestor = Ingestor::start(config.clone());
    let mut products = next_products(&mut tap, 15).await;
    replay.release(10);
    products.extend(next_products(&mut tap, 10).await);
    ingestor.stop().await;

    let ingestor = Ingestor::start(config);
    replay.release(14);
    products.extend(next_products(&mut tap, 14).await);

    let sent = wire.keys_until_quiet().await;
    ingestor.stop().await;
    assert_eq!(sent.len(), 39, "the cursor alone kept repeats off the wire");
    assert_eq!(stored_product_count(&nats).await, 39);

    let golden = golden_products();
    assert_eq!(products.len(), golden.len());
    for product in products {
        let mut expected = golden[&product.key].clone();
        expected.href = Some(format!(
            "{}/Products({})/$value",
            replay.url(),
            expected.feed_id
        ));
        assert_eq!(product, expected);
    }
    let newest = golden.values().map(|p| p.published_at).max().unwrap();
    assert_eq!(
        stored_cursor(&nats, "cdse").await.unwrap().published_at,
        newest
    );
}

/// An entity like the recorded S2 L1C ones, with its own id and publication time.
fn entity(template: &Value, index: usize, published: &str) -> Value {
    let mut entity = template.clone();
    entity["Id"] = json!(format!("00000000-0000-4000-8000-{index:012}"));
    entity["Name"] = json!(format!("S2A_MSIL1C_TIE_{index}.SAFE"));
    entity["PublicationDate"] = json!(published);
    entity
}

#[tokio::test]
async fn products_tied_at_the_cursor_across_a_page_boundary_are_each_discovered_once() {
    let template: Value = ReplayFeed::recorded()
        .entities()
        .map(|raw| serde_json::from_str::<Value>(raw.get()).unwrap())
        .find(|entity| entity["Name"].as_str().unwrap().starts_with("S2A_MSIL1C"))
        .unwrap();
    let tied = "2026-01-01T10:00:00.250000Z";
    let mut entities = vec![entity(&template, 0, "2026-01-01T09:00:00Z")];
    entities.extend((1..=5).map(|index| entity(&template, index, tied)));
    entities.push(entity(&template, 6, "2026-01-01T11:00:00Z"));
    // Pages of two: [0, 1] [2, 3] [4, 5] [6]; the first release stops inside the tie.
    let replay = ReplayFeed::from_products(entities)
        .unwrap()
        .start(ReplayOptions {
            schedule: ReleaseSchedule::Manual { visible: 3 },
            ..ReplayOptions::default()
        })
        .await
        .unwrap();
    let nats = nats().await;
    let mut wire = WireTap::open(&nats).await;
    let mut tap = products_tap(&nats).await;
    let mut feed = replay_feed("ties", &replay);
    feed.odata_mut().unwrap().page_size = 2;
    let config = config(&nats, vec![feed]);

    let ingestor = Ingestor::start(config.clone());
    next_products(&mut tap, 3).await;
    ingestor.stop().await;
    let cursor = stored_cursor(&nats, "ties").await.unwrap();
    assert_eq!(
        cursor.published_at,
        tied.parse::<chrono::DateTime<chrono::Utc>>().unwrap()
    );
    assert_eq!(cursor.ids_at_cursor.len(), 2, "{cursor:?}");

    // The restart asks `ge` the tied time again: the two seen ties come back and are skipped.
    replay.release(4);
    let ingestor = Ingestor::start(config);
    next_products(&mut tap, 4).await;
    let sent = wire.keys_until_quiet().await;
    ingestor.stop().await;

    let distinct: BTreeSet<&String> = sent.iter().collect();
    assert_eq!((sent.len(), distinct.len()), (7, 7), "{sent:?}");
    assert_eq!(stored_product_count(&nats).await, 7);
    assert!(
        replay.requests().iter().any(|request| request
            .url
            .contains("PublicationDate+ge+2026-01-01T10%3A00%3A00.250000Z")),
        "a poll started at the tied time"
    );
}

#[tokio::test]
async fn an_entry_missing_a_field_goes_to_the_dlq_whole_and_the_others_are_discovered() {
    let nats = nats().await;
    let replay = ReplayFeed::recorded()
        .start(ReplayOptions::default())
        .await
        .unwrap();
    replay.inject(Fault::EntryWithout("ContentDate".into()), 1);
    let first: Value =
        serde_json::from_str(ReplayFeed::recorded().entities().next().unwrap().get()).unwrap();
    let mut tap = products_tap(&nats).await;
    let mut dead_letters = dead_letters_tap(&nats).await;
    let ingestor = Ingestor::start(config(&nats, vec![replay_feed("cdse", &replay)]));

    let letter: DeadLetter = dead_letters.next(WAIT).await.unwrap().data;
    let mut expected = first.clone();
    expected.as_object_mut().unwrap().remove("ContentDate");
    assert_eq!(
        serde_json::from_str::<Value>(&letter.payload).unwrap(),
        expected
    );
    assert_eq!(
        letter.error,
        format!(
            "product {}: ContentDate is missing or not an object",
            first["Name"].as_str().unwrap()
        )
    );
    assert!(
        letter
            .subject
            .starts_with(&format!("GET {}/Products?", replay.url()))
    );
    assert_eq!(letter.service, "ingestor");

    let products = next_products(&mut tap, 38).await;
    ingestor.stop().await;
    let keys: HashSet<&str> = products.iter().map(|p| p.feed_id.as_str()).collect();
    assert_eq!(keys.len(), 38);
    assert!(!keys.contains(first["Id"].as_str().unwrap()));
    assert!(tap.drain_raw(QUIET).await.is_empty());
    assert!(dead_letters.drain_raw(QUIET).await.is_empty());
    let newest = golden_products()
        .values()
        .map(|p| p.published_at)
        .max()
        .unwrap();
    assert_eq!(
        stored_cursor(&nats, "cdse").await.unwrap().published_at,
        newest
    );
}
