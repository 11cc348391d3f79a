//! Acting on verdicts: the handler of a subscription's consumer, and what any delivery mode does
//! with an event it cannot deliver (a dead letter of its own) or an endpoint that is gone (the
//! subscription disabled, operators alerted).

use std::sync::Arc;

use chrono::Utc;
use nrt_events::{Alert, Envelope, Severity};
use nrt_nats::{Delivery, Handler, Publisher, letter_for};
use nrt_runtime::Shutdown;

use crate::{
    Error, SERVICE,
    disabled::{DisabledSubscriptions, Disabling},
    notification::Notification,
    subscription::Subscription,
    verdict::{Schedule, Verdict, verdict},
};

/// The alert raised once when a subscription's endpoint answers 410 Gone.
pub const ENDPOINT_GONE: &str = "endpoint-gone";
/// The alert raised (at most hourly per subscription) when its events are dead-lettered.
pub const NOTIFICATION_UNDELIVERED: &str = "notification-undelivered";

/// What every subscription of a replica shares to act on verdicts.
pub struct Deliverer {
    pub publisher: Publisher,
    pub disabled: DisabledSubscriptions,
    pub schedule: Schedule,
}

impl Deliverer {
    /// Copies an event `subscription` could not deliver to `dlq.notifier` with the reason, under
    /// an id naming the subscription: two subscriptions failing the same event leave two letters,
    /// where the stream position alone would let JetStream drop the second as a repeat.
    pub async fn dead_letter(
        &self,
        subscription: &Subscription,
        delivery: &Delivery,
        stream: &str,
        reason: &str,
    ) -> Result<(), Error> {
        let name = &subscription.name;
        let error = |source| Error::DeadLetter {
            subscription: name.clone(),
            source,
        };
        let letter = letter_for(
            SERVICE,
            delivery,
            stream,
            &format!(
                "subscription {name}: {} not delivered: {reason}",
                subscription.channel.kind()
            ),
        );
        let id = format!("dlq:{SERVICE}:{name}:{stream}:{}", delivery.stream_sequence);
        tracing::warn!(subscription = %name, subject = %letter.subject, error = %letter.error, "Dead-lettered.");
        let message = format!(
            "Subscription {name} could not deliver a message from {} and dead-lettered it to \
             dlq.notifier: {reason}",
            letter.subject
        );
        let envelope = Envelope {
            id,
            source: format!("/nrt-mesh/{SERVICE}"),
            time: Utc::now(),
            data: letter,
        };
        self.publisher
            .publish_envelope(&envelope)
            .await
            .map_err(error)?;
        // About the subscription: JetStream keeps one such alert per subscription an hour.
        self.publisher
            .publish(alert(
                Severity::Warning,
                NOTIFICATION_UNDELIVERED,
                name,
                message,
            ))
            .await
            .map_err(error)?;
        metrics::counter!("nrt_dead_letters_total", "service" => SERVICE).increment(1);
        Ok(())
    }

    /// Alerts operators, then records the subscription as disabled, which stops every replica.
    /// The alert's id names the subscription, so replicas hitting the 410 at once raise it once.
    pub async fn disable(&self, subscription: &Subscription, reason: &str) -> Result<(), Error> {
        let name = &subscription.name;
        count(subscription, "disabled", 1);
        let message = format!(
            "Subscription {name}: its {} endpoint answered {reason}, so nothing more is sent to \
             it; its events wait, unacknowledged. Fix or remove the subscription, then enable \
             it with `nats kv del notifier-disabled {name}` (or `nrtmesh notifier enable {name}`).",
            subscription.channel.kind()
        );
        tracing::error!(subscription = %name, %reason, "Endpoint gone; subscription disabled.");
        self.publisher
            .publish(alert(Severity::Critical, ENDPOINT_GONE, name, message))
            .await
            .map_err(|source| Error::Alert {
                subscription: name.clone(),
                source,
            })?;
        let disabling = Disabling {
            reason: reason.to_owned(),
            disabled_at: Utc::now(),
        };
        self.disabled
            .disable(name, &disabling)
            .await
            .map_err(|source| Error::Disabling {
                subscription: name.clone(),
                source,
            })
    }
}

fn alert(severity: Severity, kind: &str, subscription: &str, message: String) -> Alert {
    Alert {
        severity,
        kind: kind.into(),
        service: SERVICE.into(),
        message,
        about: subscription.to_owned(),
        raised_at: Utc::now(),
    }
}

/// Counts what became of events, per subscription.
pub fn count(subscription: &Subscription, outcome: &'static str, events: usize) {
    metrics::counter!(
        "nrt_notifications_total",
        "subscription" => subscription.name.clone(),
        "channel" => subscription.channel.kind(),
        "outcome" => outcome,
    )
    .increment(events as u64);
}

/// The handler of one consumer of a subscription without a digest: one event at a time.
pub struct SubscriptionHandler {
    pub subscription: Arc<Subscription>,
    /// The stream the consumer reads, for dead letters.
    pub stream: &'static str,
    pub deliverer: Arc<Deliverer>,
    /// Ends the wait of an event held for a disabled subscription.
    pub shutdown: Shutdown,
}

impl Handler for SubscriptionHandler {
    type Error = Error;

    async fn handle(&self, delivery: &Delivery) -> Result<(), Error> {
        // Permanent when it fails: the runner dead-letters it to dlq.notifier with the reason,
        // once for all subscriptions, since the event is at fault, not the endpoint.
        let notification = Notification::decode(
            &delivery.subject,
            delivery.payload.clone(),
            delivery.headers.as_ref(),
        )?;
        let subscription = &self.subscription;
        if !subscription.filter.accepts(&notification) {
            return Ok(());
        }
        let deliverer = &self.deliverer;
        loop {
            self.until_enabled(delivery).await?;
            let outcome = subscription.channel.send(&notification).await;
            match verdict(outcome, delivery.attempt, &deliverer.schedule) {
                Verdict::Delivered => {
                    tracing::info!(subscription = %subscription.name, event_id = %notification.id, "Delivered.");
                    count(subscription, "delivered", 1);
                    return Ok(());
                }
                Verdict::Retry { reason, after } => {
                    count(subscription, "retried", 1);
                    return Err(Error::Undelivered {
                        subscription: subscription.name.clone(),
                        channel: subscription.channel.kind(),
                        reason,
                        retry_after: after,
                    });
                }
                Verdict::DeadLetter { reason } => {
                    count(subscription, "dead_lettered", 1);
                    return deliverer
                        .dead_letter(subscription, delivery, self.stream, &reason)
                        .await;
                }
                // Held, and sent again once an operator enables the subscription.
                Verdict::Disable { reason } => deliverer.disable(subscription, &reason).await?,
            }
        }
    }
}

impl SubscriptionHandler {
    /// Holds the event while the subscription is disabled; the runner's progress acks keep it
    /// from being redelivered meanwhile. On shutdown it goes back to the consumer.
    async fn until_enabled(&self, delivery: &Delivery) -> Result<(), Error> {
        let name = &self.subscription.name;
        let disabled = &self.deliverer.disabled;
        if !disabled.is_disabled(name) {
            return Ok(());
        }
        tokio::select! {
            () = disabled.until_enabled(name) => Ok(()),
            () = self.shutdown.requested() => Err(Error::Disabled {
                subscription: name.clone(),
                retry_after: self.deliverer.schedule.delay_after(delivery.attempt),
            }),
        }
    }
}
