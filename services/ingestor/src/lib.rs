//! The ingestor: watches feeds and turns each new product into one `products.discovered` event.
//!
//! Each configured feed is polled by its own task: the pages published since the feed's cursor
//! are fetched (retrying faults with backoff), every new product is published with its PubAck
//! awaited, entries that cannot be mapped go to `dlq.ingestor`, and only then does the cursor in
//! the `ingest-cursors` bucket move, by compare-and-set. A crash in between re-polls, and
//! JetStream's dedup drops the repeats.

pub mod config;
pub mod cursor;
mod error;
pub mod handler;
pub mod http;
mod jetstream;
pub mod mapping;
pub mod odata;
pub mod poller;
#[cfg(test)]
mod testing;

use nrt_events::streams::KV_INGEST_CURSORS;
use nrt_nats::Mesh;
use nrt_runtime::{HealthServer, Readiness, Shutdown};
use tokio::task::JoinSet;

pub use config::{Config, FeedConfig, FeedKind, RetryPolicy};
pub use error::Error;
pub use jetstream::{KvCursors, MeshSink};

/// The service's name in the mesh: its NATS connection, CloudEvents source and dead letters.
pub const SERVICE: &str = "ingestor";

/// Polls every configured feed until `shutdown`, then lets each finish the page it is on.
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
        let poller = poller::FeedPoller {
            source: http::HttpFeed::new(&feed)?,
            sink: sink.clone(),
            cursors: cursors.clone(),
            feed,
        };
        let shutdown = shutdown.clone();
        feeds.spawn(async move { poller.run(shutdown).await });
    }
    while let Some(finished) = feeds.join_next().await {
        // A panicking feed takes only itself down.
        if let Err(error) = finished {
            tracing::error!(%error, "A feed task ended abnormally.");
        }
    }
    Ok(())
}
