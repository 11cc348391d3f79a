use std::{fmt, path::PathBuf};

use serde::{Deserialize, Deserializer};

/// A credential from configuration. `Debug` and `Display` print `[redacted]`, so a secret never
/// reaches a log. In a config file it is either the value itself or `{ file = "/run/secrets/x" }`,
/// read once at load (Kubernetes and Nomad mount secrets as files).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Source {
            Value(String),
            File { file: PathBuf },
        }
        match Source::deserialize(deserializer)? {
            Source::Value(value) => Ok(Self(value)),
            Source::File { file } => std::fs::read_to_string(&file)
                // Files written by editors and `kubectl create secret` end in a newline.
                .map(|value| Self(value.trim_end_matches(['\n', '\r']).to_owned()))
                .map_err(|error| {
                    serde::de::Error::custom(format!(
                        "cannot read secret file {}: {error}",
                        file.display()
                    ))
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        token: Secret,
    }

    #[test]
    fn debug_never_shows_the_value() {
        let holder: Holder = serde_json::from_str(r#"{"token":"hunter2"}"#).unwrap();
        assert_eq!(holder.token.expose(), "hunter2");
        assert!(!format!("{holder:?}").contains("hunter2"));
    }

    #[test]
    fn reads_the_value_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cr3t\n").unwrap();
        let json = serde_json::json!({ "token": { "file": path } });
        let holder: Holder = serde_json::from_value(json).unwrap();
        assert_eq!(holder.token.expose(), "s3cr3t");
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let json = serde_json::json!({ "token": { "file": "/nonexistent/token" } });
        let error = serde_json::from_value::<Holder>(json)
            .unwrap_err()
            .to_string();
        assert!(error.contains("/nonexistent/token"), "{error}");
    }
}
