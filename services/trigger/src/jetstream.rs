//! The consumer side: decode a product, evaluate the rules, publish the job requests. The runner
//! acks after this returns, so a crash between publishing and acking redelivers the product, and
//! the job requests' deterministic ids make JetStream drop the repeats.

use std::time::Duration;

use nrt_events::{Envelope, ProductDiscovered, streams};
use nrt_nats::{ConsumerSpec, Delivery, Handler, Publisher};
use std::sync::Arc;

use tokio::sync::watch;

use crate::{ActiveRules, Error, evaluate};

/// The trigger's durable consumer of discovered products.
pub const CONSUMER: ConsumerSpec = ConsumerSpec {
    stream: streams::PRODUCTS,
    durable: "trigger",
    filter_subjects: &["products.discovered.>"],
    // Evaluation takes microseconds; this is the time to notice a crashed replica.
    ack_wait: Duration::from_secs(30),
    // Only publishing fails transiently: about six minutes of retries outlast a NATS restart.
    max_deliver: 10,
    retry_delays: &[
        Duration::from_secs(1),
        Duration::from_secs(5),
        Duration::from_secs(15),
        Duration::from_secs(30),
        Duration::from_secs(60),
    ],
    max_ack_pending: 256,
};

/// Handles one delivered product.
pub(crate) struct ProductHandler {
    /// The rules in force; a reload replaces them between two products.
    rules: watch::Receiver<Arc<ActiveRules>>,
    publisher: Publisher,
}

impl ProductHandler {
    pub(crate) fn new(rules: watch::Receiver<Arc<ActiveRules>>, publisher: Publisher) -> Self {
        Self { rules, publisher }
    }
}

impl Handler for ProductHandler {
    type Error = Error;

    async fn handle(&self, delivery: &Delivery) -> Result<(), Error> {
        let product = Envelope::<ProductDiscovered>::from_json(&delivery.payload)?.data;
        let active = self.rules.borrow().clone();
        let actions = evaluate(
            &product,
            &active.rules,
            &active.registry,
            chrono::Utc::now(),
        )?;
        let jobs: Vec<_> = actions
            .into_iter()
            .filter_map(|action| match action {
                crate::Action::Request(job) => Some(job),
                crate::Action::Gather { .. } => None,
            })
            .collect();
        metrics::counter!(
            "nrt_trigger_products_evaluated_total",
            "collection" => product.collection.clone(),
            "matched" => (!jobs.is_empty()).to_string(),
        )
        .increment(1);
        if jobs.is_empty() {
            tracing::debug!(product = %product.key, "No rule matched.");
        }
        for job in jobs {
            let ack = self
                .publisher
                .publish(job.clone())
                .await
                .map_err(|source| Error::Publish {
                    job_id: job.job_id.clone(),
                    rule: job.rule.clone(),
                    source,
                })?;
            if ack.duplicate {
                tracing::info!(job_id = %job.job_id, rule = %job.rule, product = %product.key, "Job was already requested.");
                continue;
            }
            metrics::counter!(
                "nrt_trigger_jobs_requested_total",
                "rule" => job.rule.clone(),
                "processor" => job.processor.clone(),
            )
            .increment(1);
            tracing::info!(
                job_id = %job.job_id,
                rule = %job.rule,
                product = %product.key,
                processor = %job.processor,
                processor_version = %job.processor_version,
                "Job requested."
            );
        }
        Ok(())
    }
}
