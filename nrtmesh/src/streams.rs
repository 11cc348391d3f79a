//! `nrtmesh streams apply`: declares everything the mesh needs in JetStream, so a platform team
//! can provision it before (or instead of) letting services declare their own.

use async_nats::jetstream;
use nrt_nats::{ConsumerSpec, TopologyOptions, apply_topology, ensure_consumer};

/// Every durable consumer of the five services.
pub const CONSUMERS: [ConsumerSpec; 5] = [
    trigger::CONSUMER,
    processor_launcher::CONSUMER,
    catalogue_publisher::CONSUMER,
    notifier::ITEMS,
    notifier::JOB_OUTCOMES,
];

/// Declares the streams, key-value buckets and consumers; existing ones are updated in place.
pub async fn apply(js: &jetstream::Context, replicas: usize) -> anyhow::Result<()> {
    apply_topology(
        js,
        TopologyOptions {
            replicas,
            ..TopologyOptions::default()
        },
    )
    .await?;
    notifier::jetstream::open_delivery_log(js, replicas).await?;
    for spec in &CONSUMERS {
        ensure_consumer(js, spec).await?;
    }
    Ok(())
}
