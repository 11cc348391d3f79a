//! An operator's moves on one job, by compare-and-set: cancel a live job, relaunch a dead one.
//! A lost compare-and-set means a launcher (or another operator) moved the record first: the
//! record is read again and the decision taken again on what they wrote.

use std::future::Future;

use chrono::{DateTime, Utc};
use nrt_events::{Envelope, JobRequested};
use processor_launcher::{
    JobRecord, JobState,
    store::{JobStore, StoreError, Versioned},
};

use super::{
    JobsError,
    requests::{JobRequests, Published, StoredRequest},
};

/// The `jobs` bucket as these moves need it; unit tests put an in-memory one in its place.
pub trait JobRecords {
    fn get(&self, job_id: &str) -> impl Future<Output = Result<Option<Versioned>, StoreError>>;

    /// The new revision, or `None` when the stored revision is no longer `revision`.
    fn update(
        &self,
        record: &JobRecord,
        revision: u64,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>>;
}

impl JobRecords for JobStore {
    fn get(&self, job_id: &str) -> impl Future<Output = Result<Option<Versioned>, StoreError>> {
        JobStore::get(self, job_id)
    }

    fn update(
        &self,
        record: &JobRecord,
        revision: u64,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> {
        JobStore::update(self, record, revision)
    }
}

/// A cancel that took: the record as it was, and as it is now (dead, cancelled).
#[derive(Debug, Clone, PartialEq)]
pub struct Cancelled {
    pub before: JobRecord,
    pub after: JobRecord,
}

/// Cancels `job_id` with `reason`: dead from any live state. The launcher holding the job loses
/// its next compare-and-set and stops the attempt.
pub async fn cancel(
    store: &impl JobRecords,
    job_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Cancelled, JobsError> {
    // No bound on the loop: each turn follows a write by someone else, and launchers write a
    // job a few times a lease at most.
    loop {
        let current = existing(store, job_id).await?;
        let cancelled =
            current
                .record
                .cancelled(reason, now)
                .map_err(|illegal| JobsError::NotCancellable {
                    job_id: job_id.to_owned(),
                    state: illegal.from,
                })?;
        if store.update(&cancelled, current.revision).await?.is_some() {
            return Ok(Cancelled {
                before: current.record,
                after: cancelled,
            });
        }
    }
}

/// What `relaunch` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Retried {
    /// The record as the retry found it.
    pub found: JobRecord,
    /// Whether the retry moved the job from dead to requested. When not, the job was requested
    /// already (an earlier retry may have failed to publish) and its request was only published
    /// again; `published.duplicate` then says it had been after all.
    pub relaunched: bool,
    pub published: Published,
}

/// Relaunches dead `job_id`: requested again with a fresh retry budget, and its request message
/// published again so that a launcher picks it up. A job found requested gets its request
/// published again only. The request is read before the record moves, so a job whose request
/// is gone stays dead.
pub async fn relaunch(
    store: &impl JobRecords,
    requests: &impl JobRequests,
    job_id: &str,
    now: DateTime<Utc>,
) -> Result<Retried, JobsError> {
    loop {
        let current = existing(store, job_id).await?;
        let relaunched = match current.record.relaunched(now) {
            Ok(relaunched) => relaunched,
            Err(_) if current.record.state == JobState::Requested => {
                let request = owning_request(requests, &current.record).await?;
                let published = republish(requests, &request, &current, false).await?;
                return Ok(Retried {
                    found: current.record,
                    relaunched: false,
                    published,
                });
            }
            Err(illegal) => {
                return Err(JobsError::NotRetriable {
                    job_id: job_id.to_owned(),
                    state: illegal.from,
                });
            }
        };
        let request = owning_request(requests, &current.record).await?;
        let Some(revision) = store.update(&relaunched, current.revision).await? else {
            continue;
        };
        let after = Versioned {
            record: relaunched,
            revision,
        };
        let published = republish(requests, &request, &after, true).await?;
        return Ok(Retried {
            found: current.record,
            relaunched: true,
            published,
        });
    }
}

async fn existing(store: &impl JobRecords, job_id: &str) -> Result<Versioned, JobsError> {
    store.get(job_id).await?.ok_or_else(|| JobsError::NotFound {
        job_id: job_id.to_owned(),
    })
}

/// The message at the record's `request_sequence`, checked to be this job's request.
async fn owning_request(
    requests: &impl JobRequests,
    record: &JobRecord,
) -> Result<StoredRequest, JobsError> {
    let sequence = record.request_sequence;
    let request = requests
        .read(sequence)
        .await
        .map_err(|source| JobsError::RequestUnreadable {
            job_id: record.job_id.clone(),
            sequence,
            source,
        })?
        .ok_or_else(|| JobsError::RequestGone {
            job_id: record.job_id.clone(),
            sequence,
            state: record.state,
        })?;
    let is_this_jobs_request = Envelope::<JobRequested>::from_json(&request.payload)
        .is_ok_and(|event| event.data.job_id == record.job_id);
    if !is_this_jobs_request {
        return Err(JobsError::NotTheRequest {
            job_id: record.job_id.clone(),
            sequence,
            subject: request.subject,
        });
    }
    Ok(request)
}

/// Publishes `request` again under an id made of the record's revision as the relaunch wrote
/// it: a new id for every relaunch, so the stream's 24 h duplicate window never drops one, and
/// the same id when the same relaunch is republished, so it is stored once.
async fn republish(
    requests: &impl JobRequests,
    request: &StoredRequest,
    record: &Versioned,
    relaunched: bool,
) -> Result<Published, JobsError> {
    let message_id = format!("{}.relaunch.{}", record.record.job_id, record.revision);
    requests
        .republish(request, &message_id)
        .await
        .map_err(|source| JobsError::Republish {
            job_id: record.record.job_id.clone(),
            subject: request.subject.clone(),
            relaunched,
            source,
        })
}
