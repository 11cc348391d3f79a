//! Where completion markers are expected: the `[[completion_markers]]` entries of the config.

use nrt_runtime::config::ConfigError;
use serde::Deserialize;

use crate::config::check_path_segment;

/// A place where processors outside the launcher write job directories, each completed by a
/// marker: `s3://<bucket>/<prefix>/…/<directory>/<marker>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionMarker {
    pub bucket: String,
    /// The key prefix under which job directories live; empty for the whole bucket.
    pub prefix: String,
    /// The processor the items are attributed to; it names their collection.
    pub processor: String,
    /// Used when the marker does not give one.
    #[serde(default = "unknown_version")]
    pub processor_version: String,
    /// The rule the items name as the reason they were made.
    #[serde(default = "marker_rule")]
    pub rule: String,
    /// The marker's file name.
    #[serde(default = "success_marker")]
    pub marker: String,
}

pub(super) fn unknown_version() -> String {
    "unknown".into()
}

pub(super) fn marker_rule() -> String {
    "s3-marker".into()
}

pub(super) fn success_marker() -> String {
    "_SUCCESS".into()
}

impl CompletionMarker {
    /// Checks the entry at `index`, naming the key at fault.
    fn validate(&self, index: usize) -> Result<(), ConfigError> {
        let invalid = |field: &str, reason: String| {
            ConfigError::invalid(format!("completion_markers[{index}].{field}"), reason)
        };
        if self.bucket.trim().is_empty() || self.bucket.contains('/') {
            return Err(invalid(
                "bucket",
                format!("{:?} is not a bucket name", self.bucket),
            ));
        }
        let prefix = self.prefix.trim_matches('/');
        if !prefix.is_empty() {
            nrt_s3::validate_key(prefix).map_err(|error| invalid("prefix", error.to_string()))?;
        }
        check_path_segment(&self.processor).map_err(|reason| invalid("processor", reason))?;
        check_path_segment(&self.marker).map_err(|reason| invalid("marker", reason))?;
        for (field, value) in [
            ("processor_version", &self.processor_version),
            ("rule", &self.rule),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(field, "must not be empty".into()));
            }
        }
        Ok(())
    }

    /// Checks every entry, and that no two expect the same marker in the same place.
    pub fn validate_all(entries: &[Self]) -> Result<(), ConfigError> {
        for (index, entry) in entries.iter().enumerate() {
            entry.validate(index)?;
            let place = |entry: &Self| {
                (
                    entry.bucket.clone(),
                    entry.prefix.trim_matches('/').to_owned(),
                    entry.marker.clone(),
                )
            };
            if let Some(first) = entries[..index]
                .iter()
                .position(|earlier| place(earlier) == place(entry))
            {
                return Err(ConfigError::invalid(
                    format!("completion_markers[{index}]"),
                    format!("repeats the bucket, prefix and marker of completion_markers[{first}]"),
                ));
            }
        }
        Ok(())
    }

    /// The job directory a key completes: `<prefix>/…/<dir>` for `<prefix>/…/<dir>/<marker>`,
    /// with at least one directory level below the prefix.
    pub fn directory_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        let directory = key.strip_suffix(self.marker.as_str())?.strip_suffix('/')?;
        let prefix = self.prefix.trim_matches('/');
        let below_prefix = if prefix.is_empty() {
            directory
        } else {
            directory.strip_prefix(prefix)?.strip_prefix('/')?
        };
        (!below_prefix.is_empty()).then_some(directory)
    }
}
