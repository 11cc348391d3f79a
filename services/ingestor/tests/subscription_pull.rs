//! A CDSE pull subscription against the replay's queue and a real JetStream: every batch is
//! acknowledged only after its products are stored, a batch whose acknowledgement never arrives
//! is read again and stored once, and unreadable notifications go to the dead-letter queue
//! without blocking the queue.

mod common;

use std::{collections::HashMap, time::Duration};

use common::*;
use ingestor::{
    FeedConfig, MeshSink, SourceConfig,
    auth::Credentials,
    odata::OdataSource,
    subscription::{PullSource, SubscriptionPuller},
};
use nrt_cdse_replay::{Account, Fault, ReplayFeed, ReplayOptions, RunningReplay};
use nrt_events::{Alert, DeadLetter, ProductDiscovered, streams};
use nrt_nats::{Mesh, NatsConfig, NatsServer};
use nrt_runtime::{Readiness, Secret};
use url::Url;

const SUBSCRIPTION: &str = "991c4730-cf6f-432a-9f6c-47be0230ff45";

async fn replay() -> RunningReplay {
    let replay = ReplayFeed::recorded()
        .start(ReplayOptions {
            // CDSE serves subscriptions only with a token.
            account: Some(Account {
                username: "ops@example.org".into(),
                password: "correct horse".into(),
                access_lifetime: Duration::from_secs(600),
                refresh_lifetime: Duration::from_secs(3600),
            }),
            ..ReplayOptions::default()
        })
        .await
        .unwrap();
    replay.open_subscription(SUBSCRIPTION);
    replay
}

fn pull_source(replay: &RunningReplay, subscription: &str, top: usize) -> PullSource {
    let mut catalogue = OdataSource::new(Url::parse(&replay.url()).unwrap());
    catalogue.credentials = Some(Credentials {
        token_url: Url::parse(&replay.token_url()).unwrap(),
        client_id: "cdse-public".into(),
        username: "ops@example.org".into(),
        password: Secret::new("correct horse"),
    });
    PullSource {
        subscription_id: subscription.into(),
        top,
        catalogue,
    }
}

fn pull_feed(source: PullSource) -> FeedConfig {
    quick(FeedConfig::new("pull", SourceConfig::CdsePull(source)))
}

/// The golden products in the replay's order (publication time, then id), as the pull feed
/// names them; `replay_url` makes their download links.
fn golden_in_queue_order(replay_url: &str) -> Vec<ProductDiscovered> {
    let mut products: Vec<ProductDiscovered> = golden_products().into_values().collect();
    products.sort_by(|a, b| (a.published_at, &a.feed_id).cmp(&(b.published_at, &b.feed_id)));
    for product in &mut products {
        product.feed = "pull".into();
        product.href = Some(format!("{replay_url}/Products({})/$value", product.feed_id));
    }
    products
}

/// When JetStream stored each product, by key, in nanoseconds since the epoch.
async fn stored_at(nats: &NatsServer) -> HashMap<String, i128> {
    let stream = nats
        .jetstream()
        .await
        .get_stream(streams::PRODUCTS.name)
        .await
        .unwrap();
    let mut times = HashMap::new();
    for sequence in 1..=stored_product_count(nats).await {
        let message = stream.get_raw_message(sequence).await.unwrap();
        times.insert(
            product(&message.payload).key,
            message.time.unix_timestamp_nanos(),
        );
    }
    times
}

#[tokio::test]
async fn batches_are_acknowledged_only_after_every_product_of_them_is_stored() {
    let nats = nats().await;
    let replay = replay().await;
    // 25 fresh notifications, then 5 past CDSE's three days (id only, read from the catalogue).
    let mut ack_ids = replay.notify_created(0..25, true);
    ack_ids.extend(replay.notify_created(25..30, false));
    let mut tap = products_tap(&nats).await;
    let ingestor = Ingestor::start(config(
        &nats,
        vec![pull_feed(pull_source(&replay, SUBSCRIPTION, 10))],
    ));
    let mut stored = next_products(&mut tap, 30).await;
    eventually("the queue is emptied", async || {
        replay.queued_notifications() == 0
    })
    .await;
    ingestor.stop().await;

    let expected = golden_in_queue_order(&replay.url());
    stored.sort_by(|a, b| (a.published_at, &a.feed_id).cmp(&(b.published_at, &b.feed_id)));
    assert_eq!(stored, expected[..30]);
    let acknowledged = replay.acknowledgements();
    let acks: Vec<(&str, usize)> = acknowledged
        .iter()
        .map(|ack| (ack.ack_id.as_str(), ack.removed))
        .collect();
    assert_eq!(
        acks,
        [
            (ack_ids[9].as_str(), 10),
            (ack_ids[19].as_str(), 10),
            (ack_ids[29].as_str(), 10)
        ],
        "one acknowledgement per batch, by its last AckId"
    );
    let times = stored_at(&nats).await;
    for (batch, ack) in acknowledged.iter().enumerate() {
        let acked_at = i128::from(ack.received_at_utc.timestamp_nanos_opt().unwrap());
        for product in &expected[..(batch + 1) * 10] {
            assert!(
                times[&product.key] <= acked_at,
                "{} was stored after the acknowledgement covering it",
                product.key
            );
        }
    }
    assert_eq!(stored_product_count(&nats).await, 30);
}

