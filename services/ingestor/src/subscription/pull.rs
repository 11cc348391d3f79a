//! `kind = "cdse-pull"`: a subscription queue CDSE keeps for us, read with
//! `GET Subscriptions(<id>)/Read?$top=N` and emptied with `POST Subscriptions(<id>)/Ack?$ackid=…`.
//! An acknowledgement removes the notification and every one before it, so a batch is
//! acknowledged once, by its last `AckId`, and only after every fact in it has its PubAck and
//! every unreadable notification is dead-lettered. A failure leaves the batch unacknowledged: CDSE
//! hands it out again, and JetStream drops what was already published.

use std::{future::Future, sync::Arc, time::Duration};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use chrono::{DateTime, Utc};
use nrt_runtime::Shutdown;
use serde::Deserialize;
use serde_json::value::RawValue;
use url::Url;

use super::{
    config::PullSource,
    notification::{NotificationReader, split_body},
};
use crate::{
    Error,
    config::FeedConfig,
    feed::Discovery,
    http::{HttpClient, HttpRequest},
    poller::after_grace,
    sink::{self, ProductSink},
    watchdog::{self, FeedHealth},
};

/// A subscription's queue: what the puller needs of CDSE, and what unit tests replace.
pub trait NotificationQueue: Send + Sync {
    /// The first notifications not yet acknowledged, oldest first, left in the queue.
    fn read(&self) -> impl Future<Output = Result<Vec<Box<RawValue>>, Error>> + Send;

    /// Removes the notification `ack_id` and every one before it.
    fn ack(&self, ack_id: &str) -> impl Future<Output = Result<AckAnswer, Error>> + Send;

    /// How a batch is named in logs and dead letters.
    fn origin(&self) -> String;
}

/// What CDSE answers an acknowledgement; fields it leaves out are `None`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
pub struct AckAnswer {
    #[serde(rename = "AckMessagesNum")]
    pub acknowledged: Option<u64>,
    #[serde(rename = "CurrentQueueLength")]
    pub queue_length: Option<u64>,
    #[serde(rename = "MaxQueueLength")]
    pub max_queue_length: Option<u64>,
}

/// The queue of a CDSE subscription, over HTTP with the owner's token.
pub struct CdseQueue {
    client: Arc<HttpClient>,
    subscription: Url,
    subscription_id: String,
    top: usize,
}

impl CdseQueue {
    pub fn new(source: &PullSource, client: Arc<HttpClient>) -> Self {
        let mut subscription = source.catalogue.url.clone();
        subscription.set_query(None);
        subscription.set_fragment(None);
        subscription
            .path_segments_mut()
            .expect("validated: an http(s) URL has path segments")
            .pop_if_empty()
            .push(&format!("Subscriptions({})", source.subscription_id));
        Self {
            client,
            subscription,
            subscription_id: source.subscription_id.clone(),
            top: source.top,
        }
    }

    /// `Subscriptions(<id>)/Read?$top=N`.
    pub fn read_url(&self) -> Url {
        let mut url = self.action("Read");
        url.query_pairs_mut()
            .append_pair("$top", &self.top.to_string());
        url
    }

    /// `Subscriptions(<id>)/Ack?$ackid=<AckId>`, the id form-encoded (it is base64).
    pub fn ack_url(&self, ack_id: &str) -> Url {
        let mut url = self.action("Ack");
        url.query_pairs_mut().append_pair("$ackid", ack_id);
        url
    }

    fn action(&self, action: &str) -> Url {
        let mut url = self.subscription.clone();
        url.path_segments_mut()
            .expect("validated: an http(s) URL has path segments")
            .push(action);
        url
    }

    /// CDSE answers 404 for a subscription that was cancelled or never existed: no retry will
    /// help, and the operator must hear which one.
    fn not_found(&self, error: Error) -> Error {
        match error {
            Error::Status {
                status: 404,
                url,
                detail,
                ..
            } => Error::SubscriptionNotFound {
                subscription: self.subscription_id.clone(),
                url,
                detail,
            },
            other => other,
        }
    }
}

impl NotificationQueue for CdseQueue {
    async fn read(&self) -> Result<Vec<Box<RawValue>>, Error> {
        let request = HttpRequest::get(self.read_url());
        self.client
            .send(&request, |url, body| {
                split_body(body).map_err(|source| Error::Malformed {
                    url: url.to_string(),
                    expected: "a list of subscription notifications",
                    source,
                })
            })
            .await
            .map_err(|error| self.not_found(error))
    }

    async fn ack(&self, ack_id: &str) -> Result<AckAnswer, Error> {
        let request = HttpRequest::post(self.ack_url(ack_id), None);
        // The acknowledgement is done once CDSE answers 2xx; an answer of another shape must
        // not make the batch look unacknowledged.
        self.client
            .send(&request, |_, body| {
                Ok(serde_json::from_slice(body).unwrap_or_default())
            })
            .await
            .map_err(|error| self.not_found(error))
    }

    fn origin(&self) -> String {
        format!("GET {}", self.read_url())
    }
}

