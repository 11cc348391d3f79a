//! Rules reloaded without a restart, over a real nats-server: a rewritten or swapped rules file,
//! a bad file refused with an alert while the good rules go on, and rules kept in the
//! `trigger-rules` bucket that two replicas both follow.

#[allow(dead_code)]
mod harness;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    time::Duration,
};

use nrt_events::streams::KV_TRIGGER_RULES_KEY as RULES_KEY;
use nrt_events::{Alert, JobRequested, ProductDiscovered, Severity, streams};
use nrt_nats::{EventTap, NatsServer, Publisher, TopologyOptions, apply_topology, async_nats};
use nrt_runtime::shutdown;
use tokio::time::Instant;
use trigger::{Config, Error, config::RulesFrom};

use harness::{REGISTRY, S2_54PXA, WAIT, config, product};

/// Both rule sets fire for every Sentinel-2 product: each product gets exactly one job, and its
/// rule says which set was in force.
const RULES_A: &str =
    "[[rules]]\nname = \"rule-a\"\nprocessor = \"footprint\"\ncollections = [\"SENTINEL-2\"]\n";
const RULES_B: &str =
    "[[rules]]\nname = \"rule-b\"\nprocessor = \"footprint\"\ncollections = [\"SENTINEL-2\"]\n";
const RULES_C: &str =
    "[[rules]]\nname = \"rule-c\"\nprocessor = \"footprint\"\ncollections = [\"SENTINEL-2\"]\n";
/// `lte` is no operator: refused, naming the rule and the field.
const RULES_BAD: &str = "[[rules]]\nname = \"rule-bad\"\nprocessor = \"footprint\"\n[[rules.where]]\nattribute = \"cloudCover\"\nop = \"lte\"\nvalue = 80\n";

/// Between two products while waiting for a reload: a few per reload period.
const PACE: Duration = Duration::from_millis(50);

/// A nats-server with the mesh's streams and buckets, and an ingestor's publisher.
struct Mesh {
    server: NatsServer,
    js: async_nats::jetstream::Context,
    ingestor: Publisher,
    /// Products discovered so far: each new one gets a new key.
    discovered: usize,
}

impl Mesh {
    async fn start() -> Self {
        let server = NatsServer::start().await;
        let js = server.jetstream().await;
        apply_topology(&js, TopologyOptions::default())
            .await
            .unwrap();
        Self {
            ingestor: Publisher::new(js.clone(), "ingestor"),
            server,
            js,
            discovered: 0,
        }
    }

    /// A new Sentinel-2 product, discovered as the ingestor would.
    async fn discover(&mut self) {
        self.discovered += 1;
        let mut product: ProductDiscovered = product(S2_54PXA);
        product.key = format!("{S2_54PXA}-{}", self.discovered);
        product.name = format!("{}.SAFE", product.key);
        assert!(!self.ingestor.publish(product).await.unwrap().duplicate);
    }

    async fn put_rules(&self, text: &str) -> u64 {
        let store = self
            .js
            .get_key_value(streams::KV_TRIGGER_RULES)
            .await
            .unwrap();
        store.put(RULES_KEY, text.to_owned().into()).await.unwrap()
    }

    async fn jobs(&self) -> EventTap {
        EventTap::open(&self.js, streams::JOBS.name, "jobs.requested.>")
            .await
            .unwrap()
    }

    async fn alerts(&self) -> EventTap {
        EventTap::open(&self.js, streams::ALERTS.name, "alerts.>")
            .await
            .unwrap()
    }

    /// Discovers products, one job each, until one gets a job of `rule`; every job before it
    /// must be of `before`.
    async fn discover_until(&mut self, jobs: &mut EventTap, before: &str, rule: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            self.discover().await;
            let job = next_job(jobs).await;
            if job.rule == rule {
                return;
            }
            assert_eq!(job.rule, before, "only the old rules until the new ones");
            assert!(Instant::now() < deadline, "{rule} never came into force");
            tokio::time::sleep(PACE).await;
        }
    }
}

async fn next_job(jobs: &mut EventTap) -> JobRequested {
    jobs.next::<JobRequested>(WAIT).await.unwrap().data
}

/// One trigger replica, stopped by [`Replica::stop`].
struct Replica {
    stop: shutdown::Trigger,
    service: tokio::task::JoinHandle<Result<(), Error>>,
}

