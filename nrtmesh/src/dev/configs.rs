//! The five services' configurations for one local mesh, built in code from where its parts run.

use std::{collections::BTreeSet, path::PathBuf, time::Duration};

use nrt_nats::NatsConfig;
use nrt_runtime::{HealthConfig, Secret};
use nrt_s3::S3Config;

/// Where the parts of a local mesh are.
pub struct Endpoints {
    pub nats_url: String,
    pub s3: S3Config,
    pub feed_url: url::Url,
    pub webhook_url: url::Url,
    pub webhook_secret: String,
    pub rules_file: PathBuf,
    pub registry_file: PathBuf,
    pub work_dir: PathBuf,
}

pub const OUTPUTS_BUCKET: &str = "nrt-outputs";
pub const CATALOGUE_BUCKET: &str = "nrt-catalogue";
pub const FEED_NAME: &str = "cdse-recorded";

/// The configurations of the five services, ready for their `run`.
pub struct ServiceConfigs {
    pub ingestor: ingestor::Config,
    pub trigger: trigger::Config,
    pub launcher: processor_launcher::config::Config,
    pub catalogue: catalogue_publisher::config::Config,
    pub notifier: notifier::config::Config,
}

impl ServiceConfigs {
    /// Compiled-in defaults (and any `<SERVICE>__…` environment variables), pointed at `endpoints`;
    /// the ingestor watches the one replayed feed.
    /// Health servers are off: in one process `nrtmesh dev` serves one for all.
    pub fn local(endpoints: &Endpoints) -> anyhow::Result<Self> {
        let nats = NatsConfig::local(endpoints.nats_url.clone());
        let no_health = HealthConfig { listen: None };

        let mut feed = ingestor::config::FeedConfig::cdse(FEED_NAME, endpoints.feed_url.clone());
        feed.poll_interval = Duration::from_millis(500);
        feed.odata_mut().unwrap().page_size = 20;
        // The recording is years old: start from its beginning, not from now.
        feed.start_from = Some(chrono::DateTime::UNIX_EPOCH);
        let ingestor = ingestor::Config {
            nats: nats.clone(),
            telemetry: nrt_telemetry::TelemetryConfig::default(),
            health: no_health.clone(),
            feeds: vec![feed],
        };
        ingestor.validate()?;

        let mut trigger = trigger::config::load(None)?;
        trigger.nats = nats.clone();
        trigger.health = no_health.clone();
        trigger.rules_file = endpoints.rules_file.clone();
        trigger.registry_file = endpoints.registry_file.clone();

        let mut launcher = processor_launcher::config::load(None)?;
        launcher.nats = nats.clone();
        launcher.health = no_health.clone();
        launcher.s3 = endpoints.s3.clone();
        launcher.outputs_bucket = OUTPUTS_BUCKET.into();
        launcher.registry_file = endpoints.registry_file.clone();
        launcher.work_dir = endpoints.work_dir.clone();
        launcher.validate()?;

        let mut catalogue = catalogue_publisher::config::load(None)?;
        catalogue.nats = nats.clone();
        catalogue.health = no_health.clone();
        catalogue.s3 = endpoints.s3.clone();
        catalogue.catalogue_bucket = CATALOGUE_BUCKET.into();
        catalogue.collections.insert(
            "footprint".into(),
            catalogue_publisher::config::CollectionConfig {
                id: Some("footprints".into()),
                title: Some("Footprint coverage reports".into()),
                description: Some(
                    "Geodesic area, bounding box and union of the footprints of Sentinel products, made by nrt-footprint as the products appear in the feed.".into(),
                ),
                license: None,
                processing_level: None,
            },
        );
        catalogue.validate()?;

        let mut notifier = notifier::config::load(None)?;
        notifier.nats = nats;
        notifier.health = no_health;
        notifier.subscriptions = vec![notifier::SubscriptionConfig {
            name: "dev-receiver".into(),
            events: BTreeSet::from([
                notifier::notification::EventKind::ItemPublished,
                notifier::notification::EventKind::JobFailed,
                notifier::notification::EventKind::JobDead,
            ]),
            collections: None,
            processors: None,
            area_of_interest: None,
            min_severity: None,
            alert_kinds: None,
            webhook: Some(notifier::config::WebhookConfig {
                url: endpoints.webhook_url.clone(),
                secrets: vec![Secret::new(endpoints.webhook_secret.clone())],
            }),
            slack: None,
            email: None,
            timeout: Duration::from_secs(5),
            digest: None,
        }];
        notifier.validate()?;

        Ok(Self {
            ingestor,
            trigger,
            launcher,
            catalogue,
            notifier,
        })
    }
}
