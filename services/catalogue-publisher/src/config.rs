//! Configuration: compiled-in defaults, then an optional TOML file, then `CATALOGUE_PUBLISHER__…`
//! environment variables (`CATALOGUE_PUBLISHER__S3__ENDPOINT` sets `s3.endpoint`).

use std::{collections::BTreeMap, path::Path, time::Duration};

use nrt_nats::NatsConfig;
use nrt_runtime::{HealthConfig, Secret, config::ConfigError};
use nrt_s3::S3Config;
use nrt_telemetry::TelemetryConfig;
use serde::Deserialize;
use url::Url;

use crate::marker::CompletionMarker;

const DEFAULTS: &str = r#"
catalogue_bucket = "catalogue"
catalogue_prefix = ""
sidecar_path = "metadata.json"
concurrency = 4

[nats]
url = "nats://127.0.0.1:4222"

[telemetry]
log_filter = "info,async_nats=warn,aws_config=warn"
log_format = "json"

[health]
listen = "0.0.0.0:9090"

[s3]
region = "us-east-1"
"#;

/// The environment prefix: `CATALOGUE_PUBLISHER__NATS__URL` sets `nats.url`.
pub const ENV_PREFIX: &str = "CATALOGUE_PUBLISHER";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub nats: NatsConfig,
    pub telemetry: TelemetryConfig,
    pub health: HealthConfig,
    /// The S3 server holding the static catalogue (outputs may be in other buckets of it).
    pub s3: S3Config,
    pub catalogue_bucket: String,
    /// Where the catalogue starts in the bucket, e.g. `stac` for `s3://catalogue/stac/catalog.json`;
    /// empty for the bucket's root.
    pub catalogue_prefix: String,
    /// Public URL under which object keys are served: hrefs become `<public_base_url>/<key>`
    /// instead of `s3://<bucket>/<key>`. It must serve the outputs' keys as well as the catalogue's.
    pub public_base_url: Option<Url>,
    /// Per processor name; processors not listed get a collection named after themselves.
    #[serde(default)]
    pub collections: BTreeMap<String, CollectionConfig>,
    /// The output path (relative to the job's output directory) of the processor's metadata
    /// sidecar: its asset gets the `metadata` role instead of `data`.
    pub sidecar_path: String,
    /// Jobs published at once by this replica.
    pub concurrency: usize,
    /// Where items are published: the static catalogue in S3, a STAC API, or both.
    #[serde(default = "default_targets")]
    pub targets: Vec<Target>,
    /// The STAC API, when `stac-api` is a target.
    #[serde(default)]
    pub stac_api: StacApiConfig,
    /// What a retracted input does to the items derived from it.
    #[serde(default)]
    pub retractions: RetractionPolicy,
    /// Where processors outside the launcher write job directories completed by a marker
    /// (`[[completion_markers]]`); see [`crate::marker`].
    #[serde(default)]
    pub completion_markers: Vec<CompletionMarker>,
}

/// A catalogue items are published to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// The static catalogue in `catalogue_bucket`.
    S3,
    /// A STAC API with the Transactions extension, at `stac_api.url`.
    StacApi,
}

fn default_targets() -> Vec<Target> {
    vec![Target::S3]
}

/// A STAC API with the Transactions extension.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StacApiConfig {
    /// Its landing page, e.g. `https://stac.example.eu/api/v1`.
    pub url: Option<Url>,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: Option<Secret>,
    /// How long one request may take.
    pub timeout_secs: u64,
}

impl Default for StacApiConfig {
    fn default() -> Self {
        Self {
            url: None,
            token: None,
            timeout_secs: 30,
        }
    }
}

impl StacApiConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

/// What a retracted input does to the items derived from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetractionPolicy {
    /// Mark each derived item (`nrt:retracted` and friends) and raise an alert.
    #[default]
    Mark,
    /// Leave derived items as they are.
    Ignore,
}

/// The collection a processor's items go to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionConfig {
    /// Collection id (also its folder in the catalogue); defaults to the processor name.
    pub id: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    /// SPDX identifier, or `other`; defaults to `other`.
    pub license: Option<String>,
    /// `processing:level` of the items, e.g. `L2`.
    pub processing_level: Option<String>,
}

/// A processor's collection with every default applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionSettings {
    pub id: String,
    pub title: Option<String>,
    pub description: String,
    pub license: String,
    pub processing_level: Option<String>,
}

