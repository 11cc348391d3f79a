//! The facts each event adds to a record, and how they merge into it.
//!
//! Events of one job arrive through three consumers, redelivered and in any order, so every
//! merge is order-free and idempotent: a fact already known changes nothing, and a record is
//! only written when it changed.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use nrt_events::stable_hash;

use super::state::{
    Dead, Discovered, Failure, FeedWatch, JobWatch, LastProduct, ProductWatch, Publication,
    Request, Watch,
};

/// One fact an event adds to one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Job { job_id: String, fact: JobFact },
    Product { key: String, fact: ProductFact },
    Feed { feed: String, fact: FeedFact },
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobFact {
    Requested(Request),
    Started { attempt: u32 },
    Failed(Failure),
    Dead(Dead),
    Succeeded,
    Published { item_id: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProductFact {
    Discovered(Discovered),
    Triggered {
        job_id: String,
    },
    /// Changes only a product already watched: most published inputs never were.
    Published,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FeedFact {
    /// The watchdog starts expecting the feed; changes nothing once it does.
    Watched,
    ProductSeen {
        key: String,
        published_at: DateTime<Utc>,
    },
}

impl Change {
    /// The record's key in the bucket.
    pub fn key(&self) -> String {
        match self {
            Self::Job { job_id, .. } => format!("job.{}", key_token(job_id)),
            Self::Product { key, .. } => format!("product.{}", key_token(key)),
            Self::Feed { feed, .. } => format!("feed.{}", key_token(feed)),
        }
    }

    /// The record with this fact merged in at `now`, or `None` when that changes nothing.
    /// Keys are prefixed by kind, so a record of another kind under the key was written by hand
    /// and is replaced.
    pub fn apply(&self, current: Option<&Watch>, now: DateTime<Utc>) -> Option<Watch> {
        match self {
            Self::Job { job_id, fact } => {
                let before = match current {
                    Some(Watch::Job(job)) => Some(job),
                    _ => None,
                };
                merge_job(before, job_id, fact, now).map(Watch::Job)
            }
            Self::Product { key, fact } => {
                let before = match current {
                    Some(Watch::Product(product)) => Some(product),
                    _ => None,
                };
                merge_product(before, key, fact, now).map(Watch::Product)
            }
            Self::Feed { feed, fact } => {
                let before = match current {
                    Some(Watch::Feed(watch)) => Some(watch),
                    _ => None,
                };
                merge_feed(before, feed, fact, now).map(Watch::Feed)
            }
        }
    }
}

/// `value` as one token of a key: as it is when it only has letters, digits, `-` and `_` (job
/// ids, feed names), else hashed (product keys with dots).
fn key_token(value: &str) -> Cow<'_, str> {
    let is_plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if is_plain {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(stable_hash([value]))
    }
}

fn merge_job(
    before: Option<&JobWatch>,
    job_id: &str,
    fact: &JobFact,
    now: DateTime<Utc>,
) -> Option<JobWatch> {
    let mut job = before.cloned().unwrap_or_else(|| JobWatch {
        job_id: job_id.to_owned(),
        request: None,
        started: None,
        failure: None,
        dead: None,
        succeeded_at: None,
        published: None,
        overdue: None,
        cleared: false,
        updated_at: now,
    });
    match fact {
        JobFact::Requested(request) => {
            job.request.get_or_insert_with(|| request.clone());
        }
        JobFact::Started { attempt } => job.started = job.started.max(Some(*attempt)),
        JobFact::Failed(failure) => {
            if job
                .failure
                .as_ref()
                .is_none_or(|known| failure.attempt > known.attempt)
            {
                job.failure = Some(failure.clone());
            }
        }
        JobFact::Dead(dead) => {
            if job
                .dead
                .as_ref()
                .is_none_or(|known| dead.attempts > known.attempts)
            {
                job.dead = Some(dead.clone());
            }
        }
        JobFact::Succeeded => {
            job.succeeded_at.get_or_insert(now);
        }
        JobFact::Published { item_id } => {
            job.published.get_or_insert_with(|| Publication {
                item_id: item_id.clone(),
                seen_at: now,
            });
        }
    }
    changed(before, job, |job| job.updated_at = now)
}

fn merge_product(
    before: Option<&ProductWatch>,
    key: &str,
    fact: &ProductFact,
    now: DateTime<Utc>,
) -> Option<ProductWatch> {
    if before.is_none() && *fact == ProductFact::Published {
        return None;
    }
    let mut product = before.cloned().unwrap_or_else(|| ProductWatch {
        key: key.to_owned(),
        discovered: None,
        triggered_by: None,
        published_seen_at: None,
        overdue: None,
        cleared: false,
        updated_at: now,
    });
    match fact {
        ProductFact::Discovered(discovered) => {
            product.discovered.get_or_insert_with(|| discovered.clone());
        }
        ProductFact::Triggered { job_id } => {
            product.triggered_by.get_or_insert_with(|| job_id.clone());
        }
        ProductFact::Published => {
            product.published_seen_at.get_or_insert(now);
        }
    }
    changed(before, product, |product| product.updated_at = now)
}

fn merge_feed(
    before: Option<&FeedWatch>,
    feed: &str,
    fact: &FeedFact,
    now: DateTime<Utc>,
) -> Option<FeedWatch> {
    let mut watch = before.cloned().unwrap_or_else(|| FeedWatch {
        feed: feed.to_owned(),
        watching_since: now,
        last_product: None,
        silent_reported_at: None,
    });
    if let FeedFact::ProductSeen { key, published_at } = fact {
        // A redelivery handled late must not move the last product back.
        if watch
            .last_product
            .as_ref()
            .is_none_or(|last| now >= last.seen_at)
        {
            watch.last_product = Some(LastProduct {
                key: key.clone(),
                published_at: *published_at,
                seen_at: now,
            });
        }
    }
    changed(before, watch, |_| {})
}

/// `after` stamped by `touch`, when it differs from `before`.
fn changed<T: Clone + PartialEq>(
    before: Option<&T>,
    mut after: T,
    touch: impl Fn(&mut T),
) -> Option<T> {
    if before == Some(&after) {
        return None;
    }
    touch(&mut after);
    Some(after)
}

#[cfg(test)]
mod tests;
