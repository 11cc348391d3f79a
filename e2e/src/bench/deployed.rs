//! The mesh as deployed (five service processes, the embedded S3, a processor process per job)
//! given a burst of synthetic products, timed by its own events.

use std::{collections::HashMap, time::Duration};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use nrt_cdse_replay::{ReleaseSchedule, ReplayFeed};
use nrt_events::streams;
use nrt_nats::SyncInterval;
use nrtmesh::history::History;
use tokio::time::Instant;

use super::figures::{Figures, ProductTimes};
use crate::mesh::{MeshOptions, MeshUnderTest};

/// How often the streams are looked at while waiting; each look is one small API request.
const POLL: Duration = Duration::from_millis(200);
/// Distinct publication times, so the ingestor's cursor moves through the burst page by page.
const PUBLICATION_SPACING: Duration = Duration::from_millis(10);

/// The durable consumers the services declare (their `ConsumerSpec`s), by stream: the mesh is
/// ready for the burst when each of them is waiting on a pull.
const SERVICE_CONSUMERS: [(&str, &str); 5] = [
    (streams::PRODUCTS.name, "trigger"),
    (streams::JOBS.name, "processor-launcher"),
    (streams::JOBS.name, "catalogue-publisher"),
    // The notifier's subscription "e2e" reads jobs and items (see `mesh.rs`).
    (streams::JOBS.name, "notifier-e2e"),
    (streams::CATALOGUE.name, "notifier-e2e"),
];

/// One rule that selects every synthetic product (they are all Sentinel-2 L1C).
const RULES: &str = r#"
[[rules]]
name = "every-synthetic-product"
processor = "noop"
collections = ["SENTINEL-2"]
product_types = ["S2MSI1C"]
"#;

/// What one run of the mesh measured.
#[derive(Debug, Clone)]
pub struct MeshMeasurement {
    pub figures: Figures,
    /// In the order the services start.
    pub services: Vec<ServiceUsage>,
}

/// What one service process used during the run.
#[derive(Debug, Clone)]
pub struct ServiceUsage {
    pub name: &'static str,
    pub peak_rss_kib: Option<u64>,
    pub cpu_time: Option<Duration>,
}

/// Starts the mesh, waits until every service consumes, releases `products` synthetic products
/// at once, and times them until each one's item is published.
pub async fn run(
    sync_interval: SyncInterval,
    products: usize,
    concurrency: usize,
    timeout: Duration,
) -> anyhow::Result<MeshMeasurement> {
    let deadline = Instant::now() + timeout;
    let mesh = MeshUnderTest::start(options(sync_interval, products, concurrency)).await?;
    wait_until_consuming(&mesh, deadline).await?;
    // Released only now, so that the services' start-up is not counted as latency.
    mesh.feed.release(products);
    wait_until_published(&mesh, products, deadline).await?;
    let history = History::read(&mesh.js).await?;
    let figures = Figures::of(&product_times(&history)?)?;
    let services = mesh
        .services
        .iter()
        .map(|service| ServiceUsage {
            name: service.name,
            peak_rss_kib: service.peak_rss_kib(),
            cpu_time: service.cpu_time(),
        })
        .collect();
    mesh.stop().await?;
    Ok(MeshMeasurement { figures, services })
}

/// The synthetic feed, held back until released, one rule, and a processor that does nothing
/// but honour the contract.
fn options(sync_interval: SyncInterval, products: usize, concurrency: usize) -> MeshOptions {
    MeshOptions {
        feed: synthetic_feed(products),
        schedule: ReleaseSchedule::Manual { visible: 0 },
        rules: RULES.into(),
        processors: format!(
            r#"[processors.noop]
version = "1.0.0"
command = ["./noop-processor.sh"]
timeout_secs = 60
max_attempts = 2
retry_delays_secs = [1]
concurrency = {concurrency}

[processors.noop.env]
PATH = "/usr/bin:/bin"
"#
        ),
        files: vec![(
            "noop-processor.sh".into(),
            include_str!("../../fixtures/bench/noop-processor.sh").into(),
            true,
        )],
        sync_interval,
        traces: false,
        concurrency,
        alert_after_failures: 3,
    }
}