impl Replica {
    fn start(config: Config) -> Self {
        let (stop, shutdown) = shutdown::manual();
        Self {
            stop,
            service: tokio::spawn(trigger::run(config, shutdown)),
        }
    }

    async fn stop(self) {
        self.stop.trigger();
        let outcome = tokio::time::timeout(WAIT, self.service)
            .await
            .expect("trigger stops within the drain time")
            .unwrap();
        assert!(outcome.is_ok(), "{outcome:?}");
    }
}

/// A trigger reading its rules from the bucket, with its own files and `registry`.
fn kv_config(mesh: &Mesh, files: &tempfile::TempDir, registry: &str) -> Config {
    let mut config = config(mesh.server.url(), files, "");
    std::fs::remove_file(&config.rules_file).unwrap();
    std::fs::write(&config.registry_file, registry).unwrap();
    config.rules_from = RulesFrom::Kv;
    config
}

/// Lays `rules` out as a Kubernetes ConfigMap volume does: `rules.toml` links to
/// `..data/rules.toml`, and `..data` links to a timestamped directory holding the file.
fn config_map_version(dir: &Path, version: &str, rules: &str) {
    let data = dir.join(version);
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("rules.toml"), rules).unwrap();
    // The kubelet's swap: a new link, renamed over the old one in one step.
    let link = dir.join("..data_tmp");
    std::os::unix::fs::symlink(version, &link).unwrap();
    std::fs::rename(&link, dir.join("..data")).unwrap();
}

#[tokio::test]
async fn a_rewritten_rules_file_and_a_swapped_config_map_both_go_into_force_without_a_restart() {
    let mut mesh = Mesh::start().await;
    let files = tempfile::tempdir().unwrap();
    let config = config(mesh.server.url(), &files, "");
    std::fs::remove_file(&config.rules_file).unwrap();
    config_map_version(files.path(), "..2026_01_01_a", RULES_A);
    std::os::unix::fs::symlink("..data/rules.toml", &config.rules_file).unwrap();
    let trigger = Replica::start(config.clone());
    let mut jobs = mesh.jobs().await;

    mesh.discover().await;
    assert_eq!(next_job(&mut jobs).await.rule, "rule-a");

    std::fs::write(&config.rules_file, RULES_B).unwrap();
    mesh.discover_until(&mut jobs, "rule-a", "rule-b").await;

    config_map_version(files.path(), "..2026_01_02_c", RULES_C);
    mesh.discover_until(&mut jobs, "rule-b", "rule-c").await;
    trigger.stop().await;
}

#[tokio::test]
async fn a_bad_rules_file_raises_an_alert_and_the_good_rules_stay_in_force() {
    let mut mesh = Mesh::start().await;
    let files = tempfile::tempdir().unwrap();
    let config = config(mesh.server.url(), &files, RULES_A);
    let trigger = Replica::start(config.clone());
    let mut jobs = mesh.jobs().await;
    let mut alerts = mesh.alerts().await;
    mesh.discover().await;
    assert_eq!(next_job(&mut jobs).await.rule, "rule-a");

    std::fs::write(&config.rules_file, RULES_BAD).unwrap();
    let (subject, body) = alerts.next_raw(WAIT).await.unwrap();
    assert_eq!(subject, "alerts.warning.rules-invalid");
    let alert: Alert = nrt_events::Envelope::from_json(&body).unwrap().data;
    let rules_file = config.rules_file.display().to_string();
    assert_eq!(
        (alert.kind.as_str(), alert.severity),
        ("rules-invalid", Severity::Warning)
    );
    assert!(
        alert.about.starts_with(&format!("{rules_file}#")),
        "{}",
        alert.about
    );
    assert!(
        alert.message.starts_with(&format!(
            "rules file {rules_file}: rule rule-bad, field where[0].op: unknown variant `lte`"
        )),
        "{}",
        alert.message
    );

    // The alert comes after the refusal: this product meets the rules in force then.
    mesh.discover().await;
    assert_eq!(next_job(&mut jobs).await.rule, "rule-a");
    trigger.stop().await;
}