/// Reads, delivers and acknowledges one subscription until shutdown.
pub struct SubscriptionPuller<Q, S> {
    pub feed: FeedConfig,
    pub queue: Q,
    /// Notifications the queue answers per read at most: a full batch means more are waiting.
    pub top: usize,
    pub reader: NotificationReader,
    pub sink: S,
}

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RoundReport {
    pub notifications: usize,
    pub new: u64,
    pub rejected: usize,
    /// The acknowledgement sent, if the batch had an `AckId`.
    pub acknowledged: Option<String>,
    pub queue_length: Option<u64>,
    /// The newest publication among the products discovered.
    pub newest: Option<DateTime<Utc>>,
}

impl<S: ProductSink> SubscriptionPuller<CdseQueue, S> {
    /// A puller of `source`'s subscription, logging in with its account.
    pub fn new(feed: &FeedConfig, source: &PullSource, sink: S) -> Result<Self, Error> {
        let client = Arc::new(HttpClient::new(
            feed,
            source.catalogue.credentials.as_ref(),
        )?);
        Ok(Self {
            feed: feed.clone(),
            queue: CdseQueue::new(source, client.clone()),
            top: source.top,
            reader: NotificationReader::new(&feed.name, &source.catalogue, client),
            sink,
        })
    }
}

impl<Q: NotificationQueue, S: ProductSink> SubscriptionPuller<Q, S> {
    pub async fn run(&self, shutdown: Shutdown) {
        let feed = &self.feed.name;
        tracing::info!(feed, origin = %self.queue.origin(), "Pulling subscription.");
        let mut health = FeedHealth::new(&self.feed);
        let mut newest: Option<DateTime<Utc>> = None;
        let mut backoff = self.backoff();
        while !shutdown.is_requested() {
            // A round cut short is harmless (nothing of it is acknowledged), but one in flight
            // gets the grace to finish so that a rolling deploy repeats nothing.
            let outcome = tokio::select! {
                outcome = self.round() => outcome,
                _ = after_grace(&shutdown) => break,
            };
            let pause = match outcome {
                Ok(report) => {
                    health.succeeded(report.new as usize);
                    backoff = self.backoff();
                    newest = newest.max(report.newest);
                    if report.notifications > 0 {
                        tracing::info!(
                            feed,
                            notifications = report.notifications,
                            new = report.new,
                            rejected = report.rejected,
                            queue_length = report.queue_length,
                            "Subscription batch delivered and acknowledged."
                        );
                    }
                    // A full batch acknowledged means more are waiting: read on at once.
                    if report.acknowledged.is_some() && report.notifications >= self.top {
                        Duration::ZERO
                    } else {
                        self.feed.poll_interval
                    }
                }
                Err(error) => {
                    let consequence =
                        "Subscription round failed; its notifications stay unacknowledged.";
                    watchdog::round_failed(&self.sink, &mut health, feed, &error, consequence)
                        .await;
                    backoff.next().unwrap_or(self.feed.retry.max_delay)
                }
            };
            if let Some(alert) = health.stalled_alert() {
                tracing::warn!(feed, "Feed stalled.");
                watchdog::raise(&self.sink, feed, alert).await;
            }
            if let Some(newest) = newest {
                let age = (Utc::now() - newest).as_seconds_f64();
                metrics::gauge!("nrt_ingestor_feed_freshness_seconds", "feed" => feed.clone())
                    .set(age);
            }
            tokio::select! {
                _ = shutdown.requested() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
        tracing::info!(feed, "Stopped pulling subscription.");
    }

    /// Reads one batch, delivers it, and only then acknowledges it.
    pub async fn round(&self) -> Result<RoundReport, Error> {
        let notifications = self.queue.read().await?;
        if notifications.is_empty() {
            return Ok(RoundReport::default());
        }
        let batch = self.reader.read(&notifications).await?;
        let newest = batch
            .discovered
            .iter()
            .filter_map(|fact| match fact {
                Discovery::Discovered(product) => Some(product.published_at),
                Discovery::Retracted(_) => None,
            })
            .max();
        let rejected = batch.rejected.len();
        let new = sink::deliver(
            &self.sink,
            &self.feed.name,
            &self.queue.origin(),
            batch.discovered,
            &batch.rejected,
        )
        .await?;
        // Only now, with every PubAck in, may CDSE forget these notifications.
        let answer = match &batch.last_ack_id {
            Some(ack_id) => Some(self.queue.ack(ack_id).await?),
            None => {
                tracing::warn!(feed = %self.feed.name, "A batch without AckId cannot be acknowledged; it will be read again.");
                None
            }
        };
        let queue_length = answer.and_then(|answer| answer.queue_length);
        if let Some(length) = queue_length {
            // CDSE drops the oldest notifications past its queue limit: watch the backlog.
            metrics::gauge!("nrt_ingestor_subscription_queue_length", "feed" => self.feed.name.clone())
                .set(length as f64);
        }
        Ok(RoundReport {
            notifications: notifications.len(),
            new,
            rejected,
            acknowledged: batch.last_ack_id,
            queue_length,
            newest,
        })
    }

    /// Pauses after failed rounds: from `retry_min_delay_secs`, doubling to
    /// `retry_max_delay_secs`, with jitter so that a recovering CDSE is not met in step.
    fn backoff(&self) -> ExponentialBackoff {
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.feed.retry.min_delay)
            .with_max_delay(self.feed.retry.max_delay)
            .without_max_times()
            .build()
    }
}

#[cfg(test)]
#[path = "pull_tests.rs"]
mod tests;
