//! `kind = "cdse-push"`: the endpoint CDSE POSTs a subscription's notifications to. A request is
//! answered only once what it says is settled: 2xx after every PubAck; 503 when publishing
//! failed, so that CDSE sends it again (it retries a failed push three times); 400 with the body
//! dead-lettered when it cannot be read, which no retry would change; 401 without the
//! subscription's credentials; 413 past `max_body_bytes`. A notification sent twice is published
//! twice under one id, and JetStream keeps it once.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Request, State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::Engine;
use nrt_nats::describe_error;
use nrt_runtime::{Secret, Shutdown};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

use super::{
    config::PushSource,
    notification::{NotificationReader, split_body},
};
use crate::{
    Error,
    config::FeedConfig,
    http::HttpClient,
    sink::{self, ProductSink},
    watchdog::{self, FeedHealth},
};

/// What CDSE is told when its credentials are missing or wrong.
const CHALLENGE: &str = r#"Basic realm="nrt-mesh ingestor", charset="UTF-8""#;

/// A bound endpoint, serving once [`PushEndpoint::serve`] runs.
pub struct PushEndpoint<S> {
    listener: TcpListener,
    receiver: Arc<Receiver<S>>,
    credentials: Arc<BasicCredentials>,
    path: String,
    max_body_bytes: usize,
    /// How often the feed's silence is checked against `stalled_after`.
    watch_every: Duration,
}

impl<S: ProductSink + 'static> PushEndpoint<S> {
    /// Binds `source.listen` now, so that a port in use stops the service at start.
    pub async fn bind(feed: &FeedConfig, source: &PushSource, sink: S) -> Result<Self, Error> {
        let listener = TcpListener::bind(source.listen)
            .await
            .map_err(|error| Error::Listen {
                feed: feed.name.clone(),
                address: source.listen,
                source: error,
            })?;
        let client = Arc::new(HttpClient::new(
            feed,
            source.catalogue.credentials.as_ref(),
        )?);
        Ok(Self {
            listener,
            receiver: Arc::new(Receiver::new(feed, source, sink, client)),
            credentials: Arc::new(BasicCredentials::new(&source.username, &source.password)),
            path: source.path.clone(),
            max_body_bytes: feed.max_body_bytes,
            watch_every: feed.poll_interval,
        })
    }

    /// Serves until `shutdown`; requests in flight finish (their PubAcks awaited) first.
    pub async fn serve(self, shutdown: Shutdown) {
        let app = Router::new()
            .route(&self.path, post(notify::<S>))
            // Credentials before the body: a stranger cannot make the endpoint read anything.
            .route_layer(middleware::from_fn_with_state(
                self.credentials.clone(),
                authenticate,
            ))
            .layer(DefaultBodyLimit::max(self.max_body_bytes))
            .with_state(self.receiver.clone());
        let feed = self.receiver.feed.clone();
        tracing::info!(feed, address = ?self.listener.local_addr().ok(), path = %self.path, "Receiving pushed notifications.");
        let stop = shutdown.clone();
        let serving = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { stop.requested().await });
        let (served, ()) = tokio::join!(serving, self.receiver.watch(self.watch_every, &shutdown));
        if let Err(error) = served {
            tracing::error!(feed, %error, "Notification endpoint stopped.");
        }
        tracing::info!(feed, "Stopped receiving pushed notifications.");
    }
}

/// The endpoint's work on one body, without HTTP.
pub struct Receiver<S> {
    feed: String,
    /// Where dead letters say the body came from.
    origin: String,
    reader: NotificationReader,
    sink: S,
    health: Mutex<FeedHealth>,
}

/// How a body was settled, and so what CDSE is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Every fact is in JetStream; `new` of them were not there before.
    Delivered { notifications: usize, new: u64 },
    /// The body, or a notification in it, cannot be read: dead-lettered with this reason, and
    /// whatever else it said delivered.
    Unreadable(String),
    /// Not everything could be settled; CDSE should send it again.
    Unavailable(String),
}

impl<S: ProductSink> Receiver<S> {
    pub fn new(feed: &FeedConfig, source: &PushSource, sink: S, client: Arc<HttpClient>) -> Self {
        Self {
            feed: feed.name.clone(),
            origin: format!("POST {} (feed {})", source.path, feed.name),
            reader: NotificationReader::new(&feed.name, &source.catalogue, client),
            sink,
            health: Mutex::new(FeedHealth::new(feed)),
        }
    }

