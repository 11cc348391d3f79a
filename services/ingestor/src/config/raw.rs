//! The configuration as written: every key optional or loosely typed, so that a missing or bad
//! value is reported with its key (`feeds[1].url`) rather than as a deserialisation error.

use std::time::Duration;

use chrono::{DateTime, Utc};
use nrt_nats::NatsConfig;
use nrt_runtime::{HealthConfig, config::ConfigError};
use nrt_telemetry::TelemetryConfig;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Map, Value};
use url::Url;

use super::{FeedConfig, SourceConfig};
use crate::{
    odata::OdataSource,
    s3::BucketSource,
    stac_api::StacSource,
    subscription::{PullSource, PushSource},
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub nats: NatsConfig,
    pub telemetry: TelemetryConfig,
    pub health: HealthConfig,
    pub feeds: Vec<RawFeed>,
}

/// The keys every feed has; the rest belong to its kind, which refuses any it does not know.
#[derive(Deserialize)]
pub(super) struct RawFeed {
    name: Option<String>,
    kind: Option<String>,
    poll_interval_secs: Option<f64>,
    start_from: Option<String>,
    request_timeout_secs: Option<f64>,
    max_body_bytes: Option<i64>,
    alert_after_failures: Option<i64>,
    stalled_after_secs: Option<f64>,
    retry_attempts: Option<i64>,
    retry_min_delay_secs: Option<f64>,
    retry_max_delay_secs: Option<f64>,
    #[serde(flatten)]
    kind_keys: Map<String, Value>,
}

/// The kinds this ingestor speaks, as `kind` names them.
const KINDS: &str = "cdse-odata, s3-bucket, cdse-push, cdse-pull, stac-api";

impl RawFeed {
    pub fn parse(self, prefix: &str) -> Result<FeedConfig, ConfigError> {
        let keys = Keys(prefix);
        let name = keys.required(self.name, "name")?;
        let source = match keys.required(self.kind, "kind")?.as_str() {
            "cdse-odata" => SourceConfig::CdseOdata(OdataSource::parse(self.kind_keys, &keys)?),
            "s3-bucket" => SourceConfig::S3Bucket(BucketSource::parse(self.kind_keys, &keys)?),
            "cdse-push" => SourceConfig::CdsePush(PushSource::parse(self.kind_keys, &keys)?),
            "cdse-pull" => SourceConfig::CdsePull(PullSource::parse(self.kind_keys, &keys)?),
            "stac-api" => SourceConfig::StacApi(StacSource::parse(self.kind_keys, &keys)?),
            other => {
                return Err(ConfigError::invalid(
                    keys.key("kind"),
                    format!("{other:?} is not a feed kind this ingestor speaks ({KINDS})"),
                ));
            }
        };
        let mut feed = FeedConfig::new(name, source);
        if let Some(text) = self.start_from {
            feed.start_from = Some(keys.time(&text, "start_from")?);
        }
        feed.poll_interval = keys.seconds(
            self.poll_interval_secs,
            "poll_interval_secs",
            feed.poll_interval,
        )?;
        feed.request_timeout = keys.seconds(
            self.request_timeout_secs,
            "request_timeout_secs",
            feed.request_timeout,
        )?;
        feed.max_body_bytes =
            keys.count(self.max_body_bytes, "max_body_bytes", feed.max_body_bytes)?;
        feed.stalled_after = self
            .stalled_after_secs
            .map(|secs| keys.seconds(Some(secs), "stalled_after_secs", Duration::ZERO))
            .transpose()?;
        feed.retry.min_delay = keys.seconds(
            self.retry_min_delay_secs,
            "retry_min_delay_secs",
            feed.retry.min_delay,
        )?;
        feed.retry.max_delay = keys.seconds(
            self.retry_max_delay_secs,
            "retry_max_delay_secs",
            feed.retry.max_delay,
        )?;
        feed.retry.attempts =
            keys.count(self.retry_attempts, "retry_attempts", feed.retry.attempts)?;
        let alert_after = keys.count(
            self.alert_after_failures,
            "alert_after_failures",
            feed.alert_after_failures as usize,
        )?;
        feed.alert_after_failures = u32::try_from(alert_after)
            .map_err(|_| ConfigError::invalid(keys.key("alert_after_failures"), "is too large"))?;
        Ok(feed)
    }
}

/// Reads the keys of one feed table, naming each as `feeds[i].key` in errors.
pub(crate) struct Keys<'a>(pub &'a str);

impl Keys<'_> {
    pub fn key(&self, field: &str) -> String {
        format!("{}.{field}", self.0)
    }

    pub fn required<T>(&self, value: Option<T>, field: &str) -> Result<T, ConfigError> {
        value.ok_or_else(|| ConfigError::invalid(self.key(field), "is required"))
    }

    /// The keys of a kind, into its `#[serde(deny_unknown_fields)]` struct: a misspelt key is
    /// named with the ones that kind accepts.
    pub fn kind_keys<T: DeserializeOwned>(
        &self,
        keys: Map<String, Value>,
        kind: &str,
    ) -> Result<T, ConfigError> {
        serde_json::from_value(Value::Object(keys))
            .map_err(|error| ConfigError::invalid(self.0, format!("as a {kind} feed: {error}")))
    }

    pub fn url(&self, text: &str, field: &str) -> Result<Url, ConfigError> {
        Url::parse(text)
            .map_err(|error| ConfigError::invalid(self.key(field), format!("{text:?}: {error}")))
    }

    pub fn time(&self, text: &str, field: &str) -> Result<DateTime<Utc>, ConfigError> {
        DateTime::parse_from_rfc3339(text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|error| {
                ConfigError::invalid(
                    self.key(field),
                    format!("{text:?} is not an RFC 3339 time: {error}"),
                )
            })
    }

    pub fn seconds(
        &self,
        value: Option<f64>,
        field: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match value {
            None => Ok(default),
            Some(secs) => Duration::try_from_secs_f64(secs).map_err(|_| {
                ConfigError::invalid(
                    self.key(field),
                    format!("{secs} is not a number of seconds"),
                )
            }),
        }
    }

    pub fn count(
        &self,
        value: Option<i64>,
        field: &str,
        default: usize,
    ) -> Result<usize, ConfigError> {
        match value {
            None => Ok(default),
            Some(count) => usize::try_from(count).map_err(|_| {
                ConfigError::invalid(self.key(field), format!("{count} must not be negative"))
            }),
        }
    }
}
