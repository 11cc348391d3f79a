//! The ingestor's configuration: compiled-in defaults, then an optional file, then `INGESTOR__…`
//! environment variables (`INGESTOR__NATS__URL` sets `nats.url`); validated once, with errors
//! that name the key (`feeds[1].url`). Feeds are `[[feeds]]` tables in the file: the keys every
//! feed has are read here, the keys of its `kind` by that kind's module.

use std::{collections::HashMap, path::Path, time::Duration};

use chrono::{DateTime, Utc};
use nrt_nats::NatsConfig;
use nrt_runtime::{HealthConfig, config::ConfigError};
use nrt_telemetry::TelemetryConfig;
use raw::RawConfig;
use url::Url;

use crate::{
    odata::OdataSource,
    s3::BucketSource,
    stac_api::StacSource,
    subscription::{PullSource, PushSource, config::DEFAULT_PUSH_MAX_BODY_BYTES},
};

pub(crate) mod raw;

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

/// Everything `ingestor::run` needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub nats: NatsConfig,
    pub telemetry: TelemetryConfig,
    pub health: HealthConfig,
    /// Each feed runs in its own task; a failing feed never stops the others.
    pub feeds: Vec<FeedConfig>,
}

/// One watched feed: a `[[feeds]]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedConfig {
    /// Unique; names the cursor (key in `ingest-cursors`), the metrics and alerts, and fills
    /// `ProductDiscovered.feed`. Letters, digits, `-` and `_`.
    pub name: String,
    /// What the feed is and how to ask it: the `kind` key and the keys that kind reads.
    pub source: SourceConfig,
    /// Pause between the end of one poll and the start of the next (`poll_interval_secs`).
    pub poll_interval: Duration,
    /// Publication time to start from when the feed has no cursor yet; `None` starts from the
    /// moment the feed is first polled.
    pub start_from: Option<DateTime<Utc>>,
    /// Longest wait for one request (`request_timeout_secs`).
    pub request_timeout: Duration,
    /// Largest answer accepted (`max_body_bytes`); a larger one fails the request, unread.
    pub max_body_bytes: usize,
    /// Consecutive failed polls before a `feed-failing` alert.
    pub alert_after_failures: u32,
    /// No new product for this long raises a `feed-stalled` alert (`stalled_after_secs`): the
    /// feed's expected cadence with a margin. `None` never alerts.
    pub stalled_after: Option<Duration>,
    pub retry: RetryPolicy,
}

/// The protocols a feed can speak, each with its own keys.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceConfig {
    /// The Copernicus Data Space Ecosystem OData catalogue (`kind = "cdse-odata"`).
    CdseOdata(OdataSource),
    /// A bucket products land in: its object events and a reconciling listing
    /// (`kind = "s3-bucket"`).
    S3Bucket(BucketSource),
    /// An endpoint CDSE pushes a subscription's notifications to (`kind = "cdse-push"`).
    CdsePush(PushSource),
    /// A CDSE subscription queue, read and acknowledged (`kind = "cdse-pull"`).
    CdsePull(PullSource),
    /// Any STAC API's item search (`kind = "stac-api"`).
    StacApi(StacSource),
}

impl SourceConfig {
    /// The `kind` value naming this source in a file.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CdseOdata(_) => "cdse-odata",
            Self::S3Bucket(_) => "s3-bucket",
            Self::CdsePush(_) => "cdse-push",
            Self::CdsePull(_) => "cdse-pull",
            Self::StacApi(_) => "stac-api",
        }
    }
}

/// How one request is retried within a poll: exponential backoff with jitter, or the server's
/// `Retry-After` when it sends one.
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
    /// A feed of `source` with the defaults a file would get.
    pub fn new(name: impl Into<String>, source: SourceConfig) -> Self {
        let max_body_bytes = match &source {
            SourceConfig::CdsePush(_) => DEFAULT_PUSH_MAX_BODY_BYTES,
            // 1000 fully expanded CDSE products are a few MB.
            _ => 64 * 1024 * 1024,
        };
        Self {
            name: name.into(),
            source,
            poll_interval: Duration::from_secs(60),
            start_from: None,
            request_timeout: Duration::from_secs(30),
            max_body_bytes,
            alert_after_failures: 3,
            stalled_after: None,
            retry: RetryPolicy::default(),
        }
    }

    /// A CDSE OData feed at `url` taking every product, with the defaults a file would get.
    pub fn cdse(name: impl Into<String>, url: Url) -> Self {
        Self::new(name, SourceConfig::CdseOdata(OdataSource::new(url)))
    }

    /// The OData settings, for a feed known to be one.
    pub fn odata(&self) -> Option<&OdataSource> {
        match &self.source {
            SourceConfig::CdseOdata(odata) => Some(odata),
            _ => None,
        }
    }

    /// The OData settings, for a feed known to be one, to change.
    pub fn odata_mut(&mut self) -> Option<&mut OdataSource> {
        match &mut self.source {
            SourceConfig::CdseOdata(odata) => Some(odata),
            _ => None,
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
        for (field, duration) in [
            ("poll_interval_secs", Some(self.poll_interval)),
            ("request_timeout_secs", Some(self.request_timeout)),
            ("retry_min_delay_secs", Some(self.retry.min_delay)),
            ("retry_max_delay_secs", Some(self.retry.max_delay)),
            ("stalled_after_secs", self.stalled_after),
        ] {
            if duration.is_some_and(|duration| duration.is_zero()) {
                return Err(ConfigError::invalid(key(field), "must be positive"));
            }
        }
        if self.retry.min_delay > self.retry.max_delay {
            return Err(ConfigError::invalid(
                key("retry_min_delay_secs"),
                "must not exceed retry_max_delay_secs",
            ));
        }
        if self.max_body_bytes == 0 {
            return Err(ConfigError::invalid(
                key("max_body_bytes"),
                "must be positive",
            ));
        }
        if self.alert_after_failures == 0 {
            return Err(ConfigError::invalid(
                key("alert_after_failures"),
                "must be at least 1",
            ));
        }
        match &self.source {
            SourceConfig::CdseOdata(odata) => odata.validate(key),
            SourceConfig::S3Bucket(bucket) => bucket.validate(key),
            SourceConfig::CdsePush(push) => push.validate(key),
            SourceConfig::CdsePull(pull) => pull.validate(key),
            SourceConfig::StacApi(stac) => stac.validate(key),
        }
    }
}

/// An `http(s)` URL that can take path segments, or an error naming `key`.
pub(crate) fn check_http_base(url: &Url, key: String, what: &str) -> Result<(), ConfigError> {
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(ConfigError::invalid(
            key,
            format!("{url} is not an http(s) {what} URL"),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
