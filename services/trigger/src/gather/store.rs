//! The key-value buckets the trigger keeps its groups and input index in, behind a small trait so
//! that the gathering logic is tested without a server; JetStream KV in production.

use std::future::Future;

use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use bytes::Bytes;
use futures::TryStreamExt;
use nrt_nats::async_nats;
use serde::{Serialize, de::DeserializeOwned};

use crate::Error;

/// The outcome of a compare-and-set write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Written; the entry's new revision.
    Done(u64),
    /// Someone else wrote first: read again and decide again.
    Conflict,
}

/// A key-value bucket written only by compare-and-set.
pub trait Bucket: Send + Sync + 'static {
    /// The bucket's name, for errors.
    fn name(&self) -> &str;

    /// The value and revision of `key`; `None` when absent or deleted.
    fn entry(&self, key: &str) -> impl Future<Output = Result<Option<(Bytes, u64)>, Error>> + Send;

    /// Writes `key` when it is absent.
    fn create(&self, key: &str, value: Bytes) -> impl Future<Output = Result<Write, Error>> + Send;

    /// Writes `key` when its revision is still `revision`.
    fn update(
        &self,
        key: &str,
        value: Bytes,
        revision: u64,
    ) -> impl Future<Output = Result<Write, Error>> + Send;

    /// Deletes `key` when its revision is still `revision`.
    fn delete(&self, key: &str, revision: u64)
    -> impl Future<Output = Result<Write, Error>> + Send;

    /// Every key present.
    fn keys(&self) -> impl Future<Output = Result<Vec<String>, Error>> + Send;
}

/// Reads and decodes `key`. A value that does not decode is an error naming the entry: nothing
/// but the trigger writes these buckets, so it means a newer trigger wrote a form this one does
/// not know.
pub async fn read<T: DeserializeOwned>(
    bucket: &impl Bucket,
    key: &str,
) -> Result<Option<(T, u64)>, Error> {
    let Some((bytes, revision)) = bucket.entry(key).await? else {
        return Ok(None);
    };
    let value = serde_json::from_slice(&bytes).map_err(|source| Error::UnreadableEntry {
        bucket: bucket.name().to_owned(),
        key: key.to_owned(),
        source,
    })?;
    Ok(Some((value, revision)))
}

/// Writes `value` at `key`: created when `revision` is `None`, else compared and set.
pub async fn write<T: Serialize>(
    bucket: &impl Bucket,
    key: &str,
    value: &T,
    revision: Option<u64>,
) -> Result<Write, Error> {
    let bytes = Bytes::from(serde_json::to_vec(value).expect("entries always serialise"));
    match revision {
        None => bucket.create(key, bytes).await,
        Some(revision) => bucket.update(key, bytes, revision).await,
    }
}

/// A JetStream key-value bucket.
pub struct KvBucket {
    store: kv::Store,
    name: String,
}

impl KvBucket {
    pub fn new(store: kv::Store, name: &str) -> Self {
        Self {
            store,
            name: name.to_owned(),
        }
    }

    /// The bucket itself, for watching it.
    pub fn store(&self) -> &kv::Store {
        &self.store
    }

    fn failed(&self, key: &str, operation: &'static str, source: impl ToString) -> Error {
        Error::Store {
            bucket: self.name.clone(),
            key: key.to_owned(),
            operation,
            reason: source.to_string(),
        }
    }
}

impl Bucket for KvBucket {
    fn name(&self) -> &str {
        &self.name
    }

    async fn entry(&self, key: &str) -> Result<Option<(Bytes, u64)>, Error> {
        let entry = self
            .store
            .entry(key)
            .await
            .map_err(|error| self.failed(key, "read", error))?;
        Ok(entry
            .filter(|entry| entry.operation == Operation::Put)
            .map(|entry| (entry.value, entry.revision)))
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<Write, Error> {
        match self.store.create(key, value).await {
            Ok(revision) => Ok(Write::Done(revision)),
            Err(error) if error.kind() == CreateErrorKind::AlreadyExists => Ok(Write::Conflict),
            Err(error) => Err(self.failed(key, "create", error)),
        }
    }

    async fn update(&self, key: &str, value: Bytes, revision: u64) -> Result<Write, Error> {
        match self.store.update(key, value, revision).await {
            Ok(revision) => Ok(Write::Done(revision)),
            Err(error) if error.kind() == UpdateErrorKind::WrongLastRevision => Ok(Write::Conflict),
            Err(error) => Err(self.failed(key, "update", error)),
        }
    }

    async fn delete(&self, key: &str, revision: u64) -> Result<Write, Error> {
        match self.store.delete_expect_revision(key, Some(revision)).await {
            Ok(()) => Ok(Write::Done(revision + 1)),
            // The server refuses a stale revision like any other publish; read again to know.
            Err(error) => match self.entry(key).await? {
                Some((_, current)) if current != revision => Ok(Write::Conflict),
                None => Ok(Write::Conflict),
                Some(_) => Err(self.failed(key, "delete", error)),
            },
        }
    }

    async fn keys(&self) -> Result<Vec<String>, Error> {
        let keys = self
            .store
            .keys()
            .await
            .map_err(|error| self.failed(">", "list", error))?;
        keys.try_collect()
            .await
            .map_err(|error| self.failed(">", "list", error))
    }
}

/// An in-memory bucket with the same compare-and-set behaviour, for unit tests.
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
        let current = entries.get(key).map(|(_, revision)| *revision);
        if current != expected {
            return Write::Conflict;
        }
        *last += 1;
        match value {
            Some(value) => entries.insert(key.to_owned(), (value, *last)),
            None => entries.remove(key),
        };
        Write::Done(*last)
    }
}

#[cfg(test)]
impl Bucket for MemoryBucket {
    fn name(&self) -> &str {
        "memory"
    }

    async fn entry(&self, key: &str) -> Result<Option<(Bytes, u64)>, Error> {
        Ok(self.entries.lock().unwrap().1.get(key).cloned())
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<Write, Error> {
        Ok(self.swap(key, None, Some(value)))
    }

    async fn update(&self, key: &str, value: Bytes, revision: u64) -> Result<Write, Error> {
        Ok(self.swap(key, Some(revision), Some(value)))
    }

    async fn delete(&self, key: &str, revision: u64) -> Result<Write, Error> {
        Ok(self.swap(key, Some(revision), None))
    }

    async fn keys(&self) -> Result<Vec<String>, Error> {
        Ok(self.entries.lock().unwrap().1.keys().cloned().collect())
    }
}
