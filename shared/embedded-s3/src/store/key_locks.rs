//! One request at a time per object key.
//!
//! s3s-fs checks `If-Match`/`If-None-Match`, renames the new data into place and only then saves
//! the object's ETag and checksums, each step on its own. Two writes of one key racing through
//! those steps both pass a condition meant to let only one of them through, and can leave one
//! writer's data beside the other's checksums, so that every later GET fails the client's checksum
//! check. Reads take the lock too, so they never pair new data with old checksums.

use std::hash::{BuildHasher, RandomState};

use tokio::sync::{Mutex, MutexGuard};

/// Enough stripes that unrelated keys rarely wait for each other.
const STRIPES: usize = 256;

pub(crate) struct KeyLocks {
    stripes: Vec<Mutex<()>>,
    hasher: RandomState,
}

impl KeyLocks {
    pub(crate) fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::new(),
        }
    }

    /// Waits until no other request holds `bucket`/`key`.
    pub(crate) async fn lock(&self, bucket: &str, key: &str) -> MutexGuard<'_, ()> {
        self.stripes[self.stripe(bucket, key)].lock().await
    }

    /// Locks every key of a batch, in stripe order so that two batches cannot deadlock.
    pub(crate) async fn lock_all<'a>(
        &self,
        bucket: &str,
        keys: impl IntoIterator<Item = &'a str>,
    ) -> Vec<MutexGuard<'_, ()>> {
        let mut stripes: Vec<usize> = keys
            .into_iter()
            .map(|key| self.stripe(bucket, key))
            .collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut guards = Vec::with_capacity(stripes.len());
        for stripe in stripes {
            guards.push(self.stripes[stripe].lock().await);
        }
        guards
    }

    fn stripe(&self, bucket: &str, key: &str) -> usize {
        let hash = self.hasher.hash_one((bucket, key));
        // The remainder is below STRIPES, so it fits usize on every platform.
        (hash % STRIPES as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_second_request_for_the_same_key_waits_for_the_first() {
        let locks = KeyLocks::new();
        let first = locks.lock("b", "k").await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), locks.lock("b", "k")).await;
        assert!(waiting.is_err(), "the same key is not locked twice at once");
        drop(first);
        let _second = locks.lock("b", "k").await;
    }

    #[tokio::test]
    async fn a_batch_locks_each_stripe_once_even_with_repeated_keys() {
        let locks = KeyLocks::new();
        let guards = locks.lock_all("b", ["k", "k", "other"]).await;
        assert!(!guards.is_empty() && guards.len() <= 2);
        drop(guards);
        let _again = locks.lock("b", "k").await;
    }
}
