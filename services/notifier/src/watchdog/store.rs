//! The `watchdog` bucket, written only by create and compare-and-set so that replicas handling
//! events of one job at once, and replicas checking at once, never undo each other's writes.
//! Behind a small trait so the watchdog's logic is tested without a server.

use std::future::Future;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use nrt_nats::async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};

use super::{WatchdogError, change::Change, state::Watch};

/// Conflicting writers give up on a key after this many tries; the event is redelivered later.
const ATTEMPTS: usize = 10;

/// The outcome of a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Done,
    /// Someone else wrote first: read again and decide again.
    Conflict,
}

pub trait Bucket: Send + Sync + 'static {
    /// The value and revision of `key`; `None` when absent or deleted.
    fn entry(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<(Bytes, u64)>, WatchdogError>> + Send;

    /// Writes `key` when it is absent.
    fn create(
        &self,
        key: &str,
        value: Bytes,
    ) -> impl Future<Output = Result<Write, WatchdogError>> + Send;

    /// Writes `key` when its revision is still `revision`.
    fn update(
        &self,
        key: &str,
        value: Bytes,
        revision: u64,
    ) -> impl Future<Output = Result<Write, WatchdogError>> + Send;

    /// Removes `key` with its history when its revision is still `revision`.
    fn purge(
        &self,
        key: &str,
        revision: u64,
    ) -> impl Future<Output = Result<Write, WatchdogError>> + Send;

    /// Every key present.
    fn keys(&self) -> impl Future<Output = Result<Vec<String>, WatchdogError>> + Send;
}

/// The record at `key` and its revision.
pub async fn read(bucket: &impl Bucket, key: &str) -> Result<Option<(Watch, u64)>, WatchdogError> {
    let Some((bytes, revision)) = bucket.entry(key).await? else {
        return Ok(None);
    };
    let watch = serde_json::from_slice(&bytes).map_err(|source| WatchdogError::Unreadable {
        key: key.to_owned(),
        source,
    })?;
    Ok(Some((watch, revision)))
}

/// Writes `watch` at `key`: created when `revision` is `None`, else compared and set.
pub async fn write(
    bucket: &impl Bucket,
    key: &str,
    watch: &Watch,
    revision: Option<u64>,
) -> Result<Write, WatchdogError> {
    let bytes = Bytes::from(serde_json::to_vec(watch).expect("records always serialise"));
    match revision {
        None => bucket.create(key, bytes).await,
        Some(revision) => bucket.update(key, bytes, revision).await,
    }
}

/// Merges `change` into its record at `now`.
pub async fn record(
    bucket: &impl Bucket,
    change: &Change,
    now: DateTime<Utc>,
) -> Result<(), WatchdogError> {
    amend(bucket, &change.key(), |current| change.apply(current, now)).await
}

/// Replaces the record at `key` by `next(current)` unless that is `None`, reading again whenever
/// another writer got there first.
pub async fn amend(
    bucket: &impl Bucket,
    key: &str,
    next: impl Fn(Option<&Watch>) -> Option<Watch>,
) -> Result<(), WatchdogError> {
    for _ in 0..ATTEMPTS {
        let current = read(bucket, key).await?;
        let Some(watch) = next(current.as_ref().map(|(watch, _)| watch)) else {
            return Ok(());
        };
        let revision = current.map(|(_, revision)| revision);
        if write(bucket, key, &watch, revision).await? == Write::Done {
            return Ok(());
        }
    }
    Err(WatchdogError::Contended {
        key: key.to_owned(),
        attempts: ATTEMPTS,
    })
}

/// A JetStream key-value bucket.
#[derive(Clone)]
pub struct KvBucket(pub kv::Store);

fn failed(
    key: &str,
    operation: &'static str,
    source: impl Into<nrt_nats::async_nats::Error>,
) -> WatchdogError {
    WatchdogError::Store {
        key: key.to_owned(),
        operation,
        source: source.into(),
    }
}

