//! Subscriptions' durable consumers on a real nats-server: where a new one starts, that a
//! restart keeps its place, and what `nrtmesh streams apply` declares from a configuration.

mod support;

use std::collections::BTreeSet;

use chrono::Utc;
use notifier::{consumers, notification::EventKind};
use nrt_events::{Envelope, EventData, Severity};
use nrt_nats::{NatsServer, Publisher, TopologyOptions, apply_topology};
use support::{
    CATALOGUE, Running, SECRET, config, consumer_info, delivery, events, receiver::Receiver,
    wait_until_settled, webhook,
};

const ITEMS: &[EventKind] = &[EventKind::ItemPublished];
const PUBLISHER: &str = "/nrt-mesh/catalogue-publisher";

async fn publish<T: EventData>(publisher: &Publisher, data: T) -> (String, u64) {
    let event = Envelope::new(PUBLISHER, data);
    let ack = publisher.publish_envelope(&event).await.unwrap();
    (event.id, ack.sequence)
}

#[tokio::test]
async fn a_new_subscription_is_told_what_happens_from_its_start_not_the_stream_s_history() {
    let nats = NatsServer::start().await;
    let js = nats.jetstream().await;
    apply_topology(&js, TopologyOptions::default())
        .await
        .unwrap();
    let publisher = Publisher::new(js.clone(), "test");
    publish(&publisher, events::item("snow")).await;

    let receiver = Receiver::start(SECRET, &[]).await;
    let subscriptions = vec![webhook("new", &receiver.url(), ITEMS)];
    let config = config(nats.url(), delivery(3, 5), subscriptions);
    let running = Running::start_on(nats, config).await;
    let (id, sequence) = publish(&running.publisher, events::item("ice")).await;
    wait_until_settled(&running.js, CATALOGUE, "new", sequence).await;

    assert_eq!(receiver.accepted_ids(), [id]);
    running.stop().await;
}

#[tokio::test]
async fn a_restarted_notifier_resumes_where_its_consumers_were() {
    let receiver = Receiver::start(SECRET, &[]).await;
    let subscriptions = vec![webhook("steady", &receiver.url(), ITEMS)];
    let running = Running::start(delivery(3, 5), subscriptions.clone()).await;
    let (first, sequence) = publish(&running.publisher, events::item("snow")).await;
    wait_until_settled(&running.js, CATALOGUE, "steady", sequence).await;
    let nats = running.stop_keeping_server().await;
    let publisher = Publisher::new(nats.jetstream().await, "test");

    // Published while no notifier runs: the consumer keeps it for the next one.
    let (second, sequence) = publish(&publisher, events::item("ice")).await;
    let config = config(nats.url(), delivery(3, 5), subscriptions);
    let running = Running::start_on(nats, config).await;
    wait_until_settled(&running.js, CATALOGUE, "steady", sequence).await;

    assert_eq!(receiver.accepted_ids(), [first, second]);
    running.stop().await;
}

#[tokio::test]
async fn streams_apply_declares_each_subscription_s_consumers_narrowed_to_its_subjects() {
    let nats = NatsServer::start().await;
    let js = nats.jetstream().await;
    apply_topology(&js, TopologyOptions::default())
        .await
        .unwrap();
    let mut on_call = webhook(
        "on-call",
        "https://hooks.example.org/",
        &[EventKind::JobDead, EventKind::Alert],
    );
    on_call.min_severity = Some(Severity::Critical);
    let mut snow = webhook("snow", "https://hooks.example.org/", ITEMS);
    snow.collections = Some(BTreeSet::from(["snow".to_owned()]));
    let config = config(nats.url(), delivery(3, 5), vec![on_call, snow]);

    consumers::declare_all(&js, &config, Utc::now())
        .await
        .unwrap();
    // Declaring again (another replica, a redeploy) changes nothing.
    consumers::declare_all(&js, &config, Utc::now())
        .await
        .unwrap();

    let subjects = |stream: &'static str, durable: &'static str| {
        let js = js.clone();
        async move {
            let info = consumer_info(&js, stream, durable).await;
            info.config
                .filter_subjects
                .into_iter()
                .collect::<BTreeSet<_>>()
        }
    };
    assert_eq!(
        subjects("JOBS", "notifier-on-call").await,
        BTreeSet::from(["jobs.dead.>".to_owned()])
    );
    assert_eq!(
        subjects("ALERTS", "notifier-on-call").await,
        BTreeSet::from(["alerts.critical.>".to_owned()])
    );
    assert_eq!(
        subjects(CATALOGUE, "notifier-snow").await,
        BTreeSet::from(["catalogue.published.snow".to_owned()])
    );
}
