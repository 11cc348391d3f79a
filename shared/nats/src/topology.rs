//! Streams, consumers and key-value buckets, declared idempotently: every service applies what it
//! needs at start-up, and `nrtmesh streams apply` applies everything.

use std::time::Duration;

use async_nats::jetstream::{
    self,
    consumer::{self, AckPolicy, DeliverPolicy, pull},
    kv,
    stream::{self, DiscardPolicy, RetentionPolicy, StorageType},
};
use nrt_events::streams::{self, StreamDef};

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("could not declare stream {stream}")]
    Stream {
        stream: String,
        #[source]
        source: jetstream::context::CreateStreamError,
    },
    #[error("could not declare consumer {consumer} on stream {stream}")]
    Consumer {
        stream: String,
        consumer: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("could not declare key-value bucket {bucket}")]
    Bucket {
        bucket: String,
        #[source]
        source: async_nats::Error,
    },
}

/// Cluster-dependent settings.
#[derive(Debug, Clone, Copy)]
pub struct TopologyOptions {
    pub replicas: usize,
    /// How long events are kept: long enough to replay a week of production.
    pub max_age: Duration,
}

impl Default for TopologyOptions {
    fn default() -> Self {
        Self {
            replicas: 1,
            max_age: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Declares every stream and bucket of the mesh; existing ones are updated in place.
pub async fn apply_topology(
    js: &jetstream::Context,
    options: TopologyOptions,
) -> Result<(), TopologyError> {
    for def in streams::ALL {
        js.create_or_update_stream(stream_config(&def, options))
            .await
            .map_err(|source| TopologyError::Stream {
                stream: def.name.into(),
                source,
            })?;
    }
    for bucket in streams::ALL_BUCKETS {
        key_value(js, bucket.name, options.replicas).await?;
    }
    Ok(())
}

fn stream_config(def: &StreamDef, options: TopologyOptions) -> stream::Config {
    stream::Config {
        name: def.name.into(),
        description: Some(def.description.into()),
        subjects: def.subjects.iter().map(|s| (*s).to_owned()).collect(),
        storage: StorageType::File,
        retention: RetentionPolicy::Limits,
        discard: DiscardPolicy::Old,
        num_replicas: options.replicas,
        duplicate_window: def.duplicate_window,
        max_age: options.max_age,
        // Oversized bodies are refused at publish, never half-stored.
        max_message_size: 1024 * 1024,
        ..Default::default()
    }
}

/// Opens `bucket`, creating it when missing, with its definition from `nrt_events::streams`.
pub async fn key_value(
    js: &jetstream::Context,
    bucket: &str,
    replicas: usize,
) -> Result<kv::Store, TopologyError> {
    let max_age = streams::bucket(bucket)
        .and_then(|def| def.max_age)
        .unwrap_or_default();
    let config = kv::Config {
        bucket: bucket.into(),
        // A little history lets `nrtmesh trace` show how a job record moved.
        history: 10,
        max_age,
        storage: StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    };
    js.create_or_update_key_value(config)
        .await
        .map_err(|source| TopologyError::Bucket {
            bucket: bucket.into(),
            source: source.into(),
        })
}

/// A durable pull consumer a service reads through.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerSpec {
    pub stream: StreamDef,
    pub durable: &'static str,
    pub filter_subjects: &'static [&'static str],
    /// How long a delivery may go without an ack or progress before it is redelivered: the time
    /// to notice a crashed replica. The runner sends progress while a handler works.
    pub ack_wait: Duration,
    /// Deliveries before the runner gives up and dead-letters the message.
    pub max_deliver: i64,
    /// Delay before redelivery after the n-th transient failure (the last one repeats).
    pub retry_delays: &'static [Duration],
    /// Messages a consumer may hold unacknowledged across all replicas.
    pub max_ack_pending: i64,
}

impl ConsumerSpec {
    pub fn retry_delay(&self, delivered: u64) -> Duration {
        let index = usize::try_from(delivered.saturating_sub(1)).unwrap_or(usize::MAX);
        self.retry_delays
            .get(index)
            .or(self.retry_delays.last())
            .copied()
            .unwrap_or(Duration::from_secs(5))
    }

    fn config(&self) -> pull::Config {
        pull::Config {
            durable_name: Some(self.durable.into()),
            description: Some(format!(
                "{} reading {}",
                self.durable,
                self.filter_subjects.join(", ")
            )),
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            // Unlimited on the server: the runner counts deliveries itself and dead-letters at
            // max_deliver, so a dead letter that could not be published is retried, not stranded.
            max_deliver: -1,
            filter_subjects: self
                .filter_subjects
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            max_ack_pending: self.max_ack_pending,
            ..Default::default()
        }
    }
}

/// Creates the durable consumer, or updates the settings of an existing one (a new deploy);
/// its position in the stream is kept.
pub async fn ensure_consumer(
    js: &jetstream::Context,
    spec: &ConsumerSpec,
) -> Result<consumer::PullConsumer, TopologyError> {
    js.create_consumer_on_stream(spec.config(), spec.stream.name)
        .await
        .map_err(|source| TopologyError::Consumer {
            stream: spec.stream.name.into(),
            consumer: spec.durable.into(),
            source: source.into(),
        })
}
