//! Reading a version of the rules and the registry, and checking it as the trigger does at start.

use std::path::{Path, PathBuf};

use nrt_events::streams::{KV_TRIGGER_RULES, KV_TRIGGER_RULES_KEY as RULES_KEY};
use nrt_nats::async_nats::jetstream::kv::{self, Operation};
use nrt_registry::{ProcessorRegistry, RegistryError};

use crate::{ActiveRules, Config, Error, Rules, rules};

/// The texts rules were built from: a version that differs is a new one.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Version {
    registry: String,
    rules: String,
    /// The rules file's path, or `trigger-rules/rules@<revision>`.
    pub(super) origin: String,
}

impl Version {
    /// Names this version in a `rules-invalid` alert: two different bad versions of one file are
    /// two alerts, where the alert stream would drop the second as a repeat of the first.
    pub(super) fn label(&self) -> String {
        let digest = nrt_events::stable_hash([self.registry.as_str(), self.rules.as_str()]);
        format!("{}#{}", self.origin, &digest[..12])
    }
}

/// Reads versions from the registry file and the rules file or bucket, and checks them.
pub(super) struct Reader {
    registry_file: PathBuf,
    /// Read when there is no `store`; its directory holds the area files either way.
    rules_file: PathBuf,
    /// Set once connected, when the rules are kept in the mesh.
    pub(super) store: Option<kv::Store>,
}

impl Reader {
    pub(super) fn new(config: &Config) -> Self {
        Self {
            registry_file: config.registry_file.clone(),
            rules_file: config.rules_file.clone(),
            store: None,
        }
    }

    /// Where the rules come from, without a revision: what an unreadable source is reported as.
    pub(super) fn name(&self) -> String {
        match self.store {
            Some(_) => format!("{KV_TRIGGER_RULES}/{RULES_KEY}"),
            None => self.rules_file.display().to_string(),
        }
    }

    pub(super) async fn read(&self) -> Result<Version, Error> {
        let Some(store) = &self.store else {
            return self.read_file();
        };
        let unreadable = |source| Error::ReadRulesKv {
            bucket: KV_TRIGGER_RULES,
            key: RULES_KEY,
            source,
        };
        let entry = store.entry(RULES_KEY).await.map_err(unreadable)?;
        let Some(entry) = entry.filter(|entry| entry.operation == Operation::Put) else {
            return Err(Error::NoRulesKv {
                bucket: KV_TRIGGER_RULES,
                key: RULES_KEY,
            });
        };
        let origin = format!("{}@{}", self.name(), entry.revision);
        let rules = String::from_utf8(entry.value.to_vec()).map_err(|_| Error::RulesFile {
            file: origin.clone(),
            reason: "the value is not UTF-8 text".into(),
        })?;
        Ok(Version {
            registry: self.read_registry()?,
            rules,
            origin,
        })
    }

    pub(super) fn read_file(&self) -> Result<Version, Error> {
        Ok(Version {
            registry: self.read_registry()?,
            rules: rules::read_text(&self.rules_file)?,
            origin: self.rules_file.display().to_string(),
        })
    }

    pub(super) fn read_registry(&self) -> Result<String, Error> {
        std::fs::read_to_string(&self.registry_file).map_err(|source| {
            RegistryError::Read {
                path: self.registry_file.display().to_string(),
                source,
            }
            .into()
        })
    }

    pub(super) fn registry(&self, text: &str) -> Result<ProcessorRegistry, Error> {
        let base_dir = self.registry_file.parent().unwrap_or(Path::new(""));
        ProcessorRegistry::parse(text, base_dir.to_path_buf()).map_err(|error| match error {
            // Parsing text names no file: name the one it came from, as `ProcessorRegistry::load` does.
            RegistryError::Parse { source, .. } => RegistryError::Parse {
                path: self.registry_file.display().to_string(),
                source,
            }
            .into(),
            other => other.into(),
        })
    }

    /// Checks `version` as at start: the registry, then the rules against it.
    pub(super) fn check(&self, version: &Version) -> Result<ActiveRules, Error> {
        let registry = self.registry(&version.registry)?;
        let rules = Rules::parse_in(
            &version.rules,
            &version.origin,
            &rules::base_dir(&self.rules_file),
            &registry,
        )?;
        Ok(ActiveRules {
            rules,
            registry,
            origin: version.origin.clone(),
        })
    }
}
