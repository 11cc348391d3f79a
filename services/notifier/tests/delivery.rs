//! The notifier service over a real nats-server, delivering to local receivers that verify every
//! request's signature.

mod support;

use std::time::Duration;

use bytes::Bytes;
use notifier::{ITEMS, JOB_OUTCOMES, notification::EventKind, signature};
use nrt_events::{Alert, DeadLetter, Envelope, EventData, streams};
use nrt_nats::{EventTap, NatsServer, Publisher};
use nrt_runtime::shutdown;
use support::{
    Answer, Receiver, WAIT, config, delivery,
    events::{item, job_dead, job_failed},
    wait_until_settled, webhook,
};

struct Running {
    nats: NatsServer,
    publisher: Publisher,
    stop: shutdown::Trigger,
    service: tokio::task::JoinHandle<Result<(), notifier::Error>>,
}

impl Running {
    async fn start(
        nats: NatsServer,
        hooks: Vec<notifier::WebhookConfig>,
        delivery: notifier::DeliveryConfig,
    ) -> Self {
        let (stop, shutdown) = shutdown::manual();
        let service = tokio::spawn(notifier::run(config(nats.url(), delivery, hooks), shutdown));
        let js = nats.jetstream().await;
        // The notifier declares the streams as it starts; publishing waits for all of them.
        let deadline = tokio::time::Instant::now() + WAIT;
        for stream in streams::ALL {
            while js.get_stream(stream.name).await.is_err() {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{} not declared",
                    stream.name
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Self {
            publisher: Publisher::new(js, "test"),
            nats,
            stop,
            service,
        }
    }

    /// Publishes `data` as its producer would and returns the body and stream sequence.
    async fn publish<T: EventData>(&self, source: &str, data: T) -> (Envelope<T>, Bytes, u64) {
        let event = Envelope::new(source, data);
        let body = Bytes::from(event.to_json());
        let ack = self
            .publisher
            .publish_raw(event.subject(), &event.id, body.clone())
            .await
            .unwrap();
        (event, body, ack.sequence)
    }

    async fn stop(self) {
        self.stop.trigger();
        self.service.await.unwrap().unwrap();
    }
}

const ITEMS_ONLY: &[EventKind] = &[EventKind::ItemPublished];

#[tokio::test]
async fn a_published_item_is_posted_once_signed_and_unchanged() {
    let nats = NatsServer::start().await;
    let receiver = Receiver::start(support::SECRET, &[Answer::Status(200)]).await;
    let hooks = vec![webhook("snow-users", &receiver, ITEMS_ONLY)];
    let running = Running::start(nats, hooks, delivery(3, 5)).await;

    let (event, body, sequence) = running
        .publish("/nrt-mesh/catalogue-publisher", item("snow"))
        .await;
    wait_until_settled(
        &running.nats.jetstream().await,
        "CATALOGUE",
        ITEMS.durable,
        sequence,
    )
    .await;

    let [request] = receiver.received().try_into().unwrap();
    request.verified.unwrap();
    assert_eq!(request.body, body, "the CloudEvent is posted byte for byte");
    assert_eq!(request.headers[signature::ID_HEADER], event.id.as_str());
    assert_eq!(request.headers["content-type"], "application/json");
    running.stop().await;
}

#[tokio::test]
async fn a_failed_job_goes_only_to_webhooks_subscribed_to_failed_jobs() {
    let nats = NatsServer::start().await;
    let failures = Receiver::start(support::SECRET, &[Answer::Status(200)]).await;
    let deaths = Receiver::start(support::SECRET, &[Answer::Status(200)]).await;
    let items = Receiver::start(support::SECRET, &[Answer::Status(200)]).await;
    let hooks = vec![
        webhook("failures", &failures, &[EventKind::JobFailed]),
        webhook("deaths", &deaths, &[EventKind::JobDead]),
        webhook("items", &items, ITEMS_ONLY),
    ];
    let running = Running::start(nats, hooks, delivery(3, 5)).await;

    let (failed, failed_body, _) = running
        .publish("/nrt-mesh/processor-launcher", job_failed())
        .await;
    let (dead, _, last) = running
        .publish("/nrt-mesh/processor-launcher", job_dead())
        .await;
    wait_until_settled(
        &running.nats.jetstream().await,
        "JOBS",
        JOB_OUTCOMES.durable,
        last,
    )
    .await;

    let [request] = failures.received().try_into().unwrap();
    request.verified.unwrap();
    assert_eq!(request.body, failed_body);
    assert_eq!(request.headers[signature::ID_HEADER], failed.id.as_str());
    let [request] = deaths.received().try_into().unwrap();
    assert_eq!(request.headers[signature::ID_HEADER], dead.id.as_str());
    assert!(items.received().is_empty());
    running.stop().await;
}

#[tokio::test]
async fn a_webhook_back_from_an_outage_gets_the_event_once_and_a_healthy_one_is_not_sent_it_again()
{
    let nats = NatsServer::start().await;
    // Two quick attempts per handling: three 503s outlast the first handling of the event.
    let recovering = Receiver::start(
        support::SECRET,
        &[
            Answer::Status(503),
            Answer::Status(503),
            Answer::Status(503),
            Answer::Status(200),
        ],
    )
    .await;
    let healthy = Receiver::start(support::SECRET, &[Answer::Status(200)]).await;
    let hooks = vec![
        webhook("recovering", &recovering, ITEMS_ONLY),
        webhook("healthy", &healthy, ITEMS_ONLY),
    ];
    let running = Running::start(nats, hooks, delivery(2, 5)).await;

    let (event, body, sequence) = running
        .publish("/nrt-mesh/catalogue-publisher", item("snow"))
        .await;
    wait_until_settled(
        &running.nats.jetstream().await,
        "CATALOGUE",
        ITEMS.durable,
        sequence,
    )
    .await;

    let answers: Vec<u16> = recovering.received().iter().map(|r| r.answered).collect();
    assert_eq!(answers, [503, 503, 503, 200]);
    assert!(
        recovering
            .received()
            .iter()
            .all(|r| r.verified.is_ok() && r.body == body)
    );
    let [request] = healthy.received().try_into().unwrap();
    assert_eq!(request.headers[signature::ID_HEADER], event.id.as_str());
    running.stop().await;
}

#[tokio::test]
async fn a_rejecting_webhook_is_asked_once_and_raises_an_alert() {
    let nats = NatsServer::start().await;
    let missing = Receiver::start(support::SECRET, &[Answer::Status(404)]).await;
    let gone = Receiver::start(support::SECRET, &[Answer::Status(410)]).await;
    let healthy = Receiver::start(support::SECRET, &[Answer::Status(200)]).await;
    let hooks = vec![
        webhook("missing", &missing, ITEMS_ONLY),
        webhook("gone", &gone, ITEMS_ONLY),
        webhook("healthy", &healthy, ITEMS_ONLY),
    ];
    let running = Running::start(nats, hooks, delivery(3, 5)).await;
    let js = running.nats.jetstream().await;
    let mut alerts = EventTap::open(&js, "ALERTS", "alerts.warning.webhook-rejected")
        .await
        .unwrap();

    let (event, _, sequence) = running
        .publish("/nrt-mesh/catalogue-publisher", item("snow"))
        .await;
    wait_until_settled(&js, "CATALOGUE", ITEMS.durable, sequence).await;

    let mut about = Vec::new();
    for _ in 0..2 {
        let alert = alerts.next::<Alert>(WAIT).await.unwrap().data;
        assert_eq!(alert.service, "notifier");
        assert!(alert.message.contains(&event.id), "{}", alert.message);
        about.push(alert.about);
    }
    about.sort();
    assert_eq!(about, ["gone", "missing"]);
    assert_eq!((missing.received().len(), gone.received().len()), (1, 1));
    assert_eq!(healthy.received().len(), 1);
    // Settled, not dead-lettered: the endpoints refused, the event was fine.
    let mut dead_letters = EventTap::open(&js, "DLQ", "dlq.notifier").await.unwrap();
    assert!(
        dead_letters
            .drain_raw(Duration::from_millis(500))
            .await
            .is_empty()
    );
    running.stop().await;
}

#[tokio::test]
async fn a_malformed_event_is_dead_lettered_to_dlq_notifier() {
    let nats = NatsServer::start().await;
    let receiver = Receiver::start(support::SECRET, &[Answer::Status(200)]).await;
    let hooks = vec![webhook("snow-users", &receiver, ITEMS_ONLY)];
    let running = Running::start(nats, hooks, delivery(3, 5)).await;
    let js = running.nats.jetstream().await;
    let mut dead_letters = EventTap::open(&js, "DLQ", "dlq.notifier").await.unwrap();

    let body = Bytes::from_static(
        br#"{"specversion":"1.0","id":"x","type":"eu.nrtmesh.item.published.v1"}"#,
    );
    running
        .publisher
        .publish_raw(
            "catalogue.published.snow".into(),
            "malformed-1",
            body.clone(),
        )
        .await
        .unwrap();

    let letter = dead_letters.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert_eq!(letter.subject, "catalogue.published.snow");
    assert_eq!(letter.payload.as_bytes(), &body[..]);
    assert!(letter.error.contains("item-published"), "{}", letter.error);
    assert_eq!(letter.deliveries, Some(1));
    assert!(receiver.received().is_empty());
    running.stop().await;
}

#[tokio::test]
async fn an_event_no_webhook_can_take_is_dead_lettered_after_its_deliveries() {
    let nats = NatsServer::start().await;
    let down = Receiver::start(support::SECRET, &[Answer::Status(503)]).await;
    let hooks = vec![webhook("down", &down, ITEMS_ONLY)];
    let running = Running::start(nats, hooks, delivery(2, 3)).await;
    let js = running.nats.jetstream().await;
    let mut dead_letters = EventTap::open(&js, "DLQ", "dlq.notifier").await.unwrap();

    let (_, body, _) = running
        .publish("/nrt-mesh/catalogue-publisher", item("snow"))
        .await;

    let letter = dead_letters.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert_eq!(letter.deliveries, Some(3));
    assert!(
        letter.error.contains("gave up after 3 deliveries"),
        "{}",
        letter.error
    );
    assert!(
        letter.error.contains("webhook down not reached: HTTP 503"),
        "{}",
        letter.error
    );
    assert_eq!(letter.payload.as_bytes(), &body[..]);
    // Two quick attempts in each of three deliveries.
    assert_eq!(down.received().len(), 6);
    running.stop().await;
}
