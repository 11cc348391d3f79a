//! The launcher's configuration: compiled-in defaults, then an optional file, then
//! `PROCESSOR_LAUNCHER__…` environment variables (`PROCESSOR_LAUNCHER__NATS__URL` sets `nats.url`).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use nrt_nats::NatsConfig;
use nrt_runtime::{HealthConfig, config::ConfigError};
use nrt_s3::S3Config;
use nrt_telemetry::TelemetryConfig;
use serde::Deserialize;

use crate::backend::{docker::DockerConfig, kubernetes::KubernetesConfig, nomad::NomadConfig};

const DEFAULTS: &str = r#"
outputs_bucket = "nrt-outputs"
registry_file = "/etc/nrt-mesh/processors.toml"
work_dir = "/tmp/nrt-mesh/processor-launcher"
concurrency = 64
lease_secs = 30
drain_timeout_secs = 25

[nats]
url = "nats://127.0.0.1:4222"

[telemetry]
log_filter = "info"
log_format = "json"

[health]
listen = "0.0.0.0:9090"

[s3]
region = "us-east-1"
"#;

/// The environment prefix: `PROCESSOR_LAUNCHER__S3__ENDPOINT` sets `s3.endpoint`.
pub const ENV_PREFIX: &str = "PROCESSOR_LAUNCHER";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub nats: NatsConfig,
    pub telemetry: TelemetryConfig,
    pub health: HealthConfig,
    /// Where outputs and logs are staged.
    pub s3: S3Config,
    /// Outputs go to `s3://<outputs_bucket>/jobs/<processor>/<job_id>/`; created at start when
    /// missing.
    pub outputs_bucket: String,
    /// The processor registry (TOML): commands, timeouts, retry policy, concurrency.
    pub registry_file: PathBuf,
    /// Per job and attempt a directory `<work_dir>/<job_id>/attempt-<n>/`; absolute.
    pub work_dir: PathBuf,
    /// Job requests handled at once by this replica, running or waiting for a slot (the
    /// registry's per-processor limits and `global_concurrency` hold across replicas).
    pub concurrency: usize,
    /// Jobs running at once across every replica, whatever their processor; none when absent.
    #[serde(default)]
    pub global_concurrency: Option<usize>,
    /// How long a claim on a job lasts without renewal; renewed every third of it. A launcher
    /// that dies is taken over this long after its last renewal.
    pub lease_secs: u64,
    /// On shutdown, how long running jobs may take to finish before they are killed and handed
    /// back (keep it below the orchestrator's grace period).
    pub drain_timeout_secs: u64,
    /// The Docker engine, for processors with `backend = "docker"`.
    #[serde(default)]
    pub docker: DockerConfig,
    /// The cluster and namespace, for processors with `backend = "kubernetes"`.
    #[serde(default)]
    pub kubernetes: KubernetesConfig,
    /// The Nomad agent, for processors with `backend = "nomad"`; the token also comes from
    /// `NOMAD_TOKEN`.
    #[serde(default)]
    pub nomad: NomadConfig,
}

impl Config {
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }

    pub fn drain_timeout(&self) -> Duration {
        Duration::from_secs(self.drain_timeout_secs)
    }
}

/// Reads the configuration and checks it once.
pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
    let config: Config = nrt_runtime::config::load(DEFAULTS, file, ENV_PREFIX)?;
    config.validate()?;
    Ok(config)
}

impl Config {
    /// The checks [`load`] makes; `run` makes them too, for configurations built in code.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.outputs_bucket.trim().is_empty() {
            return Err(ConfigError::invalid("outputs_bucket", "must name a bucket"));
        }
        if self.registry_file.as_os_str().is_empty() {
            return Err(ConfigError::invalid("registry_file", "must name a file"));
        }
        if !self.work_dir.is_absolute() {
            return Err(ConfigError::invalid(
                "work_dir",
                "must be an absolute path (processors get it in their manifest)",
            ));
        }
        if self.concurrency == 0 {
            return Err(ConfigError::invalid("concurrency", "must be at least 1"));
        }
        if self.global_concurrency == Some(0) {
            return Err(ConfigError::invalid(
                "global_concurrency",
                "must be at least 1 (leave it out for no global limit)",
            ));
        }
        if self.lease_secs < 3 {
            return Err(ConfigError::invalid(
                "lease_secs",
                "must be at least 3 (the lease is renewed every third of it)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("launcher.toml");
        std::fs::write(&file, text).unwrap();
        load(Some(&file))
    }

    fn chain(error: &dyn std::error::Error) -> String {
        nrt_nats::describe_error(error)
    }

    #[test]
    fn runs_on_defaults_alone() {
        let config = load(None).unwrap();
        assert_eq!(config.outputs_bucket, "nrt-outputs");
        assert_eq!(config.lease(), Duration::from_secs(30));
        assert_eq!(config.s3.region, "us-east-1");
        assert!(config.s3.endpoint.is_none());
    }

    #[test]
    fn a_file_sets_s3_and_the_work_dir() {
        let config = load_text(
            "work_dir = \"/srv/jobs\"\nlease_secs = 9\n[s3]\nregion = \"eu-central-1\"\nendpoint = \"http://minio:9000\"\n",
        )
        .unwrap();
        assert_eq!(config.work_dir, Path::new("/srv/jobs"));
        assert_eq!(config.lease_secs, 9);
        assert_eq!(config.s3.endpoint.as_deref(), Some("http://minio:9000"));
    }

    #[test]
    fn invalid_values_name_their_key() {
        let cases = [
            ("work_dir = \"jobs\"", "work_dir"),
            ("lease_secs = 2", "lease_secs"),
            ("concurrency = 0", "concurrency"),
            ("outputs_bucket = \" \"", "outputs_bucket"),
        ];
        for (text, key) in cases {
            let error = load_text(text).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("configuration key {key} is invalid")),
                "{error}"
            );
        }
    }

    #[test]
    fn an_unknown_key_is_named() {
        let error = load_text("leases = 3").unwrap_err();
        assert!(chain(&error).contains("leases"), "{}", chain(&error));
    }
}
