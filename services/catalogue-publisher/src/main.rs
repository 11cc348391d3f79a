use std::path::PathBuf;

use clap::Parser;

#[derive(clap::Parser)]
#[command(about = "Publishes succeeded jobs' outputs as STAC items in a static catalogue in S3")]
struct Args {
    /// Configuration file (TOML); defaults and environment variables apply without one.
    #[arg(long, env = "CATALOGUE_PUBLISHER_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = catalogue_publisher::config::load(args.config.as_deref())?;
    let _telemetry = nrt_telemetry::init(catalogue_publisher::SERVICE, &config.telemetry)?; // flushes spans on drop
    Ok(catalogue_publisher::run(config, nrt_runtime::shutdown::on_signal()).await?)
}
