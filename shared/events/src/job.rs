use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Checksum, EventData, ProductDiscovered, subject_token};

/// The deterministic id of a job: the same rule, processor version and inputs always give the
/// same id, so a product seen twice never makes two jobs.
pub fn job_id<'a>(
    rule: &str,
    processor: &str,
    version: &str,
    input_keys: impl IntoIterator<Item = &'a str>,
) -> String {
    let mut keys: Vec<&str> = input_keys.into_iter().collect();
    keys.sort_unstable();
    keys.dedup();
    stable_hash([rule, processor, version].into_iter().chain(keys))
}

/// A 128-bit hex digest of a sequence of strings; different sequences never hash the same bytes
/// because each part is length-prefixed. 128 bits are unique enough and short enough for
/// Kubernetes and Nomad job names.
pub fn stable_hash<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(&hasher.finalize()[..16])
}

/// A product a job reads, with what the launcher, processor and catalogue need to know of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobInput {
    pub key: String,
    /// The feed's own id for the product (a CDSE UUID), as in `ProductDiscovered.feed_id`.
    #[serde(default)]
    pub feed_id: String,
    pub name: String,
    pub collection: String,
    pub product_type: String,
    #[serde(default)]
    pub platform: Option<String>,
    pub sensing_start: DateTime<Utc>,
    pub sensing_end: DateTime<Utc>,
    pub published_at: DateTime<Utc>,
    pub footprint: Option<geojson::Geometry>,
    pub s3_uri: Option<String>,
    pub href: Option<String>,
    pub checksums: Vec<Checksum>,
    pub attributes: BTreeMap<String, serde_json::Value>,
}

impl From<&ProductDiscovered> for JobInput {
    fn from(product: &ProductDiscovered) -> Self {
        Self {
            key: product.key.clone(),
            feed_id: product.feed_id.clone(),
            name: product.name.clone(),
            collection: product.collection.clone(),
            product_type: product.product_type.clone(),
            platform: product.platform.clone(),
            sensing_start: product.sensing_start,
            sensing_end: product.sensing_end,
            published_at: product.published_at,
            footprint: product.footprint.clone(),
            s3_uri: product.s3_uri.clone(),
            href: product.href.clone(),
            checksums: product.checksums.clone(),
            attributes: product.attributes.clone(),
        }
    }
}

/// Run processor `processor` at `processor_version` on `inputs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRequested {
    pub job_id: String,
    pub rule: String,
    pub processor: String,
    pub processor_version: String,
    pub inputs: Vec<JobInput>,
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// Higher runs first when jobs wait for a slot; 0 unless the rule says otherwise.
    #[serde(default)]
    pub priority: i32,
    /// When the outputs must be published to be on time, from the rule's deadline counted from
    /// the latest input's publication in its feed.
    #[serde(default)]
    pub deadline: Option<DateTime<Utc>>,
}

impl EventData for JobRequested {
    const TYPE: &'static str = "eu.nrtmesh.job.requested.v1";

    fn subject(&self) -> String {
        format!("jobs.requested.{}", subject_token(&self.processor))
    }

    fn event_id(&self) -> String {
        format!("job-requested:{}", self.job_id)
    }

    fn about(&self) -> Option<String> {
        Some(self.job_id.clone())
    }
}

/// An attempt of a job began running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStarted {
    pub job_id: String,
    pub processor: String,
    pub processor_version: String,
    pub attempt: u32,
    pub backend: String,
    /// Keys of the input products, so a product's journey can be followed without the request.
    pub input_keys: Vec<String>,
    pub started_at: DateTime<Utc>,
}

impl EventData for JobStarted {
    const TYPE: &'static str = "eu.nrtmesh.job.started.v1";

    fn subject(&self) -> String {
        format!("jobs.started.{}", subject_token(&self.processor))
    }

    fn event_id(&self) -> String {
        format!("job-started:{}:{}", self.job_id, self.attempt)
    }

    fn about(&self) -> Option<String> {
        Some(self.job_id.clone())
    }
}

/// A file a job wrote, as staged out to S3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobOutput {
    /// Path relative to the job's output directory, e.g. `footprint.geojson`.
    pub path: String,
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
    pub media_type: Option<String>,
}

impl JobOutput {
    pub fn s3_uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// A job finished and its outputs are in S3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSucceeded {
    pub job_id: String,
    pub rule: String,
    pub processor: String,
    pub processor_version: String,
    pub attempt: u32,
    pub inputs: Vec<JobInput>,
    pub outputs: Vec<JobOutput>,
    /// The processor's metadata sidecar, when it wrote one.
    pub metadata: Option<serde_json::Value>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

impl EventData for JobSucceeded {
    const TYPE: &'static str = "eu.nrtmesh.job.succeeded.v1";

    fn subject(&self) -> String {
        format!("jobs.succeeded.{}", subject_token(&self.processor))
    }

    fn event_id(&self) -> String {
        format!("job-succeeded:{}", self.job_id)
    }

    fn about(&self) -> Option<String> {
        Some(self.job_id.clone())
    }
}

/// An attempt of a job failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobFailed {
    pub job_id: String,
    pub rule: String,
    pub processor: String,
    pub processor_version: String,
    pub attempt: u32,
    pub input_keys: Vec<String>,
    pub reason: String,
    pub exit_code: Option<i32>,
    /// The last lines the processor wrote to stderr.
    pub log_tail: Vec<String>,
    /// Whether another attempt will follow.
    pub will_retry: bool,
}

impl EventData for JobFailed {
    const TYPE: &'static str = "eu.nrtmesh.job.failed.v1";

    fn subject(&self) -> String {
        format!("jobs.failed.{}", subject_token(&self.processor))
    }

    fn event_id(&self) -> String {
        format!("job-failed:{}:{}", self.job_id, self.attempt)
    }

    fn about(&self) -> Option<String> {
        Some(self.job_id.clone())
    }
}

/// A job used up its attempts; it will not run again unless an operator retries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDead {
    pub job_id: String,
    pub rule: String,
    pub processor: String,
    pub processor_version: String,
    pub attempts: u32,
    pub input_keys: Vec<String>,
    pub reason: String,
}

impl EventData for JobDead {
    const TYPE: &'static str = "eu.nrtmesh.job.dead.v1";

    fn subject(&self) -> String {
        format!("jobs.dead.{}", subject_token(&self.processor))
    }

    fn event_id(&self) -> String {
        format!("job-dead:{}", self.job_id)
    }

    fn about(&self) -> Option<String> {
        Some(self.job_id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_id_ignores_input_order_and_repeats() {
        let a = job_id("rule", "snow", "1.0", ["b", "a"]);
        assert_eq!(a, job_id("rule", "snow", "1.0", ["a", "b", "a"]));
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn job_id_changes_with_any_part() {
        let base = job_id("rule", "snow", "1.0", ["a"]);
        assert_ne!(base, job_id("rule2", "snow", "1.0", ["a"]));
        assert_ne!(base, job_id("rule", "snow", "1.1", ["a"]));
        assert_ne!(base, job_id("rule", "snow", "1.0", ["a", "b"]));
        // Length prefixes keep part boundaries: "ab"+"c" is not "a"+"bc".
        assert_ne!(job_id("ab", "c", "", ["x"]), job_id("a", "bc", "", ["x"]));
    }
}
