//! `nrtmesh streams apply`: declares everything the mesh needs in JetStream, so a platform team
//! can provision it before (or instead of) letting services declare their own.

use async_nats::jetstream;
use nrt_nats::{ConsumerSpec, TopologyOptions, apply_topology, ensure_consumer};

/// The durable consumers of the services whose consumers do not depend on their configuration.
/// The notifier's depend on its subscriptions: see [`apply`].
pub const CONSUMERS: [ConsumerSpec; 7] = [
    trigger::CONSUMER,
    processor_launcher::CONSUMER,
    catalogue_publisher::CONSUMER,
    catalogue_publisher::RETRACTIONS,
    notifier::watchdog::PRODUCT_EVENTS,
    notifier::watchdog::JOB_EVENTS,
    notifier::watchdog::ITEM_EVENTS,
];

/// Declares the streams, key-value buckets and consumers; existing ones are updated in place.
/// With the notifier's configuration, its subscriptions' consumers too (a new one starts now).
pub async fn apply(
    js: &jetstream::Context,
    replicas: usize,
    notifier: Option<&notifier::Config>,
) -> anyhow::Result<()> {
    apply_topology(
        js,
        TopologyOptions {
            replicas,
            ..TopologyOptions::default()
        },
    )
    .await?;
    for spec in &CONSUMERS {
        ensure_consumer(js, spec).await?;
    }
    if let Some(config) = notifier {
        notifier::consumers::declare_all(js, config, chrono::Utc::now()).await?;
    }
    Ok(())
}
