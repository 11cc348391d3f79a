//! The consumer side: decode a product, evaluate the rules, publish the job requests and add the
//! product to its groups; decode a retraction and undo what it touched. The runner acks after
//! the handler returns, so a crash in between redelivers, and deterministic job ids and
//! compare-and-set groups make the repeat harmless.

use std::{sync::Arc, time::Duration};

use nrt_events::{Envelope, EventData, ProductDiscovered, ProductRetracted, streams};
use nrt_nats::{ConsumerSpec, Delivery, Handler};
use nrt_runtime::Clock;
use tokio::sync::watch;

use crate::{
    Action, ActiveRules, Error, evaluate,
    gather::{Gatherer, JetStreamOutbox, Joined, KvBucket},
};

/// The trigger's durable consumer of discovered products.
pub const CONSUMER: ConsumerSpec = ConsumerSpec {
    stream: streams::PRODUCTS,
    durable: "trigger",
    filter_subjects: &["products.discovered.>"],
    // Evaluation takes microseconds; this is the time to notice a crashed replica.
    ack_wait: Duration::from_secs(30),
    // Publishing and KV writes fail transiently: about six minutes of retries outlast a NATS
    // restart.
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

/// The trigger's durable consumer of retracted products.
pub const RETRACTIONS: ConsumerSpec = ConsumerSpec {
    durable: "trigger-retractions",
    filter_subjects: &["products.retracted.>"],
    ..CONSUMER
};

/// What both handlers share: the rules in force, the gathering engine and the clock.
pub(crate) struct Context {
    /// The rules in force; a reload replaces them between two messages.
    pub rules: watch::Receiver<Arc<ActiveRules>>,
    pub gatherer: Gatherer<KvBucket, JetStreamOutbox>,
    pub clock: Clock,
}

/// The event of `delivery`; an error names the event the consumer reads.
fn decode<T: EventData>(delivery: &Delivery, expected: &'static str) -> Result<T, Error> {
    Envelope::<T>::from_json(&delivery.payload)
        .map(|event| event.data)
        .map_err(|source| Error::Decode { expected, source })
}

/// Handles one delivered product.
pub(crate) struct ProductHandler(pub Arc<Context>);

impl Handler for ProductHandler {
    type Error = Error;

    async fn handle(&self, delivery: &Delivery) -> Result<(), Error> {
        let product: ProductDiscovered = decode(delivery, "product.discovered")?;
        let Context {
            rules,
            gatherer,
            clock,
        } = &*self.0;
        let active = rules.borrow().clone();
        let now = clock.now();
        let actions = evaluate(&product, &active.rules, &active.registry, now)?;
        metrics::counter!(
            "nrt_trigger_products_evaluated_total",
            "collection" => product.collection.clone(),
            "matched" => (!actions.is_empty()).to_string(),
        )
        .increment(1);
        if actions.is_empty() {
            tracing::debug!(product = %product.key, "No rule matched.");
        }
        for action in actions {
            match action {
                Action::Request(job) => {
                    if !gatherer.request(&job).await? {
                        continue;
                    }
                    tracing::info!(
                        job_id = %job.job_id,
                        rule = %job.rule,
                        product = %product.key,
                        processor = %job.processor,
                        processor_version = %job.processor_version,
                        "Job requested."
                    );
                }
                Action::Gather {
                    rule,
                    target,
                    member,
                } => {
                    let added = gatherer
                        .gather(&active, rule, &target, *member, now)
                        .await?;
                    if added != Joined::Added {
                        tracing::info!(rule = %rule.name, key = %target.key, product = %product.key, outcome = ?added, "Product not added to its group.");
                        metrics::counter!("nrt_trigger_products_not_gathered_total", "rule" => rule.name.clone(), "outcome" => format!("{added:?}")).increment(1);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Handles one retracted product.
pub(crate) struct RetractionHandler(pub Arc<Context>);

impl Handler for RetractionHandler {
    type Error = Error;

    async fn handle(&self, delivery: &Delivery) -> Result<(), Error> {
        let retracted: ProductRetracted = decode(delivery, "product.retracted")?;
        let context = &*self.0;
        let active = context.rules.borrow().clone();
        context
            .gatherer
            .retract(&active, &retracted, context.clock.now())
            .await
    }
}
