//! The events the watchdog reads, decoded by the subject they arrived on, and the facts each adds.

use chrono::TimeDelta;
use nrt_events::{
    DecodeError, EventData, ItemPublished, JobDead, JobFailed, JobRequested, JobStarted,
    JobSucceeded, ProductDiscovered, RawEvent,
};

use super::{
    WatchdogConfig,
    change::{Change, FeedFact, JobFact, ProductFact},
    state::{Dead, Discovered, Failure, Request},
};

pub const PRODUCT_SUBJECTS: &[&str] = &["products.discovered.>"];
pub const JOB_SUBJECTS: &[&str] = &[
    "jobs.requested.>",
    "jobs.started.>",
    "jobs.failed.>",
    "jobs.dead.>",
    "jobs.succeeded.>",
];
pub const ITEM_SUBJECTS: &[&str] = &["catalogue.published.>"];

#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    Discovered(ProductDiscovered),
    Requested(JobRequested),
    Started(JobStarted),
    Failed(JobFailed),
    Dead(JobDead),
    Succeeded(JobSucceeded),
    Published(ItemPublished),
}

/// Why a message is no event the watchdog can read. Never worth retrying.
#[derive(Debug, thiserror::Error)]
pub enum WatchEventError {
    #[error("subject {0} carries no event the watchdog reads")]
    UnexpectedSubject(String),
    #[error("message on {subject} is not a valid {expected} event")]
    Decode {
        subject: String,
        expected: &'static str,
        #[source]
        source: DecodeError,
    },
}

impl WatchEvent {
    /// Decodes the event on `subject`, which says which type belongs there.
    pub fn decode(subject: &str, body: &[u8]) -> Result<Self, WatchEventError> {
        let mut tokens = subject.split('.');
        match (tokens.next(), tokens.next()) {
            (Some("products"), Some("discovered")) => typed(subject, body).map(Self::Discovered),
            (Some("jobs"), Some("requested")) => typed(subject, body).map(Self::Requested),
            (Some("jobs"), Some("started")) => typed(subject, body).map(Self::Started),
            (Some("jobs"), Some("failed")) => typed(subject, body).map(Self::Failed),
            (Some("jobs"), Some("dead")) => typed(subject, body).map(Self::Dead),
            (Some("jobs"), Some("succeeded")) => typed(subject, body).map(Self::Succeeded),
            (Some("catalogue"), Some("published")) => typed(subject, body).map(Self::Published),
            _ => Err(WatchEventError::UnexpectedSubject(subject.to_owned())),
        }
    }

    /// What this event tells the watchdog, record by record. Products and feeds appear only
    /// when configured, so an unwatched collection costs no writes.
    pub fn changes(&self, config: &WatchdogConfig) -> Vec<Change> {
        let job = |job_id: &str, fact| Change::Job {
            job_id: job_id.to_owned(),
            fact,
        };
        match self {
            Self::Discovered(product) => discovered(product, config),
            Self::Requested(request) => requested(request, config),
            Self::Started(started) => vec![job(
                &started.job_id,
                JobFact::Started {
                    attempt: started.attempt,
                },
            )],
            Self::Failed(failed) => vec![job(
                &failed.job_id,
                JobFact::Failed(Failure {
                    attempt: failed.attempt,
                    reason: failed.reason.clone(),
                    will_retry: failed.will_retry,
                }),
            )],
            Self::Dead(dead) => vec![job(
                &dead.job_id,
                JobFact::Dead(Dead {
                    attempts: dead.attempts,
                    reason: dead.reason.clone(),
                }),
            )],
            Self::Succeeded(succeeded) => vec![job(&succeeded.job_id, JobFact::Succeeded)],
            Self::Published(item) => published(item, config),
        }
    }
}

fn typed<T: EventData>(subject: &str, body: &[u8]) -> Result<T, WatchEventError> {
    RawEvent::from_json(body)
        .and_then(RawEvent::into_typed::<T>)
        .map(|event| event.data)
        .map_err(|source| WatchEventError::Decode {
            subject: subject.to_owned(),
            expected: T::TYPE,
            source,
        })
}

fn discovered(product: &ProductDiscovered, config: &WatchdogConfig) -> Vec<Change> {
    let mut changes = Vec::new();
    if config.cadence(&product.feed).is_some() {
        changes.push(Change::Feed {
            feed: product.feed.clone(),
            fact: FeedFact::ProductSeen {
                key: product.key.clone(),
                published_at: product.published_at,
            },
        });
    }
    if let Some(deadline) = config.collection_deadline(&product.collection) {
        changes.push(Change::Product {
            key: product.key.clone(),
            fact: ProductFact::Discovered(Discovered {
                collection: product.collection.clone(),
                feed: product.feed.clone(),
                published_at: product.published_at,
                deadline: product.published_at
                    + TimeDelta::from_std(deadline).unwrap_or(TimeDelta::MAX),
            }),
        });
    }
    changes
}

fn requested(request: &JobRequested, config: &WatchdogConfig) -> Vec<Change> {
    let job = Change::Job {
        job_id: request.job_id.clone(),
        fact: JobFact::Requested(Request {
            rule: request.rule.clone(),
            processor: request.processor.clone(),
            products: request
                .inputs
                .iter()
                .map(|input| input.key.clone())
                .collect(),
            deadline: request.deadline,
        }),
    };
    // Recorded even when the discovery is not handled yet, so it never looks unselected.
    let selected = request
        .inputs
        .iter()
        .filter(|input| config.collection_deadline(&input.collection).is_some())
        .map(|input| Change::Product {
            key: input.key.clone(),
            fact: ProductFact::Triggered {
                job_id: request.job_id.clone(),
            },
        });
    std::iter::once(job).chain(selected).collect()
}

fn published(item: &ItemPublished, config: &WatchdogConfig) -> Vec<Change> {
    let job = Change::Job {
        job_id: item.job_id.clone(),
        fact: JobFact::Published {
            item_id: item.item_id.clone(),
        },
    };
    // Items name no input collection: with none watched, no input can be.
    let inputs = item
        .input_keys
        .iter()
        .filter(|_| !config.collections.is_empty())
        .map(|key| Change::Product {
            key: key.clone(),
            fact: ProductFact::Published,
        });
    std::iter::once(job).chain(inputs).collect()
}

#[cfg(test)]
mod tests;
