//! The configuration as written: every key optional or loosely typed, so that a missing or bad
//! value is reported with its key (`feeds[1].url`) rather than as a deserialisation error.

use std::time::Duration;

use chrono::{DateTime, Utc};
use nrt_nats::NatsConfig;
use nrt_runtime::{HealthConfig, config::ConfigError};
use nrt_telemetry::TelemetryConfig;
use serde::Deserialize;
use url::Url;

use super::{FeedConfig, FeedKind};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub nats: NatsConfig,
    pub telemetry: TelemetryConfig,
    pub health: HealthConfig,
    pub feeds: Vec<RawFeed>,
}

/// A feed as written: required keys optional here so that a missing one is named with its index.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFeed {
    name: Option<String>,
    kind: Option<String>,
    url: Option<String>,
    collection: Option<String>,
    product_type: Option<String>,
    poll_interval_secs: Option<f64>,
    page_size: Option<i64>,
    start_from: Option<String>,
    request_timeout_secs: Option<f64>,
    alert_after_failures: Option<i64>,
    retry_attempts: Option<i64>,
    retry_min_delay_secs: Option<f64>,
    retry_max_delay_secs: Option<f64>,
}

impl RawFeed {
    pub fn parse(self, prefix: &str) -> Result<FeedConfig, ConfigError> {
        let key = |field: &str| format!("{prefix}.{field}");
        let required = |value: Option<String>, field: &str| {
            value.ok_or_else(|| ConfigError::invalid(key(field), "is required"))
        };
        let name = required(self.name, "name")?;
        let kind = match required(self.kind, "kind")?.as_str() {
            "cdse-odata" => FeedKind::CdseOdata,
            other => {
                return Err(ConfigError::invalid(
                    key("kind"),
                    format!("{other:?} is not a feed kind this ingestor speaks (cdse-odata)"),
                ));
            }
        };
        let url = required(self.url, "url")?;
        let url = Url::parse(&url)
            .map_err(|error| ConfigError::invalid(key("url"), format!("{url:?}: {error}")))?;
        let mut feed = FeedConfig::cdse(name, url);
        feed.kind = kind;
        feed.collection = self.collection;
        feed.product_type = self.product_type;
        if let Some(text) = self.start_from {
            let time = DateTime::parse_from_rfc3339(&text).map_err(|error| {
                ConfigError::invalid(
                    key("start_from"),
                    format!("{text:?} is not an RFC 3339 time: {error}"),
                )
            })?;
            feed.start_from = Some(time.with_timezone(&Utc));
        }
        let seconds = |value: Option<f64>, field: &str, default: Duration| match value {
            None => Ok(default),
            Some(secs) => Duration::try_from_secs_f64(secs).map_err(|_| {
                ConfigError::invalid(key(field), format!("{secs} is not a number of seconds"))
            }),
        };
        let count = |value: Option<i64>, field: &str, default: usize| match value {
            None => Ok(default),
            Some(count) => usize::try_from(count).map_err(|_| {
                ConfigError::invalid(key(field), format!("{count} must not be negative"))
            }),
        };
        feed.poll_interval = seconds(
            self.poll_interval_secs,
            "poll_interval_secs",
            feed.poll_interval,
        )?;
        feed.request_timeout = seconds(
            self.request_timeout_secs,
            "request_timeout_secs",
            feed.request_timeout,
        )?;
        feed.retry.min_delay = seconds(
            self.retry_min_delay_secs,
            "retry_min_delay_secs",
            feed.retry.min_delay,
        )?;
        feed.retry.max_delay = seconds(
            self.retry_max_delay_secs,
            "retry_max_delay_secs",
            feed.retry.max_delay,
        )?;
        feed.page_size = count(self.page_size, "page_size", feed.page_size)?;
        feed.retry.attempts = count(self.retry_attempts, "retry_attempts", feed.retry.attempts)?;
        let alert_after = count(
            self.alert_after_failures,
            "alert_after_failures",
            feed.alert_after_failures as usize,
        )?;
        feed.alert_after_failures = u32::try_from(alert_after)
            .map_err(|_| ConfigError::invalid(key("alert_after_failures"), "is too large"))?;
        Ok(feed)
    }
}
