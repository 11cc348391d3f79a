//! `nrtmesh`: run the whole mesh locally, declare its streams, follow a product's journey.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use nrt_nats::NatsConfig;

#[derive(Parser)]
#[command(
    version,
    about = "nrt-mesh operations: run the mesh locally, declare its streams, trace a product."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run all five services in one process on the embedded default, replaying a recorded CDSE feed.
    Dev {
        /// Keep running after the recorded feed is processed.
        #[arg(long)]
        follow: bool,
        /// Use this NATS server instead of starting one.
        #[arg(long, env = "NRTMESH_NATS_URL")]
        nats_url: Option<String>,
        /// Keep JetStream, S3 objects and job directories here (default: a temporary directory).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Seconds to wait for the feed to be processed.
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
        /// Milliseconds between two recorded products appearing in the feed.
        #[arg(long, default_value_t = 100)]
        release_every_ms: u64,
        /// Serve /healthz, /readyz and /metrics here.
        #[arg(long)]
        health_listen: Option<SocketAddr>,
    },
    /// Walk a feed's history from --from to --to for a reprocessing campaign, publishing through
    /// the same dedup path as the live ingestor; run it again to resume an interrupted walk.
    Backfill {
        /// The feed's name in the ingestor configuration.
        #[arg(long)]
        source: String,
        /// Start of the publication window: RFC 3339, or YYYY-MM-DD for midnight UTC.
        #[arg(long, value_parser = nrtmesh::backfill::parse_time)]
        from: chrono::DateTime<chrono::Utc>,
        /// End of the publication window (inclusive).
        #[arg(long, value_parser = nrtmesh::backfill::parse_time)]
        to: chrono::DateTime<chrono::Utc>,
        /// The ingestor configuration naming the feed (its [nats] is used too).
        #[arg(long, env = "INGESTOR_CONFIG")]
        config: Option<PathBuf>,
        /// Use this NATS server instead of the configuration's.
        #[arg(long, env = "NRTMESH_NATS_URL")]
        nats_url: Option<String>,
    },
    /// Operate on JetStream streams.
    Streams {
        #[command(subcommand)]
        action: StreamsAction,
    },
    /// Check a rules file, try it on a product, or publish it to the triggers.
    Rules {
        #[command(subcommand)]
        action: RulesAction,
    },
    /// List the launcher's job records, or show one.
    Jobs {
        #[command(subcommand)]
        action: nrtmesh::jobs::cli::JobsAction,
    },
    /// Relaunch a dead job (publishing its request again), or every dead job of a time window.
    Retry(nrtmesh::jobs::cli::RetryArgs),
    /// Cancel a live job: it becomes dead, and the launcher holding it stops the attempt.
    Cancel(nrtmesh::jobs::cli::CancelArgs),
    /// See and enable notifier subscriptions disabled by a gone endpoint.
    Notifier {
        #[command(subcommand)]
        action: NotifierAction,
    },
    /// Show the journey of a product (by key) or of the products a job (by id) read.
    Trace {
        id: String,
        #[arg(
            long,
            env = "NRTMESH_NATS_URL",
            default_value = "nats://127.0.0.1:4222"
        )]
        nats_url: String,
    },
}

#[derive(Subcommand)]
enum StreamsAction {
    /// Declare every stream, key-value bucket and consumer of the mesh (idempotent).
    Apply {
        #[arg(
            long,
            env = "NRTMESH_NATS_URL",
            default_value = "nats://127.0.0.1:4222"
        )]
        nats_url: String,
        /// Replicas of each stream and bucket: 1 on one server, 3 on a production cluster.
        #[arg(long, default_value_t = 1)]
        replicas: usize,
        /// The notifier's configuration: declares its subscriptions' consumers too.
        #[arg(long, env = "NOTIFIER_CONFIG")]
        notifier_config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum NotifierAction {
    /// List the subscriptions disabled because their endpoint answered 410 Gone.
    Disabled {
        #[arg(
            long,
            env = "NRTMESH_NATS_URL",
            default_value = "nats://127.0.0.1:4222"
        )]
        nats_url: String,
    },
    /// Enable a disabled subscription again: the events it holds are delivered.
    Enable {
        /// The subscription's name.
        name: String,
        #[arg(
            long,
            env = "NRTMESH_NATS_URL",
            default_value = "nats://127.0.0.1:4222"
        )]
        nats_url: String,
    },
}

