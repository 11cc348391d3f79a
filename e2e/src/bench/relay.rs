//! The baseline: the mesh's hops as a bare JetStream relay on the same kind of server. Each hop
//! is a durable pull consumer that decodes a JSON message, publishes the next one with a
//! `Nats-Msg-Id` and awaits its PubAck, then acks. No S3, no processes, no service logic: what
//! the mesh costs beyond this is its own.

use std::{collections::HashMap, time::Duration};

use anyhow::Context as _;
use async_nats::{
    HeaderMap,
    header::NATS_MESSAGE_ID,
    jetstream::{
        self,
        consumer::{AckPolicy, PullConsumer, pull},
        stream::{self, StorageType},
    },
};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use nrt_nats::{NatsServer, ServerOptions, SyncInterval};
use serde::{Deserialize, Serialize};
use tokio::{sync::mpsc, task::JoinSet, time::Instant};

use super::figures::{Figures, ProductTimes};

const STREAM: &str = "RELAY";
/// PubAcks the source awaits at once, as the ingestor does while it publishes a page.
const SOURCE_CONCURRENCY: usize = 32;

/// The messages of the chain, one subject each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Discovered,
    Requested,
    Started,
    Succeeded,
    Published,
}

impl Stage {
    fn subject(self) -> &'static str {
        match self {
            Self::Discovered => "relay.discovered",
            Self::Requested => "relay.requested",
            Self::Started => "relay.started",
            Self::Succeeded => "relay.succeeded",
            Self::Published => "relay.published",
        }
    }

    /// Records the moment the points the figures measure are reached, as the mesh's events do.
    fn stamp(self, product: &mut RelayedProduct) {
        match self {
            Self::Started => product.launched_at = Some(Utc::now()),
            Self::Published => product.published_at = Some(Utc::now()),
            Self::Discovered | Self::Requested | Self::Succeeded => {}
        }
    }
}

/// One consumer of the chain: the service it stands for, what it reads, and what it publishes
/// in order before acking.
struct Hop {
    service: &'static str,
    reads: Stage,
    publishes: &'static [Stage],
}

/// The mesh's hops, counted from the services: the ingestor publishes the discovery (the
/// source, below); the trigger turns it into a job request; the launcher announces the start,
/// then the outcome; the catalogue-publisher announces the item; the notifier reads it and
/// publishes nothing.
const HOPS: [Hop; 4] = [
    Hop {
        service: "trigger",
        reads: Stage::Discovered,
        publishes: &[Stage::Requested],
    },
    Hop {
        service: "processor-launcher",
        reads: Stage::Requested,
        publishes: &[Stage::Started, Stage::Succeeded],
    },
    Hop {
        service: "catalogue-publisher",
        reads: Stage::Succeeded,
        publishes: &[Stage::Published],
    },
    Hop {
        service: "notifier",
        reads: Stage::Published,
        publishes: &[],
    },
];

/// What every message of the chain carries.
#[derive(Debug, Serialize, Deserialize)]
struct RelayedProduct {
    key: String,
    /// The feed entry, so that messages weigh about what the mesh's events weigh.
    entry: serde_json::Value,
    discovered_at: DateTime<Utc>,
    launched_at: Option<DateTime<Utc>>,
    published_at: Option<DateTime<Utc>>,
}

