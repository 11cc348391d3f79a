//! `nrtmesh dev`: the whole mesh in one process on the embedded default — a nats-server it starts
//! itself (unless given a URL), the embedded S3 endpoint publishing object events, the recorded
//! CDSE feed replayed locally, the five services, and a webhook receiver checking signatures.

mod configs;
mod progress;
mod report;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context as _;
use nrt_cdse_replay::{ReleaseSchedule, ReplayFeed, ReplayOptions};
use nrt_embedded_s3::{EmbeddedS3, EmbeddedS3Options};
use nrt_nats::{Mesh, NatsConfig, NatsServer, ServerOptions, SyncInterval};
use nrt_runtime::{HealthServer, Readiness, Shutdown};
use tokio::task::JoinSet;

pub use configs::{CATALOGUE_BUCKET, Endpoints, OUTPUTS_BUCKET, ServiceConfigs};

use crate::receiver::WebhookReceiver;

const RULES: &str = include_str!("../../dev/rules.toml");
const PROCESSORS: &str = include_str!("../../dev/processors.toml");

#[derive(Debug, Clone)]
pub struct DevOptions {
    /// Use this NATS instead of starting one.
    pub nats_url: Option<String>,
    /// Keep JetStream, S3 and job files here; a temporary directory otherwise.
    pub data_dir: Option<PathBuf>,
    /// Keep running after the recorded feed is fully processed.
    pub follow: bool,
    /// Give up waiting for the feed to be processed after this long.
    pub timeout: Duration,
    /// Release one recorded product this often, as a live feed would.
    pub release_every: Duration,
    /// Serve `/healthz`, `/readyz` and `/metrics` of the whole mesh here.
    pub health_listen: Option<SocketAddr>,
}

/// Runs the mesh until every selected product is published and notified (or, with `follow`,
/// until `shutdown`). Returns whether the feed was processed completely and cleanly.
pub async fn run(options: DevOptions, shutdown: Shutdown) -> anyhow::Result<bool> {
    let temp = tempfile::Builder::new().prefix("nrtmesh-dev-").tempdir()?;
    let data_dir = options
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;

    let (_nats_server, nats_url) = match &options.nats_url {
        Some(url) => (None, url.clone()),
        None => {
            let server = NatsServer::start_with(ServerOptions {
                store_dir: Some(data_dir.join("jetstream")),
                sync_interval: SyncInterval::Always,
                monitoring: true,
                ..ServerOptions::default()
            })
            .await?;
            let url = server.url();
            (Some(server), url)
        }
    };
    let readiness = Readiness::default();
    let (stop_services, services_shutdown) = shutdown.child();
    let health = match options.health_listen {
        Some(listen) => {
            Some(HealthServer::start(listen, readiness.clone(), services_shutdown.clone()).await?)
        }
        None => None,
    };
    let mesh = Mesh::connect(
        "nrtmesh-dev",
        &NatsConfig::local(nats_url.clone()),
        readiness.clone(),
    )
    .await?;

    let s3 = EmbeddedS3::start(EmbeddedS3Options {
        events: Some(mesh.publisher.clone()),
        buckets: vec![OUTPUTS_BUCKET.into(), CATALOGUE_BUCKET.into()],
        ..EmbeddedS3Options::local(data_dir.join("s3"), "nrt-dev", "nrt-dev-secret")
    })
    .await?;
    let feed = ReplayFeed::recorded()
        .start(ReplayOptions {
            schedule: ReleaseSchedule::OneEvery(options.release_every),
            ..ReplayOptions::default()
        })
        .await?;
    let secret = format!("whsec_{}", random_base64_key());
    let receiver = WebhookReceiver::start(&secret).await?;

    let rules_file = data_dir.join("rules.toml");
    let registry_file = data_dir.join("processors.toml");
    std::fs::write(&rules_file, RULES)?;
    std::fs::write(&registry_file, PROCESSORS)?;
    let endpoints = Endpoints {
        nats_url: nats_url.clone(),
        s3: s3.config(),
        feed_url: feed.url().parse()?,
        webhook_url: receiver.url("dev-receiver").parse()?,
        webhook_secret: secret,
        rules_file,
        registry_file,
        work_dir: data_dir.join("jobs"),
    };
    let configs = ServiceConfigs::local(&endpoints)?;

    println!("nrt-mesh dev: the whole mesh in one process");
    println!("  NATS       {nats_url} (JetStream, sync_interval: always)");
    println!(
        "  S3         {} (embedded; object events on objects.<bucket>)",
        s3.endpoint()
    );
    println!(
        "  feed       {} ({} recorded CDSE products, one released every {:?})",
        feed.url(),
        feed.product_count(),
        options.release_every
    );
    println!("  webhooks   {}", receiver.url("dev-receiver"));
    if let Some(health) = &health {
        println!("  metrics    http://{}/metrics", health.address);
    }
    println!("  data       {}", data_dir.display());
    println!();

    let mut services = spawn_services(configs, &services_shutdown);
    let watched = progress::watch(
        &mesh.js,
        &feed,
        &receiver,
        options.timeout,
        &services_shutdown,
        &mut services,
    )
    .await;
    let complete = match watched {
        Ok(complete) => complete,
        Err(error) => {
            stop_services.trigger();
            return Err(error);
        }
    };
    let history = crate::history::History::read(&mesh.js).await?;
    let clean = report::print(
        &history,
        &receiver.receipts(),
        feed.product_count(),
        complete,
    );

    if options.follow {
        println!("\nFollowing; Ctrl-C stops.");
        services_shutdown.requested().await;
    }
    stop_services.trigger();
    while let Some(finished) = services.join_next().await {
        if let Ok((name, Err(error))) = finished {
            eprintln!("{name} stopped with an error: {error:#}");
        }
    }
    s3.stop().await;
    // Closed before the nats-server it may have started goes away, so a clean exit logs no
    // reconnect warnings.
    mesh.client.drain().await?;
    Ok(complete && clean)
}

type ServiceResult = (&'static str, anyhow::Result<()>);

fn spawn_services(configs: ServiceConfigs, shutdown: &Shutdown) -> JoinSet<ServiceResult> {
    let mut services = JoinSet::new();
    let ServiceConfigs {
        ingestor,
        trigger,
        launcher,
        catalogue,
        notifier,
    } = configs;
    let s = shutdown.clone();
    services.spawn(async move {
        (
            "ingestor",
            ingestor::run(ingestor, s).await.map_err(Into::into),
        )
    });
    let s = shutdown.clone();
    services.spawn(async move {
        (
            "trigger",
            trigger::run(trigger, s).await.map_err(Into::into),
        )
    });
    let s = shutdown.clone();
    services.spawn(async move {
        (
            "processor-launcher",
            processor_launcher::run(launcher, s)
                .await
                .map_err(Into::into),
        )
    });
    let s = shutdown.clone();
    services.spawn(async move {
        (
            "catalogue-publisher",
            catalogue_publisher::run(catalogue, s)
                .await
                .map_err(Into::into),
        )
    });
    let s = shutdown.clone();
    services.spawn(async move {
        (
            "notifier",
            notifier::run(notifier, s).await.map_err(Into::into),
        )
    });
    services
}

/// A fresh 32-byte signing key, base64-encoded as Standard Webhooks secrets are.
fn random_base64_key() -> String {
    use base64::Engine;
    let key: [u8; 32] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(key)
}
