//! A subscription's durable consumers: one on each stream its events come from, each named
//! `notifier-<subscription>` and reading only the subjects its filters allow. Each subscription
//! acknowledges, retries, redelivers and dead-letters on its own, so a slow or dead endpoint
//! holds up no other subscription.

use std::time::Duration;

use chrono::{DateTime, Utc};
use nrt_events::streams::{self, StreamDef};
use nrt_nats::async_nats::{
    self,
    jetstream::{
        self,
        consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull},
    },
};
use nrt_runtime::config::ConfigError;

use crate::{Error, config::Config, filter::Filter};

/// How long an event may be held without an ack or progress before JetStream redelivers it: the
/// time to notice a crashed replica. The runner sends progress while a delivery goes on.
pub const ACK_WAIT: Duration = Duration::from_secs(30);

/// Events waiting out an endpoint's outage (or a disabled subscription) stay pending: room for a
/// day of production.
pub const MAX_ACK_PENDING: i64 = 10_000;

/// The durable name of every consumer of `subscription`.
pub fn durable_name(subscription: &str) -> String {
    format!("notifier-{subscription}")
}

/// A digest holds its events for its whole window before it delivers them.
pub fn ack_wait(digest: Option<Duration>) -> Duration {
    digest.map_or(ACK_WAIT, |window| window + ACK_WAIT)
}

/// Creates the consumers of subscription `name`, or updates their settings in place. A new
/// consumer starts at `starting_at` (when the notifier started), so that a subscription added
/// to a running mesh is told what happens from then on, not the stream's whole history; an
/// existing one keeps its position.
pub async fn declare(
    js: &jetstream::Context,
    name: &str,
    filter: &Filter,
    digest: Option<Duration>,
    starting_at: DateTime<Utc>,
) -> Result<Vec<(StreamDef, PullConsumer)>, Error> {
    let mut consumers = Vec::new();
    for (stream_name, subjects) in filter.subjects() {
        let stream = streams::ALL
            .into_iter()
            .find(|def| def.name == stream_name)
            .expect("filters read only streams of the mesh");
        let durable = durable_name(name);
        let config = pull::Config {
            durable_name: Some(durable.clone()),
            description: Some(format!("notifier subscription {name}")),
            deliver_policy: start_at(starting_at),
            ack_policy: AckPolicy::Explicit,
            ack_wait: ack_wait(digest),
            // Unlimited on the server: the notifier counts deliveries and dead-letters itself.
            max_deliver: -1,
            filter_subjects: subjects.into_iter().collect(),
            max_ack_pending: MAX_ACK_PENDING,
            ..Default::default()
        };
        let consumer = create_or_update(js, stream.name, &durable, config)
            .await
            .map_err(|source| Error::Declare {
                subscription: name.to_owned(),
                stream: stream.name,
                source,
            })?;
        consumers.push((stream, consumer));
    }
    Ok(consumers)
}

/// Declares the consumers of every subscription in `config`: what `nrtmesh streams apply` does
/// for a platform team that provisions JetStream itself.
pub async fn declare_all(
    js: &jetstream::Context,
    config: &Config,
    starting_at: DateTime<Utc>,
) -> Result<(), Error> {
    config.validate()?;
    for (index, subscription) in config.subscriptions.iter().enumerate() {
        let filter = Filter::new(subscription).map_err(|reason| {
            ConfigError::invalid(format!("subscriptions[{index}].area_of_interest"), reason)
        })?;
        declare(
            js,
            &subscription.name,
            &filter,
            subscription.digest,
            starting_at,
        )
        .await?;
    }
    Ok(())
}

async fn create_or_update(
    js: &jetstream::Context,
    stream: &str,
    durable: &str,
    mut config: pull::Config,
) -> Result<PullConsumer, async_nats::Error> {
    let stream = js.get_stream(stream).await?;
    let existing = |consumer: PullConsumer| consumer.cached_info().config.deliver_policy;
    if let Ok(consumer) = stream.get_consumer::<pull::Config>(durable).await {
        // Where a consumer starts cannot change: keep the existing one's.
        config.deliver_policy = existing(consumer);
        return Ok(stream.create_consumer(config).await?);
    }
    match stream.create_consumer(config.clone()).await {
        Ok(consumer) => Ok(consumer),
        // Another replica created it a moment ago, from its own start: keep that one's.
        Err(error) => match stream.get_consumer::<pull::Config>(durable).await {
            Ok(consumer) => {
                config.deliver_policy = existing(consumer);
                Ok(stream.create_consumer(config).await?)
            }
            Err(_) => Err(error.into()),
        },
    }
}

fn start_at(starting_at: DateTime<Utc>) -> DeliverPolicy {
    let nanos = starting_at.timestamp_nanos_opt().unwrap_or_default();
    match async_nats::datetime::from_nanos(i128::from(nanos)) {
        Ok(start_time) => DeliverPolicy::ByStartTime { start_time },
        Err(_) => DeliverPolicy::New,
    }
}
