use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(
    about = "Tells people: published items, failed and dead jobs and alerts to webhooks, chat and e-mail."
)]
struct Args {
    /// Configuration file (TOML); defaults and environment variables apply without one.
    #[arg(long, env = "NOTIFIER_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = notifier::config::load(args.config.as_deref())?;
    let _telemetry = nrt_telemetry::init("notifier", &config.telemetry)?; // flushes spans on drop
    Ok(notifier::run(config, nrt_runtime::shutdown::on_signal()).await?)
}
