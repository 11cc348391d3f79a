//! When each group next needs a sweep, learnt by watching the groups bucket, so that a sweep
//! reads the few groups that are due instead of every group kept (thousands on a continental
//! production). The watch is only an optimisation: until it has caught up, or after it broke,
//! sweeps fall back to reading every group.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use async_nats::jetstream::kv::{self, Operation};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use nrt_nats::async_nats;
use nrt_runtime::Shutdown;

use super::{Group, Status};

/// Per group key, when the sweeper must next look at it.
pub struct Schedule {
    next: Mutex<HashMap<String, DateTime<Utc>>>,
    /// Whether the watch has delivered every group present when it started.
    caught_up: AtomicBool,
    keep_closed: TimeDelta,
}

impl Schedule {
    pub fn new(keep_closed: Duration) -> Self {
        Self {
            next: Mutex::default(),
            caught_up: AtomicBool::new(false),
            keep_closed: TimeDelta::from_std(keep_closed).unwrap_or(TimeDelta::MAX),
        }
    }

    /// Records the latest value of `key`; `None` when it was deleted.
    pub fn note(&self, key: &str, group: Option<&Group>) {
        let mut next = self.next.lock().expect("schedule lock is never poisoned");
        match group {
            Some(group) => next.insert(key.to_owned(), next_look(group, self.keep_closed)),
            None => next.remove(key),
        };
    }

    /// The keys due at `now`, or `None` while the schedule cannot be trusted.
    pub fn due(&self, now: DateTime<Utc>) -> Option<Vec<String>> {
        if !self.caught_up.load(Ordering::Acquire) {
            return None;
        }
        let next = self.next.lock().expect("schedule lock is never poisoned");
        Some(
            next.iter()
                .filter(|(_, at)| **at <= now)
                .map(|(key, _)| key.clone())
                .collect(),
        )
    }

    fn forget_all(&self) {
        self.caught_up.store(false, Ordering::Release);
        self.next
            .lock()
            .expect("schedule lock is never poisoned")
            .clear();
    }
}

/// When a group next needs the sweeper: when it is due while open, at once while its job or
/// alert is unpublished, and when it may be forgotten once closed.
fn next_look(group: &Group, keep_closed: TimeDelta) -> DateTime<Utc> {
    match (&group.status, group.closed_at()) {
        (Status::Open, _) | (_, None) => group.due_at,
        _ if group.is_unpublished() => DateTime::<Utc>::MIN_UTC,
        (_, Some(closed)) => group.due_at.max(
            closed
                .checked_add_signed(keep_closed)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        ),
    }
}

/// Keeps `schedule` up to date from the bucket until `shutdown`, watching again after a broken
/// watch (a NATS restart) from a clean slate.
pub(crate) async fn follow(store: kv::Store, schedule: Arc<Schedule>, shutdown: Shutdown) {
    while !shutdown.is_requested() {
        match store.watch_with_history(">").await {
            Ok(mut watch) => {
                // An empty bucket sends nothing to catch up on.
                if store
                    .status()
                    .await
                    .is_ok_and(|status| status.values() == 0)
                {
                    schedule.caught_up.store(true, Ordering::Release);
                }
                loop {
                    let entry = tokio::select! {
                        entry = watch.next() => entry,
                        () = shutdown.requested() => return,
                    };
                    let Some(Ok(entry)) = entry else { break };
                    let group = match entry.operation {
                        Operation::Put => serde_json::from_slice::<Group>(&entry.value).ok(),
                        Operation::Delete | Operation::Purge => None,
                    };
                    schedule.note(&entry.key, group.as_ref());
                    if entry.delta == 0 || entry.seen_current {
                        schedule.caught_up.store(true, Ordering::Release);
                    }
                }
                tracing::warn!("The watch on the groups bucket ended; watching again.");
            }
            Err(error) => {
                tracing::warn!(error = %nrt_nats::describe_error(&error), "Cannot watch the groups bucket; sweeps read every group meanwhile.");
            }
        }
        schedule.forget_all();
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = shutdown.requested() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(status: Status) -> Group {
        Group {
            rule: "r".into(),
            key: "k".into(),
            period: None,
            tile: None,
            opened_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            due_at: "2026-01-01T06:00:00Z".parse().unwrap(),
            members: Vec::new(),
            status,
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_group_is_looked_at_when_due_when_unpublished_and_when_it_may_be_forgotten() {
        let schedule = Schedule::new(Duration::from_secs(24 * 3600));
        assert_eq!(
            schedule.due(at("2030-01-01T00:00:00Z")),
            None,
            "not caught up"
        );
        schedule.caught_up.store(true, Ordering::Release);

        schedule.note("open", Some(&group(Status::Open)));
        let closed_at = at("2026-01-01T01:00:00Z");
        schedule.note(
            "unpublished",
            Some(&group(Status::Requested {
                job_id: "j".into(),
                at: closed_at,
                published: false,
            })),
        );
        schedule.note(
            "published",
            Some(&group(Status::Requested {
                job_id: "j".into(),
                at: closed_at,
                published: true,
            })),
        );
        let due = |now| {
            let mut keys = schedule.due(at(now)).unwrap();
            keys.sort();
            keys
        };
        assert_eq!(due("2026-01-01T05:59:59Z"), ["unpublished"]);
        assert_eq!(due("2026-01-01T06:00:00Z"), ["open", "unpublished"]);
        assert_eq!(
            due("2026-01-02T01:00:00Z"),
            ["open", "published", "unpublished"]
        );

        schedule.note("open", None);
        assert_eq!(due("2026-01-01T06:00:00Z"), ["unpublished"]);
    }
}
