//! catalogue-publisher: makes every succeeded job's outputs findable as a STAC item in a static
//! catalogue in S3, then announces it on `catalogue.published.<collection>`.
//!
//! The catalogue follows a flat STAC layout (see [`layout`]); shared documents are
//! updated by S3 conditional writes (see [`store`]); with the `schema` feature, `schema` offers an
//! offline validator for the items and collections it writes.

pub mod catalogue;
pub mod config;
mod error;
pub mod handler;
pub mod item;
pub mod jetstream;
pub mod layout;
#[cfg(feature = "schema")]
pub mod schema;
pub mod store;
#[cfg(test)]
mod testing;

use std::{sync::Arc, time::Duration};

use nrt_events::streams;
use nrt_nats::{ConsumerSpec, Mesh, ensure_consumer, run_consumer};
use nrt_runtime::{HealthServer, Readiness, Shutdown};

pub use config::Config;
pub use error::Error;

use crate::{handler::Catalogue, jetstream::JobSucceededHandler, store::S3Store};

/// The service name: NATS connection name, CloudEvents source, dead-letter subject.
pub const SERVICE: &str = "catalogue-publisher";

/// Succeeded jobs, each published as one item.
pub const CONSUMER: ConsumerSpec = ConsumerSpec {
    stream: streams::JOBS,
    durable: "catalogue-publisher",
    filter_subjects: &["jobs.succeeded.>"],
    ack_wait: Duration::from_secs(30),
    max_deliver: 8,
    // S3 outages and catalogue contention heal within minutes; then the event is dead-lettered.
    retry_delays: &[
        Duration::from_secs(1),
        Duration::from_secs(5),
        Duration::from_secs(15),
        Duration::from_secs(60),
        Duration::from_secs(180),
    ],
    max_ack_pending: 256,
};

/// Runs the service until `shutdown`, then drains what it holds.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), Error> {
    config.validate()?;
    let readiness = Readiness::default();
    let _health =
        HealthServer::start_configured(&config.health, readiness.clone(), shutdown.clone())
            .await
            .map_err(Error::Health)?;

    readiness.register("s3");
    let client = nrt_s3::client(&config.s3).await;
    nrt_s3::ensure_bucket(&client, &config.catalogue_bucket).await?;
    let store = S3Store::new(client, &config.catalogue_bucket);
    let endpoint = config.s3.endpoint.as_deref().unwrap_or("AWS S3");
    store::verify_conditional_writes(&store, &handler::layout_of(&config), endpoint).await?;
    readiness.set("s3", true);

    let mesh = Mesh::connect(SERVICE, &config.nats, readiness).await?;
    let consumer = ensure_consumer(&mesh.js, &CONSUMER).await?;
    let handler = Arc::new(JobSucceededHandler {
        catalogue: Catalogue::new(store, &config),
        publisher: mesh.publisher.clone(),
    });
    tracing::info!(bucket = %config.catalogue_bucket, prefix = %config.catalogue_prefix, "Publishing succeeded jobs to the catalogue.");
    run_consumer(
        consumer,
        CONSUMER,
        handler,
        mesh.consumer_options(config.concurrency),
        shutdown,
    )
    .await?;
    Ok(())
}
