//! Per input product, the jobs requested with it and the groups it joined: what a retraction of
//! that product must name or undo, found without scanning every group.

use nrt_events::{JobRequested, stable_hash};
use serde::{Deserialize, Serialize};

use super::{ATTEMPTS, Bucket, Write, store};
use crate::Error;

/// The jobs requested with one product, and the groups it joined (their bucket keys).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputJobs {
    pub product: String,
    pub jobs: Vec<JobRef>,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// A job, as a retraction alert names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRef {
    pub job_id: String,
    pub rule: String,
    pub processor: String,
}

impl JobRef {
    pub fn of(job: &JobRequested) -> Self {
        Self {
            job_id: job.job_id.clone(),
            rule: job.rule.clone(),
            processor: job.processor.clone(),
        }
    }
}

/// The entry of `product` (product keys may hold characters KV keys may not).
fn key_of(product: &str) -> String {
    stable_hash([product])
}

/// Adds `job` to the jobs of `product`, once.
pub async fn record(bucket: &impl Bucket, product: &str, job: JobRef) -> Result<(), Error> {
    change(bucket, product, |entry| {
        let is_new = !entry.jobs.contains(&job);
        if is_new {
            entry.jobs.push(job.clone());
        }
        is_new
    })
    .await
}

/// Adds the group at `group_key` to the groups of `product`, once.
pub async fn record_group(
    bucket: &impl Bucket,
    product: &str,
    group_key: &str,
) -> Result<(), Error> {
    change(bucket, product, |entry| {
        let is_new = !entry.groups.iter().any(|key| key == group_key);
        if is_new {
            entry.groups.push(group_key.to_owned());
        }
        is_new
    })
    .await
}

/// Applies `edit` to the entry of `product` by compare-and-set; `edit` says whether it changed.
async fn change(
    bucket: &impl Bucket,
    product: &str,
    edit: impl Fn(&mut InputJobs) -> bool,
) -> Result<(), Error> {
    let key = key_of(product);
    for _ in 0..ATTEMPTS {
        let (mut entry, revision) = match store::read::<InputJobs>(bucket, &key).await? {
            Some((entry, revision)) => (entry, Some(revision)),
            None => (
                InputJobs {
                    product: product.to_owned(),
                    ..InputJobs::default()
                },
                None,
            ),
        };
        if !edit(&mut entry) {
            return Ok(());
        }
        if let Write::Done(_) = store::write(bucket, &key, &entry, revision).await? {
            return Ok(());
        }
    }
    Err(Error::Contended { key })
}

/// What was done with `product`: the jobs requested with it and the groups it joined.
pub async fn of(bucket: &impl Bucket, product: &str) -> Result<InputJobs, Error> {
    Ok(store::read::<InputJobs>(bucket, &key_of(product))
        .await?
        .map(|(entry, _)| entry)
        .unwrap_or_default())
}