/// Relays every feed entry through the chain on a fresh server, `concurrency` messages at once
/// per hop, and times it.
pub async fn run(
    sync_interval: SyncInterval,
    entries: Vec<serde_json::Value>,
    concurrency: usize,
    timeout: Duration,
) -> anyhow::Result<Figures> {
    let deadline = Instant::now() + timeout;
    let server = NatsServer::start_with(ServerOptions {
        sync_interval,
        ..ServerOptions::default()
    })
    .await?;
    let js = jetstream::new(async_nats::connect(server.url()).await?);
    let stream = js
        .create_stream(stream::Config {
            name: STREAM.into(),
            subjects: vec!["relay.>".into()],
            storage: StorageType::File,
            duplicate_window: Duration::from_secs(3600),
            ..Default::default()
        })
        .await?;

    let expected = entries.len();
    let (arrivals, mut arrived) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    for hop in &HOPS {
        let consumer: PullConsumer = stream
            .create_consumer(pull::Config {
                durable_name: Some(hop.service.into()),
                filter_subject: hop.reads.subject().into(),
                ack_policy: AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            })
            .await?;
        tasks.spawn(relay(
            js.clone(),
            consumer,
            hop,
            concurrency,
            arrivals.clone(),
        ));
    }
    tasks.spawn(publish_discoveries(js.clone(), entries));

    let mut times = HashMap::new();
    while times.len() < expected {
        tokio::select! {
            Some(product) = arrived.recv() => {
                let key = product.key.clone();
                // A redelivered message reaches the end twice; the first arrival counts.
                times.entry(key).or_insert(times_of(product)?);
            }
            Some(ended) = tasks.join_next(), if !tasks.is_empty() => {
                // Only the source ends on its own; a hop ends only on an error.
                ended.context("a relay task panicked")??;
            }
            () = tokio::time::sleep_until(deadline) => anyhow::bail!(
                "only {} of {expected} products reached the end of the relay within {timeout:?}",
                times.len()
            ),
        }
    }
    let times: Vec<ProductTimes> = times.into_values().collect();
    Figures::of(&times)
}

/// The source: publishes every entry as discovered, as the ingestor does, and ends.
async fn publish_discoveries(
    js: jetstream::Context,
    entries: Vec<serde_json::Value>,
) -> anyhow::Result<()> {
    futures::stream::iter(entries)
        .map(|entry| {
            let js = &js;
            async move {
                let key = entry["Id"]
                    .as_str()
                    .context("a feed entry without an Id")?
                    .to_owned();
                let product = RelayedProduct {
                    key,
                    entry,
                    discovered_at: Utc::now(),
                    launched_at: None,
                    published_at: None,
                };
                publish(js, Stage::Discovered, &product).await
            }
        })
        .buffer_unordered(SOURCE_CONCURRENCY)
        .try_collect()
        .await
}

/// Runs one hop until an error: decode, publish what the hop publishes, ack; the last hop hands
/// what arrived to `arrivals`.
async fn relay(
    js: jetstream::Context,
    consumer: PullConsumer,
    hop: &'static Hop,
    concurrency: usize,
    arrivals: mpsc::UnboundedSender<RelayedProduct>,
) -> anyhow::Result<()> {
    let messages = consumer
        .stream()
        .max_messages_per_batch(concurrency)
        .messages()
        .await?;
    messages
        .map_err(anyhow::Error::from)
        .try_for_each_concurrent(concurrency, |message| {
            let (js, arrivals) = (&js, &arrivals);
            async move {
                let mut product: RelayedProduct = serde_json::from_slice(&message.payload)
                    .with_context(|| format!("{} read an undecodable message", hop.service))?;
                for stage in hop.publishes {
                    stage.stamp(&mut product);
                    publish(js, *stage, &product).await?;
                }
                message
                    .ack()
                    .await
                    .map_err(|error| anyhow::anyhow!("{} could not ack: {error}", hop.service))?;
                if hop.publishes.is_empty() {
                    // Closed only once the run has all it needs.
                    let _ = arrivals.send(product);
                }
                Ok(())
            }
        })
        .await
}

async fn publish(
    js: &jetstream::Context,
    stage: Stage,
    product: &RelayedProduct,
) -> anyhow::Result<()> {
    let subject = stage.subject();
    let mut headers = HeaderMap::new();
    headers.insert(
        NATS_MESSAGE_ID,
        format!("{subject}:{}", product.key).as_str(),
    );
    let body = serde_json::to_vec(product)?;
    js.publish_with_headers(subject, headers, body.into())
        .await
        .with_context(|| format!("could not publish to {subject}"))?
        .await
        .with_context(|| format!("no PubAck for {subject}"))?;
    Ok(())
}

fn times_of(product: RelayedProduct) -> anyhow::Result<ProductTimes> {
    let missing = |what: &str| format!("{} reached the end without {what}", product.key);
    Ok(ProductTimes {
        discovered: product.discovered_at,
        launched: product
            .launched_at
            .with_context(|| missing("a launch time"))?,
        published: product
            .published_at
            .with_context(|| missing("a publication time"))?,
    })
}
