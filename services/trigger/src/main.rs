use std::path::PathBuf;

use clap::Parser;

/// Decides which processors run on which products.
#[derive(clap::Parser)]
struct Args {
    /// Configuration file (TOML); defaults and environment variables apply without one.
    #[arg(long, env = "TRIGGER_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = trigger::config::load(args.config.as_deref())?;
    let _telemetry = nrt_telemetry::init("trigger", &config.telemetry)?; // flushes spans on drop
    Ok(trigger::run(config, nrt_runtime::shutdown::on_signal()).await?)
}
