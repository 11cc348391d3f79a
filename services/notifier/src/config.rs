//! The notifier's configuration: compiled-in defaults, an optional TOML file, then `NOTIFIER__…`
//! environment variables; validated once, with errors that name the key.

mod subscription;

use std::{collections::HashSet, path::Path, time::Duration};

use nrt_nats::NatsConfig;
use nrt_runtime::{HealthConfig, config::ConfigError};
use nrt_telemetry::TelemetryConfig;
use serde::{Deserialize, Deserializer};

pub use subscription::{EmailConfig, SlackConfig, SubscriptionConfig, WebhookConfig};

use crate::{email::SmtpConfig, watchdog::WatchdogConfig};

const DEFAULTS: &str = r#"
concurrency = 8
subscriptions = []

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
digest_max_events = 100
"#;

/// When JetStream redelivers an event a subscription's endpoint did not take, unless `delivery`
/// says otherwise: an outage of some hours is ridden out before the event is dead-lettered.
const REDELIVERY_DELAYS: [Duration; 7] = [
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(300),
    Duration::from_secs(1800),
    Duration::from_secs(3600),
    Duration::from_secs(7200),
    Duration::from_secs(14400),
];

/// Everything `notifier::run` needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub nats: NatsConfig,
    pub telemetry: TelemetryConfig,
    pub health: HealthConfig,
    /// Events each consumer of this replica handles at once (subscriptions without a digest).
    pub concurrency: usize,
    pub delivery: DeliveryConfig,
    /// The relay e-mail subscriptions send through.
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    pub subscriptions: Vec<SubscriptionConfig>,
    /// Deadlines of selected products and cadences of feeds, watched for lateness.
    #[serde(default)]
    pub watchdog: WatchdogConfig,
}

/// How hard the notifier tries: a few quick attempts while it holds an event, then redeliveries
/// of the event by JetStream, then the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Attempts each time an event (or a digest) is handled (`delivery.attempts`).
    pub attempts: usize,
    /// The first pause's ceiling, doubled after each failed attempt; each pause is drawn at
    /// random below its ceiling (full jitter).
    #[serde(rename = "first_backoff_secs", deserialize_with = "seconds")]
    pub first_backoff: Duration,
    /// The highest ceiling; a `Retry-After` longer than this ends the quick attempts and becomes
    /// the event's redelivery delay instead.
    #[serde(rename = "max_backoff_secs", deserialize_with = "seconds")]
    pub max_backoff: Duration,
    /// Delay before the n-th redelivery of an event an endpoint did not take (the last repeats).
    #[serde(
        rename = "redelivery_delays_secs",
        default = "default_redelivery_delays",
        deserialize_with = "seconds_list"
    )]
    pub redelivery_delays: Vec<Duration>,
    /// Deliveries of one event before it is dead-lettered to `dlq.notifier`.
    #[serde(default = "default_max_deliveries")]
    pub max_deliveries: i64,
    /// The most events one digest lists, per stream it reads.
    pub digest_max_events: usize,
}

fn default_redelivery_delays() -> Vec<Duration> {
    REDELIVERY_DELAYS.to_vec()
}

fn default_max_deliveries() -> i64 {
    // The first delivery, then one per delay.
    REDELIVERY_DELAYS.len() as i64 + 1
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
        self.watchdog.validate()?;
        if let Some(smtp) = &self.smtp {
            smtp.validate()?;
        }
        let mut names = HashSet::new();
        for (index, subscription) in self.subscriptions.iter().enumerate() {
            subscription.validate(index, self.smtp.is_some())?;
            if !names.insert(subscription.name.as_str()) {
                return Err(ConfigError::invalid(
                    format!("subscriptions[{index}].name"),
                    format!("{:?} is used by an earlier subscription", subscription.name),
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
        if self.digest_max_events == 0 {
            return Err(ConfigError::invalid(
                "delivery.digest_max_events",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    to_duration(f64::deserialize(deserializer)?).map_err(serde::de::Error::custom)
}

fn optional_seconds<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    seconds(deserializer).map(Some)
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
