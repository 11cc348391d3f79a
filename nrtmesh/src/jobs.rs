//! `nrtmesh jobs`, `retry` and `cancel`: what an operator sees of and does to the launcher's job
//! records in the `jobs` bucket. Records change only by compare-and-set, as the launchers change
//! them, so an operator's move and a launcher's never overwrite each other.

pub mod cli;
pub mod display;
mod error;
mod operate;
mod requests;

use async_nats::jetstream::kv;
use chrono::{DateTime, TimeDelta, Utc};
use futures::TryStreamExt;
use processor_launcher::{
    JobRecord, JobState,
    store::{JobStore, StoreError},
};

pub use error::JobsError;
pub use operate::{Cancelled, JobRecords, Retried, cancel, relaunch};
pub use requests::{JobRequests, Published, StoredRequest, StreamRequests};

/// Records read at once while listing: enough to hide the round trips, few enough to be gentle
/// on the server.
const CONCURRENT_READS: usize = 32;

/// Which records a listing keeps; an empty or absent criterion keeps everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub states: Vec<JobState>,
    pub processor: Option<String>,
    pub updated_since: Option<DateTime<Utc>>,
}

impl Filter {
    pub fn matches(&self, record: &JobRecord) -> bool {
        (self.states.is_empty() || self.states.contains(&record.state))
            && self
                .processor
                .as_ref()
                .is_none_or(|processor| *processor == record.processor)
            && self
                .updated_since
                .is_none_or(|since| record.updated_at >= since)
    }
}

/// The records a filter kept, newest first, and those that could not be decoded.
#[derive(Debug, Default)]
pub struct Listing {
    pub records: Vec<JobRecord>,
    pub unreadable: Vec<StoreError>,
}

/// Reads every record of the bucket (one read per key, a few at a time) and keeps those
/// `filter` matches, most recently updated first.
pub async fn list(kv: &kv::Store, filter: &Filter) -> Result<Listing, JobsError> {
    let store = JobStore::new(kv.clone());
    let keys = kv.keys().await.map_err(JobsError::keys)?;
    let mut reads = keys
        .map_err(JobsError::keys)
        .map_ok(|job_id| {
            let store = store.clone();
            async move { Ok(store.get(&job_id).await) }
        })
        .try_buffer_unordered(CONCURRENT_READS);
    let mut listing = Listing::default();
    while let Some(read) = reads.try_next().await? {
        match read {
            Ok(Some(found)) if filter.matches(&found.record) => listing.records.push(found.record),
            // Deleted since the key was listed, or filtered out.
            Ok(_) => {}
            Err(error @ StoreError::Corrupt { .. }) => listing.unreadable.push(error),
            Err(error) => return Err(error.into()),
        }
    }
    listing.records.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then(a.job_id.cmp(&b.job_id))
    });
    Ok(listing)
}

/// Whether `retry --failed` relaunches `record`: dead because its attempts ran out, not because
/// an operator cancelled it.
pub fn is_retry_candidate(record: &JobRecord) -> bool {
    record.state == JobState::Dead && !record.cancelled
}

/// A state as the records spell it (`running`, `dead`, ...).
pub fn parse_state(text: &str) -> Result<JobState, String> {
    // Through serde, so the accepted names are exactly the stored ones and the error lists them.
    serde_json::from_value(serde_json::Value::from(text)).map_err(|error| error.to_string())
}

/// A look-back window such as `90s`, `30m`, `6h`, `2d` or `1w`.
pub fn parse_since(text: &str) -> Result<TimeDelta, String> {
    let invalid = || format!("{text:?} is not a duration such as 30m, 6h or 2d");
    let unit_at = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(invalid)?;
    let (count, unit) = text.split_at(unit_at);
    let count: i64 = count.parse().map_err(|_| invalid())?;
    let window = match unit {
        "s" => TimeDelta::try_seconds(count),
        "m" => TimeDelta::try_minutes(count),
        "h" => TimeDelta::try_hours(count),
        "d" => TimeDelta::try_days(count),
        "w" => TimeDelta::try_weeks(count),
        _ => None,
    };
    window
        .filter(|window| *window > TimeDelta::zero())
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests;
