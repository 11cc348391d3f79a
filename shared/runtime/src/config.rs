//! Layered configuration: compiled-in defaults, then an optional file, then environment variables.

use std::path::Path;

use config::{Environment, File, FileFormat};
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read")]
    Load(#[from] config::ConfigError),
    #[error("configuration key {key} is invalid: {reason}")]
    Invalid { key: String, reason: String },
}

impl ConfigError {
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Reads `T` from `defaults` (TOML), then `file` (format from its extension), then environment
/// variables named `<PREFIX>__<KEY>__<SUBKEY>`, e.g. `TRIGGER__NATS__URL` sets `nats.url`.
pub fn load<T: DeserializeOwned>(
    defaults: &str,
    file: Option<&Path>,
    env_prefix: &str,
) -> Result<T, ConfigError> {
    let mut builder =
        config::Config::builder().add_source(File::from_str(defaults, FileFormat::Toml));
    if let Some(file) = file {
        builder = builder.add_source(File::from(file));
    }
    // prefix_separator defaults to the key separator; set both so PREFIX__A__B sets a.b.
    let environment = Environment::with_prefix(env_prefix)
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true);
    Ok(builder.add_source(environment).build()?.try_deserialize()?)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: String,
        nested: Nested,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nested {
        port: u16,
    }

    const DEFAULTS: &str = "name = \"default\"\n[nested]\nport = 1\n";

    #[test]
    fn file_overrides_defaults_and_environment_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sample.toml");
        std::fs::write(&file, "name = \"from-file\"\n[nested]\nport = 2\n").unwrap();
        let from_file: Sample = load(DEFAULTS, Some(&file), "NRT_TEST_A").unwrap();
        assert_eq!(
            (from_file.name.as_str(), from_file.nested.port),
            ("from-file", 2)
        );

        // SAFETY: this test alone uses the NRT_TEST_B prefix.
        unsafe { std::env::set_var("NRT_TEST_B__NESTED__PORT", "3") };
        let from_env: Sample = load(DEFAULTS, Some(&file), "NRT_TEST_B").unwrap();
        assert_eq!(from_env.nested.port, 3);
    }

    #[test]
    fn a_bad_value_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sample.toml");
        std::fs::write(&file, "[nested]\nport = \"many\"\n").unwrap();
        let error = load::<Sample>(DEFAULTS, Some(&file), "NRT_TEST_C").unwrap_err();
        let message = format!("{:#}", anyhow_like(&error));
        assert!(message.contains("nested.port"), "{message}");
    }

    #[test]
    fn an_unknown_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sample.toml");
        std::fs::write(&file, "colour = \"blue\"\n").unwrap();
        let error = load::<Sample>(DEFAULTS, Some(&file), "NRT_TEST_D").unwrap_err();
        assert!(
            anyhow_like(&error).contains("colour"),
            "{}",
            anyhow_like(&error)
        );
    }

    fn anyhow_like(error: &dyn std::error::Error) -> String {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}