    /// Settles `body` and keeps the feed's health: a streak of failures raises `feed-failing`.
    pub async fn receive(&self, body: &[u8]) -> Answer {
        let answer = self.settle(body).await;
        let feed = &self.feed;
        let alert = match &answer {
            Answer::Delivered { notifications, new } => {
                tracing::info!(feed, notifications, new, "Notifications delivered.");
                self.health().succeeded(*new as usize);
                None
            }
            Answer::Unreadable(reason) => {
                tracing::warn!(feed, reason, "Unreadable notification dead-lettered.");
                self.health().succeeded(0);
                None
            }
            Answer::Unavailable(reason) => {
                tracing::error!(
                    feed,
                    reason,
                    "Notifications not delivered; CDSE will retry."
                );
                self.health().failed(reason)
            }
        };
        if let Some(alert) = alert {
            watchdog::raise(&self.sink, feed, alert).await;
        }
        answer
    }

    async fn settle(&self, body: &[u8]) -> Answer {
        let notifications = match split_body(body) {
            Ok(notifications) => notifications,
            Err(error) => {
                let reason = format!("the body is not a CDSE notification: {error}");
                return match self.sink.dead_letter(&self.origin, body, &reason).await {
                    Ok(()) => {
                        metrics::counter!("nrt_ingestor_entries_rejected_total", "feed" => self.feed.clone())
                            .increment(1);
                        Answer::Unreadable(reason)
                    }
                    Err(error) => Answer::Unavailable(describe_error(&error)),
                };
            }
        };
        let batch = match self.reader.read(&notifications).await {
            Ok(batch) => batch,
            Err(error) => return Answer::Unavailable(describe_error(&error)),
        };
        let reasons: Vec<String> = batch.rejected.iter().map(|r| r.error.to_string()).collect();
        let delivered = sink::deliver(
            &self.sink,
            &self.feed,
            &self.origin,
            batch.discovered,
            &batch.rejected,
        )
        .await;
        match delivered {
            Err(error) => Answer::Unavailable(describe_error(&error)),
            Ok(_) if !reasons.is_empty() => Answer::Unreadable(reasons.join("; ")),
            Ok(new) => Answer::Delivered {
                notifications: notifications.len(),
                new,
            },
        }
    }

    /// Raises `feed-stalled` when no new product came for longer than the feed's cadence.
    async fn watch(&self, every: Duration, shutdown: &Shutdown) {
        while !shutdown.is_requested() {
            tokio::select! {
                _ = shutdown.requested() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let alert = self.health().stalled_alert();
            if let Some(alert) = alert {
                tracing::warn!(feed = %self.feed, "Feed stalled.");
                watchdog::raise(&self.sink, &self.feed, alert).await;
            }
        }
    }

    fn health(&self) -> MutexGuard<'_, FeedHealth> {
        self.health.lock().expect("feed health lock")
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        match self {
            Self::Delivered { notifications, .. } => (
                StatusCode::OK,
                format!("{notifications} notification(s) delivered\n"),
            )
                .into_response(),
            Self::Unreadable(reason) => {
                (StatusCode::BAD_REQUEST, format!("{reason}\n")).into_response()
            }
            // The cause stays in the log: CDSE only needs to know to come back.
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the notification could not be published yet; send it again\n",
            )
                .into_response(),
        }
    }
}

async fn notify<S: ProductSink>(
    State(receiver): State<Arc<Receiver<S>>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match body {
        Ok(body) => receiver.receive(&body).await.into_response(),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            tracing::warn!(feed = %receiver.feed, "Notification body over max_body_bytes refused.");
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "the body exceeds the feed's max_body_bytes\n",
            )
                .into_response()
        }
        Err(rejection) => rejection.into_response(),
    }
}

/// The subscription's endpoint credentials, kept as a digest so that every comparison takes the
/// same time whatever the guess: no prefix or length of the secret shows in the timing.
pub struct BasicCredentials {
    digest: [u8; 32],
}

impl BasicCredentials {
    pub fn new(username: &str, password: &Secret) -> Self {
        Self {
            digest: digest(format!("{username}:{}", password.expose()).as_bytes()),
        }
    }

    /// Whether `headers` carry these credentials as HTTP Basic authorization.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .and_then(|(_, encoded)| {
                base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .ok()
            })
        else {
            return false;
        };
        digest(&given).ct_eq(&self.digest).into()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

async fn authenticate(
    State(credentials): State<Arc<BasicCredentials>>,
    request: Request,
    next: Next,
) -> Response {
    if credentials.admits(request.headers()) {
        return next.run(request).await;
    }
    let mut refused = (StatusCode::UNAUTHORIZED, "credentials required\n").into_response();
    refused.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(CHALLENGE),
    );
    refused
}

#[cfg(test)]
#[path = "push_tests.rs"]
mod tests;
