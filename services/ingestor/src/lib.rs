//! The ingestor: watches feeds and turns each new product into one `products.discovered` event
//! (and each withdrawn one into one `products.retracted`).
//!
//! Each configured feed runs in its own task. A polled feed fetches the pages published since
//! its cursor (retrying faults with backoff), publishes every new product with its PubAck
//! awaited, sends entries that cannot be read to `dlq.ingestor`, and only then moves the cursor
//! in the `ingest-cursors` bucket, by compare-and-set. A crash in between re-polls, and
//! JetStream's dedup drops the repeats. Every source publishes under the product's identity
//! (its name without packaging), so a product seen by several feeds is one event.

pub mod auth;
pub mod backfill;
pub mod config;
pub mod cursor;
mod error;
pub mod feed;
pub mod handler;
pub mod http;
mod jetstream;
pub mod odata;
pub mod poller;
pub mod s3;
pub mod sink;
pub mod stac_api;
pub mod subscription;
#[cfg(test)]
mod testing;
pub mod watchdog;

use std::sync::Arc;

use nrt_events::streams::KV_INGEST_CURSORS;
use nrt_nats::Mesh;
use nrt_runtime::{HealthServer, Readiness, Shutdown};
use tokio::task::JoinSet;

pub use config::{Config, FeedConfig, RetryPolicy, SourceConfig};
pub use error::Error;
pub use jetstream::{KvCursors, MeshSink};

use crate::{
    odata::{OdataDeletions, OdataFeed, deletions::deletions_cursor},
    poller::FeedPoller,
    s3::{
        events::{ObjectEvents, consumer_spec},
        listing::{BucketListing, listing_cursor},
    },
    subscription::{PushEndpoint, SubscriptionPuller},
};

/// The service's name in the mesh: its NATS connection, CloudEvents source and dead letters.
pub const SERVICE: &str = "ingestor";

/// Object events a bucket feed handles at once: each is a few small publishes.
const OBJECT_EVENTS_AT_ONCE: usize = 8;

/// Runs every configured feed until `shutdown`, then lets each finish the page it is on.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), Error> {
    config.validate()?;
    let readiness = Readiness::default();
    let _health =
        HealthServer::start_configured(&config.health, readiness.clone(), shutdown.clone())
            .await
            .map_err(Error::Health)?;
    let mesh = tokio::select! {
        mesh = Mesh::connect(SERVICE, &config.nats, readiness) => mesh?,
        _ = shutdown.requested() => return Ok(()),
    };
    let cursors = KvCursors::new(mesh.key_value(KV_INGEST_CURSORS).await?);
    let sink = MeshSink::new(&mesh);
    let mut feeds = JoinSet::new();
    for feed in config.feeds {
        match &feed.source {
            SourceConfig::CdseOdata(odata) => {
                if odata.deletions {
                    let mut deletions = FeedPoller::new(
                        feed.clone(),
                        OdataDeletions::new(&feed, odata)?,
                        sink.clone(),
                        cursors.clone(),
                    );
                    deletions.cursor_key = deletions_cursor(&feed.name);
                    // Deletions are rare: their silence is no stall.
                    deletions.feed.stalled_after = None;
                    let shutdown = shutdown.clone();
                    feeds.spawn(async move { deletions.run(shutdown).await });
                }
                let products = FeedPoller::new(
                    feed.clone(),
                    OdataFeed::new(&feed, odata)?,
                    sink.clone(),
                    cursors.clone(),
                );
                let shutdown = shutdown.clone();
                feeds.spawn(async move { products.run(shutdown).await });
            }
            SourceConfig::StacApi(stac) => {
                let items = FeedPoller::new(
                    feed.clone(),
                    stac_api::StacFeed::new(&feed, stac)?,
                    sink.clone(),
                    cursors.clone(),
                );
                let shutdown = shutdown.clone();
                feeds.spawn(async move { items.run(shutdown).await });
            }
            SourceConfig::S3Bucket(bucket) => {
                if bucket.events {
                    let spec = consumer_spec(&feed.name, bucket);
                    let consumer = nrt_nats::ensure_consumer(&mesh.js, &spec).await?;
                    let handler = Arc::new(ObjectEvents::new(&feed.name, bucket, sink.clone()));
                    let options = mesh.consumer_options(OBJECT_EVENTS_AT_ONCE);
                    let shutdown = shutdown.clone();
                    feeds.spawn(async move {
                        if let Err(error) =
                            nrt_nats::run_consumer(consumer, spec, handler, options, shutdown).await
                        {
                            tracing::error!(%error, "Object events stopped.");
                        }
                    });
                }
                if bucket.reconcile {
                    let mut listing = FeedPoller::new(
                        feed.clone(),
                        BucketListing::new(&feed.name, bucket).await,
                        sink.clone(),
                        cursors.clone(),
                    );
                    listing.cursor_key = listing_cursor(&feed.name);
                    let shutdown = shutdown.clone();
                    feeds.spawn(async move { listing.run(shutdown).await });
                }
            }
            SourceConfig::CdsePush(push) => {
                let endpoint = PushEndpoint::bind(&feed, push, sink.clone()).await?;
                feeds.spawn(endpoint.serve(shutdown.clone()));
            }
            SourceConfig::CdsePull(pull) => {
                let puller = SubscriptionPuller::new(&feed, pull, sink.clone())?;
                let shutdown = shutdown.clone();
                feeds.spawn(async move { puller.run(shutdown).await });
            }
        }
    }
    while let Some(finished) = feeds.join_next().await {
        // A panicking feed takes only itself down.
        if let Err(error) = finished {
            tracing::error!(%error, "A feed task ended abnormally.");
        }
    }
    Ok(())
}
