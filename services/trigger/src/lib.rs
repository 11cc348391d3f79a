//! The trigger: decides which processors run on which products. It consumes
//! `products.discovered.>` and, for every plain rule a product fires, publishes one
//! `JobRequested` on `jobs.requested.<processor>`; join and periodic rules gather products in the
//! `trigger-joins` bucket and request one job per complete (or due) group. It consumes
//! `products.retracted.>` to undo what a retracted product touched. Rules are a TOML file,
//! validated at load (see [`rules`]).

pub mod config;
mod error;
mod gather;
mod handler;
mod jetstream;
mod jobs;
mod reload;
pub mod rules;

#[cfg(test)]
mod golden;

use std::sync::Arc;

use nrt_events::streams::{KV_TRIGGER_INPUTS, KV_TRIGGER_JOINS};
use nrt_nats::{Mesh, ensure_consumer, run_consumer};
use nrt_runtime::{Clock, HealthServer, Readiness, Shutdown};

pub use config::Config;
pub use error::Error;
pub use gather::GatherConfig;
pub use handler::{Action, Firing, GroupTarget, Verdict, evaluate, explain};
pub use jetstream::{CONSUMER, RETRACTIONS};
pub use jobs::{request_alone, request_job};
pub use rules::{ActiveRules, Rules};

/// The service name: NATS client name, CloudEvents source, dead-letter subject `dlq.trigger`.
pub const SERVICE: &str = "trigger";

/// Loads the registry and rules (failing fast on either), then evaluates products until
/// `shutdown` and drains what is in flight.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), Error> {
    run_at(config, Clock::system(), shutdown).await
}

/// [`run`] with the time read from `clock`: tests move it to close periods and time joins out.
pub async fn run_at(config: Config, clock: Clock, shutdown: Shutdown) -> Result<(), Error> {
    // The registry, and a rules file, are checked before connecting: a bad one fails at once.
    let rules_source = reload::RulesSource::before_connecting(&config)?;

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
    // Rules kept in the mesh are read now; new versions replace the rules in force until shutdown.
    let active_rules = rules_source.watch(&mesh, shutdown.clone()).await?;
    let mut gatherer = gather::Gatherer::new(
        gather::KvBucket::new(mesh.key_value(KV_TRIGGER_JOINS).await?, KV_TRIGGER_JOINS),
        gather::KvBucket::new(mesh.key_value(KV_TRIGGER_INPUTS).await?, KV_TRIGGER_INPUTS),
        gather::JetStreamOutbox {
            publisher: mesh.publisher.clone(),
        },
    );
    let schedule = Arc::new(gather::Schedule::new(config.gathering.keep_closed()));
    gatherer.schedule = Some(schedule.clone());
    tokio::spawn(gather::follow(
        gatherer.groups.store().clone(),
        schedule,
        shutdown.clone(),
    ));
    let context = Arc::new(jetstream::Context {
        rules: active_rules,
        gatherer,
        clock,
    });
    let sweeper = tokio::spawn(gather::sweep_until(
        context.clone(),
        config.gathering.clone(),
        shutdown.clone(),
    ));
    let products = run_consumer(
        ensure_consumer(&mesh.js, &CONSUMER).await?,
        CONSUMER,
        Arc::new(jetstream::ProductHandler(context.clone())),
        mesh.consumer_options(config.concurrency),
        shutdown.clone(),
    );
    let retractions = run_consumer(
        ensure_consumer(&mesh.js, &RETRACTIONS).await?,
        RETRACTIONS,
        Arc::new(jetstream::RetractionHandler(context)),
        mesh.consumer_options(1),
        shutdown,
    );
    let (products, retractions) = tokio::join!(products, retractions);
    // The sweeper stops on the same shutdown; a sweep in progress is safe to abandon.
    sweeper.abort();
    products?;
    retractions?;
    Ok(())
}