#[derive(Subcommand)]
enum RulesAction {
    /// Check a rules file as the trigger does at start: one line per rule, or the first error
    /// (naming the rule and the field) and a non-zero exit.
    Check {
        /// The rules file (TOML).
        file: PathBuf,
        #[command(flatten)]
        registry: Registry,
    },
    /// Show each rule's verdict on a product: the job request a plain rule would publish, the
    /// group a join or periodic rule would add it to, or why the rule does not match.
    Test {
        /// The rules file (TOML).
        file: PathBuf,
        /// A ProductDiscovered JSON document, or a CloudEvent of one as in the PRODUCTS stream.
        #[arg(long)]
        product: PathBuf,
        #[command(flatten)]
        registry: Registry,
        /// Evaluate at this time (RFC 3339, or YYYY-MM-DD for midnight UTC) instead of now.
        #[arg(long, value_parser = nrtmesh::backfill::parse_time)]
        now: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Check a rules file, then put it in bucket trigger-rules, where triggers with
    /// rules_from = "kv" pick it up; an invalid file leaves the bucket untouched. Area files are
    /// checked here relative to FILE, and read by each trigger relative to its rules_file.
    Publish {
        /// The rules file (TOML).
        file: PathBuf,
        #[command(flatten)]
        registry: Registry,
        /// The NATS server whose bucket the triggers read.
        #[arg(
            long,
            env = "NRTMESH_NATS_URL",
            default_value = "nats://127.0.0.1:4222"
        )]
        nats_url: String,
    },
}

