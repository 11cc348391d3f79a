//! Subscriptions at run time: each one's filter, channel and consumers, and the task that delivers
//! its events.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use nrt_events::streams::{KV_NOTIFIER_DISABLED, StreamDef};
use nrt_nats::{
    ConsumerOptions, ConsumerSpec, Mesh, async_nats::jetstream::consumer::PullConsumer,
    run_consumer,
};
use nrt_runtime::{Shutdown, config::ConfigError};

use crate::{
    Error,
    channel::{Channel, Senders},
    config::{Config, SubscriptionConfig},
    consumers::{self, ACK_WAIT, MAX_ACK_PENDING},
    delivery::{Deliverer, SubscriptionHandler},
    digest,
    disabled::DisabledSubscriptions,
    filter::Filter,
    verdict::Schedule,
};

/// One subscription, ready to deliver.
pub struct Subscription {
    pub name: String,
    pub filter: Filter,
    pub channel: Channel,
    /// How long a digest gathers events; `None` delivers each event on its own.
    pub digest: Option<Duration>,
}

impl Subscription {
    /// The `index`-th subscription of a validated configuration.
    pub fn new(
        config: &SubscriptionConfig,
        index: usize,
        senders: &Senders,
    ) -> Result<Self, ConfigError> {
        let filter = Filter::new(config).map_err(|reason| {
            ConfigError::invalid(format!("subscriptions[{index}].area_of_interest"), reason)
        })?;
        Ok(Self {
            name: config.name.clone(),
            filter,
            channel: Channel::new(config, index, senders)?,
            digest: config.digest,
        })
    }
}

/// What every subscription's task of a replica shares.
pub struct Runtime {
    pub deliverer: Arc<Deliverer>,
    pub options: ConsumerOptions,
    /// The schedule as the runner wants it; leaked once per run, see [`deliver`].
    pub redelivery_delays: &'static [Duration],
    pub digest_max_events: usize,
}

/// Delivers every subscription's events until `shutdown`. Consumers created now start at
/// `starting_at`.
pub async fn deliver(
    config: &Config,
    mesh: &Mesh,
    starting_at: DateTime<Utc>,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let senders = Senders::new(config)?;
    let bucket = mesh.key_value(KV_NOTIFIER_DISABLED).await?;
    let disabled = DisabledSubscriptions::follow(bucket, shutdown.clone())
        .await
        .map_err(Error::DisabledBucket)?;
    let runtime = Arc::new(Runtime {
        deliverer: Arc::new(Deliverer {
            publisher: mesh.publisher.clone(),
            disabled,
            schedule: Schedule::new(&config.delivery),
        }),
        options: mesh.consumer_options(config.concurrency),
        // ConsumerSpec holds 'static slices so that specs can be consts; one leak per run.
        redelivery_delays: Box::leak(config.delivery.redelivery_delays.clone().into_boxed_slice()),
        digest_max_events: config.delivery.digest_max_events,
    });
    let mut tasks = Vec::new();
    for (index, subscription_config) in config.subscriptions.iter().enumerate() {
        let subscription = Arc::new(Subscription::new(subscription_config, index, &senders)?);
        let consumers = consumers::declare(
            &mesh.js,
            &subscription.name,
            &subscription.filter,
            subscription.digest,
            starting_at,
        )
        .await?;
        tasks.push(deliver_subscription(
            subscription,
            consumers,
            runtime.clone(),
            shutdown.clone(),
        ));
    }
    if tasks.is_empty() {
        tracing::warn!("No subscriptions configured: nobody is told anything.");
    }
    tracing::info!(subscriptions = tasks.len(), "Notifier delivering.");
    try_join_all(tasks).await?;
    Ok(())
}

/// Delivers one subscription's events, each on its own or in digests.
async fn deliver_subscription(
    subscription: Arc<Subscription>,
    consumers: Vec<(StreamDef, PullConsumer)>,
    runtime: Arc<Runtime>,
    shutdown: Shutdown,
) -> Result<(), Error> {
    match subscription.digest {
        None => deliver_each(&subscription, &consumers, &runtime, shutdown).await,
        Some(window) => {
            digest::deliver_digests(&subscription, window, &consumers, &runtime, shutdown).await
        }
    }
}

/// Each event on its own, through the shared consumer runner: concurrency, progress acks,
/// redelivery delays and draining on shutdown come with it.
async fn deliver_each(
    subscription: &Arc<Subscription>,
    consumers: &[(StreamDef, PullConsumer)],
    runtime: &Arc<Runtime>,
    shutdown: Shutdown,
) -> Result<(), Error> {
    // ConsumerSpec holds a 'static name so that specs can be consts; one leak per subscription.
    let durable: &'static str =
        Box::leak(consumers::durable_name(&subscription.name).into_boxed_str());
    let runs = consumers.iter().map(|(stream, consumer)| {
        let spec = ConsumerSpec {
            stream: *stream,
            durable,
            // Declared by `consumers::declare`; the runner reads none of this.
            filter_subjects: &[],
            ack_wait: ACK_WAIT,
            max_deliver: i64::try_from(runtime.deliverer.schedule.max_deliveries)
                .unwrap_or(i64::MAX),
            retry_delays: runtime.redelivery_delays,
            max_ack_pending: MAX_ACK_PENDING,
        };
        let handler = Arc::new(SubscriptionHandler {
            subscription: subscription.clone(),
            stream: stream.name,
            deliverer: runtime.deliverer.clone(),
            shutdown: shutdown.clone(),
        });
        run_consumer(
            consumer.clone(),
            spec,
            handler,
            runtime.options.clone(),
            shutdown.clone(),
        )
    });
    try_join_all(runs).await?;
    Ok(())
}
