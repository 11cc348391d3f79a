//! Events and settings the watchdog's unit tests share.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Utc};
use nrt_events::{
    ItemPublished, JobDead, JobFailed, JobInput, JobRequested, JobStarted, JobSucceeded,
    ProductDiscovered,
};

use super::{
    CollectionDeadline, FeedCadence, WatchdogConfig,
    change::{Change, JobFact},
    state::{Failure, JobWatch, Request, Watch},
};

pub const RULE: &str = "snow-s2";
pub const PROCESSOR: &str = "snow-cover";

pub fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// Watches feed `cdse` (hourly) and collection `SENTINEL-1` (2 h to be selected).
pub fn config() -> WatchdogConfig {
    WatchdogConfig {
        feeds: BTreeMap::from([(
            "cdse".to_owned(),
            FeedCadence {
                expected_every: Duration::from_secs(3600),
            },
        )]),
        collections: BTreeMap::from([(
            "SENTINEL-1".to_owned(),
            CollectionDeadline {
                deadline: Duration::from_secs(2 * 3600),
            },
        )]),
        ..WatchdogConfig::default()
    }
}

pub fn product(key: &str, collection: &str, published_at: &str) -> ProductDiscovered {
    ProductDiscovered {
        key: key.into(),
        feed_id: format!("feed-id-{key}"),
        name: format!("{key}.SAFE"),
        collection: collection.into(),
        product_type: "S2MSI1C".into(),
        platform: None,
        sensing_start: at("2026-02-01T00:00:00Z"),
        sensing_end: at("2026-02-01T00:00:10Z"),
        published_at: at(published_at),
        footprint: None,
        size: None,
        checksums: Vec::new(),
        s3_uri: None,
        href: None,
        attributes: BTreeMap::new(),
        feed: "cdse".into(),
    }
}

pub fn requested(
    job_id: &str,
    inputs: &[&ProductDiscovered],
    deadline: Option<&str>,
) -> JobRequested {
    JobRequested {
        job_id: job_id.into(),
        rule: RULE.into(),
        processor: PROCESSOR.into(),
        processor_version: "1.2.0".into(),
        inputs: inputs
            .iter()
            .map(|product| JobInput::from(*product))
            .collect(),
        parameters: BTreeMap::new(),
        priority: 0,
        deadline: deadline.map(at),
    }
}

pub fn started(job_id: &str, attempt: u32) -> JobStarted {
    JobStarted {
        job_id: job_id.into(),
        processor: PROCESSOR.into(),
        processor_version: "1.2.0".into(),
        attempt,
        backend: "local".into(),
        input_keys: Vec::new(),
        started_at: at("2026-02-01T01:00:00Z"),
    }
}

pub fn failed(job_id: &str, attempt: u32, will_retry: bool) -> JobFailed {
    JobFailed {
        job_id: job_id.into(),
        rule: RULE.into(),
        processor: PROCESSOR.into(),
        processor_version: "1.2.0".into(),
        attempt,
        input_keys: Vec::new(),
        reason: "exited with code 3".into(),
        exit_code: Some(3),
        log_tail: Vec::new(),
        will_retry,
    }
}

pub fn dead(job_id: &str, attempts: u32) -> JobDead {
    JobDead {
        job_id: job_id.into(),
        rule: RULE.into(),
        processor: PROCESSOR.into(),
        processor_version: "1.2.0".into(),
        attempts,
        input_keys: Vec::new(),
        reason: format!("used its {attempts} attempts"),
    }
}

pub fn succeeded(job_id: &str) -> JobSucceeded {
    JobSucceeded {
        job_id: job_id.into(),
        rule: RULE.into(),
        processor: PROCESSOR.into(),
        processor_version: "1.2.0".into(),
        attempt: 1,
        inputs: Vec::new(),
        outputs: Vec::new(),
        metadata: None,
        started_at: at("2026-02-01T01:00:00Z"),
        finished_at: at("2026-02-01T01:10:00Z"),
    }
}

pub fn item(job_id: &str, input_keys: &[&str]) -> ItemPublished {
    ItemPublished {
        item_id: format!("item-of-{job_id}"),
        collection: "snow-cover".into(),
        item_href: format!("s3://catalogue/snow-cover/items/item-of-{job_id}.json"),
        job_id: job_id.into(),
        processor: PROCESSOR.into(),
        input_keys: input_keys.iter().map(|key| (*key).to_owned()).collect(),
        datetime: None,
        bbox: None,
        published_at: at("2026-02-01T01:20:00Z"),
    }
}

/// The job of the record-level tests.
pub const JOB: &str = "0f3a9c";

pub fn job(fact: JobFact) -> Change {
    Change::Job {
        job_id: JOB.into(),
        fact,
    }
}

pub fn request(deadline: Option<&str>) -> JobFact {
    JobFact::Requested(Request {
        rule: "snow-s2".into(),
        processor: "snow-cover".into(),
        products: vec!["S2A_X".into()],
        deadline: deadline.map(at),
    })
}

pub fn failure(attempt: u32, will_retry: bool) -> JobFact {
    JobFact::Failed(Failure {
        attempt,
        reason: "exited with code 3".into(),
        will_retry,
    })
}

/// Applies each change in turn at `now`, as the handler would, keeping unchanged records.
pub fn replay(changes: &[Change], now: DateTime<Utc>) -> Option<Watch> {
    changes.iter().fold(None, |current, change| {
        change.apply(current.as_ref(), now).or(current)
    })
}

pub fn job_of(watch: Option<Watch>) -> JobWatch {
    match watch {
        Some(Watch::Job(job)) => job,
        other => panic!("not a job record: {other:?}"),
    }
}
