//! The keys of a `kind = "s3-bucket"` feed: the bucket products land in, which objects mark a
//! complete product, and the two ways of seeing them (events, and a listing that catches lost
//! events).

use std::time::Duration;

use nrt_runtime::config::ConfigError;
use nrt_s3::S3Config;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::raw::Keys;

/// Object names whose arrival means a product is complete: a SAFE's or SEN3's manifest, or a
/// single-file product.
pub const DEFAULT_MARKERS: [&str; 4] = ["manifest.safe", "xfdumanifest.xml", ".zip", ".nc"];

/// How long the reconciler leaves a written object alone before its cursor may pass it: an
/// object's LastModified is when its upload began, so a multipart upload becomes visible after
/// later objects, and a cursor already past it would never look back.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq)]
pub struct BucketSource {
    pub bucket: String,
    /// Only keys under this prefix are products (`""`: the whole bucket).
    pub prefix: String,
    pub s3: S3Config,
    /// Key suffixes that mark a complete product (`markers`).
    pub markers: Vec<String>,
    /// The collection of products whose names follow no Sentinel convention.
    pub collection: Option<String>,
    pub product_type: Option<String>,
    /// Consume the bucket's object events from `objects.<bucket>` (`events`, default true).
    pub events: bool,
    /// List the bucket every poll interval for objects whose events were lost (`reconcile`,
    /// default true).
    pub reconcile: bool,
    /// Objects younger than this are left to the next listing (`reconcile_settle_secs`): uploads
    /// that take longer than it and whose event is lost are the ones the reconciler can miss.
    pub settle: Duration,
}

impl BucketSource {
    pub fn new(bucket: impl Into<String>, s3: S3Config) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: String::new(),
            s3,
            markers: DEFAULT_MARKERS.map(str::to_owned).to_vec(),
            collection: None,
            product_type: None,
            events: true,
            reconcile: true,
            settle: DEFAULT_SETTLE,
        }
    }

    pub(crate) fn parse(keys: Map<String, Value>, at: &Keys) -> Result<Self, ConfigError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            bucket: Option<String>,
            prefix: Option<String>,
            s3: Option<S3Config>,
            markers: Option<Vec<String>>,
            collection: Option<String>,
            product_type: Option<String>,
            events: Option<bool>,
            reconcile: Option<bool>,
            reconcile_settle_secs: Option<f64>,
        }
        let raw: Raw = at.kind_keys(keys, "s3-bucket")?;
        let mut source = Self::new(
            at.required(raw.bucket, "bucket")?,
            at.required(raw.s3, "s3")?,
        );
        source.prefix = raw.prefix.unwrap_or_default();
        if let Some(markers) = raw.markers {
            source.markers = markers;
        }
        source.collection = raw.collection;
        source.product_type = raw.product_type;
        source.events = raw.events.unwrap_or(true);
        source.reconcile = raw.reconcile.unwrap_or(true);
        source.settle = at.seconds(
            raw.reconcile_settle_secs,
            "reconcile_settle_secs",
            DEFAULT_SETTLE,
        )?;
        Ok(source)
    }

    pub(crate) fn validate(&self, key: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
        let valid_bucket = (3..=63).contains(&self.bucket.len())
            && self
                .bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !valid_bucket {
            return Err(ConfigError::invalid(
                key("bucket"),
                format!("{:?} is not an S3 bucket name", self.bucket),
            ));
        }
        if self.markers.is_empty() || self.markers.iter().any(String::is_empty) {
            return Err(ConfigError::invalid(
                key("markers"),
                "needs at least one non-empty key suffix",
            ));
        }
        if !self.events && !self.reconcile {
            return Err(ConfigError::invalid(
                key("events"),
                "with reconcile = false too, nothing would ever be seen",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