#[tokio::test]
async fn a_batch_whose_acknowledgement_never_arrived_is_read_again_and_stored_once() {
    let nats = nats().await;
    let replay = replay().await;
    let ack_ids = replay.notify_created(0..5, true);
    let source = pull_source(&replay, SUBSCRIPTION, 20);
    let feed = pull_feed(source.clone());
    let mesh = Mesh::connect(
        ingestor::SERVICE,
        &NatsConfig::local(nats.url()),
        Readiness::default(),
    )
    .await
    .unwrap();
    let recording = RecordingSink::new(MeshSink::new(&mesh));

    // First life: the products are stored, then every attempt to acknowledge fails (the first
    // and its one retry), and the process is gone.
    replay.fail_acks(Fault::Status(503), 2);
    let first = SubscriptionPuller::new(&feed, &source, recording.clone()).unwrap();
    let error = first.round().await.unwrap_err();
    assert!(error.to_string().contains("answered 503"), "{error}");
    drop(first);
    let first_life = recording.take();
    assert_eq!(first_life.len(), 5);
    assert!(first_life.iter().all(|(_, is_new, _)| *is_new));
    assert!(replay.acknowledgements().is_empty());
    assert_eq!(
        replay.queued_notifications(),
        5,
        "CDSE still holds the batch"
    );

    // Second life: the same batch comes back; JetStream calls every product a repeat.
    let second = SubscriptionPuller::new(&feed, &source, recording.clone()).unwrap();
    let report = second.round().await.unwrap();
    assert_eq!((report.notifications, report.new), (5, 0));
    let second_life = recording.take();
    assert!(second_life.iter().all(|(_, is_new, _)| !is_new));
    assert_eq!(stored_product_count(&nats).await, 5, "one event each");
    let acknowledged = replay.acknowledgements();
    assert_eq!(acknowledged.len(), 1);
    assert_eq!(
        (acknowledged[0].ack_id.as_str(), acknowledged[0].removed),
        (ack_ids[4].as_str(), 5)
    );
    assert!(
        second_life
            .iter()
            .all(|(_, _, puback)| *puback <= acknowledged[0].received_at),
        "acknowledged after the last PubAck"
    );
    assert_eq!(replay.queued_notifications(), 0);
}

#[tokio::test]
async fn an_unreadable_notification_is_dead_lettered_and_acknowledged_with_the_batch() {
    let nats = nats().await;
    let replay = replay().await;
    let unreadable = format!(
        r#"{{"@odata.context":"$metadata#Notification/$entity","SubscriptionEvent":"archived","ProductId":"d2ff986b-9454-43d6-95e0-1a0ae27019d7","SubscriptionId":"{SUBSCRIPTION}","NotificationDate":"2024-03-13T13:39:59.000Z","AckId":"MTcxMDc1NjcwNjY2NC0wOjk5MWM0NzMwLWNmNmYtNDMyYS05ZjZjLTQ3YmUwMjMwZmY0NQ=="}}"#
    );
    replay.enqueue(serde_json::value::RawValue::from_string(unreadable.clone()).unwrap());
    let ack_ids = replay.notify_created(0..1, true);
    let mut dead_letters = dead_letters_tap(&nats).await;
    let mut tap = products_tap(&nats).await;
    let ingestor = Ingestor::start(config(
        &nats,
        vec![pull_feed(pull_source(&replay, SUBSCRIPTION, 20))],
    ));
    let letter: DeadLetter = dead_letters.next(WAIT).await.unwrap().data;
    next_products(&mut tap, 1).await;
    eventually("the batch is acknowledged", async || {
        replay.queued_notifications() == 0
    })
    .await;
    ingestor.stop().await;

    assert_eq!(letter.payload, unreadable, "kept byte for byte");
    assert_eq!(
        letter.error,
        "notification for product id d2ff986b-9454-43d6-95e0-1a0ae27019d7: SubscriptionEvent is \
         not one of created, modified, deleted"
    );
    assert!(
        letter.subject.starts_with(&format!(
            "GET {}/Subscriptions({SUBSCRIPTION})/Read?%24top=20",
            replay.url()
        )),
        "{}",
        letter.subject
    );
    let acknowledged = replay.acknowledgements();
    assert_eq!(
        acknowledged
            .iter()
            .map(|ack| (ack.ack_id.as_str(), ack.removed))
            .collect::<Vec<_>>(),
        [(ack_ids[0].as_str(), 2)],
        "one acknowledgement past both"
    );
}

#[tokio::test]
async fn a_subscription_that_does_not_exist_fails_the_feed_with_its_id_named() {
    let nats = nats().await;
    let replay = replay().await;
    let missing = "7ca682c3-7b21-4e9b-952e-874798101340";
    let mut alerts = failing_alerts_tap(&nats).await;
    let ingestor = Ingestor::start(config(
        &nats,
        vec![pull_feed(pull_source(&replay, missing, 20))],
    ));
    let alert: Alert = alerts.next(WAIT).await.unwrap().data;
    ingestor.stop().await;
    assert_eq!(alert.about, "pull");
    assert!(
        alert.message.starts_with(&format!(
            "feed pull failed 2 polls in a row; last error: subscription {missing} does not \
             exist at {}/Subscriptions({missing})/Read?%24top=20 (cancelled, or owned by another \
             account)",
            replay.url()
        )),
        "{}",
        alert.message
    );
    assert!(
        alert
            .message
            .contains(&format!("Subscription with id {missing} not found.")),
        "{}",
        alert.message
    );
}