/// The same products for the mesh and the baseline.
pub fn synthetic_feed(products: usize) -> ReplayFeed {
    let first_published = DateTime::from_timestamp(1_767_225_600, 0).expect("2026-01-01 is a date");
    ReplayFeed::synthetic(products, first_published, PUBLICATION_SPACING)
}

/// Waits until each service's consumer is waiting on a pull.
async fn wait_until_consuming(mesh: &MeshUnderTest, deadline: Instant) -> anyhow::Result<()> {
    loop {
        let mut idle = Vec::new();
        for (stream, durable) in SERVICE_CONSUMERS {
            let pulling = match mesh.js.get_stream(stream).await {
                Ok(stream) => stream
                    .consumer_info(durable)
                    .await
                    .is_ok_and(|info| info.num_waiting > 0),
                Err(_) => false,
            };
            if !pulling {
                idle.push(durable);
            }
        }
        if idle.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "consumers {idle:?} were not pulling in time.\n{}",
                mesh.logs()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits for `products` items by the CATALOGUE stream's message count: reading every stream each
/// time, as `MeshUnderTest::wait_until` does, would take CPU from the run being measured.
async fn wait_until_published(
    mesh: &MeshUnderTest,
    products: usize,
    deadline: Instant,
) -> anyhow::Result<()> {
    let mut catalogue = mesh.js.get_stream(streams::CATALOGUE.name).await?;
    loop {
        let published = catalogue.info().await?.state.messages;
        if published >= products as u64 {
            return Ok(());
        }
        if Instant::now() > deadline {
            let progress = match History::read(&mesh.js).await {
                Ok(history) => progress(&history),
                Err(error) => format!("(the streams could not be read: {error})"),
            };
            anyhow::bail!(
                "{published} of {products} items published in time; {progress}.\n{}",
                mesh.logs()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// How far the products got, stage by stage, to say where a run that timed out was stuck.
fn progress(history: &History) -> String {
    format!(
        "discovered {}, requested {}, started {}, succeeded {}, failed {}, dead {}, items {}, dead letters {}",
        history.products.len(),
        history.requests.len(),
        history.started.len(),
        history.succeeded.len(),
        history.failed.len(),
        history.dead.len(),
        history.items.len(),
        history.dead_letters,
    )
}

/// Each product's discovery, first job start and first item, joined by the product key the
/// job's events list as input.
fn product_times(history: &History) -> anyhow::Result<Vec<ProductTimes>> {
    let launched = earliest_per_input(
        history
            .started
            .iter()
            .map(|event| (&event.data.input_keys, event.time)),
    );
    let published = earliest_per_input(
        history
            .items
            .iter()
            .map(|event| (&event.data.input_keys, event.time)),
    );
    history
        .products
        .iter()
        .map(|product| {
            let key = product.data.key.as_str();
            Ok(ProductTimes {
                discovered: product.time,
                launched: *launched
                    .get(key)
                    .with_context(|| format!("product {key} has no JobStarted"))?,
                published: *published
                    .get(key)
                    .with_context(|| format!("product {key} has no ItemPublished"))?,
            })
        })
        .collect()
}

fn earliest_per_input<'a>(
    events: impl Iterator<Item = (&'a Vec<String>, DateTime<Utc>)>,
) -> HashMap<&'a str, DateTime<Utc>> {
    let mut earliest: HashMap<&str, DateTime<Utc>> = HashMap::new();
    for (keys, time) in events {
        for key in keys {
            earliest
                .entry(key.as_str())
                .and_modify(|first| *first = (*first).min(time))
                .or_insert(time);
        }
    }
    earliest
}
