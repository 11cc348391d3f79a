//! Concurrency limits that hold across launcher replicas. A limit of `n` is `n` slot keys in the
//! `launcher-slots` bucket (`processor.<name>.<i>`, `global.<i>`); a job runs only while it holds
//! one of each, taken by create or compare-and-set and kept under a lease. A replica that dies
//! stops renewing, and its slots are free once their lease has passed.
//!
//! Every replica keeps a view of the bucket from a watch, so taking a slot is one write in the
//! common case rather than a scan; the view only guides, the compare-and-set decides, and a
//! lost one refreshes the key it lost on.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_nats::jetstream::kv::{self, Operation};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// How long a waiting job sleeps at most between looks at the view: a change it was not woken
/// for (a lease running out) is noticed by then.
const RECHECK: Duration = Duration::from_secs(1);

/// The value of a held slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Holder {
    job_id: String,
    owner: String,
    expires_at: DateTime<Utc>,
}

/// What the watch last said about a key: its revision and holder (`None` when deleted).
#[derive(Debug, Clone)]
struct Seen {
    revision: u64,
    holder: Option<Holder>,
}

/// The slots of every scope, as one replica sees and takes them.
#[derive(Clone)]
pub struct Slots {
    kv: kv::Store,
    view: Arc<Mutex<HashMap<String, Seen>>>,
    changed: Arc<Notify>,
    lease: Duration,
}

/// A limit: the key prefix and how many slots it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub scope: String,
    pub slots: usize,
}

impl Limit {
    pub fn processor(name: &str, slots: usize) -> Self {
        Self {
            scope: format!("processor.{name}"),
            slots,
        }
    }

    pub fn global(slots: usize) -> Self {
        Self {
            scope: "global".into(),
            slots,
        }
    }
}

impl Slots {
    /// Starts watching the bucket; the watch restarts when NATS drops it.
    pub fn new(kv: kv::Store, lease: Duration) -> Self {
        let slots = Self {
            kv,
            view: Arc::default(),
            changed: Arc::default(),
            lease,
        };
        tokio::spawn(slots.clone().watch());
        slots
    }