impl Config {
    pub fn publishes_to(&self, target: Target) -> bool {
        self.targets.contains(&target)
    }

    /// The STAC API items are published to, if that is a target.
    pub fn stac_api_url(&self) -> Option<&Url> {
        self.stac_api
            .url
            .as_ref()
            .filter(|_| self.publishes_to(Target::StacApi))
    }

    /// The collection `processor`'s items are published in.
    pub fn collection_for(&self, processor: &str) -> CollectionSettings {
        let configured = self.collections.get(processor).cloned().unwrap_or_default();
        CollectionSettings {
            id: configured.id.unwrap_or_else(|| processor.to_owned()),
            title: configured.title,
            description: configured
                .description
                .unwrap_or_else(|| format!("Outputs of the {processor} processor.")),
            license: configured.license.unwrap_or_else(|| "other".to_owned()),
            processing_level: configured.processing_level,
        }
    }

    /// Checks what serde cannot: names that become object keys, URLs, counts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.catalogue_bucket.trim().is_empty() {
            return Err(ConfigError::invalid(
                "catalogue_bucket",
                "must not be empty",
            ));
        }
        let prefix = self.catalogue_prefix.trim_matches('/');
        if !prefix.is_empty() {
            nrt_s3::validate_key(prefix)
                .map_err(|error| ConfigError::invalid("catalogue_prefix", error.to_string()))?;
        }
        if let Some(url) = &self.public_base_url
            && !matches!(url.scheme(), "http" | "https")
        {
            return Err(ConfigError::invalid(
                "public_base_url",
                format!("{url} is not an http(s) URL"),
            ));
        }
        if self.concurrency == 0 {
            return Err(ConfigError::invalid("concurrency", "must be at least 1"));
        }
        if self.sidecar_path.trim().is_empty() {
            return Err(ConfigError::invalid("sidecar_path", "must not be empty"));
        }
        self.validate_targets()?;
        CompletionMarker::validate_all(&self.completion_markers)?;
        for (processor, collection) in &self.collections {
            if let Some(id) = &collection.id
                && let Err(reason) = check_path_segment(id)
            {
                return Err(ConfigError::invalid(
                    format!("collections.{processor}.id"),
                    reason,
                ));
            }
            if collection.license.as_deref().is_some_and(str::is_empty) {
                return Err(ConfigError::invalid(
                    format!("collections.{processor}.license"),
                    "must not be empty",
                ));
            }
        }
        Ok(())
    }

    fn validate_targets(&self) -> Result<(), ConfigError> {
        if self.targets.is_empty() {
            return Err(ConfigError::invalid(
                "targets",
                "must name at least one of \"s3\" and \"stac-api\"",
            ));
        }
        if !self.publishes_to(Target::StacApi) {
            return Ok(());
        }
        match &self.stac_api.url {
            None => Err(ConfigError::invalid(
                "stac_api.url",
                "is required when targets include \"stac-api\"",
            )),
            Some(url) if !matches!(url.scheme(), "http" | "https") => Err(ConfigError::invalid(
                "stac_api.url",
                format!("{url} is not an http(s) URL"),
            )),
            Some(_) if self.stac_api.timeout_secs == 0 => Err(ConfigError::invalid(
                "stac_api.timeout_secs",
                "must be at least 1",
            )),
            Some(_) => Ok(()),
        }
    }
}

/// Reads the defaults, then `file`, then the environment, and validates the result.
pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
    let config: Config = nrt_runtime::config::load(DEFAULTS, file, ENV_PREFIX)?;
    config.validate()?;
    Ok(config)
}

