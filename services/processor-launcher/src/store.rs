//! The `jobs` bucket, typed: read a record with its revision, create it once, change it only by
//! compare-and-set.

use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use bytes::Bytes;

use crate::record::JobRecord;

/// A record and the revision it was read or written at: what a compare-and-set needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    pub record: JobRecord,
    pub revision: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("could not {operation} job record {job_id}")]
    Kv {
        operation: &'static str,
        job_id: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("job record {job_id} is not a record this launcher can read")]
    Corrupt {
        job_id: String,
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    /// The bucket was unreachable; a record that does not parse will not parse next time either.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Kv { .. })
    }
}

#[derive(Clone)]
pub struct JobStore {
    kv: kv::Store,
}

impl JobStore {
    pub fn new(kv: kv::Store) -> Self {
        Self { kv }
    }

    /// The record of `job_id`, or `None` when there is none (or it was deleted).
    pub async fn get(&self, job_id: &str) -> Result<Option<Versioned>, StoreError> {
        let entry = self
            .kv
            .entry(job_id)
            .await
            .map_err(|source| kv_error("read", job_id, source))?;
        let Some(entry) = entry.filter(|entry| entry.operation == Operation::Put) else {
            return Ok(None);
        };
        let record =
            serde_json::from_slice(&entry.value).map_err(|source| StoreError::Corrupt {
                job_id: job_id.to_owned(),
                source,
            })?;
        Ok(Some(Versioned {
            record,
            revision: entry.revision,
        }))
    }

    /// Creates the record; `false` when one exists already (another creator won).
    pub async fn create(&self, record: &JobRecord) -> Result<bool, StoreError> {
        match self.kv.create(&record.job_id, encode(record)).await {
            Ok(_) => Ok(true),
            Err(error) if error.kind() == CreateErrorKind::AlreadyExists => Ok(false),
            Err(source) => Err(kv_error("create", &record.job_id, source)),
        }
    }

    /// Writes `record` if the stored revision is still `revision`: the new revision, or `None`
    /// when someone else changed the record first.
    pub async fn update(
        &self,
        record: &JobRecord,
        revision: u64,
    ) -> Result<Option<u64>, StoreError> {
        match self
            .kv
            .update(&record.job_id, encode(record), revision)
            .await
        {
            Ok(revision) => Ok(Some(revision)),
            Err(error) if error.kind() == UpdateErrorKind::WrongLastRevision => Ok(None),
            Err(source) => Err(kv_error("update", &record.job_id, source)),
        }
    }
}

fn encode(record: &JobRecord) -> Bytes {
    Bytes::from(serde_json::to_vec(record).expect("a job record serialises"))
}

fn kv_error(
    operation: &'static str,
    job_id: &str,
    source: impl Into<async_nats::Error>,
) -> StoreError {
    StoreError::Kv {
        operation,
        job_id: job_id.to_owned(),
        source: source.into(),
    }
}
