//! Follows the mesh while the recorded feed flows through it: one line per event, and the moment
//! every selected product is published and its notification received.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use async_nats::jetstream;
use bytes::Bytes;
use nrt_cdse_replay::RunningReplay;
use nrt_events::{RawEvent, streams};
use nrt_nats::EventTap;
use nrt_runtime::Shutdown;
use tokio::{sync::mpsc, task::JoinSet};

use crate::receiver::WebhookReceiver;

/// What has happened so far, enough to tell when the feed is done.
#[derive(Default)]
struct Tally {
    discovered: BTreeSet<String>,
    /// Job id → whether it ended (succeeded or dead).
    jobs: BTreeMap<String, bool>,
    published_jobs: BTreeSet<String>,
    dead_jobs: BTreeSet<String>,
    dead_letters: usize,
}

/// Prints events until every product of `feed` is discovered and every job it caused has ended,
/// been published and been notified. `Ok(false)` when `timeout` or `shutdown` came first.
pub async fn watch(
    js: &jetstream::Context,
    feed: &RunningReplay,
    receiver: &WebhookReceiver,
    timeout: Duration,
    shutdown: &Shutdown,
    services: &mut JoinSet<super::ServiceResult>,
) -> anyhow::Result<bool> {
    let started = Instant::now();
    let (sender, mut events) = mpsc::channel(1024);
    // Owned here: the taps stop (and release their consumers) when the watch ends.
    let mut taps = JoinSet::new();
    for (stream, filter) in [
        (streams::PRODUCTS.name, "products.>"),
        (streams::JOBS.name, "jobs.>"),
        (streams::CATALOGUE.name, "catalogue.>"),
        (streams::DLQ.name, "dlq.>"),
    ] {
        let mut tap = EventTap::open(js, stream, filter).await?;
        let sender = sender.clone();
        taps.spawn(async move {
            while !sender.is_closed() {
                if let Ok(message) = tap.next_raw(Duration::from_secs(1)).await {
                    let _ = sender.send(message).await;
                }
            }
        });
    }
    let mut tally = Tally::default();
    let mut receipts_seen = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            Some((subject, body)) = events.recv() => {
                if let Some(line) = tally.record(&subject, &body) {
                    println!("[{:>6.2}s] {line}", started.elapsed().as_secs_f64());
                }
            }
            _ = tick.tick() => {
                let receipts = receiver.receipts();
                for receipt in &receipts[receipts_seen..] {
                    println!("[{:>6.2}s] notified     {} ← {} (signature verified)",
                        started.elapsed().as_secs_f64(), receipt.endpoint, short_type(receipt.event_type()));
                }
                receipts_seen = receipts.len();
                if tally.is_done(feed.product_count(), &receipts) && trigger_caught_up(js).await {
                    return Ok(true);
                }
            }
            Some(finished) = services.join_next() => {
                let (name, outcome) = finished?;
                anyhow::bail!("{name} stopped before the feed was processed: {:?}", outcome.err());
            }
            () = &mut deadline => {
                println!("Timed out after {timeout:?} waiting for the feed to be processed.");
                return Ok(false);
            }
            () = shutdown.requested() => return Ok(false),
        }
    }
}

impl Tally {
    fn record(&mut self, subject: &str, body: &Bytes) -> Option<String> {
        if subject.starts_with("dlq.") {
            self.dead_letters += 1;
            return Some(format!("dead letter  on {subject}"));
        }
        let event = RawEvent::from_json(body).ok()?;
        let data = &event.data;
        let text = |field: &str| data[field].as_str().unwrap_or_default().to_owned();
        let job_id = text("job_id");
        let job = || short_id(&job_id);
        match short_type(&event.ty) {
            "product.discovered" => {
                self.discovered.insert(text("key"));
                Some(format!(
                    "discovered   {} ({} {})",
                    text("key"),
                    text("collection"),
                    text("product_type")
                ))
            }
            "job.requested" => {
                self.jobs.entry(text("job_id")).or_insert(false);
                Some(format!(
                    "requested    job {} {} ← rule {}",
                    job(),
                    text("processor"),
                    text("rule")
                ))
            }
            "job.started" => Some(format!(
                "started      job {} attempt {}",
                job(),
                data["attempt"]
            )),
            "job.succeeded" => {
                self.jobs.insert(text("job_id"), true);
                let outputs = data["outputs"].as_array().map_or(0, Vec::len);
                Some(format!(
                    "succeeded    job {} with {outputs} outputs in S3",
                    job()
                ))
            }
            "job.failed" => Some(format!(
                "failed       job {} attempt {}: {}",
                job(),
                data["attempt"],
                text("reason")
            )),
            "job.dead" => {
                self.jobs.insert(text("job_id"), true);
                self.dead_jobs.insert(text("job_id"));
                Some(format!("dead         job {}: {}", job(), text("reason")))
            }
            "item.published" => {
                self.published_jobs.insert(text("job_id"));
                Some(format!(
                    "published    {} in {} → {}",
                    text("item_id"),
                    text("collection"),
                    text("item_href")
                ))
            }
            _ => None,
        }
    }

    fn is_done(&self, products: usize, receipts: &[crate::receiver::Receipt]) -> bool {
        let notified = |ty: &str, job_id: &str| {
            receipts
                .iter()
                .any(|r| short_type(r.event_type()) == ty && r.event["data"]["job_id"] == job_id)
        };
        self.discovered.len() == products
            && self.jobs.iter().all(|(job_id, ended)| {
                *ended
                    && if self.dead_jobs.contains(job_id) {
                        notified("job.dead", job_id)
                    } else {
                        self.published_jobs.contains(job_id) && notified("item.published", job_id)
                    }
            })
    }
}

/// Every discovered product was evaluated by the trigger, so no job request is still to come.
async fn trigger_caught_up(js: &jetstream::Context) -> bool {
    let consumer = js
        .get_consumer_from_stream::<jetstream::consumer::pull::Config, _, _>(
            trigger::CONSUMER.durable,
            streams::PRODUCTS.name,
        )
        .await;
    match consumer {
        Ok(mut consumer) => consumer
            .info()
            .await
            .is_ok_and(|info| info.num_pending == 0 && info.num_ack_pending == 0),
        Err(_) => false,
    }
}

/// `eu.nrtmesh.job.started.v1` → `job.started`.
pub fn short_type(ty: &str) -> &str {
    let without_prefix = ty.strip_prefix(nrt_events::TYPE_PREFIX).unwrap_or(ty);
    without_prefix
        .rsplit_once('.')
        .map_or(without_prefix, |(base, _version)| base)
}

/// The first 8 hex digits: enough to tell jobs apart on screen.
pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(8)]
}