    async fn watch(self) {
        loop {
            match self.kv.watch_with_history(">").await {
                Ok(mut entries) => {
                    while let Some(entry) = entries.next().await {
                        match entry {
                            Ok(entry) => self.saw(&entry),
                            Err(error) => {
                                tracing::warn!(%error, "The watch on concurrency slots failed.");
                                break;
                            }
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "Cannot watch the concurrency slots."),
            }
            tokio::time::sleep(RECHECK).await;
        }
    }

    fn saw(&self, entry: &kv::Entry) {
        let holder = match entry.operation {
            Operation::Put => serde_json::from_slice(&entry.value).ok(),
            Operation::Delete | Operation::Purge => None,
        };
        self.view.lock().expect("not poisoned").insert(
            entry.key.clone(),
            Seen {
                revision: entry.revision,
                holder,
            },
        );
        self.changed.notify_waiters();
    }

    /// Waits for a slot of `limit` and holds it for `job_id` until the guard is dropped. A job
    /// that already holds one (its launcher died and the request came back) takes it again.
    pub async fn acquire(&self, limit: &Limit, job_id: &str, owner: &str) -> SlotGuard {
        loop {
            let woken = self.changed.notified();
            if let Some(guard) = self.try_acquire(limit, job_id, owner).await {
                return guard;
            }
            let _ = tokio::time::timeout(RECHECK, woken).await;
        }
    }

    async fn try_acquire(&self, limit: &Limit, job_id: &str, owner: &str) -> Option<SlotGuard> {
        for key in self.candidates(limit, job_id) {
            let holder = Holder {
                job_id: job_id.to_owned(),
                owner: owner.to_owned(),
                expires_at: Utc::now() + self.lease,
            };
            // The view may have changed since the candidates were picked.
            let seen = self.view.lock().expect("not poisoned").get(&key).cloned();
            let written = match seen {
                Some(Seen {
                    revision,
                    holder: Some(current),
                }) if current.job_id == job_id || current.expires_at <= Utc::now() => {
                    self.kv.update(&key, encode(&holder), revision).await.ok()
                }
                Some(Seen {
                    holder: Some(_), ..
                }) => continue,
                // Never written, or deleted: `create` also takes a deleted key.
                _ => self.kv.create(&key, encode(&holder)).await.ok(),
            };
            match written {
                Some(revision) => {
                    tracing::debug!(%key, job_id, "Concurrency slot taken.");
                    return Some(SlotGuard::hold(self, key, holder, revision));
                }
                None => self.refresh(&key).await,
            }
        }
        None
    }

    /// The keys of `limit` worth trying, best first: the one `job_id` holds already, then free
    /// ones, then expired ones. Free slots are tried from a place that depends on the job, so
    /// replicas starting many jobs at once do not all race for slot 0.
    fn candidates(&self, limit: &Limit, job_id: &str) -> Vec<String> {
        let view = self.view.lock().expect("not poisoned");
        let now = Utc::now();
        let start = nrt_events::stable_hash([job_id])
            .get(..8)
            .and_then(|hex| usize::from_str_radix(hex, 16).ok())
            .unwrap_or_default();
        let mut own = Vec::new();
        let mut free = Vec::new();
        let mut expired = Vec::new();
        for offset in 0..limit.slots {
            let key = format!("{}.{}", limit.scope, (start + offset) % limit.slots);
            match view.get(&key).and_then(|seen| seen.holder.as_ref()) {
                None => free.push(key),
                Some(holder) if holder.job_id == job_id => own.push(key),
                Some(holder) if holder.expires_at <= now => expired.push(key),
                Some(_) => {}
            }
        }
        own.into_iter().chain(free).chain(expired).collect()
    }

    /// Reads `key` again after a lost write, so the view does not keep sending us to it.
    async fn refresh(&self, key: &str) {
        if let Ok(Some(entry)) = self.kv.entry(key).await {
            self.saw(&entry);
        }
    }
}

/// A held slot: renewed every third of the lease while it lives, given back when dropped.
pub struct SlotGuard {
    renewal: tokio::task::JoinHandle<()>,
    release: Option<(kv::Store, String, Arc<Mutex<u64>>)>,
}

impl SlotGuard {
    fn hold(slots: &Slots, key: String, holder: Holder, revision: u64) -> Self {
        let revision = Arc::new(Mutex::new(revision));
        let renewal = tokio::spawn(renew(
            slots.kv.clone(),
            key.clone(),
            holder,
            revision.clone(),
            slots.lease,
        ));
        Self {
            renewal,
            release: Some((slots.kv.clone(), key, revision)),
        }
    }
}

async fn renew(
    kv: kv::Store,
    key: String,
    mut holder: Holder,
    revision: Arc<Mutex<u64>>,
    lease: Duration,
) {
    let mut every = tokio::time::interval(lease / 3);
    every.tick().await;
    loop {
        every.tick().await;
        holder.expires_at = Utc::now() + lease;
        let current = *revision.lock().expect("not poisoned");
        match kv.update(&key, encode(&holder), current).await {
            Ok(next) => *revision.lock().expect("not poisoned") = next,
            Err(error) => {
                // Someone took the slot after our lease ran out (NATS was unreachable for a
                // whole lease): the limit may be exceeded by one until this job ends.
                tracing::warn!(%key, job_id = %holder.job_id, %error, "Could not renew a concurrency slot.");
                return;
            }
        }
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.renewal.abort();
        if let Some((kv, key, revision)) = self.release.take() {
            let revision = *revision.lock().expect("not poisoned");
            // Only our own write is deleted: a slot someone took over stays theirs. If this
            // never runs (the process dies), the lease frees the slot.
            tokio::spawn(async move {
                if let Err(error) = kv.delete_expect_revision(&key, Some(revision)).await {
                    tracing::debug!(%key, %error, "Concurrency slot not given back; its lease will free it.");
                }
            });
        }
    }
}

fn encode(holder: &Holder) -> Bytes {
    Bytes::from(serde_json::to_vec(holder).expect("a slot holder serialises"))
}
