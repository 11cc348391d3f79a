//! The JetStream side: one durable consumer per stream the watchdog reads, each merging the
//! facts of an event into the bucket before the runner acknowledges it.

use std::time::Duration;

use nrt_events::streams;
use nrt_nats::{
    ConsumerSpec, Delivery, Handler, async_nats::jetstream::consumer::PullConsumer, describe_error,
};
use nrt_runtime::Clock;

use super::{
    WatchdogConfig, WatchdogError,
    events::{ITEM_SUBJECTS, JOB_SUBJECTS, PRODUCT_SUBJECTS, WatchEvent},
    store::{self, Bucket},
};

/// Only the bucket can fail, and it heals in seconds or minutes.
const RETRY_DELAYS: &[Duration] = &[
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
];

/// Discovered products: feed cadences and products of watched collections.
pub const PRODUCT_EVENTS: ConsumerSpec = ConsumerSpec {
    stream: streams::PRODUCTS,
    durable: "notifier-watchdog-products",
    filter_subjects: PRODUCT_SUBJECTS,
    ack_wait: Duration::from_secs(30),
    max_deliver: 10,
    retry_delays: RETRY_DELAYS,
    max_ack_pending: 1000,
};

/// Requested jobs and their lifecycle.
pub const JOB_EVENTS: ConsumerSpec = ConsumerSpec {
    stream: streams::JOBS,
    durable: "notifier-watchdog-jobs",
    filter_subjects: JOB_SUBJECTS,
    ..PRODUCT_EVENTS
};

/// Published items: what ends a watch.
pub const ITEM_EVENTS: ConsumerSpec = ConsumerSpec {
    stream: streams::CATALOGUE,
    durable: "notifier-watchdog-items",
    filter_subjects: ITEM_SUBJECTS,
    ..PRODUCT_EVENTS
};

/// The watchdog's consumers, for `nrtmesh streams apply`: a durable consumer reads one stream.
pub const CONSUMERS: [ConsumerSpec; 3] = [PRODUCT_EVENTS, JOB_EVENTS, ITEM_EVENTS];

/// The watchdog's records, settings and clock. As the consumers' handler it merges each event's
/// facts into its records, at the watchdog's time.
pub struct Watchdog<B> {
    pub bucket: B,
    pub config: WatchdogConfig,
    pub clock: Clock,
}

impl<B: Bucket> Handler for Watchdog<B> {
    type Error = WatchdogError;

    async fn handle(&self, delivery: &Delivery) -> Result<(), WatchdogError> {
        // The watchdog only looks on: the service that consumes the event dead-letters it with the
        // reason, so a second dead letter would only repeat it. Nothing is lost by passing over.
        let event = match WatchEvent::decode(&delivery.subject, &delivery.payload) {
            Ok(event) => event,
            Err(error) => {
                metrics::counter!("nrt_watchdog_undecodable_events_total").increment(1);
                tracing::warn!(subject = %delivery.subject, %error, "Watchdog passed over an event it cannot read.");
                return Ok(());
            }
        };
        let now = self.clock.now();
        for change in event.changes(&self.config) {
            store::record(&self.bucket, &change, now).await?;
        }
        Ok(())
    }
}

/// Whether every consumer has handled all it was given. Until then the records may lack facts
/// still waiting in the streams (a first start reads their whole history), and a check would
/// raise alerts already stale.
pub async fn caught_up(consumers: &[PullConsumer]) -> bool {
    for consumer in consumers {
        match consumer.get_info().await {
            Ok(info) if info.num_pending == 0 && info.num_ack_pending == 0 => {}
            Ok(_) => return false,
            Err(error) => {
                tracing::warn!(error = %describe_error(&error), "Could not read a watchdog consumer's progress.");
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests;
