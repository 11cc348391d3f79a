//! The ingestor's configuration: compiled-in defaults, then an optional file, then `INGESTOR__…`
//! environment variables (`INGESTOR__NATS__URL` sets `nats.url`); validated once, with errors
//! that name the key (`feeds[1].url`). Feeds are `[[feeds]]` tables in the file.

use std::{collections::HashMap, path::Path, time::Duration};

use chrono::{DateTime, Utc};
use nrt_nats::NatsConfig;
use nrt_runtime::{HealthConfig, config::ConfigError};
use nrt_telemetry::TelemetryConfig;
use raw::RawConfig;
use url::Url;

mod raw;

const DEFAULTS: &str = r#"
feeds = []

[nats]
url = "nats://127.0.0.1:4222"

[telemetry]
log_filter = "info,async_nats=warn"
log_format = "json"

[health]
listen = "0.0.0.0:9090"
"#;

/// The largest `$top` CDSE accepts.
pub const MAX_PAGE_SIZE: usize = 1000;

/// Everything `ingestor::run` needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub nats: NatsConfig,
    pub telemetry: TelemetryConfig,
    pub health: HealthConfig,
    /// Each feed is polled by its own task; a failing feed never stops the others.
    pub feeds: Vec<FeedConfig>,
}

/// One watched feed: a `[[feeds]]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedConfig {
    /// Unique; names the cursor (key in `ingest-cursors`), the metrics and alerts, and fills
    /// `ProductDiscovered.feed`. Letters, digits, `-` and `_`.
    pub name: String,
    pub kind: FeedKind,
    /// The OData base, e.g. `https://catalogue.dataspace.copernicus.eu/odata/v1`.
    pub url: Url,
    /// `Collection/Name` filter, e.g. `SENTINEL-2`; also the collection of products whose
    /// entity lacks `platformShortName`.
    pub collection: Option<String>,
    /// `productType` attribute filter, e.g. `S2MSI1C`.
    pub product_type: Option<String>,
    /// Pause between the end of one poll and the start of the next (`poll_interval_secs`).
    pub poll_interval: Duration,
    /// `$top`, 1 to 1000.
    pub page_size: usize,
    /// Publication time to start from when the feed has no cursor yet; `None` starts from the
    /// moment the feed is first polled.
    pub start_from: Option<DateTime<Utc>>,
    /// Longest wait for one page (`request_timeout_secs`).
    pub request_timeout: Duration,
    /// Consecutive failed polls before a `feed-failing` alert.
    pub alert_after_failures: u32,
    pub retry: RetryPolicy,
}

/// The protocols a feed can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedKind {
    /// The Copernicus Data Space Ecosystem OData catalogue (`kind = "cdse-odata"`).
    CdseOdata,
}

/// How one page request is retried within a poll: exponential backoff with jitter, or the
/// server's `Retry-After` when it sends one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (`retry_attempts`); 0 gives up at once.
    pub attempts: usize,
    /// First pause (`retry_min_delay_secs`), doubled after each failure.
    pub min_delay: Duration,
    /// Longest pause (`retry_max_delay_secs`).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl FeedConfig {
    /// A CDSE OData feed with the defaults a file would get.
    pub fn cdse(name: impl Into<String>, url: Url) -> Self {
        Self {
            name: name.into(),
            kind: FeedKind::CdseOdata,
            url,
            collection: None,
            product_type: None,
            poll_interval: Duration::from_secs(60),
            page_size: 100,
            start_from: None,
            request_timeout: Duration::from_secs(30),
            alert_after_failures: 3,
            retry: RetryPolicy::default(),
        }
    }
}

/// Reads the configuration and checks it once.
pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
    let raw: RawConfig = nrt_runtime::config::load(DEFAULTS, file, "INGESTOR")?;
    let feeds = raw
        .feeds
        .into_iter()
        .enumerate()
        .map(|(index, feed)| feed.parse(&format!("feeds[{index}]")))
        .collect::<Result<_, _>>()?;
    let config = Config {
        nats: raw.nats,
        telemetry: raw.telemetry,
        health: raw.health,
        feeds,
    };
    config.validate()?;
    Ok(config)
}

impl Config {
    /// Checks what types cannot: names unique, sizes and durations in range. `run` calls it too,
    /// so a configuration built in code is held to the same rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.feeds.is_empty() {
            return Err(ConfigError::invalid(
                "feeds",
                "no feed is configured; add a [[feeds]] table",
            ));
        }
        let mut names = HashMap::new();
        for (index, feed) in self.feeds.iter().enumerate() {
            let key = |field: &str| format!("feeds[{index}].{field}");
            feed.validate(&key)?;
            if let Some(first) = names.insert(feed.name.as_str(), index) {
                return Err(ConfigError::invalid(
                    key("name"),
                    format!("{:?} is already the name of feeds[{first}]", feed.name),
                ));
            }
        }
        Ok(())
    }
}

impl FeedConfig {
    fn validate(&self, key: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
        let valid_name = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            return Err(ConfigError::invalid(
                key("name"),
                format!(
                    "{:?} must be non-empty letters, digits, `-` or `_` (it is a KV key)",
                    self.name
                ),
            ));
        }
        if !matches!(self.url.scheme(), "http" | "https") || self.url.cannot_be_a_base() {
            return Err(ConfigError::invalid(
                key("url"),
                format!("{} is not an http(s) OData base URL", self.url),
            ));
        }
        for (field, value) in [
            ("collection", &self.collection),
            ("product_type", &self.product_type),
        ] {
            if value
                .as_deref()
                .is_some_and(|value| value.trim().is_empty())
            {
                return Err(ConfigError::invalid(
                    key(field),
                    "must not be empty; leave it out to take every value",
                ));
            }
        }
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(ConfigError::invalid(
                key("page_size"),
                format!("{} is not from 1 to {MAX_PAGE_SIZE}", self.page_size),
            ));
        }
        for (field, duration) in [
            ("poll_interval_secs", self.poll_interval),
            ("request_timeout_secs", self.request_timeout),
            ("retry_min_delay_secs", self.retry.min_delay),
            ("retry_max_delay_secs", self.retry.max_delay),
        ] {
            if duration.is_zero() {
                return Err(ConfigError::invalid(key(field), "must be positive"));
            }
        }
        if self.retry.min_delay > self.retry.max_delay {
            return Err(ConfigError::invalid(
                key("retry_min_delay_secs"),
                "must not exceed retry_max_delay_secs",
            ));
        }
        if self.alert_after_failures == 0 {
            return Err(ConfigError::invalid(
                key("alert_after_failures"),
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
