//! What the notifier's integration tests share: a webhook receiver that verifies every request
//! with `notifier::signature::verify`, a test configuration, and waits with deadlines.

#![allow(dead_code)] // Each test binary uses its own part of this module.

pub mod events;

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use notifier::{
    Config, DeliveryConfig, WebhookConfig,
    notification::EventKind,
    signature::{self, SigningKey, VerifyError},
};
use nrt_nats::{
    NatsConfig,
    async_nats::jetstream::{self, consumer::pull},
};
use nrt_runtime::{HealthConfig, Secret};
use tokio::sync::Notify;

pub const WAIT: Duration = Duration::from_secs(20);

/// What a receiver answers to one request; the last answer of a script repeats.
#[derive(Debug, Clone)]
pub enum Answer {
    Status(u16),
    StatusWithRetryAfter(u16, &'static str),
    /// Answers 200 only after this long: longer than a webhook's timeout, it never arrives.
    Hang(Duration),
}

/// A request as the receiver saw it, with the verdict of `verify`.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub verified: Result<(), VerifyError>,
    pub answered: u16,
}

struct Inner {
    key: SigningKey,
    script: Mutex<VecDeque<Answer>>,
    received: Mutex<Vec<Received>>,
    arrived: Notify,
}

/// A local webhook endpoint.
pub struct Receiver {
    pub address: SocketAddr,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Receiver {
    pub async fn start(secret: &str, script: &[Answer]) -> Self {
        let inner = Arc::new(Inner {
            key: secret.parse().unwrap(),
            script: Mutex::new(script.iter().cloned().collect()),
            received: Mutex::new(Vec::new()),
            arrived: Notify::new(),
        });
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            address,
            inner,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Waits until at least `count` requests arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let arrived = self.inner.arrived.notified();
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("{} requests arrived, wanted {count}", self.received().len());
            }
        }
    }
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let verified = signature::verify(
        &inner.key,
        &headers,
        &body,
        SystemTime::now(),
        signature::DEFAULT_TOLERANCE,
    );
    let answer = {
        let mut script = inner.script.lock().unwrap();
        if script.len() > 1 {
            script.pop_front().unwrap()
        } else {
            script.front().cloned().unwrap_or(Answer::Status(200))
        }
    };
    let (status, retry_after, pause) = match (&verified, answer) {
        (Err(_), _) => (401, None, None),
        (Ok(()), Answer::Status(status)) => (status, None, None),
        (Ok(()), Answer::StatusWithRetryAfter(status, value)) => (status, Some(value), None),
        (Ok(()), Answer::Hang(pause)) => (200, None, Some(pause)),
    };
    // Recorded before answering: a client that gives up on a hanging answer drops this future.
    inner.received.lock().unwrap().push(Received {
        headers,
        body,
        verified,
        answered: status,
    });
    inner.arrived.notify_waiters();
    if let Some(pause) = pause {
        tokio::time::sleep(pause).await;
    }
    let mut response = StatusCode::from_u16(status).unwrap().into_response();
    if let Some(value) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static(value));
    }
    response
}

pub const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
pub const OTHER_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub fn webhook(name: &str, receiver: &Receiver, events: &[EventKind]) -> WebhookConfig {
    WebhookConfig {
        name: name.into(),
        url: receiver.url().parse().unwrap(),
        secret: Secret::new(SECRET),
        events: events.iter().copied().collect(),
        collections: None,
        processors: None,
        timeout: Duration::from_secs(5),
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
    }
}

pub fn config(nats_url: String, delivery: DeliveryConfig, webhooks: Vec<WebhookConfig>) -> Config {
    Config {
        nats: NatsConfig::local(nats_url),
        telemetry: Default::default(),
        health: HealthConfig { listen: None },
        concurrency: 4,
        delivery,
        webhooks,
    }
}

/// Waits until the consumer has acknowledged (or terminated) everything up to `sequence`: after
/// that the message is never handled again, so request counts are final.
pub async fn wait_until_settled(
    js: &jetstream::Context,
    stream: &str,
    durable: &str,
    sequence: u64,
) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(consumer) = js
            .get_consumer_from_stream::<pull::Config, _, _>(durable, stream)
            .await
            && let Ok(info) = consumer.get_info().await
            && info.ack_floor.stream_sequence >= sequence
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{durable} did not settle stream sequence {sequence} in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
