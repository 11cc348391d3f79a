use std::path::PathBuf;

use clap::Parser;

/// Runs each requested job exactly once as a local process and stages its outputs to S3.
#[derive(clap::Parser)]
struct Args {
    /// Configuration file (TOML); defaults and environment variables apply without one.
    #[arg(long, env = "PROCESSOR_LAUNCHER_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = processor_launcher::config::load(args.config.as_deref())?;
    let _telemetry = nrt_telemetry::init(processor_launcher::SERVICE, &config.telemetry)?; // flushes spans on drop
    Ok(processor_launcher::run(config, nrt_runtime::shutdown::on_signal()).await?)
}