/// Accepts names that are one segment of an object key: collection ids and item ids.
pub(crate) fn check_path_segment(name: &str) -> Result<(), String> {
    if name.contains('/') {
        return Err(format!("{name:?} contains `/`"));
    }
    nrt_s3::validate_key(name).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
        let path = dir.path().join("catalogue-publisher.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn defaults_alone_make_a_valid_config() {
        let config = load(None).unwrap();
        assert_eq!(config.catalogue_bucket, "catalogue");
        assert_eq!(config.concurrency, 4);
        assert_eq!(config.public_base_url, None);
        let footprint = config.collection_for("footprint");
        assert_eq!(footprint.id, "footprint");
        assert_eq!(footprint.license, "other");
    }

    #[test]
    fn a_file_maps_processors_to_collections() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            &dir,
            r#"
            catalogue_bucket = "stac"
            catalogue_prefix = "nrt"
            public_base_url = "https://data.example.eu/stac"
            [collections.snow-cover]
            id = "fsc-nrt"
            title = "Fractional snow cover"
            license = "CC-BY-4.0"
            processing_level = "L2"
            "#,
        );
        let config = load(Some(&file)).unwrap();
        let snow = config.collection_for("snow-cover");
        assert_eq!(snow.id, "fsc-nrt");
        assert_eq!(snow.license, "CC-BY-4.0");
        assert_eq!(snow.processing_level.as_deref(), Some("L2"));
        assert_eq!(
            config.public_base_url.unwrap().as_str(),
            "https://data.example.eu/stac"
        );
    }

    #[test]
    fn a_collection_id_with_a_slash_is_refused_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(&dir, "[collections.snow]\nid = \"a/b\"\n");
        let error = load(Some(&file)).unwrap_err().to_string();
        assert!(error.contains("collections.snow.id"), "{error}");
    }

    #[test]
    fn a_public_base_url_that_is_not_http_is_refused_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(&dir, "public_base_url = \"s3://bucket/x\"\n");
        let error = load(Some(&file)).unwrap_err().to_string();
        assert!(error.contains("public_base_url"), "{error}");
    }

    #[test]
    fn zero_concurrency_and_unsafe_prefixes_are_refused_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let error = load(Some(&write(&dir, "concurrency = 0\n")))
            .unwrap_err()
            .to_string();
        assert!(error.contains("concurrency"), "{error}");
        let error = load(Some(&write(&dir, "catalogue_prefix = \"a/../b\"\n")))
            .unwrap_err()
            .to_string();
        assert!(error.contains("catalogue_prefix"), "{error}");
    }

    #[test]
    fn the_static_catalogue_is_the_only_default_target_and_retractions_mark() {
        let config = load(None).unwrap();
        assert_eq!(config.targets, [Target::S3]);
        assert_eq!(config.stac_api_url(), None);
        assert_eq!(config.retractions, RetractionPolicy::Mark);
    }

    #[test]
    fn a_file_adds_a_stac_api_target_with_a_token() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            &dir,
            r#"
            targets = ["s3", "stac-api"]
            retractions = "ignore"
            [stac_api]
            url = "https://stac.example.eu/api/v1"
            token = "hunter2"
            timeout_secs = 5
            "#,
        );
        let config = load(Some(&file)).unwrap();
        assert!(config.publishes_to(Target::S3) && config.publishes_to(Target::StacApi));
        assert_eq!(
            config.stac_api_url().unwrap().as_str(),
            "https://stac.example.eu/api/v1"
        );
        assert_eq!(config.stac_api.token.as_ref().unwrap().expose(), "hunter2");
        assert_eq!(config.stac_api.timeout(), Duration::from_secs(5));
        assert_eq!(config.retractions, RetractionPolicy::Ignore);
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn a_stac_api_target_without_a_url_is_refused_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(&dir, "targets = [\"stac-api\"]\n");
        let error = load(Some(&file)).unwrap_err().to_string();
        assert!(error.contains("stac_api.url"), "{error}");
        let file = write(
            &dir,
            "targets = [\"stac-api\"]\n[stac_api]\nurl = \"ftp://stac.example.eu\"\n",
        );
        let error = load(Some(&file)).unwrap_err().to_string();
        assert!(error.contains("stac_api.url"), "{error}");
    }

    #[test]
    fn no_targets_or_an_unknown_one_is_refused_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let error = load(Some(&write(&dir, "targets = []\n")))
            .unwrap_err()
            .to_string();
        assert!(error.contains("targets"), "{error}");
        let error = load(Some(&write(&dir, "targets = [\"ftp\"]\n"))).unwrap_err();
        let text = nrt_nats::describe_error(&error);
        assert!(text.contains("ftp") && text.contains("targets"), "{text}");
    }

    #[test]
    fn an_unknown_retraction_policy_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let error = load(Some(&write(&dir, "retractions = \"delete\"\n"))).unwrap_err();
        let text = nrt_nats::describe_error(&error);
        assert!(
            text.contains("delete") && text.contains("retractions"),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(&dir, "catalog_bucket = \"typo\"\n");
        let error = load(Some(&file)).unwrap_err();
        let text = nrt_nats::describe_error(&error);
        assert!(text.contains("catalog_bucket"), "{text}");
    }
}
