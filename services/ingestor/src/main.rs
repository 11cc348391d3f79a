use std::path::PathBuf;

use clap::Parser;

/// Watches feeds and turns each new product into one `products.discovered` event.
#[derive(clap::Parser)]
struct Args {
    /// Configuration file (TOML); defaults and environment variables apply without one.
    #[arg(long, env = "INGESTOR_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = ingestor::config::load(args.config.as_deref())?;
    let _telemetry = nrt_telemetry::init("ingestor", &config.telemetry)?; // flushes spans on drop
    Ok(ingestor::run(config, nrt_runtime::shutdown::on_signal()).await?)
}
