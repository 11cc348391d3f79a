//! The JetStream side: decode a delivered message, notify, and keep delivery records in a
//! key-value bucket. The runner acks, NAKs or dead-letters by the outcome.

use std::time::Duration;

use nrt_events::Alert;
use nrt_nats::{
    Delivery, Handler, Publisher,
    async_nats::jetstream::{self, kv, stream::StorageType},
};

use crate::{
    error::Error,
    handler::{Alerts, DeliveryLog, Sender, Settlement, StoreError, notify},
    notification::Notification,
    webhook::{Endpoint, EndpointOutcome, WebhookClient},
};

/// Which (event, webhook) pairs are settled, so a redelivered event skips them.
pub const DELIVERIES_BUCKET: &str = "notifier-deliveries";

/// Records outlive any redelivery schedule by far, then expire so the bucket stays small.
const RECORD_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Creates the delivery bucket, or updates its settings in place.
pub async fn open_delivery_log(
    js: &jetstream::Context,
    replicas: usize,
) -> Result<kv::Store, Error> {
    js.create_or_update_key_value(kv::Config {
        bucket: DELIVERIES_BUCKET.into(),
        description: "Webhook deliveries the notifier has settled, by hash of event id and webhook"
            .into(),
        history: 1,
        max_age: RECORD_LIFETIME,
        storage: StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    })
    .await
    .map_err(|source| Error::Bucket {
        bucket: DELIVERIES_BUCKET,
        source: source.into(),
    })
}

/// The notifier's consumer handler, shared by both consumers.
pub struct NotifierHandler {
    pub endpoints: Vec<Endpoint>,
    pub client: WebhookClient,
    pub deliveries: kv::Store,
    pub publisher: Publisher,
    /// The consumers' redelivery schedule, which a `Retry-After` may lengthen but not shorten.
    pub redelivery_delays: Vec<Duration>,
}

impl Handler for NotifierHandler {
    type Error = Error;

    async fn handle(&self, delivery: &Delivery) -> Result<(), Error> {
        // Permanent when it fails: the runner dead-letters it to dlq.notifier with the reason.
        let notification = Notification::decode(&delivery.subject, delivery.payload.clone())?;
        notify(
            &notification,
            &self.endpoints,
            &self.client,
            &self.deliveries,
            &self.publisher,
        )
        .await
        .map_err(|error| error.no_sooner_than(self.scheduled_delay(delivery.attempt)))
    }
}

impl NotifierHandler {
    /// The delay the runner would use after the `attempt`-th delivery (the last one repeats).
    fn scheduled_delay(&self, attempt: u64) -> Duration {
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        self.redelivery_delays
            .get(index)
            .or(self.redelivery_delays.last())
            .copied()
            .unwrap_or_default()
    }
}

impl Sender for WebhookClient {
    async fn deliver(&self, endpoint: &Endpoint, notification: &Notification) -> EndpointOutcome {
        WebhookClient::deliver(self, endpoint, notification).await
    }
}

impl DeliveryLog for kv::Store {
    async fn is_settled(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.get(key).await?.is_some())
    }

    async fn record(&self, key: &str, settlement: &Settlement) -> Result<(), StoreError> {
        let value = serde_json::to_vec(settlement)?;
        self.put(key, value.into()).await?;
        Ok(())
    }
}

impl Alerts for Publisher {
    async fn raise(&self, alert: Alert) -> Result<(), StoreError> {
        self.publish(alert).await?;
        Ok(())
    }
}
