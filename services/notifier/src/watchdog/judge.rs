//! What a record calls for at a given time: an alert to raise, the record to forget, or nothing.

use chrono::{DateTime, TimeDelta, Utc};
use nrt_events::Alert;

use super::{
    WatchdogConfig, alerts,
    state::{FeedWatch, JobWatch, ProductWatch, Reported, Stage, Watch},
};

/// What to do with one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Raise `alert`, then `mark` the record so it is not raised again.
    Raise { alert: Alert, mark: Mark },
    /// Nothing more can happen to the record: remove it.
    Forget,
}

/// What a raised alert changes in its record. Applied to the record as it is when written, so
/// that a fact merged in meanwhile is kept.
#[derive(Debug, Clone, PartialEq)]
pub enum Mark {
    Overdue(Reported),
    Cleared,
    Silent(DateTime<Utc>),
    HeardAgain,
}

impl Mark {
    pub fn apply(&self, watch: &Watch) -> Watch {
        let mut watch = watch.clone();
        match (&mut watch, self) {
            (Watch::Job(job), Self::Overdue(reported)) => job.overdue = Some(reported.clone()),
            (Watch::Job(job), Self::Cleared) => job.cleared = true,
            (Watch::Product(product), Self::Overdue(reported)) => {
                product.overdue = Some(reported.clone())
            }
            (Watch::Product(product), Self::Cleared) => product.cleared = true,
            (Watch::Feed(feed), Self::Silent(at)) => feed.silent_reported_at = Some(*at),
            (Watch::Feed(feed), Self::HeardAgain) => feed.silent_reported_at = None,
            // Judged from this very key, so the kind cannot differ.
            _ => {}
        }
        watch
    }
}

pub fn judge(watch: &Watch, now: DateTime<Utc>, config: &WatchdogConfig) -> Option<Verdict> {
    let retain = delta(config.retain);
    match watch {
        Watch::Job(job) => judge_job(job, now, retain),
        Watch::Product(product) => judge_product(product, now, retain),
        Watch::Feed(feed) => match config.cadence(&feed.feed) {
            Some(cadence) => judge_feed(feed, now, delta(cadence)),
            // No longer configured: nothing is expected of it.
            None => Some(Verdict::Forget),
        },
    }
}

fn delta(duration: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

fn judge_job(job: &JobWatch, now: DateTime<Utc>, retain: TimeDelta) -> Option<Verdict> {
    let forget_after = |since: DateTime<Utc>| (now - since >= retain).then_some(Verdict::Forget);
    let Some(deadline) = job.deadline() else {
        // No deadline, or no request yet: kept a while in case the request is on its way.
        return forget_after(job.updated_at);
    };
    if let Some(publication) = &job.published {
        if job.overdue.is_some() && !job.cleared {
            let alert = alerts::job_cleared(job, deadline, publication, now);
            return Some(Verdict::Raise {
                alert,
                mark: Mark::Cleared,
            });
        }
        return forget_after(publication.seen_at);
    }
    let stage = job.stage()?;
    if job.overdue.is_some() || now <= deadline {
        return None;
    }
    if now - deadline >= retain {
        return Some(Verdict::Forget);
    }
    Some(Verdict::Raise {
        alert: alerts::job_overdue(job, deadline, stage, now),
        mark: Mark::Overdue(Reported { at: now, stage }),
    })
}

fn judge_product(product: &ProductWatch, now: DateTime<Utc>, retain: TimeDelta) -> Option<Verdict> {
    let forget_after = |since: DateTime<Utc>| (now - since >= retain).then_some(Verdict::Forget);
    if let Some(published) = product.published_seen_at {
        if product.overdue.is_some() && !product.cleared {
            return Some(Verdict::Raise {
                alert: alerts::product_cleared(product, published, now),
                mark: Mark::Cleared,
            });
        }
        return forget_after(published);
    }
    if product.overdue.is_some() {
        // Waits for its publication, which clears the alert.
        return None;
    }
    let Some(discovered) = product
        .discovered
        .as_ref()
        .filter(|_| product.triggered_by.is_none())
    else {
        // Selected by a rule, whose deadline watches its job: kept a while so that a redelivered
        // discovery finds it selected.
        return forget_after(product.updated_at);
    };
    if now <= discovered.deadline {
        return None;
    }
    if now - discovered.deadline >= retain {
        return Some(Verdict::Forget);
    }
    Some(Verdict::Raise {
        alert: alerts::product_overdue(product, discovered, now),
        mark: Mark::Overdue(Reported {
            at: now,
            stage: Stage::DiscoveredNotTriggered,
        }),
    })
}

fn judge_feed(feed: &FeedWatch, now: DateTime<Utc>, cadence: TimeDelta) -> Option<Verdict> {
    let heard_at = feed
        .last_product
        .as_ref()
        .map_or(feed.watching_since, |last| last.seen_at);
    let is_silent = now - heard_at > cadence;
    let (alert, mark) = match (is_silent, feed.silent_reported_at) {
        (true, None) => (
            alerts::feed_silent(feed, heard_at, cadence, now),
            Mark::Silent(now),
        ),
        (false, Some(_)) => (alerts::feed_heard_again(feed, now), Mark::HeardAgain),
        _ => return None,
    };
    Some(Verdict::Raise { alert, mark })
}

#[cfg(test)]
mod tests;
