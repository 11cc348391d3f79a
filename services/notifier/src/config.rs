//! The notifier's configuration: compiled-in defaults, an optional TOML file, then `NOTIFIER__…`
//! environment variables; validated once, with errors that name the key.

use std::{
    collections::{BTreeSet, HashSet},
    path::Path,
    time::Duration,
};

use nrt_nats::NatsConfig;
use nrt_runtime::{HealthConfig, Secret, config::ConfigError};
use nrt_telemetry::TelemetryConfig;
use serde::{Deserialize, Deserializer};
use url::Url;

use crate::{notification::EventKind, signature::SigningKey};

const DEFAULTS: &str = r#"
concurrency = 8
webhooks = []

[nats]
url = "nats://127.0.0.1:4222"

[telemetry]
log_filter = "info,async_nats=warn"
log_format = "json"

[health]
listen = "0.0.0.0:9090"

[delivery]
attempts = 3
first_backoff_secs = 0.5
max_backoff_secs = 5.0
"#;

/// Everything `notifier::run` needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub nats: NatsConfig,
    pub telemetry: TelemetryConfig,
    pub health: HealthConfig,
    /// Events handled at once by each of the two consumers of this replica.
    pub concurrency: usize,
    pub delivery: DeliveryConfig,
    pub webhooks: Vec<WebhookConfig>,
}

/// How hard the notifier tries: a few quick attempts per endpoint while it holds an event, then
/// redeliveries of the event by JetStream, then the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// HTTP attempts per endpoint each time an event is handled (`delivery.attempts`).
    pub attempts: usize,
    /// Pause after the first failed attempt, doubled after each one, with jitter.
    #[serde(rename = "first_backoff_secs", deserialize_with = "seconds")]
    pub first_backoff: Duration,
    /// Longest pause between quick attempts; a `Retry-After` longer than this ends the quick
    /// attempts and becomes the event's redelivery delay instead.
    #[serde(rename = "max_backoff_secs", deserialize_with = "seconds")]
    pub max_backoff: Duration,
    /// Delay before the n-th redelivery of an event some endpoint did not take (the last repeats).
    #[serde(
        rename = "redelivery_delays_secs",
        default = "default_redelivery_delays",
        deserialize_with = "seconds_list"
    )]
    pub redelivery_delays: Vec<Duration>,
    /// Deliveries of one event before it is dead-lettered to `dlq.notifier`.
    #[serde(default = "default_max_deliveries")]
    pub max_deliveries: i64,
}

/// One endpoint, `[[webhooks]]` in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Unique; appears in metrics, logs and alerts.
    pub name: String,
    /// `http` or `https`; redirects are not followed.
    pub url: Url,
    /// Standard Webhooks secret, `whsec_<base64 key>`, or `{ file = "/run/secrets/…" }`.
    pub secret: Secret,
    /// Kinds of event sent here: `item-published`, `job-failed`, `job-dead`.
    pub events: BTreeSet<EventKind>,
    /// When set, only items of these collections (job events name no collection).
    #[serde(default)]
    pub collections: Option<BTreeSet<String>>,
    /// When set, only items and jobs of these processors.
    #[serde(default)]
    pub processors: Option<BTreeSet<String>>,
    /// How long one HTTP attempt may take.
    #[serde(
        rename = "timeout_secs",
        default = "default_timeout",
        deserialize_with = "seconds"
    )]
    pub timeout: Duration,
}

fn default_redelivery_delays() -> Vec<Duration> {
    crate::ITEMS.retry_delays.to_vec()
}

fn default_max_deliveries() -> i64 {
    crate::ITEMS.max_deliver
}

fn default_timeout() -> Duration {
    // The specification recommends 15 to 30 s so receivers have time to answer.
    Duration::from_secs(15)
}

/// Reads the configuration from defaults, `file` and `NOTIFIER__*` variables, then validates it.
pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
    let config: Config = nrt_runtime::config::load(DEFAULTS, file, "NOTIFIER")?;
    config.validate()?;
    Ok(config)
}

impl Config {
    /// Checks what types cannot: `run` calls it too, for configurations built in code.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.concurrency == 0 {
            return Err(ConfigError::invalid("concurrency", "must be at least 1"));
        }
        self.delivery.validate()?;
        let mut names = HashSet::new();
        for (index, webhook) in self.webhooks.iter().enumerate() {
            webhook.validate(index)?;
            if !names.insert(webhook.name.as_str()) {
                return Err(ConfigError::invalid(
                    format!("webhooks[{index}].name"),
                    format!("{:?} is used by an earlier webhook", webhook.name),
                ));
            }
        }
        Ok(())
    }
}

impl DeliveryConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.attempts == 0 {
            return Err(ConfigError::invalid(
                "delivery.attempts",
                "must be at least 1",
            ));
        }
        if self.max_backoff < self.first_backoff {
            return Err(ConfigError::invalid(
                "delivery.max_backoff_secs",
                "must not be shorter than delivery.first_backoff_secs",
            ));
        }
        if self.redelivery_delays.is_empty() {
            return Err(ConfigError::invalid(
                "delivery.redelivery_delays_secs",
                "needs at least one delay",
            ));
        }
        if self.max_deliveries < 1 {
            return Err(ConfigError::invalid(
                "delivery.max_deliveries",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

impl WebhookConfig {
    fn validate(&self, index: usize) -> Result<(), ConfigError> {
        let key = |field: &str| format!("webhooks[{index}].{field}");
        let name_is_plain = self
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if self.name.is_empty() || !name_is_plain {
            return Err(ConfigError::invalid(
                key("name"),
                format!(
                    "{:?} must be letters, digits, '-' or '_' (it labels metrics and alerts)",
                    self.name
                ),
            ));
        }
        if !matches!(self.url.scheme(), "http" | "https") || self.url.host().is_none() {
            return Err(ConfigError::invalid(
                key("url"),
                format!("{} is not an http or https URL with a host", self.url),
            ));
        }
        // The reason never quotes the secret.
        SigningKey::from_secret(&self.secret)
            .map_err(|error| ConfigError::invalid(key("secret"), error.to_string()))?;
        if self.events.is_empty() {
            return Err(ConfigError::invalid(
                key("events"),
                "subscribes to nothing; list item-published, job-failed or job-dead",
            ));
        }
        for (field, filter) in [
            ("collections", &self.collections),
            ("processors", &self.processors),
        ] {
            if filter.as_ref().is_some_and(BTreeSet::is_empty) {
                return Err(ConfigError::invalid(
                    key(field),
                    "an empty list accepts nothing; leave the key out to accept all",
                ));
            }
        }
        if self.collections.is_some()
            && let Some(kind) = self.events.iter().find(|kind| !kind.has_collection())
        {
            return Err(ConfigError::invalid(
                key("collections"),
                format!(
                    "{} events name no collection, so this webhook would never get them; \
                     give them a webhook of their own or filter by processors",
                    kind.as_str()
                ),
            ));
        }
        Ok(())
    }
}

fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    to_duration(f64::deserialize(deserializer)?).map_err(serde::de::Error::custom)
}

fn seconds_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Duration>, D::Error> {
    Vec::<f64>::deserialize(deserializer)?
        .into_iter()
        .map(|secs| to_duration(secs).map_err(serde::de::Error::custom))
        .collect()
}

fn to_duration(secs: f64) -> Result<Duration, String> {
    match Duration::try_from_secs_f64(secs) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        _ => Err(format!("{secs} is not a positive number of seconds")),
    }
}

#[cfg(test)]
mod tests;
