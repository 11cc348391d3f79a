//! Reloading rules without a restart.
//!
//! Every `reload_every_ms` (5 s by default) each replica reads its rules source and the processor
//! registry file again. When either changed, the new version is checked exactly as at start: a
//! valid one replaces the rules in force between two products and is logged as "Rules reloaded."
//! with its origin; an invalid one is logged with the full error, counted in
//! `nrt_trigger_rules_reload_failures_total` and raised as a `rules-invalid` alert (warning, about
//! the origin), and the rules in force stay. Each replica polls the same source, so all of them
//! converge within one period; `nrt_trigger_rules_in_force` gauges the rules each one runs.
//!
//! With `rules_from = "file"` (the default) the source is `rules_file`. Its content is compared,
//! rather than file events watched, because a Kubernetes ConfigMap update swaps a symlink to a new
//! directory and never writes the file itself. With `rules_from = "kv"` the source is key `rules`
//! of bucket `trigger-rules`, which `nrtmesh rules publish` fills after checking the file; each new
//! revision is a new version. Area files named by the rules are then read relative to
//! `rules_file`'s directory, which must hold them on every replica. An area file changed alone is
//! read with the next change of the rules or the registry; a refused version is checked again at
//! every poll, so one that failed for a missing area file goes into force once the file is there.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use nrt_events::{Alert, Severity, streams::KV_TRIGGER_RULES};
use nrt_nats::{Mesh, Publisher, describe_error};
use nrt_runtime::Shutdown;
use tokio::sync::watch;

use crate::{ActiveRules, Config, Error, SERVICE, config::RulesFrom};

mod reader;

use reader::{Reader, Version};

/// The rules a trigger starts with, and where to look for their next versions.
pub(crate) struct RulesSource {
    reader: Reader,
    every: Duration,
    /// The first version of a rules file, checked before connecting.
    first: Option<(Version, ActiveRules)>,
}

impl RulesSource {
    /// Checks the registry, and the rules when they are a file, so that a bad one fails the start
    /// before connecting.
    pub(crate) fn before_connecting(config: &Config) -> Result<Self, Error> {
        let mut source = Self {
            reader: Reader::new(config),
            every: config.reload_every,
            first: None,
        };
        match config.rules_from {
            RulesFrom::File => {
                let version = source.reader.read_file()?;
                let active = source.reader.check(&version)?;
                source.first = Some((version, active));
            }
            RulesFrom::Kv => {
                source.reader.registry(&source.reader.read_registry()?)?;
            }
        }
        Ok(source)
    }

    /// Reads rules kept in the mesh (failing on a bad or missing version), puts the rules in
    /// force and, until `shutdown`, replaces them with every new valid version.
    pub(crate) async fn watch(
        mut self,
        mesh: &Mesh,
        shutdown: Shutdown,
    ) -> Result<watch::Receiver<Arc<ActiveRules>>, Error> {
        let (version, active) = match self.first.take() {
            Some(first) => first,
            None => {
                self.reader.store = Some(mesh.key_value(KV_TRIGGER_RULES).await?);
                let version = self.reader.read().await?;
                let active = self.reader.check(&version)?;
                (version, active)
            }
        };
        put_in_force(&active, "Rules loaded.");
        let (sender, receiver) = watch::channel(Arc::new(active));
        let reloader = Reloader::new(self.reader, version);
        tokio::spawn(reload_until(
            reloader,
            sender,
            mesh.publisher.clone(),
            self.every,
            shutdown,
        ));
        Ok(receiver)
    }
}

/// What one poll of the source found.
#[derive(Debug)]
enum Outcome {
    /// The version in force, or a refused version already reported.
    Unchanged,
    /// A new, valid version.
    Reloaded(ActiveRules),
    /// A new version (or a source gone bad) that must not go into force.
    Refused { about: String, error: Error },
    /// The source is back to the version in force after a refused one.
    Restored,
    /// The bucket could not be asked (NATS is away): the next poll will try again.
    Unreadable(Error),
}

/// Compares what the source holds with the version in force, remembering what it refused.
struct Reloader {
    reader: Reader,
    in_force: Version,
    /// The error of the last refused reading, so that each is reported once.
    refused: Option<String>,
}

impl Reloader {
    fn new(reader: Reader, in_force: Version) -> Self {
        Self {
            reader,
            in_force,
            refused: None,
        }
    }

    async fn poll(&mut self) -> Outcome {
        let checked = match self.reader.read().await {
            Ok(version) if version == self.in_force => {
                return match self.refused.take() {
                    Some(_) => Outcome::Restored,
                    None => Outcome::Unchanged,
                };
            }
            Ok(version) => match self.reader.check(&version) {
                Ok(active) => Ok((version, active)),
                Err(error) => Err((version.label(), error)),
            },
            Err(error @ Error::ReadRulesKv { .. }) => return Outcome::Unreadable(error),
            Err(error) => Err((self.reader.name(), error)),
        };
        match checked {
            Ok((version, active)) => {
                self.in_force = version;
                self.refused = None;
                Outcome::Reloaded(active)
            }
            Err((about, error)) => {
                let reason = describe_error(&error);
                if self.refused.as_ref() == Some(&reason) {
                    return Outcome::Unchanged;
                }
                self.refused = Some(reason);
                Outcome::Refused { about, error }
            }
        }
    }
}

/// Polls every `every` until `shutdown`, putting each new valid version in force.
async fn reload_until(
    mut reloader: Reloader,
    sender: watch::Sender<Arc<ActiveRules>>,
    publisher: Publisher,
    every: Duration,
    shutdown: Shutdown,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.requested() => return,
        }
        match reloader.poll().await {
            Outcome::Unchanged => {}
            Outcome::Reloaded(active) => {
                put_in_force(&active, "Rules reloaded.");
                sender.send_replace(Arc::new(active));
            }
            Outcome::Refused { about, error } => {
                metrics::counter!("nrt_trigger_rules_reload_failures_total").increment(1);
                let reason = describe_error(&error);
                tracing::error!(origin = %about, error = %reason, "New rules refused; the rules in force stay.");
                raise(&publisher, rules_invalid(about, reason)).await;
            }
            Outcome::Restored => {
                tracing::info!(origin = %reloader.in_force.origin, "Rules source is back to the rules in force.");
            }
            Outcome::Unreadable(error) => {
                tracing::warn!(error = %describe_error(&error), "Could not read the rules; will try again.");
            }
        }
    }
}

fn put_in_force(active: &ActiveRules, message: &str) {
    let count = active.rules.iter().count();
    metrics::gauge!("nrt_trigger_rules_in_force").set(count as f64);
    tracing::info!(rules = count, origin = %active.origin, "{message}");
}

fn rules_invalid(about: String, reason: String) -> Alert {
    Alert {
        severity: Severity::Warning,
        kind: "rules-invalid".into(),
        service: SERVICE.into(),
        message: reason,
        about,
        raised_at: Utc::now(),
    }
}

/// Raises `alert`; a failure to do so is logged, never fatal: the rules in force stay either way.
async fn raise(publisher: &Publisher, alert: Alert) {
    let kind = alert.kind.clone();
    if let Err(error) = publisher.publish(alert).await {
        tracing::error!(kind, error = %describe_error(&error), "Could not raise an alert.");
    }
}

#[cfg(test)]
mod tests;
