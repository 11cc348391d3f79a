//! `make bench`: throughput and latency of the deployed mesh against a bare JetStream relay with
//! the same hops, under both JetStream sync intervals. Needs the release binaries of the
//! workspace beside it (`cargo build --release --workspace --bins`).

use std::time::Duration;

use clap::Parser;
use nrt_e2e::bench::{self, BenchOptions};

#[derive(Parser)]
#[command(about = "Throughput and latency of the mesh against a raw JetStream relay")]
struct Args {
    /// Products released at once in every run.
    #[arg(long, default_value_t = 500)]
    products: usize,
    /// Messages each consumer (service or relay hop) handles at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Seconds one run may take before the benchmark gives up.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.products > 0 && args.concurrency > 0,
        "--products and --concurrency must be at least 1"
    );
    let report = bench::run(&BenchOptions {
        products: args.products,
        concurrency: args.concurrency,
        timeout: Duration::from_secs(args.timeout_secs),
    })
    .await?;
    println!("{report}");
    Ok(())
}
