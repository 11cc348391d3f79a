//! The notifier: tells people. It reads published items (`catalogue.published.>`) and failed or
//! dead jobs (`jobs.failed.>`, `jobs.dead.>`) and POSTs each event, as the CloudEvent JSON it
//! arrived as, to every configured webhook whose filters accept it, signed the Standard Webhooks
//! way (see [`signature`]). Unreachable endpoints are retried: a few quick attempts, then
//! redeliveries of the event by JetStream, then `dlq.notifier`; endpoints already served are not
//! sent the event again (see [`handler`]).

pub mod config;
pub mod error;
#[cfg(test)]
mod fixtures;
pub mod handler;
pub mod jetstream;
pub mod notification;
pub mod signature;
pub mod webhook;

use std::{sync::Arc, time::Duration};

use nrt_events::streams;
use nrt_nats::{ConsumerSpec, Mesh, ensure_consumer, run_consumer};
use nrt_runtime::{HealthServer, Readiness, Shutdown, config::ConfigError};

pub use config::{Config, DeliveryConfig, WebhookConfig};
pub use error::Error;

use crate::{
    jetstream::{NotifierHandler, open_delivery_log},
    notification::{ITEM_SUBJECTS, JOB_SUBJECTS},
    webhook::{Endpoint, WebhookClient},
};

/// The name the notifier speaks as on NATS, in events, dead letters and alerts.
pub const SERVICE: &str = "notifier";

/// When JetStream redelivers an event some webhook did not take, unless `delivery` says
/// otherwise: a webhook outage of some hours is ridden out before the event is dead-lettered.
const REDELIVERY_DELAYS: &[Duration] = &[
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(300),
    Duration::from_secs(1800),
    Duration::from_secs(3600),
    Duration::from_secs(7200),
    Duration::from_secs(14400),
];

/// Published STAC items.
pub const ITEMS: ConsumerSpec = ConsumerSpec {
    stream: streams::CATALOGUE,
    durable: "notifier-items",
    filter_subjects: ITEM_SUBJECTS,
    // Quick attempts with per-webhook timeouts outlast this; the runner's progress acks cover it.
    ack_wait: Duration::from_secs(30),
    max_deliver: 8,
    retry_delays: REDELIVERY_DELAYS,
    // Events waiting out a webhook outage stay pending: room for a day of production.
    max_ack_pending: 10_000,
};

/// Failed and dead jobs.
pub const JOB_OUTCOMES: ConsumerSpec = ConsumerSpec {
    stream: streams::JOBS,
    durable: "notifier-jobs",
    filter_subjects: JOB_SUBJECTS,
    ..ITEMS
};

/// Runs until `shutdown`, then drains what is in flight.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), Error> {
    config.validate()?;
    if config.webhooks.is_empty() {
        tracing::warn!("No webhooks configured: events are read and acknowledged, nobody is told.");
    }
    let readiness = Readiness::default();
    let _health =
        HealthServer::start_configured(&config.health, readiness.clone(), shutdown.clone())
            .await
            .map_err(Error::Health)?;
    let mesh = Mesh::connect(SERVICE, &config.nats, readiness).await?;
    let handler = Arc::new(NotifierHandler {
        endpoints: endpoints(&config)?,
        client: WebhookClient::new(&config.delivery).map_err(Error::HttpClient)?,
        deliveries: open_delivery_log(&mesh.js, config.nats.replicas).await?,
        publisher: mesh.publisher.clone(),
        redelivery_delays: config.delivery.redelivery_delays.clone(),
    });
    let items = ensure_consumer(&mesh.js, &ITEMS).await?;
    let jobs = ensure_consumer(&mesh.js, &JOB_OUTCOMES).await?;
    let options = mesh.consumer_options(config.concurrency);
    tracing::info!(webhooks = config.webhooks.len(), "Notifier running.");
    let (items, jobs) = tokio::join!(
        run_consumer(
            items,
            redelivering(ITEMS, &config.delivery),
            handler.clone(),
            options.clone(),
            shutdown.clone(),
        ),
        run_consumer(
            jobs,
            redelivering(JOB_OUTCOMES, &config.delivery),
            handler,
            options,
            shutdown,
        ),
    );
    items?;
    jobs?;
    Ok(())
}

/// `spec` with the configured redelivery schedule. Both settings live only in the runner (the
/// server's consumer is the same), so the ops CLI's declaration of the spec stays in agreement.
fn redelivering(spec: ConsumerSpec, delivery: &DeliveryConfig) -> ConsumerSpec {
    // Leaked once per run: ConsumerSpec holds 'static slices so that specs can be consts.
    let delays: &'static [Duration] =
        Box::leak(delivery.redelivery_delays.clone().into_boxed_slice());
    ConsumerSpec {
        retry_delays: delays,
        max_deliver: delivery.max_deliveries,
        ..spec
    }
}

fn endpoints(config: &Config) -> Result<Vec<Endpoint>, ConfigError> {
    config
        .webhooks
        .iter()
        .enumerate()
        .map(|(index, webhook)| {
            Endpoint::new(webhook.clone()).map_err(|error| {
                ConfigError::invalid(format!("webhooks[{index}].secret"), error.to_string())
            })
        })
        .collect()
}
