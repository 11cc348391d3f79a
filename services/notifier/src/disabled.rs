//! Subscriptions switched off because their endpoint answered 410 Gone, kept in the
//! `notifier-disabled` bucket (key: the subscription's name) so that every replica and restart
//! honours them. A disabled subscription's events wait unacknowledged, nothing lost: the few each
//! replica already holds (kept alive by progress acks), the rest in its consumer. When an
//! operator deletes the key (`nats kv del notifier-disabled <name>` or
//! `nrtmesh notifier enable <name>`), they are delivered.

use std::{collections::BTreeMap, time::Duration};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use nrt_events::streams::KV_NOTIFIER_DISABLED;
use nrt_nats::{
    async_nats::jetstream::{
        self,
        kv::{self, Operation},
    },
    describe_error,
};
use nrt_runtime::Shutdown;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Errors of the bucket; all are worth retrying.
pub type StoreError = Box<dyn std::error::Error + Send + Sync>;

/// Why and when a subscription was disabled; stored as JSON for people reading the bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disabling {
    pub reason: String,
    pub disabled_at: DateTime<Utc>,
}

type Snapshot = BTreeMap<String, Disabling>;

/// The disabled subscriptions as this replica last saw them, following the bucket.
#[derive(Clone)]
pub struct DisabledSubscriptions {
    store: kv::Store,
    publish: watch::Sender<Snapshot>,
    state: watch::Receiver<Snapshot>,
}

impl DisabledSubscriptions {
    /// Reads the bucket, then follows its changes until `shutdown`.
    pub async fn follow(store: kv::Store, shutdown: Shutdown) -> Result<Self, StoreError> {
        let (changes, snapshot) = start_watching(&store).await?;
        let (publish, state) = watch::channel(snapshot);
        tokio::spawn(keep_following(
            store.clone(),
            changes,
            publish.clone(),
            shutdown,
        ));
        Ok(Self {
            store,
            publish,
            state,
        })
    }

    pub fn is_disabled(&self, subscription: &str) -> bool {
        self.state.borrow().contains_key(subscription)
    }

    /// Resolves once `subscription` is not disabled (at once if it is not).
    pub async fn until_enabled(&self, subscription: &str) {
        let mut state = self.state.clone();
        // An error only when every sender is gone, and `self` holds one.
        let _ = state
            .wait_for(|snapshot| !snapshot.contains_key(subscription))
            .await;
    }

    /// Records `subscription` as disabled; every replica stops delivering to it, this one at
    /// once rather than when the bucket's change comes back to it.
    pub async fn disable(
        &self,
        subscription: &str,
        disabling: &Disabling,
    ) -> Result<(), StoreError> {
        let value = serde_json::to_vec(disabling)?;
        self.store.put(subscription, value.into()).await?;
        self.publish.send_modify(|snapshot| {
            snapshot.insert(subscription.to_owned(), disabling.clone());
        });
        Ok(())
    }
}

/// Enables `subscription` again; returns what it was disabled for, `None` if it was not.
pub async fn enable(
    js: &jetstream::Context,
    subscription: &str,
) -> Result<Option<Disabling>, StoreError> {
    let store = js.get_key_value(KV_NOTIFIER_DISABLED).await?;
    let Some(value) = store.get(subscription).await? else {
        return Ok(None);
    };
    store.delete(subscription).await?;
    Ok(Some(decode(value)))
}

/// Every disabled subscription.
pub async fn list(js: &jetstream::Context) -> Result<BTreeMap<String, Disabling>, StoreError> {
    read_all(&js.get_key_value(KV_NOTIFIER_DISABLED).await?).await
}

/// Watches first, then reads: a change in between is both read and seen, and applying it twice
/// is harmless, where reading first could miss it.
async fn start_watching(store: &kv::Store) -> Result<(kv::Watch, Snapshot), StoreError> {
    let changes = store.watch_all().await?;
    Ok((changes, read_all(store).await?))
}

async fn read_all(store: &kv::Store) -> Result<Snapshot, StoreError> {
    let mut snapshot = Snapshot::new();
    let mut keys = store.keys().await?;
    while let Some(key) = keys.next().await {
        let key = key?;
        if let Some(value) = store.get(&key).await? {
            snapshot.insert(key, decode(value));
        }
    }
    Ok(snapshot)
}

async fn keep_following(
    store: kv::Store,
    mut changes: kv::Watch,
    publish: watch::Sender<Snapshot>,
    shutdown: Shutdown,
) {
    loop {
        let error = tokio::select! {
            error = apply_changes(&mut changes, &publish) => error,
            () = shutdown.requested() => return,
        };
        tracing::warn!(bucket = KV_NOTIFIER_DISABLED, error = %describe_error(&*error), "Lost the watch of disabled subscriptions; resuming.");
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = shutdown.requested() => return,
            }
            match start_watching(&store).await {
                Ok((resumed, snapshot)) => {
                    changes = resumed;
                    publish.send_replace(snapshot);
                    break;
                }
                Err(error) => {
                    tracing::warn!(error = %describe_error(&*error), "Could not read disabled subscriptions.")
                }
            }
        }
    }
}

/// Applies changes until the watch fails.
async fn apply_changes(changes: &mut kv::Watch, publish: &watch::Sender<Snapshot>) -> StoreError {
    while let Some(change) = changes.next().await {
        let entry = match change {
            Ok(entry) => entry,
            Err(error) => return error.into(),
        };
        publish.send_modify(|snapshot| match entry.operation {
            Operation::Put => {
                tracing::warn!(subscription = %entry.key, "Subscription disabled.");
                snapshot.insert(entry.key, decode(entry.value));
            }
            Operation::Delete | Operation::Purge => {
                if snapshot.remove(&entry.key).is_some() {
                    tracing::info!(subscription = %entry.key, "Subscription enabled again.");
                }
            }
        });
    }
    "the watch ended".into()
}

/// A value an operator wrote by hand is still a disabling: its text is the reason.
fn decode(value: Bytes) -> Disabling {
    serde_json::from_slice(&value).unwrap_or_else(|_| Disabling {
        reason: String::from_utf8_lossy(&value).into_owned(),
        disabled_at: DateTime::<Utc>::UNIX_EPOCH,
    })
}