#[tokio::test]
async fn two_replicas_reading_rules_from_the_bucket_both_follow_a_new_version() {
    let mut mesh = Mesh::start().await;
    mesh.put_rules(RULES_A).await;
    // The replicas' registries differ in the processor's version alone, so that each job says
    // which replica requested it.
    let (files_1, files_2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one = Replica::start(kv_config(&mesh, &files_1, REGISTRY));
    let two = Replica::start(kv_config(
        &mesh,
        &files_2,
        &REGISTRY.replace("version = \"1.0.0\"", "version = \"1.0.2\""),
    ));
    let mut jobs = mesh.jobs().await;
    mesh.discover().await;
    assert_eq!(next_job(&mut jobs).await.rule, "rule-a");

    assert_eq!(mesh.put_rules(RULES_B).await, 2);
    let mut converged = BTreeSet::new();
    let deadline = Instant::now() + WAIT;
    while converged.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "only replicas {converged:?} follow the new rules"
        );
        mesh.discover().await;
        let job = next_job(&mut jobs).await;
        if job.rule == "rule-b" {
            converged.insert(job.processor_version);
        } else {
            assert!(
                !converged.contains(&job.processor_version),
                "replica {} went back to the old rules",
                job.processor_version
            );
        }
        tokio::time::sleep(PACE).await;
    }
    one.stop().await;
    two.stop().await;
}

#[tokio::test]
async fn a_bad_or_deleted_version_in_the_bucket_raises_an_alert_and_the_good_rules_stay() {
    let mut mesh = Mesh::start().await;
    mesh.put_rules(RULES_A).await;
    let files = tempfile::tempdir().unwrap();
    let trigger = Replica::start(kv_config(&mesh, &files, REGISTRY));
    let mut jobs = mesh.jobs().await;
    let mut alerts = mesh.alerts().await;
    mesh.discover().await;
    assert_eq!(next_job(&mut jobs).await.rule, "rule-a");

    let revision = mesh.put_rules(RULES_BAD).await;
    let alert = alerts.next::<Alert>(WAIT).await.unwrap().data;
    let origin = format!("trigger-rules/rules@{revision}");
    assert_eq!(alert.kind, "rules-invalid");
    assert!(
        alert.about.starts_with(&format!("{origin}#")),
        "{}",
        alert.about
    );
    assert!(
        alert.message.starts_with(&format!(
            "rules file {origin}: rule rule-bad, field where[0].op: unknown variant `lte`"
        )),
        "{}",
        alert.message
    );
    mesh.discover().await;
    assert_eq!(next_job(&mut jobs).await.rule, "rule-a");

    let store = mesh
        .js
        .get_key_value(streams::KV_TRIGGER_RULES)
        .await
        .unwrap();
    store.delete(RULES_KEY).await.unwrap();
    let alert = alerts.next::<Alert>(WAIT).await.unwrap().data;
    assert_eq!(
        (alert.about.as_str(), alert.message.as_str()),
        (
            "trigger-rules/rules",
            "key rules of bucket trigger-rules holds no rules; put them there with `nrtmesh rules publish`"
        )
    );
    mesh.discover().await;
    assert_eq!(next_job(&mut jobs).await.rule, "rule-a");
    trigger.stop().await;
}

/// What `trigger::run` returns when it refuses to start.
async fn start_error(config: Config) -> String {
    let (_stop, shutdown) = shutdown::manual();
    tokio::time::timeout(WAIT, trigger::run(config, shutdown))
        .await
        .expect("fails fast")
        .unwrap_err()
        .to_string()
}

#[tokio::test]
async fn the_trigger_refuses_to_start_on_an_empty_or_bad_bucket() {
    let mesh = Mesh::start().await;
    let files = tempfile::tempdir().unwrap();
    let config = kv_config(&mesh, &files, REGISTRY);
    assert_eq!(
        start_error(config.clone()).await,
        "key rules of bucket trigger-rules holds no rules; put them there with `nrtmesh rules publish`"
    );

    let revision = mesh.put_rules(RULES_BAD).await;
    let error = start_error(config).await;
    assert!(
        error.starts_with(&format!(
            "rules file trigger-rules/rules@{revision}: rule rule-bad, field where[0].op: unknown variant `lte`"
        )),
        "{error}"
    );
}

#[tokio::test]
async fn rules_from_the_bucket_still_need_a_registry_checked_before_connecting() {
    // Nothing listens here: the registry is checked before connecting.
    let files = tempfile::tempdir().unwrap();
    let mut config = config("nats://127.0.0.1:1".into(), &files, "");
    config.rules_from = RulesFrom::Kv;
    config.registry_file = PathBuf::from(files.path()).join("missing.toml");
    assert_eq!(
        start_error(config.clone()).await,
        format!(
            "cannot read processor registry {}",
            config.registry_file.display()
        )
    );
}