impl Bucket for KvBucket {
    async fn entry(&self, key: &str) -> Result<Option<(Bytes, u64)>, WatchdogError> {
        let entry = self
            .0
            .entry(key)
            .await
            .map_err(|error| failed(key, "read", error))?;
        Ok(entry
            .filter(|entry| entry.operation == Operation::Put)
            .map(|entry| (entry.value, entry.revision)))
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<Write, WatchdogError> {
        match self.0.create(key, value).await {
            Ok(_) => Ok(Write::Done),
            Err(error) if error.kind() == CreateErrorKind::AlreadyExists => Ok(Write::Conflict),
            Err(error) => Err(failed(key, "create", error)),
        }
    }

    async fn update(&self, key: &str, value: Bytes, revision: u64) -> Result<Write, WatchdogError> {
        match self.0.update(key, value, revision).await {
            Ok(_) => Ok(Write::Done),
            Err(error) if error.kind() == UpdateErrorKind::WrongLastRevision => Ok(Write::Conflict),
            Err(error) => Err(failed(key, "update", error)),
        }
    }

    async fn purge(&self, key: &str, revision: u64) -> Result<Write, WatchdogError> {
        match self.0.purge_expect_revision(key, Some(revision)).await {
            Ok(()) => Ok(Write::Done),
            // The server refuses a stale revision like any other failure; read again to tell.
            Err(error) => match self.entry(key).await? {
                Some((_, current)) if current == revision => Err(failed(key, "purge", error)),
                _ => Ok(Write::Conflict),
            },
        }
    }

    async fn keys(&self) -> Result<Vec<String>, WatchdogError> {
        let keys = self
            .0
            .keys()
            .await
            .map_err(|error| failed(">", "list", error))?;
        keys.try_collect()
            .await
            .map_err(|error| failed(">", "list", error))
    }
}

/// An in-memory bucket with the same conditional writes, for unit tests.
#[cfg(test)]
#[derive(Default)]
pub struct MemoryBucket {
    entries: std::sync::Mutex<MemoryEntries>,
}

/// The last revision given, and each key's value and revision.
#[cfg(test)]
type MemoryEntries = (u64, std::collections::BTreeMap<String, (Bytes, u64)>);

#[cfg(test)]
impl MemoryBucket {
    fn swap(&self, key: &str, expected: Option<u64>, value: Option<Bytes>) -> Write {
        let mut guard = self.entries.lock().unwrap();
        let (last, entries) = &mut *guard;
        if entries.get(key).map(|(_, revision)| *revision) != expected {
            return Write::Conflict;
        }
        *last += 1;
        match value {
            Some(value) => entries.insert(key.to_owned(), (value, *last)),
            None => entries.remove(key),
        };
        Write::Done
    }

    /// The decoded record at `key`.
    pub fn watch(&self, key: &str) -> Option<Watch> {
        let entries = self.entries.lock().unwrap();
        let (bytes, _) = entries.1.get(key)?;
        Some(serde_json::from_slice(bytes).unwrap())
    }

    pub fn put_raw(&self, key: &str, value: &[u8]) {
        let mut guard = self.entries.lock().unwrap();
        let (last, entries) = &mut *guard;
        *last += 1;
        entries.insert(key.to_owned(), (Bytes::copy_from_slice(value), *last));
    }
}

#[cfg(test)]
impl Bucket for MemoryBucket {
    async fn entry(&self, key: &str) -> Result<Option<(Bytes, u64)>, WatchdogError> {
        Ok(self.entries.lock().unwrap().1.get(key).cloned())
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<Write, WatchdogError> {
        Ok(self.swap(key, None, Some(value)))
    }

    async fn update(&self, key: &str, value: Bytes, revision: u64) -> Result<Write, WatchdogError> {
        Ok(self.swap(key, Some(revision), Some(value)))
    }

    async fn purge(&self, key: &str, revision: u64) -> Result<Write, WatchdogError> {
        Ok(self.swap(key, Some(revision), None))
    }

    async fn keys(&self) -> Result<Vec<String>, WatchdogError> {
        Ok(self.entries.lock().unwrap().1.keys().cloned().collect())
    }
}
