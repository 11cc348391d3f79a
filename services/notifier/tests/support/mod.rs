//! What the notifier's integration tests share: a webhook receiver that verifies every request
//! as a careful receiver would, the notifier running over a real nats-server, test
//! configurations, and waits with deadlines.

#![allow(dead_code)] // Each test binary uses its own part of this module.

pub mod events;
pub mod receiver;

use std::{collections::BTreeSet, time::Duration};

use bytes::Bytes;
use notifier::{
    Config, DeliveryConfig, SubscriptionConfig, config::WebhookConfig, consumers::durable_name,
    notification::EventKind,
};
use nrt_events::{Envelope, EventData, streams};
use nrt_nats::{
    NatsConfig, NatsServer, Publisher,
    async_nats::{
        HeaderMap,
        jetstream::{self, consumer::pull},
    },
};
use nrt_runtime::{HealthConfig, Secret, shutdown};

pub const WAIT: Duration = Duration::from_secs(20);

pub const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
pub const OTHER_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const UNKNOWN_SECRET: &str = "whsec_q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";

/// A subscription to `events` delivered to a webhook at `url`, signed with [`SECRET`].
pub fn webhook(name: &str, url: &str, events: &[EventKind]) -> SubscriptionConfig {
    SubscriptionConfig {
        name: name.into(),
        events: events.iter().copied().collect::<BTreeSet<_>>(),
        collections: None,
        processors: None,
        area_of_interest: None,
        min_severity: None,
        alert_kinds: None,
        webhook: Some(WebhookConfig {
            url: url.parse().unwrap(),
            secrets: vec![Secret::new(SECRET)],
        }),
        slack: None,
        email: None,
        timeout: Duration::from_secs(5),
        digest: None,
    }
}

/// Quick attempts and redeliveries in fractions of a second, so retries finish within a test.
pub fn delivery(attempts: usize, max_deliveries: i64) -> DeliveryConfig {
    DeliveryConfig {
        attempts,
        first_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        redelivery_delays: vec![Duration::from_millis(200)],
        max_deliveries,
        digest_max_events: 100,
    }
}

pub fn config(
    nats_url: String,
    delivery: DeliveryConfig,
    subscriptions: Vec<SubscriptionConfig>,
) -> Config {
    Config {
        nats: NatsConfig::local(nats_url),
        telemetry: Default::default(),
        health: HealthConfig { listen: None },
        concurrency: 4,
        delivery,
        smtp: None,
        subscriptions,
        // Running as deployed: nothing here has a deadline or a feed cadence for it to report.
        watchdog: Default::default(),
    }
}

/// The notifier running over its own nats-server.
pub struct Running {
    pub nats: NatsServer,
    pub js: jetstream::Context,
    pub publisher: Publisher,
    stop: shutdown::Trigger,
    pub service: tokio::task::JoinHandle<Result<(), notifier::Error>>,
}

impl Running {
    /// Starts a nats-server and the notifier, and waits until every subscription's consumers
    /// are declared.
    pub async fn start(delivery: DeliveryConfig, subscriptions: Vec<SubscriptionConfig>) -> Self {
        let nats = NatsServer::start().await;
        let config = config(nats.url(), delivery, subscriptions);
        Self::start_on(nats, config).await
    }

    /// Starts the notifier with `config` on `nats`.
    pub async fn start_on(nats: NatsServer, config: Config) -> Self {
        let (stop, shutdown) = shutdown::manual();
        let subscriptions = config.subscriptions.clone();
        let service = tokio::spawn(notifier::run(config, shutdown));
        let js = nats.jetstream().await;
        for subscription in &subscriptions {
            for stream in streams_of(subscription) {
                let durable = durable_name(&subscription.name);
                eventually(&format!("consumer {durable} on {stream}"), || async {
                    js.get_consumer_from_stream::<pull::Config, _, _>(&durable, stream)
                        .await
                        .is_ok()
                })
                .await;
            }
        }
        Self {
            publisher: Publisher::new(js.clone(), "test"),
            js,
            nats,
            stop,
            service,
        }
    }

    /// Publishes `data` as its producer would; returns the event, its body and stream sequence.
    pub async fn publish<T: EventData>(&self, source: &str, data: T) -> (Envelope<T>, Bytes, u64) {
        let event = Envelope::new(source, data);
        let body = Bytes::from(event.to_json());
        let ack = self
            .publisher
            .publish_raw(event.subject(), &event.id, body.clone())
            .await
            .unwrap();
        (event, body, ack.sequence)
    }

    /// Publishes `data` inside the trace `traceparent`, as a traced producer would.
    pub async fn publish_traced<T: EventData>(
        &self,
        source: &str,
        data: T,
        traceparent: &str,
    ) -> Envelope<T> {
        let event = Envelope::new(source, data);
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", event.id.as_str());
        headers.insert("traceparent", traceparent);
        self.js
            .publish_with_headers(event.subject(), headers, Bytes::from(event.to_json()))
            .await
            .unwrap()
            .await
            .unwrap();
        event
    }

    pub async fn stop(self) {
        self.stop_keeping_server().await;
    }

    /// Stops the notifier (it drains) and hands back its nats-server, still running.
    pub async fn stop_keeping_server(self) -> NatsServer {
        self.stop.trigger();
        self.service.await.unwrap().unwrap();
        self.nats
    }
}

fn streams_of(subscription: &SubscriptionConfig) -> BTreeSet<&'static str> {
    subscription
        .events
        .iter()
        .map(|kind| kind.stream().name)
        .collect()
}

/// Polls `condition` until it holds; fails the test after [`WAIT`].
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The consumer `durable` on `stream`, as the server sees it now.
pub async fn consumer_info(
    js: &jetstream::Context,
    stream: &str,
    durable: &str,
) -> jetstream::consumer::Info {
    let mut consumer = js
        .get_consumer_from_stream::<pull::Config, _, _>(durable, stream)
        .await
        .unwrap();
    consumer.info().await.unwrap().clone()
}

/// Waits until subscription `name`'s consumer on `stream` has acknowledged (or terminated)
/// everything up to `sequence`: after that nothing is handled again, so counts are final.
pub async fn wait_until_settled(js: &jetstream::Context, stream: &str, name: &str, sequence: u64) {
    let durable = durable_name(name);
    eventually(
        &format!("{durable} settling stream sequence {sequence}"),
        || async {
            let info = consumer_info(js, stream, &durable).await;
            info.ack_floor.stream_sequence >= sequence
        },
    )
    .await;
}

pub const CATALOGUE: &str = streams::CATALOGUE.name;
pub const JOBS: &str = streams::JOBS.name;
