//! The notifier: tells people. Each configured subscription filters published items
//! (`catalogue.published.>`), failed and dead jobs (`jobs.failed.>`, `jobs.dead.>`) and alerts
//! (`alerts.>`) by kind, collection, processor, area and severity, and delivers what it wants to
//! one channel: a webhook signed the Standard Webhooks way (see [`signature`]), a Slack or
//! Mattermost incoming webhook, or e-mail (see [`render`] for the messages people read).
//!
//! Every subscription reads through durable consumers of its own (see [`consumers`]), so it
//! acknowledges, retries and dead-letters on its own and a slow or dead endpoint delays nobody
//! else. An endpoint that is unreachable gets a few quick attempts, then the event comes back
//! from JetStream after a delay (longer if the endpoint asked with `Retry-After`), then it is
//! dead-lettered to `dlq.notifier` (see [`verdict`]). An endpoint that answers 410 Gone disables
//! its subscription until an operator enables it again (see [`disabled`]); with `digest_secs`, a
//! subscription sends what arrived in a window as one message (see [`digest`]).

pub mod area;
pub mod channel;
pub mod config;
pub mod consumers;
pub mod delivery;
pub mod digest;
pub mod disabled;
pub mod email;
pub mod error;
pub mod filter;
#[cfg(test)]
mod fixtures;
pub mod notification;
pub mod render;
pub mod signature;
pub mod subscription;
pub mod verdict;
pub mod watchdog;

use chrono::Utc;
use nrt_nats::Mesh;
use nrt_runtime::{HealthServer, Readiness, Shutdown};

pub use config::{Config, DeliveryConfig, SubscriptionConfig};
pub use error::Error;

/// The name the notifier speaks as on NATS, in events, dead letters and alerts.
pub const SERVICE: &str = "notifier";

/// Runs until `shutdown`, then drains what is in flight.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), Error> {
    // Before connecting: a new subscription's consumers start here, so an event published while
    // the notifier was still starting is not missed.
    let started_at = Utc::now();
    config.validate()?;
    let readiness = Readiness::default();
    let _health =
        HealthServer::start_configured(&config.health, readiness.clone(), shutdown.clone())
            .await
            .map_err(Error::Health)?;
    let mesh = Mesh::connect(SERVICE, &config.nats, readiness).await?;
    tokio::try_join!(
        subscription::deliver(&config, &mesh, started_at, shutdown.clone()),
        async {
            let clock = nrt_runtime::Clock::system();
            Ok(watchdog::run(&config.watchdog, &mesh, clock, shutdown.clone()).await?)
        },
    )?;
    Ok(())
}
