//! What `make bench` measures: the deployed mesh against a bare JetStream relay with the same
//! hops, under both JetStream sync intervals, with the same products on the same machine.

mod deployed;
mod figures;
mod relay;
mod report;

use std::time::Duration;

use anyhow::Context as _;
use nrt_nats::SyncInterval;

pub use deployed::{MeshMeasurement, ServiceUsage};
pub use figures::{Figures, Percentiles, ProductTimes};
pub use report::Report;

#[derive(Debug, Clone, Copy)]
pub struct BenchOptions {
    /// Products released at once in every run.
    pub products: usize,
    /// Messages each consumer (service or relay hop) handles at once; also the processor's
    /// concurrency in the launcher.
    pub concurrency: usize,
    /// How long one run may take before the benchmark gives up.
    pub timeout: Duration,
}

/// The mesh and the baseline under one sync interval.
#[derive(Debug, Clone)]
pub struct IntervalRun {
    pub sync_interval: SyncInterval,
    pub mesh: MeshMeasurement,
    pub baseline: Figures,
}

/// Runs the mesh, then the baseline, under each sync interval; says on stderr what it is doing.
pub async fn run(options: &BenchOptions) -> anyhow::Result<Report> {
    let BenchOptions {
        products,
        concurrency,
        timeout,
    } = *options;
    let mut runs = Vec::new();
    for sync_interval in [SyncInterval::Default, SyncInterval::Always] {
        let label = report::label(sync_interval);
        eprintln!("nrt-bench: the mesh, sync interval {label}, {products} products.");
        let mesh = deployed::run(sync_interval, products, concurrency, timeout)
            .await
            .with_context(|| format!("the mesh, sync interval {label}, timeout {timeout:?}"))?;
        eprintln!("nrt-bench: the baseline relay, sync interval {label}, {products} products.");
        let baseline = relay::run(sync_interval, feed_entries(products)?, concurrency, timeout)
            .await
            .with_context(|| format!("the baseline, sync interval {label}, timeout {timeout:?}"))?;
        runs.push(IntervalRun {
            sync_interval,
            mesh,
            baseline,
        });
    }
    Ok(Report {
        products,
        concurrency,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        runs,
    })
}

/// The feed entries the mesh's ingestor reads, for the baseline to carry.
fn feed_entries(products: usize) -> anyhow::Result<Vec<serde_json::Value>> {
    deployed::synthetic_feed(products)
        .entities()
        .map(|entry| serde_json::from_str(entry.get()).context("a synthetic entry is JSON"))
        .collect()
}
