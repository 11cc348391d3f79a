//! The JetStream adapters: decode the job, publish its item, announce it; decode a retraction,
//! mark what derives from it, raise the alerts.

use nrt_events::{Envelope, JobSucceeded, ProductRetracted};
use nrt_nats::{Delivery, Handler, Publisher};

use crate::{
    Error, config::RetractionPolicy, derivations::Derivations, handler::Catalogue, retraction,
    store::ObjectStore,
};

/// Handles `jobs.succeeded.>` deliveries.
pub struct JobSucceededHandler<S> {
    pub catalogue: Catalogue<S>,
    pub publisher: Publisher,
}

impl<S: ObjectStore> Handler for JobSucceededHandler<S> {
    type Error = Error;

    async fn handle(&self, delivery: &Delivery) -> Result<(), Error> {
        // A body that does not decode never will: the runner dead-letters it.
        let job = Envelope::<JobSucceeded>::from_json(&delivery.payload)?.data;
        publish_and_announce(&self.catalogue, &self.publisher, &job).await?;
        Ok(())
    }
}

/// Publishes the job's item, then announces it on `catalogue.published.<collection>`.
///
/// Announced after the catalogue is written: a crash in between redelivers, and the event's
/// deterministic id lets JetStream drop the repeat.
pub(crate) async fn publish_and_announce<S: ObjectStore>(
    catalogue: &Catalogue<S>,
    publisher: &Publisher,
    job: &JobSucceeded,
) -> Result<(), Error> {
    let published = catalogue.publish(job).await?;
    tracing::info!(
        job_id = %job.job_id,
        item_id = %published.item_id,
        collection = %published.collection,
        item_href = %published.item_href,
        "Item published."
    );
    publisher.publish(published).await?;
    Ok(())
}

/// Handles `products.retracted.>` deliveries.
pub struct RetractionHandler<S> {
    pub catalogue: Catalogue<S>,
    pub derivations: Derivations,
    pub policy: RetractionPolicy,
    pub publisher: Publisher,
}

impl<S: ObjectStore> Handler for RetractionHandler<S> {
    type Error = Error;

    async fn handle(&self, delivery: &Delivery) -> Result<(), Error> {
        let retracted = Envelope::<ProductRetracted>::from_json(&delivery.payload)
            .map_err(Error::DecodeRetraction)?
            .data;
        let alerts =
            retraction::handle(&retracted, self.policy, &self.derivations, &self.catalogue).await?;
        for alert in alerts {
            tracing::warn!(product = %retracted.key, item_id = %alert.about, "Derived item marked retracted.");
            // Raised after the items are marked: a crash in between redelivers, marking again
            // changes nothing, and the alert's id lets JetStream drop a repeat.
            self.publisher.publish(alert).await?;
        }
        Ok(())
    }
}
