//! Deliver one event to every webhook that wants it, and to each only once where that can be
//! known.
//!
//! Endpoints of one event are delivered concurrently, so a slow one holds up no other. Each
//! endpoint's settled outcome (a 2xx, or a rejection) is recorded in a key-value bucket under
//! `stable_hash(event id, endpoint name)`; when the event comes back because another endpoint was
//! unreachable, recorded endpoints are skipped. What stays at-least-once, with the same
//! `webhook-id` each time so the receiver can drop the repeat:
//! - a crash, or a failed record write, between an endpoint's 2xx and its record;
//! - a 2xx that never reached the notifier (the endpoint acted, then the attempt timed out);
//! - a replay of the stream after the records expired (`jetstream::DELIVERIES_BUCKET`).

use std::{future::Future, time::Duration};

use chrono::{DateTime, Utc};
use futures::future::join_all;
use nrt_events::{Alert, Severity, stable_hash};
use serde::{Deserialize, Serialize};

use crate::{
    SERVICE,
    error::{Error, Unreached},
    notification::Notification,
    webhook::{Endpoint, EndpointOutcome},
};

/// Errors of the stores behind the traits below; all are worth retrying.
pub type StoreError = Box<dyn std::error::Error + Send + Sync>;

/// Sends one event to one endpoint, quick retries included.
pub trait Sender: Send + Sync {
    fn deliver(
        &self,
        endpoint: &Endpoint,
        notification: &Notification,
    ) -> impl Future<Output = EndpointOutcome> + Send;
}

/// Remembers which (event, endpoint) pairs are settled, across redeliveries and replicas.
pub trait DeliveryLog: Send + Sync {
    fn is_settled(&self, key: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn record(
        &self,
        key: &str,
        settlement: &Settlement,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Tells operators.
pub trait Alerts: Send + Sync {
    fn raise(&self, alert: Alert) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// An endpoint that needs nothing more for an event; stored as JSON for people reading the bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    pub event_id: String,
    pub endpoint: String,
    pub outcome: SettledAs,
    pub status: u16,
    pub settled_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SettledAs {
    Delivered,
    Rejected,
}

/// The key of an (event, endpoint) pair in the delivery log.
pub fn settlement_key(event_id: &str, endpoint: &str) -> String {
    stable_hash([event_id, endpoint])
}

/// Delivers `notification` to each endpoint that accepts it and has not settled it yet.
/// Fails, transiently, when an endpoint was unreachable or a store could not be used.
pub async fn notify(
    notification: &Notification,
    endpoints: &[Endpoint],
    sender: &impl Sender,
    log: &impl DeliveryLog,
    alerts: &impl Alerts,
) -> Result<(), Error> {
    let wanted = endpoints
        .iter()
        .filter(|endpoint| endpoint.config.accepts(notification));
    let results =
        join_all(wanted.map(|endpoint| settle(notification, endpoint, sender, log, alerts))).await;
    let mut unreached = Vec::new();
    let mut retry_after: Option<Duration> = None;
    for result in results {
        if let Some(failure) = result? {
            // The longest wait any endpoint asked for, so none is called before it asked.
            retry_after = retry_after.max(failure.retry_after);
            unreached.push(failure);
        }
    }
    if unreached.is_empty() {
        Ok(())
    } else {
        Err(Error::Undelivered {
            unreached,
            retry_after,
        })
    }
}

/// One endpoint: `None` when it needs nothing more, else why it must be tried again.
async fn settle(
    notification: &Notification,
    endpoint: &Endpoint,
    sender: &impl Sender,
    log: &impl DeliveryLog,
    alerts: &impl Alerts,
) -> Result<Option<Unreached>, Error> {
    let name = endpoint.name();
    let key = settlement_key(&notification.id, name);
    let log_error = |source| Error::DeliveryLog {
        endpoint: name.to_owned(),
        source,
    };
    if log.is_settled(&key).await.map_err(log_error)? {
        metrics::counter!("nrt_webhook_deliveries_total", "endpoint" => name.to_owned(), "outcome" => "skipped")
            .increment(1);
        tracing::debug!(webhook = name, event_id = %notification.id, "Already settled for this webhook; skipped.");
        return Ok(None);
    }
    let (outcome, status) = match sender.deliver(endpoint, notification).await {
        EndpointOutcome::Delivered { status } => {
            tracing::info!(webhook = name, event_id = %notification.id, %status, "Webhook delivered.");
            (SettledAs::Delivered, status)
        }
        EndpointOutcome::Rejected { status } => {
            tracing::warn!(webhook = name, event_id = %notification.id, %status, "Webhook rejected the event; not retried.");
            // Alert before recording: a crash in between re-sends once rather than losing it.
            alerts
                .raise(rejection_alert(notification, name, status.as_u16()))
                .await
                .map_err(|source| Error::Alert {
                    endpoint: name.to_owned(),
                    source,
                })?;
            (SettledAs::Rejected, status)
        }
        EndpointOutcome::Unreachable {
            reason,
            retry_after,
        } => {
            tracing::warn!(webhook = name, event_id = %notification.id, %reason, "Webhook unreachable; the event will come back.");
            return Ok(Some(Unreached {
                endpoint: name.to_owned(),
                reason,
                retry_after,
            }));
        }
    };
    let settlement = Settlement {
        event_id: notification.id.clone(),
        endpoint: name.to_owned(),
        outcome,
        status: status.as_u16(),
        settled_at: Utc::now(),
    };
    if let Err(error) = log.record(&key, &settlement).await {
        // The endpoint has what it needs; only a redelivery of the event would repeat it.
        tracing::warn!(webhook = name, event_id = %notification.id, error = %nrt_nats::describe_error(&*error), "Could not record the delivery.");
    }
    Ok(None)
}

/// About the endpoint, not the event: JetStream drops repeats within the alert stream's
/// duplicate window, so an endpoint that rejects everything raises one alert, not one per event.
fn rejection_alert(notification: &Notification, endpoint: &str, status: u16) -> Alert {
    Alert {
        severity: Severity::Warning,
        kind: "webhook-rejected".into(),
        service: SERVICE.into(),
        message: format!(
            "Webhook {endpoint} answered HTTP {status} to event {}; it is not retried. \
             Check the webhook's URL and whether it still wants these events.",
            notification.id
        ),
        about: endpoint.to_owned(),
        raised_at: Utc::now(),
    }
}

#[cfg(test)]
mod tests;
