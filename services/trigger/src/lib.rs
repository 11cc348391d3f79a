//! The trigger: decides which processors run on which products. It consumes
//! `products.discovered.>` and, for every rule a product fires, publishes one `JobRequested` on
//! `jobs.requested.<processor>`. Rules are a TOML file, validated at start (see [`rules`]).

pub mod config;
mod error;
mod handler;
mod jetstream;
mod jobs;
pub mod rules;

#[cfg(test)]
mod golden;

use std::sync::Arc;

use nrt_nats::{Mesh, ensure_consumer, run_consumer};
use nrt_registry::ProcessorRegistry;
use nrt_runtime::{HealthServer, Readiness, Shutdown};

pub use config::Config;
pub use error::Error;
pub use handler::{Action, Firing, GroupTarget, Verdict, evaluate, explain};
pub use jetstream::CONSUMER;
pub use jobs::request_job;
pub use rules::{ActiveRules, Rules};

/// The service name: NATS client name, CloudEvents source, dead-letter subject `dlq.trigger`.
pub const SERVICE: &str = "trigger";

/// Loads the registry and rules (failing fast on either), then evaluates products until
/// `shutdown` and drains what is in flight.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), Error> {
    let registry = ProcessorRegistry::load(&config.registry_file)?;
    let rules = Rules::load(&config.rules_file, &registry)?;
    tracing::info!(
        rules = rules.iter().count(),
        rules_file = %config.rules_file.display(),
        "Rules loaded."
    );

    let readiness = Readiness::default();
    let _health =
        HealthServer::start_configured(&config.health, readiness.clone(), shutdown.clone())
            .await
            .map_err(Error::Health)?;
    // Connecting retries until NATS answers; a shutdown meanwhile ends the wait.
    let mesh = tokio::select! {
        mesh = Mesh::connect(SERVICE, &config.nats, readiness) => mesh?,
        () = shutdown.requested() => return Ok(()),
    };
    let consumer = ensure_consumer(&mesh.js, &CONSUMER).await?;
    let (_rules_sender, active_rules) = tokio::sync::watch::channel(Arc::new(ActiveRules {
        rules,
        registry,
        origin: config.rules_file.display().to_string(),
    }));
    let handler = Arc::new(jetstream::ProductHandler::new(
        active_rules,
        mesh.publisher.clone(),
    ));
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