#[derive(Args)]
struct Registry {
    /// The processor registry the rules' processors must be in.
    #[arg(
        long = "registry",
        env = "NRTMESH_REGISTRY",
        default_value = trigger::config::DEFAULT_REGISTRY_FILE
    )]
    path: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("nrtmesh: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Dev {
            follow,
            nats_url,
            data_dir,
            timeout_secs,
            release_every_ms,
            health_listen,
        } => {
            let telemetry = nrt_telemetry::TelemetryConfig {
                log_filter: "warn".into(),
                log_format: nrt_telemetry::LogFormat::Pretty,
                otlp_endpoint: None,
            };
            let _telemetry = nrt_telemetry::init("nrtmesh-dev", &telemetry)?;
            let options = nrtmesh::dev::DevOptions {
                nats_url,
                data_dir,
                follow,
                timeout: Duration::from_secs(timeout_secs),
                release_every: Duration::from_millis(release_every_ms),
                health_listen,
            };
            let clean = nrtmesh::dev::run(options, nrt_runtime::shutdown::on_signal()).await?;
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Backfill {
            source,
            from,
            to,
            config,
            nats_url,
        } => {
            let campaign = ingestor::backfill::Backfill {
                feed: source,
                from,
                until: to,
            };
            nrtmesh::backfill::run(
                config.as_deref(),
                nats_url,
                campaign,
                nrt_runtime::shutdown::on_signal(),
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Streams {
            action:
                StreamsAction::Apply {
                    nats_url,
                    replicas,
                    notifier_config,
                },
        } => {
            let notifier = notifier_config
                .map(|file| notifier::config::load(Some(&file)))
                .transpose()?;
            let client = nrt_nats::connect(&NatsConfig::local(nats_url.clone()), "nrtmesh").await?;
            let js = async_nats::jetstream::new(client);
            nrtmesh::streams::apply(&js, replicas, notifier.as_ref()).await?;
            println!("Streams, buckets and consumers of the mesh are declared on {nats_url}.");
            Ok(ExitCode::SUCCESS)
        }
        Command::Notifier { action } => notifier_subscriptions(action).await,
        Command::Rules { action } => rules(action).await,
        Command::Jobs { action } => nrtmesh::jobs::cli::jobs(action).await,
        Command::Retry(args) => nrtmesh::jobs::cli::retry(args).await,
        Command::Cancel(args) => nrtmesh::jobs::cli::cancel(args).await,
        Command::Trace { id, nats_url } => {
            let client = nrt_nats::connect(&NatsConfig::local(nats_url), "nrtmesh").await?;
            let history =
                nrtmesh::history::History::read(&async_nats::jetstream::new(client)).await?;
            let journeys = history.find(&id);
            if journeys.is_empty() {
                eprintln!("No product with key {id} and no job with that id is in the streams.");
                return Ok(ExitCode::FAILURE);
            }
            for journey in journeys {
                println!(
                    "{} ({} {})",
                    journey.product.data.key,
                    journey.product.data.collection,
                    journey.product.data.product_type
                );
                for (time, step) in journey.steps() {
                    println!("  {}  {step}", time.format("%Y-%m-%dT%H:%M:%S%.3fZ"));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn notifier_subscriptions(action: NotifierAction) -> anyhow::Result<ExitCode> {
    let nats_url = match &action {
        NotifierAction::Disabled { nats_url } | NotifierAction::Enable { nats_url, .. } => nats_url,
    };
    let client = nrt_nats::connect(&NatsConfig::local(nats_url.clone()), "nrtmesh").await?;
    let js = async_nats::jetstream::new(client);
    let failed = |error| {
        anyhow::anyhow!(
            "bucket {}: {error}",
            nrt_events::streams::KV_NOTIFIER_DISABLED
        )
    };
    match action {
        NotifierAction::Disabled { .. } => {
            for (name, disabling) in notifier::disabled::list(&js).await.map_err(failed)? {
                println!(
                    "{name}  since {}  {}",
                    disabling.disabled_at, disabling.reason
                );
            }
        }
        NotifierAction::Enable { name, .. } => {
            match notifier::disabled::enable(&js, &name)
                .await
                .map_err(failed)?
            {
                Some(disabling) => println!(
                    "Subscription {name} enabled again (disabled since {}: {}).",
                    disabling.disabled_at, disabling.reason
                ),
                None => {
                    eprintln!("Subscription {name} is not disabled.");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn rules(action: RulesAction) -> anyhow::Result<ExitCode> {
    match action {
        RulesAction::Check { file, registry } => {
            let checked = nrtmesh::rules::load(&file, &registry.path)?;
            print!("{}", nrtmesh::rules::summary(&file, &checked));
        }
        RulesAction::Test {
            file,
            product,
            registry,
            now,
        } => {
            let checked = nrtmesh::rules::load(&file, &registry.path)?;
            let name = product.display().to_string();
            let body = std::fs::read(&product).with_context(|| format!("cannot read {name}"))?;
            let product = nrtmesh::rules::parse_product(&name, &body)?;
            let now = now.unwrap_or_else(chrono::Utc::now);
            print!("{}", nrtmesh::rules::explain(&checked, &product, now)?);
        }
        RulesAction::Publish {
            file,
            registry,
            nats_url,
        } => {
            // Checked before connecting: an invalid file never reaches the bucket.
            let checked = nrtmesh::rules::load(&file, &registry.path)?;
            let client = nrt_nats::connect(&NatsConfig::local(nats_url), "nrtmesh").await?;
            let revision =
                nrtmesh::rules::publish(&async_nats::jetstream::new(client), &checked).await?;
            println!(
                "{}: {} rules published to {}/{}, revision {revision}.",
                file.display(),
                checked.rules.iter().count(),
                nrt_events::streams::KV_TRIGGER_RULES,
                nrt_events::streams::KV_TRIGGER_RULES_KEY
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
