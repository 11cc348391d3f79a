//! The timeliness watchdog: tells operators of a delay before users notice it.
//!
//! - Every job whose rule has a deadline (`JobRequested.deadline`, counted by the trigger from
//!   the latest input's publication in its feed) must have an item published by then. One that
//!   has not raises `product-overdue` about the job, saying where it is stuck (see
//!   [`state::Stage`]); its publication raises `product-overdue-cleared`.
//! - A product of a collection with a deadline (`[watchdog.collections.<c>]`) that no rule has
//!   selected by then raises `product-overdue` about the product, `discovered, not triggered`.
//! - A feed with a cadence (`[watchdog.feeds.<feed>]`) that delivers no product for that long
//!   raises `feed-silent`, and its next product `feed-silent-cleared`. This holds even when the
//!   ingestor, which raises `feed-stalled` itself, is down.
//!
//! Events merge into one record per job, product and feed in the `watchdog` bucket (see
//! [`state`]); a periodic check judges every record against the clock. Records
//! and alerts are written by compare-and-set and alert ids name what they are about, so replicas
//! and restarts raise each alert once.

mod alerts;
mod change;
mod check;
mod config;
mod consumer;
mod error;
mod events;
#[cfg(test)]
mod fixtures;
mod judge;
pub mod state;
mod store;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use nrt_events::streams::KV_WATCHDOG;
use nrt_nats::{
    Mesh, Publisher, async_nats::jetstream::consumer::PullConsumer, describe_error,
    ensure_consumer, run_consumer,
};
use nrt_runtime::{Clock, Shutdown};

pub use alerts::{FEED_SILENT, FEED_SILENT_CLEARED, PRODUCT_OVERDUE, PRODUCT_OVERDUE_CLEARED};
pub use config::{CollectionDeadline, FeedCadence, WatchdogConfig};
pub use consumer::{CONSUMERS, ITEM_EVENTS, JOB_EVENTS, PRODUCT_EVENTS};
pub use error::WatchdogError;

use self::{
    change::{Change, FeedFact},
    check::check,
    consumer::{Watchdog, caught_up},
    store::{Bucket, KvBucket},
};

/// Events handled at once by each consumer; two about one record settle by compare-and-set.
const CONCURRENCY: usize = 4;

/// Watches until `shutdown`, reading the time from `clock`; returns at once when disabled.
pub async fn run(
    config: &WatchdogConfig,
    mesh: &Mesh,
    clock: Clock,
    shutdown: Shutdown,
) -> Result<(), WatchdogError> {
    config.validate()?;
    if !config.enabled {
        tracing::info!("Watchdog disabled.");
        return Ok(());
    }
    let bucket = KvBucket(mesh.key_value(KV_WATCHDOG).await?);
    watch_feeds(&bucket, config, clock.now()).await?;
    let mut consumers = Vec::with_capacity(CONSUMERS.len());
    for spec in &CONSUMERS {
        consumers.push(ensure_consumer(&mesh.js, spec).await?);
    }
    let watchdog = Arc::new(Watchdog {
        bucket,
        config: config.clone(),
        clock,
    });
    let options = mesh.consumer_options(CONCURRENCY);
    let consuming = consumers.iter().zip(CONSUMERS).map(|(consumer, spec)| {
        run_consumer(
            consumer.clone(),
            spec,
            watchdog.clone(),
            options.clone(),
            shutdown.clone(),
        )
    });
    tracing::info!(
        feeds = config.feeds.len(),
        collections = config.collections.len(),
        "Watchdog running."
    );
    let (consumed, ()) = tokio::join!(
        join_all(consuming),
        check_periodically(&watchdog, &mesh.publisher, &consumers, &shutdown),
    );
    consumed.into_iter().collect::<Result<(), _>>()?;
    Ok(())
}

/// Starts expecting each configured feed now, unless an earlier run already does: silence of a
/// feed never seen counts from the first start.
async fn watch_feeds(
    bucket: &impl Bucket,
    config: &WatchdogConfig,
    now: DateTime<Utc>,
) -> Result<(), WatchdogError> {
    for feed in config.feeds.keys() {
        let change = Change::Feed {
            feed: feed.clone(),
            fact: FeedFact::Watched,
        };
        store::record(bucket, &change, now).await?;
    }
    Ok(())
}

/// Checks every `check_interval` once the consumers have caught up with the streams.
async fn check_periodically(
    watchdog: &Watchdog<KvBucket>,
    alerts: &Publisher,
    consumers: &[PullConsumer],
    shutdown: &Shutdown,
) {
    let mut ticks = tokio::time::interval(watchdog.config.check_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut is_caught_up = false;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shutdown.requested() => return,
        }
        if !is_caught_up {
            is_caught_up = caught_up(consumers).await;
            if !is_caught_up {
                tracing::info!("Watchdog still reading the streams; no check yet.");
                continue;
            }
        }
        let now = watchdog.clock.now();
        tokio::select! {
            checked = check(&watchdog.bucket, alerts, &watchdog.config, now) => {
                if let Err(error) = checked {
                    tracing::warn!(error = %describe_error(&error), "Watchdog check failed; the next one tries again.");
                }
            }
            // Abandoned midway, an alert raised but not marked is raised again, as a duplicate.
            () = shutdown.requested() => return,
        }
    }
}
