//! How far a feed has been read: the newest publication time reached and the ids already seen at
//! exactly that time, so that `PublicationDate ge <time>` loses no tie and repeats none.

use std::{collections::BTreeSet, future::Future};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Error;

/// A feed's position, stored as JSON under the feed's name in `ingest-cursors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Every product published before this time has been discovered.
    pub published_at: DateTime<Utc>,
    /// The products published at exactly `published_at` that have been discovered.
    pub ids_at_cursor: BTreeSet<String>,
}

impl Cursor {
    pub fn starting_at(published_at: DateTime<Utc>) -> Self {
        Self {
            published_at,
            ids_at_cursor: BTreeSet::new(),
        }
    }

    /// Whether the product `id` published at `published_at` is behind the cursor.
    pub fn has_seen(&self, published_at: DateTime<Utc>, id: &str) -> bool {
        published_at < self.published_at
            || (published_at == self.published_at && self.ids_at_cursor.contains(id))
    }

    /// Moves past product `id`, published at `published_at`.
    pub fn advance(&mut self, published_at: DateTime<Utc>, id: &str) {
        if published_at > self.published_at {
            self.published_at = published_at;
            self.ids_at_cursor.clear();
        }
        if published_at == self.published_at {
            self.ids_at_cursor.insert(id.to_owned());
        }
    }

    /// The further of two cursors; at the same time, the ids either has seen.
    pub fn merge(mut self, other: Cursor) -> Cursor {
        if other.published_at > self.published_at {
            return other;
        }
        if other.published_at == self.published_at {
            self.ids_at_cursor.extend(other.ids_at_cursor);
        }
        self
    }
}

/// A cursor as stored, with the revision a compare-and-set must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCursor {
    pub cursor: Cursor,
    pub revision: u64,
}

/// The outcome of a compare-and-set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasOutcome {
    Committed {
        revision: u64,
    },
    /// Someone else wrote the key since `revision` (or created it first).
    Conflict,
}

/// Where cursors live: the `ingest-cursors` bucket in production, memory in unit tests.
pub trait CursorStore: Send + Sync {
    fn load(&self, feed: &str) -> impl Future<Output = Result<Option<StoredCursor>, Error>> + Send;

    /// Writes `cursor` if the stored revision is still `expected` (`None`: the key is absent).
    fn compare_and_set(
        &self,
        feed: &str,
        cursor: &Cursor,
        expected: Option<u64>,
    ) -> impl Future<Output = Result<CasOutcome, Error>> + Send;
}

/// How often a commit re-reads and retries before another replica's churn is reported.
const MAX_CAS_ROUNDS: usize = 10;

