//! The mesh as deployed, on one machine: the five service binaries as separate processes, each
//! with its config file, around a real nats-server, the embedded S3 endpoint, the replayed CDSE
//! feed, a webhook receiver that checks signatures and an OTLP receiver collecting spans.

use std::{path::Path, time::Duration};

use async_nats::jetstream;
use nrt_cdse_replay::{ReleaseSchedule, ReplayFeed, ReplayOptions, RunningReplay};
use nrt_embedded_s3::{EmbeddedS3, EmbeddedS3Options};
use nrt_nats::{Mesh, NatsConfig, NatsServer, ServerOptions, SyncInterval, server::free_port};
use nrt_runtime::Readiness;
use nrtmesh::{
    history::History,
    receiver::{Receipt, WebhookReceiver},
};

use crate::{otlp::OtlpReceiver, process::ServiceProcess};

pub const OUTPUTS_BUCKET: &str = "outputs";
pub const CATALOGUE_BUCKET: &str = "catalogue";
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The five services, in the order they are started.
pub const SERVICES: [&str; 5] = [
    "ingestor",
    "trigger",
    "processor-launcher",
    "catalogue-publisher",
    "notifier",
];

pub struct MeshOptions {
    pub feed: ReplayFeed,
    pub schedule: ReleaseSchedule,
    /// Trigger rules (TOML).
    pub rules: String,
    /// Processor registry (TOML); relative commands resolve against the mesh's directory.
    /// In rules, registry and files, `{dir}` becomes the mesh's directory and `{bin_dir}` the
    /// directory of the built binaries.
    pub processors: String,
    /// Helper files written into the mesh's directory before start: (name, content, executable).
    pub files: Vec<(String, String, bool)>,
    pub sync_interval: SyncInterval,
    /// Collect the services' spans with an OTLP receiver.
    pub traces: bool,
    /// Messages each service handles at once.
    pub concurrency: usize,
    /// Consecutive failed polls before the ingestor raises an alert.
    pub alert_after_failures: u32,
}

pub struct MeshUnderTest {
    pub dir: tempfile::TempDir,
    pub nats: NatsServer,
    pub js: jetstream::Context,
    pub mesh: Mesh,
    pub s3: EmbeddedS3,
    pub s3_client: nrt_s3::aws_sdk_s3::Client,
    pub feed: RunningReplay,
    pub receiver: WebhookReceiver,
    pub otlp: Option<OtlpReceiver>,
    pub services: Vec<ServiceProcess>,
}

impl MeshUnderTest {
    pub async fn start(options: MeshOptions) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("nrt-e2e-").tempdir()?;
        let nats = NatsServer::start_with(ServerOptions {
            sync_interval: options.sync_interval,
            monitoring: true,
            ..ServerOptions::default()
        })
        .await?;
        let mesh =
            Mesh::connect("e2e", &NatsConfig::local(nats.url()), Readiness::default()).await?;
        let s3 = EmbeddedS3::start(EmbeddedS3Options {
            events: Some(mesh.publisher.clone()),
            buckets: vec![OUTPUTS_BUCKET.into(), CATALOGUE_BUCKET.into()],
            ..EmbeddedS3Options::local(dir.path().join("s3"), "nrt-e2e", "nrt-e2e-secret")
        })
        .await?;
        let s3_client = nrt_s3::client(&s3.config()).await;
        let feed = options
            .feed
            .start(ReplayOptions {
                schedule: options.schedule,
                ..ReplayOptions::default()
            })
            .await?;
        let receiver = WebhookReceiver::start(WEBHOOK_SECRET).await?;
        let otlp = if options.traces {
            Some(OtlpReceiver::start().await?)
        } else {
            None
        };

