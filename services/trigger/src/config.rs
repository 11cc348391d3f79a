//! The trigger's configuration: compiled-in defaults, then an optional file, then `TRIGGER__…`
//! environment variables (`TRIGGER__NATS__URL` sets `nats.url`).

use std::path::{Path, PathBuf};

use nrt_nats::NatsConfig;
use nrt_runtime::{HealthConfig, config::ConfigError};
use nrt_telemetry::TelemetryConfig;
use serde::Deserialize;

const DEFAULTS: &str = r#"
rules_file = "/etc/nrt-mesh/rules.toml"
registry_file = "/etc/nrt-mesh/processors.toml"
concurrency = 8

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
    /// The rules (TOML, see `rules.example.toml`), read and validated at start.
    pub rules_file: PathBuf,
    /// The processor registry the rules' processors must be in; it gives their versions.
    pub registry_file: PathBuf,
    /// Products evaluated at once by this replica.
    pub concurrency: usize,
}

/// Reads the configuration and checks it once.
pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
    let config: Config = nrt_runtime::config::load(DEFAULTS, file, "TRIGGER")?;
    if config.concurrency == 0 {
        return Err(ConfigError::invalid("concurrency", "must be at least 1"));
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
    fn an_unknown_key_is_named() {
        let error = load_text("rule_file = \"x\"\n").unwrap_err();
        let text = nrt_nats::describe_error(&error);
        assert!(text.contains("rule_file"), "{text}");
    }
}
