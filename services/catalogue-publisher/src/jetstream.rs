//! The JetStream adapter: decode the job, publish its item, announce it.

use nrt_events::{Envelope, JobSucceeded};
use nrt_nats::{Delivery, Handler, Publisher};

use crate::{Error, handler::Catalogue, store::ObjectStore};

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
        let published = self.catalogue.publish(&job).await?;
        tracing::info!(
            job_id = %job.job_id,
            item_id = %published.item_id,
            collection = %published.collection,
            item_href = %published.item_href,
            "Item published."
        );
        // Announced after the catalogue is written: a crash in between redelivers, and the
        // event's deterministic id lets JetStream drop the repeat.
        self.publisher.publish(published).await?;
        Ok(())
    }
}
