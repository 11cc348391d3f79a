//! What the watchdog knows: one record per job, product and feed, as stored in the `watchdog`
//! bucket, and where a late job is stuck.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One watched thing, as stored under its key in the `watchdog` bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "watch", rename_all = "kebab-case")]
pub enum Watch {
    Job(JobWatch),
    Product(ProductWatch),
    Feed(FeedWatch),
}

/// A job from its request to its first published item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobWatch {
    pub job_id: String,
    /// `None` until the request is seen; lifecycle events may come first.
    pub request: Option<Request>,
    /// The highest attempt that started.
    pub started: Option<u32>,
    /// The failure of the highest attempt that failed.
    pub failure: Option<Failure>,
    pub dead: Option<Dead>,
    pub succeeded_at: Option<DateTime<Utc>>,
    pub published: Option<Publication>,
    pub overdue: Option<Reported>,
    /// Whether the alert that ends `overdue` was raised.
    pub cleared: bool,
    /// The watchdog's time of the last change, to forget jobs no deadline watches.
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub rule: String,
    pub processor: String,
    /// Keys of the input products.
    pub products: Vec<String>,
    /// `None`: the rule has no deadline and the job is not watched.
    pub deadline: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub attempt: u32,
    pub reason: String,
    pub will_retry: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dead {
    pub attempts: u32,
    pub reason: String,
}

/// The first item the job published, when the watchdog saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Publication {
    pub item_id: String,
    pub seen_at: DateTime<Utc>,
}

/// An overdue alert that went out: when, and where the job or product was stuck then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reported {
    pub at: DateTime<Utc>,
    pub stage: Stage,
}

/// A product of a collection with a deadline, until some rule selects it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductWatch {
    pub key: String,
    /// `None` when a job named the product before its discovery was handled.
    pub discovered: Option<Discovered>,
    /// The first job requested with it.
    pub triggered_by: Option<String>,
    /// When the watchdog saw an item published from it.
    pub published_seen_at: Option<DateTime<Utc>>,
    pub overdue: Option<Reported>,
    pub cleared: bool,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discovered {
    pub collection: String,
    pub feed: String,
    /// Publication in the feed.
    pub published_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
}

/// A feed with an expected cadence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedWatch {
    pub feed: String,
    /// When the watchdog began expecting products: silence counts from here until one is seen.
    pub watching_since: DateTime<Utc>,
    pub last_product: Option<LastProduct>,
    /// When the feed-silent alert went out; `None` while the feed delivers.
    pub silent_reported_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastProduct {
    pub key: String,
    /// Publication in the feed.
    pub published_at: DateTime<Utc>,
    /// When the watchdog saw it: what silence counts from, on the watchdog's own clock.
    pub seen_at: DateTime<Utc>,
}

/// Where a late job or product is stuck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    DiscoveredNotTriggered,
    TriggeredNotLaunched,
    Running,
    FailedRetrying,
    Dead,
    SucceededNotPublished,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::DiscoveredNotTriggered => "discovered, not triggered",
            Self::TriggeredNotLaunched => "triggered, not launched",
            Self::Running => "launched and running",
            Self::FailedRetrying => "failed, retrying",
            Self::Dead => "dead",
            Self::SucceededNotPublished => "succeeded, not published",
        })
    }
}

impl JobWatch {
    /// When the job's outputs are due; `None` when nothing is known to be due.
    pub fn deadline(&self) -> Option<DateTime<Utc>> {
        self.request.as_ref().and_then(|request| request.deadline)
    }

    /// Where the job is stuck; `None` once it published.
    pub fn stage(&self) -> Option<Stage> {
        if self.published.is_some() {
            return None;
        }
        let stage = if self.succeeded_at.is_some() {
            Stage::SucceededNotPublished
        } else if self.is_dead() {
            Stage::Dead
        } else if self.latest_attempt_failed() {
            Stage::FailedRetrying
        } else if self.started.is_some() {
            Stage::Running
        } else {
            Stage::TriggeredNotLaunched
        };
        Some(stage)
    }

    /// Dead, unless an operator's retry started a later attempt; a failure that will not be
    /// retried is as good as dead before the launcher says so.
    fn is_dead(&self) -> bool {
        let restarted_after =
            |attempts: u32| self.started.is_some_and(|started| started > attempts);
        let declared = self
            .dead
            .as_ref()
            .is_some_and(|dead| !restarted_after(dead.attempts));
        let given_up = self
            .failure
            .as_ref()
            .is_some_and(|failure| !failure.will_retry && !restarted_after(failure.attempt));
        declared || given_up
    }

    fn latest_attempt_failed(&self) -> bool {
        self.failure.as_ref().is_some_and(|failure| {
            self.started
                .is_none_or(|started| failure.attempt >= started)
        })
    }
}

#[cfg(test)]
mod tests;
