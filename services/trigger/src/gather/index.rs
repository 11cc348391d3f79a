//! Per input product, the jobs requested with it and the groups it joined: what a retraction of
//! that product must name or undo, found without scanning every group.

use chrono::{DateTime, Utc};
use nrt_events::{JobInput, JobRequested, stable_hash};
use serde::{Deserialize, Serialize};

use super::{ATTEMPTS, Bucket, Write, store};
use crate::Error;

/// The jobs requested with one product, the groups it joined (their bucket keys), and whether
/// its feed retracted it. Every change is a compare-and-set on this one entry, so a retraction
/// and a job or group being recorded are ordered: either the retraction sees the job (and warns
/// of it), or the job sees the retraction (and is not requested).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputJobs {
    pub product: String,
    pub jobs: Vec<JobRef>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub retracted: Option<Retracted>,
}

/// A retraction of the product under one feed id: the same name published again later under a
/// new id is a new product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retracted {
    pub feed_id: String,
    pub at: DateTime<Utc>,
}

impl InputJobs {
    fn is_retracted(&self, input: &JobInput) -> bool {
        self.retracted
            .as_ref()
            .is_some_and(|retracted| retracted.feed_id == input.feed_id)
    }
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

/// Adds `job` to the jobs of `input`, once; `false` when `input` was retracted, and then the
/// job must not be requested.
pub async fn record(bucket: &impl Bucket, input: &JobInput, job: JobRef) -> Result<bool, Error> {
    let entry = change(bucket, &input.key, |entry| {
        if entry.is_retracted(input) || entry.jobs.contains(&job) {
            return false;
        }
        entry.jobs.push(job.clone());
        true
    })
    .await?;
    Ok(!entry.is_retracted(input))
}

/// Adds the group at `group_key` to the groups of `input`, once; `false` when `input` was
/// retracted, and then it must not join the group.
pub async fn record_group(
    bucket: &impl Bucket,
    input: &JobInput,
    group_key: &str,
) -> Result<bool, Error> {
    let entry = change(bucket, &input.key, |entry| {
        if entry.is_retracted(input) || entry.groups.iter().any(|key| key == group_key) {
            return false;
        }
        entry.groups.push(group_key.to_owned());
        true
    })
    .await?;
    Ok(!entry.is_retracted(input))
}

/// Marks `product` retracted under `feed_id`, and returns what was done with it until then.
pub async fn mark_retracted(
    bucket: &impl Bucket,
    product: &str,
    retracted: Retracted,
) -> Result<InputJobs, Error> {
    change(bucket, product, |entry| {
        let is_new = entry.retracted.as_ref() != Some(&retracted);
        entry.retracted = Some(retracted.clone());
        is_new
    })
    .await
}

/// Applies `edit` to the entry of `product` by compare-and-set (`edit` says whether it changed
/// anything) and returns the entry as it then stands.
async fn change(
    bucket: &impl Bucket,
    product: &str,
    edit: impl Fn(&mut InputJobs) -> bool,
) -> Result<InputJobs, Error> {
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
            return Ok(entry);
        }
        if let Write::Done(_) = store::write(bucket, &key, &entry, revision).await? {
            return Ok(entry);
        }
    }
    Err(Error::Contended { key })
}

/// What was done with `product`: the jobs requested with it and the groups it joined.
#[cfg(test)]
pub async fn of(bucket: &impl Bucket, product: &str) -> Result<InputJobs, Error> {
    Ok(store::read::<InputJobs>(bucket, &key_of(product))
        .await?
        .map(|(entry, _)| entry)
        .unwrap_or_default())
}
