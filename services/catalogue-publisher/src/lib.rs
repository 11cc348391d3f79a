//! catalogue-publisher: makes every succeeded job's outputs findable as a STAC item in a static
//! catalogue in S3, a STAC API (see [`stac_api`]) or both, then announces it on
//! `catalogue.published.<collection>`. Items derived from a retracted input are marked (see
//! [`retraction`]).
//!
//! The catalogue follows a flat STAC layout (see [`layout`]); shared documents are
//! updated by S3 conditional writes (see [`store`]); with the `schema` feature, `schema` offers an
//! offline validator for the items and collections it writes.

pub mod catalogue;
pub mod config;
pub mod derivations;
mod error;
pub mod extent;
pub mod handler;
pub mod item;
pub mod jetstream;
pub mod layout;
pub mod marker;
pub mod readback;
pub mod retraction;
#[cfg(feature = "schema")]
pub mod schema;
pub mod stac_api;
pub mod store;
#[cfg(test)]
mod testing;

use std::{sync::Arc, time::Duration};

use nrt_events::streams::{self, KV_CATALOGUE_DERIVATIONS};
use nrt_nats::{ConsumerSpec, Mesh, ensure_consumer, run_consumer};
use nrt_runtime::{HealthServer, Readiness, Shutdown};
use url::Url;

pub use config::Config;
pub use error::Error;

use crate::{
    config::Target,
    derivations::Derivations,
    handler::Catalogue,
    jetstream::{JobSucceededHandler, RetractionHandler},
    store::S3Store,
};

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

/// Retracted products, whose derived items are marked.
pub const RETRACTIONS: ConsumerSpec = ConsumerSpec {
    stream: streams::PRODUCTS,
    durable: "catalogue-publisher-retractions",
    filter_subjects: &["products.retracted.>"],
    ..CONSUMER
};

/// Runs the service until `shutdown`, then drains what it holds.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), Error> {
    config.validate()?;
    let readiness = Readiness::default();
    let _health =
        HealthServer::start_configured(&config.health, readiness.clone(), shutdown.clone())
            .await
            .map_err(Error::Health)?;

    let client = nrt_s3::client(&config.s3).await;
    let store = S3Store::new(client.clone(), &config.catalogue_bucket);
    if config.publishes_to(Target::S3) {
        readiness.register("s3");
        nrt_s3::ensure_bucket(&client, &config.catalogue_bucket).await?;
        let endpoint = config.s3.endpoint.as_deref().unwrap_or("AWS S3");
        store::verify_conditional_writes(&store, &handler::layout_of(&config), endpoint).await?;
        readiness.set("s3", true);
    }

    let mesh = Mesh::connect(SERVICE, &config.nats, readiness).await?;
    let derivations = Derivations::new(mesh.key_value(KV_CATALOGUE_DERIVATIONS).await?);
    let catalogue = Catalogue::new(store, &config).with_derivations(derivations.clone());
    let markers = marker::consumer(&mesh, &config, catalogue.clone(), shutdown.clone()).await?;
    let jobs = run_consumer(
        ensure_consumer(&mesh.js, &CONSUMER).await?,
        CONSUMER,
        Arc::new(JobSucceededHandler {
            catalogue: catalogue.clone(),
            publisher: mesh.publisher.clone(),
        }),
        mesh.consumer_options(config.concurrency),
        shutdown.clone(),
    );
    let retractions = run_consumer(
        ensure_consumer(&mesh.js, &RETRACTIONS).await?,
        RETRACTIONS,
        Arc::new(RetractionHandler {
            catalogue,
            derivations,
            policy: config.retractions,
            publisher: mesh.publisher.clone(),
        }),
        mesh.consumer_options(1),
        shutdown,
    );
    tracing::info!(targets = ?config.targets, bucket = %config.catalogue_bucket, prefix = %config.catalogue_prefix, stac_api = ?config.stac_api_url().map(Url::as_str), "Publishing succeeded jobs to the catalogue.");
    let (jobs, retractions, markers) = tokio::join!(jobs, retractions, markers);
    jobs?;
    retractions?;
    markers?;
    Ok(())
}