/// Commits `cursor` over `expected`. On a conflict another replica moved the cursor: its value is
/// re-read and merged, never overwritten with something behind it. Returns what is now stored.
pub async fn commit(
    store: &impl CursorStore,
    feed: &str,
    cursor: Cursor,
    expected: Option<u64>,
) -> Result<StoredCursor, Error> {
    let mut ours = cursor;
    let mut expected = expected;
    for _ in 0..MAX_CAS_ROUNDS {
        match store.compare_and_set(feed, &ours, expected).await? {
            CasOutcome::Committed { revision } => {
                return Ok(StoredCursor {
                    cursor: ours,
                    revision,
                });
            }
            CasOutcome::Conflict => match store.load(feed).await? {
                Some(theirs) => {
                    let merged = theirs.cursor.clone().merge(ours);
                    if merged == theirs.cursor {
                        tracing::info!(
                            feed,
                            "Another replica moved the cursor further; adopting it."
                        );
                        return Ok(theirs);
                    }
                    ours = merged;
                    expected = Some(theirs.revision);
                }
                None => expected = None,
            },
        }
    }
    Err(Error::CursorContended {
        feed: feed.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryCursors as Memory;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn cursor(time: &str, ids: &[&str]) -> Cursor {
        Cursor {
            published_at: at(time),
            ids_at_cursor: ids.iter().map(|id| (*id).to_owned()).collect(),
        }
    }

    #[test]
    fn ties_at_the_cursor_time_are_told_apart_by_id() {
        let cursor = cursor("2026-01-01T00:00:00Z", &["a"]);
        assert!(cursor.has_seen(at("2026-01-01T00:00:00Z"), "a"));
        assert!(!cursor.has_seen(at("2026-01-01T00:00:00Z"), "b"));
        assert!(cursor.has_seen(at("2025-12-31T23:59:59Z"), "z"));
        assert!(!cursor.has_seen(at("2026-01-01T00:00:01Z"), "a"));
    }

    #[test]
    fn advancing_collects_ids_at_the_newest_time_only() {
        let mut moving = cursor("2026-01-01T00:00:00Z", &["a"]);
        moving.advance(at("2026-01-01T00:00:00Z"), "b");
        assert_eq!(moving, cursor("2026-01-01T00:00:00Z", &["a", "b"]));
        moving.advance(at("2026-01-01T00:00:05Z"), "c");
        moving.advance(at("2026-01-01T00:00:05Z"), "d");
        moving.advance(at("2026-01-01T00:00:01Z"), "late");
        assert_eq!(moving, cursor("2026-01-01T00:00:05Z", &["c", "d"]));
    }

    #[test]
    fn merging_keeps_the_further_cursor_and_unions_ties() {
        let behind = cursor("2026-01-01T00:00:00Z", &["a"]);
        let ahead = cursor("2026-01-02T00:00:00Z", &["x"]);
        assert_eq!(behind.clone().merge(ahead.clone()), ahead);
        assert_eq!(ahead.clone().merge(behind.clone()), ahead);
        assert_eq!(
            behind.merge(cursor("2026-01-01T00:00:00Z", &["b"])),
            cursor("2026-01-01T00:00:00Z", &["a", "b"])
        );
    }

    #[tokio::test]
    async fn a_commit_over_a_replica_that_moved_further_adopts_its_cursor() {
        let store = Memory::default();
        let start = commit(&store, "cdse", cursor("2026-01-01T00:00:00Z", &[]), None)
            .await
            .unwrap();
        // Another replica moves the cursor a day further.
        let theirs = commit(
            &store,
            "cdse",
            cursor("2026-01-02T00:00:00Z", &["x"]),
            Some(start.revision),
        )
        .await
        .unwrap();
        let ours = commit(
            &store,
            "cdse",
            cursor("2026-01-01T12:00:00Z", &["a"]),
            Some(start.revision),
        )
        .await
        .unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(store.load("cdse").await.unwrap(), Some(theirs));
    }

    #[tokio::test]
    async fn a_commit_further_than_the_conflicting_one_lands_on_its_revision() {
        let store = Memory::default();
        let start = commit(&store, "cdse", cursor("2026-01-01T00:00:00Z", &[]), None)
            .await
            .unwrap();
        commit(
            &store,
            "cdse",
            cursor("2026-01-01T06:00:00Z", &["x"]),
            Some(start.revision),
        )
        .await
        .unwrap();
        let ours = commit(
            &store,
            "cdse",
            cursor("2026-01-01T12:00:00Z", &["a"]),
            Some(start.revision),
        )
        .await
        .unwrap();
        assert_eq!(ours.cursor, cursor("2026-01-01T12:00:00Z", &["a"]));
        assert_eq!(ours.revision, 3);
    }

    #[tokio::test]
    async fn creating_a_cursor_another_replica_created_first_adopts_or_merges_it() {
        let store = Memory::default();
        let theirs = commit(&store, "cdse", cursor("2026-01-01T00:00:00Z", &["a"]), None)
            .await
            .unwrap();
        let ours = commit(&store, "cdse", cursor("2026-01-01T00:00:00Z", &["b"]), None)
            .await
            .unwrap();
        assert_eq!(ours.cursor, cursor("2026-01-01T00:00:00Z", &["a", "b"]));
        assert_eq!(ours.revision, theirs.revision + 1);
    }
}