        let placeholders = |text: &str| {
            text.replace("{dir}", &dir.path().display().to_string())
                .replace(
                    "{bin_dir}",
                    &crate::process::binary_dir().display().to_string(),
                )
        };
        std::fs::write(dir.path().join("rules.toml"), placeholders(&options.rules))?;
        std::fs::write(
            dir.path().join("processors.toml"),
            placeholders(&options.processors),
        )?;
        for (name, content, executable) in &options.files {
            write_file(&dir.path().join(name), &placeholders(content), *executable)?;
        }
        let settings = Settings {
            dir: dir.path(),
            nats_url: nats.url(),
            s3_endpoint: s3.endpoint(),
            feed_url: feed.url(),
            webhook_url: receiver.url("e2e"),
            otlp_endpoint: otlp.as_ref().map(OtlpReceiver::endpoint),
            concurrency: options.concurrency,
            alert_after_failures: options.alert_after_failures,
        };
        let mut services = Vec::new();
        for name in SERVICES {
            services.push(ServiceProcess::start(
                name,
                &settings.config_of(name)?,
                dir.path(),
            )?);
        }
        let js = mesh.js.clone();
        Ok(Self {
            dir,
            nats,
            js,
            mesh,
            s3,
            s3_client,
            feed,
            receiver,
            otlp,
            services,
        })
    }

    pub fn service(&mut self, name: &str) -> &mut ServiceProcess {
        self.services
            .iter_mut()
            .find(|service| service.name == name)
            .expect("a service of the mesh")
    }

    /// Reads the streams until `done` holds, or fails after `timeout` with the services' logs.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&History, &[Receipt]) -> bool,
    ) -> anyhow::Result<History> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let history = History::read(&self.js).await?;
            if done(&history, &self.receiver.receipts()) {
                return Ok(history);
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!("{what}: not within {timeout:?}.\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The end of every service's log, to explain a failure.
    pub fn logs(&self) -> String {
        self.services
            .iter()
            .map(|service| format!("--- {} ---\n{}", service.name, service.log_tail(15)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stops the services with SIGTERM (they drain), then the rest.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        for service in self.services.iter_mut().rev() {
            let status = service.stop().await?;
            anyhow::ensure!(
                status.success(),
                "{} exited with {status} after SIGTERM:\n{}",
                service.name,
                service.log_tail(20)
            );
        }
        self.s3.stop().await;
        Ok(())
    }
}

fn write_file(path: &Path, content: &str, executable: bool) -> std::io::Result<()> {
    std::fs::write(path, content)?;
    if executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// What every service's config file is made of.
struct Settings<'a> {
    dir: &'a Path,
    nats_url: String,
    s3_endpoint: String,
    feed_url: String,
    webhook_url: String,
    otlp_endpoint: Option<String>,
    concurrency: usize,
    alert_after_failures: u32,
}

impl Settings<'_> {
    /// The TOML a platform team would write for `service`, with a free port for its probes.
    fn config_of(&self, service: &str) -> anyhow::Result<String> {
        let otlp = self
            .otlp_endpoint
            .as_ref()
            .map(|url| format!("otlp_endpoint = {url:?}\n"))
            .unwrap_or_default();
        let common = format!(
            "[nats]\nurl = {:?}\n\n[telemetry]\nlog_filter = \"info,async_nats=warn,aws_config=warn\"\nlog_format = \"json\"\n{otlp}\n[health]\nlisten = \"127.0.0.1:{}\"\n",
            self.nats_url,
            free_port()?
        );
        let s3 = format!(
            "[s3]\nendpoint = {:?}\nregion = \"us-east-1\"\naccess_key_id = \"nrt-e2e\"\nsecret_access_key = \"nrt-e2e-secret\"\n",
            self.s3_endpoint
        );
        let dir = self.dir.display();
        let concurrency = self.concurrency;
        let specific = match service {
            "ingestor" => format!(
                "[[feeds]]\nname = \"cdse-replay\"\nkind = \"cdse-odata\"\nurl = {:?}\npoll_interval_secs = 0.5\npage_size = 20\nstart_from = \"2000-01-01T00:00:00Z\"\nalert_after_failures = {}\nretry_attempts = 2\nretry_min_delay_secs = 0.1\nretry_max_delay_secs = 0.5\n",
                self.feed_url, self.alert_after_failures
            ),
            "trigger" => format!(
                "rules_file = \"{dir}/rules.toml\"\nregistry_file = \"{dir}/processors.toml\"\nconcurrency = {concurrency}\n"
            ),
            "processor-launcher" => format!(
                "outputs_bucket = \"{OUTPUTS_BUCKET}\"\nregistry_file = \"{dir}/processors.toml\"\nwork_dir = \"{dir}/jobs\"\nconcurrency = {concurrency}\nlease_secs = 10\n\n{s3}"
            ),
            "catalogue-publisher" => format!(
                "catalogue_bucket = \"{CATALOGUE_BUCKET}\"\ncatalogue_prefix = \"stac\"\nconcurrency = {concurrency}\n\n{s3}"
            ),
            "notifier" => format!(
                "concurrency = {concurrency}\n\n[delivery]\nredelivery_delays_secs = [1, 2]\n\n[[subscriptions]]\nname = \"e2e\"\nevents = [\"item-published\", \"job-failed\", \"job-dead\"]\n[subscriptions.webhook]\nurl = {:?}\nsecrets = [{WEBHOOK_SECRET:?}]\n",
                self.webhook_url
            ),
            other => anyhow::bail!("{other} is not a service of the mesh"),
        };
        // Top-level keys first: in TOML they must precede the first table.
        Ok(format!("{specific}\n{common}"))
    }
}
