//! The trigger's configuration: compiled-in defaults, then an optional file, then `TRIGGER__…`
//! environment variables (`TRIGGER__NATS__URL` sets `nats.url`).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use nrt_nats::NatsConfig;
use nrt_runtime::{HealthConfig, config::ConfigError};
use nrt_telemetry::TelemetryConfig;
use serde::{Deserialize, Deserializer};

/// Where the trigger and `nrtmesh rules` look for the processor registry unless told otherwise.
pub const DEFAULT_REGISTRY_FILE: &str = "/etc/nrt-mesh/processors.toml";

const DEFAULTS: &str = r#"
rules_file = "/etc/nrt-mesh/rules.toml"
registry_file = "/etc/nrt-mesh/processors.toml"
concurrency = 8
rules_from = "file"
reload_every_ms = 5000

[nats]
url = "nats://127.0.0.1:4222"

[telemetry]
log_filter = "info"
log_format = "json"

[health]
listen = "0.0.0.0:9090"
"#;

/// Everything the trigger needs from outside; `nrtmesh dev` builds it in code.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub nats: NatsConfig,
    pub telemetry: TelemetryConfig,
    pub health: HealthConfig,
    /// The rules (TOML, see `rules.example.toml`) when `rules_from = "file"`. With `"kv"` the
    /// file is not read, but area files the rules name are still found relative to its directory.
    pub rules_file: PathBuf,
    /// The processor registry the rules' processors must be in; it gives their versions. Read
    /// again, like the rules, whenever it changes.
    pub registry_file: PathBuf,
    /// Where the rules in force come from; a bad or missing source fails the start, a bad new
    /// version later is refused and the rules in force stay.
    pub rules_from: RulesFrom,
    /// How often the rules source and the registry are read for a new version
    /// (`reload_every_ms`).
    #[serde(rename = "reload_every_ms", deserialize_with = "milliseconds")]
    pub reload_every: Duration,
    /// Products evaluated at once by this replica.
    pub concurrency: usize,
    /// Joins and periodic rules: how often due groups are closed.
    #[serde(default)]
    pub gathering: crate::GatherConfig,
}

/// Where the trigger reads its rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RulesFrom {
    /// `rules_file`.
    File,
    /// Key `rules` of bucket `trigger-rules`, put there by `nrtmesh rules publish`: every
    /// replica reads the same rules without a file to ship.
    Kv,
}

fn milliseconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_millis)
}

/// Reads the configuration and checks it once.
pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
    let config: Config = nrt_runtime::config::load(DEFAULTS, file, "TRIGGER")?;
    if config.concurrency == 0 {
        return Err(ConfigError::invalid("concurrency", "must be at least 1"));
    }
    if config.reload_every.is_zero() {
        return Err(ConfigError::invalid(
            "reload_every_ms",
            "must be at least 1",
        ));
    }
    for (key, path) in [
        ("rules_file", &config.rules_file),
        ("registry_file", &config.registry_file),
    ] {
        if path.as_os_str().is_empty() {
            return Err(ConfigError::invalid(key, "must name a file"));
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("trigger.toml");
        std::fs::write(&file, text).unwrap();
        load(Some(&file))
    }

    #[test]
    fn runs_on_defaults_alone() {
        let config = load(None).unwrap();
        assert_eq!(config.concurrency, 8);
        assert_eq!(config.rules_file, Path::new("/etc/nrt-mesh/rules.toml"));
        assert_eq!(config.health.listen, Some("0.0.0.0:9090".parse().unwrap()));
    }

    #[test]
    fn a_file_sets_the_rule_and_registry_paths() {
        let config =
            load_text("rules_file = \"/srv/rules.toml\"\nregistry_file = \"/srv/p.toml\"\n")
                .unwrap();
        assert_eq!(config.rules_file, Path::new("/srv/rules.toml"));
        assert_eq!(config.registry_file, Path::new("/srv/p.toml"));
    }

    #[test]
    fn the_environment_overrides_nested_keys() {
        // SAFETY: no other test of this crate reads or writes TRIGGER__NATS__URL.
        unsafe { std::env::set_var("TRIGGER__NATS__URL", "nats://nats-0:4222") };
        let config = load(None).unwrap();
        unsafe { std::env::remove_var("TRIGGER__NATS__URL") };
        assert_eq!(config.nats.url, "nats://nats-0:4222");
    }

    #[test]
    fn zero_concurrency_is_refused_by_name() {
        let error = load_text("concurrency = 0\n").unwrap_err().to_string();
        assert_eq!(
            error,
            "configuration key concurrency is invalid: must be at least 1"
        );
    }

    #[test]
    fn rules_come_from_the_file_every_five_seconds_unless_told_otherwise() {
        let config = load(None).unwrap();
        assert_eq!(config.rules_from, RulesFrom::File);
        assert_eq!(config.reload_every, Duration::from_secs(5));
        assert_eq!(config.registry_file, Path::new(DEFAULT_REGISTRY_FILE));

        let config = load_text("rules_from = \"kv\"\nreload_every_ms = 200\n").unwrap();
        assert_eq!(config.rules_from, RulesFrom::Kv);
        assert_eq!(config.reload_every, Duration::from_millis(200));
    }

    #[test]
    fn an_unknown_rules_source_and_a_zero_reload_period_are_refused_by_name() {
        let error = load_text("rules_from = \"s3\"\n").unwrap_err();
        let text = nrt_nats::describe_error(&error);
        assert!(text.contains("rules_from") && text.contains("s3"), "{text}");
        let error = load_text("reload_every_ms = 0\n").unwrap_err().to_string();
        assert_eq!(
            error,
            "configuration key reload_every_ms is invalid: must be at least 1"
        );
    }

    #[test]
    fn an_unknown_key_is_named() {
        let error = load_text("rule_file = \"x\"\n").unwrap_err();
        let text = nrt_nats::describe_error(&error);
        assert!(text.contains("rule_file"), "{text}");
    }
}
