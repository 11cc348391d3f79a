//! The operator's moves against an in-memory bucket and stream, where another writer can be
//! made to win a compare-and-set at exactly the wrong moment.

use std::{collections::HashMap, sync::Mutex};

use async_nats::HeaderMap;
use chrono::{DateTime, TimeDelta, Utc};
use nrt_events::{Envelope, JobRequested};
use processor_launcher::{
    JobRecord, JobState,
    store::{StoreError, Versioned},
};

use super::*;

/// Someone else's write, made just before the next compare-and-set.
type Interloper = Box<dyn FnOnce(&JobRecord) -> JobRecord + Send>;

#[derive(Default)]
struct MemoryRecords {
    records: Mutex<HashMap<String, Versioned>>,
    last_revision: Mutex<u64>,
    interloper: Mutex<Option<Interloper>>,
}

impl MemoryRecords {
    fn with(record: JobRecord) -> Self {
        let records = Self::default();
        records.put(record);
        records
    }

    fn put(&self, record: JobRecord) -> u64 {
        let mut last = self.last_revision.lock().unwrap();
        *last += 1;
        let versioned = Versioned {
            record,
            revision: *last,
        };
        let mut records = self.records.lock().unwrap();
        records.insert(versioned.record.job_id.clone(), versioned);
        *last
    }

    fn stored(&self, job_id: &str) -> Versioned {
        self.records.lock().unwrap()[job_id].clone()
    }

    fn interfere(&self, write: impl FnOnce(&JobRecord) -> JobRecord + Send + 'static) {
        *self.interloper.lock().unwrap() = Some(Box::new(write));
    }
}

impl JobRecords for MemoryRecords {
    async fn get(&self, job_id: &str) -> Result<Option<Versioned>, StoreError> {
        Ok(self.records.lock().unwrap().get(job_id).cloned())
    }

    async fn update(&self, record: &JobRecord, revision: u64) -> Result<Option<u64>, StoreError> {
        let interloper = self.interloper.lock().unwrap().take();
        if let Some(write) = interloper {
            let theirs = write(&self.stored(&record.job_id).record);
            self.put(theirs);
        }
        if self.stored(&record.job_id).revision != revision {
            return Ok(None);
        }
        Ok(Some(self.put(record.clone())))
    }
}

/// Stream JOBS in memory: sequence n is `messages[n - 1]`, `None` once deleted.
#[derive(Default)]
struct MemoryRequests {
    messages: Mutex<Vec<Option<StoredRequest>>>,
    message_ids: Mutex<HashMap<String, u64>>,
    is_down: Mutex<bool>,
}

impl MemoryRequests {
    fn append(&self, subject: &str, payload: Vec<u8>) -> u64 {
        let mut messages = self.messages.lock().unwrap();
        let sequence = messages.len() as u64 + 1;
        messages.push(Some(StoredRequest {
            subject: subject.to_owned(),
            sequence,
            headers: HeaderMap::new(),
            payload: payload.into(),
        }));
        sequence
    }

    fn delete(&self, sequence: u64) {
        self.messages.lock().unwrap()[sequence as usize - 1] = None;
    }

    fn at(&self, sequence: u64) -> StoredRequest {
        self.messages.lock().unwrap()[sequence as usize - 1]
            .clone()
            .unwrap()
    }

    fn len(&self) -> usize {
        self.messages.lock().unwrap().len()
    }
}

impl JobRequests for MemoryRequests {
    async fn read(&self, sequence: u64) -> Result<Option<StoredRequest>, async_nats::Error> {
        let messages = self.messages.lock().unwrap();
        Ok(messages.get(sequence as usize - 1).cloned().flatten())
    }

    async fn republish(
        &self,
        request: &StoredRequest,
        message_id: &str,
    ) -> Result<Published, async_nats::Error> {
        if *self.is_down.lock().unwrap() {
            return Err("no responders".into());
        }
        let known = self.message_ids.lock().unwrap().get(message_id).copied();
        let (sequence, duplicate) = match known {
            Some(sequence) => (sequence, true),
            None => {
                let sequence = self.append(&request.subject, request.payload.to_vec());
                let mut ids = self.message_ids.lock().unwrap();
                ids.insert(message_id.to_owned(), sequence);
                (sequence, false)
            }
        };
        Ok(Published {
            subject: request.subject.clone(),
            sequence,
            duplicate,
        })
    }
}

const JOB: &str = "5f0c2a9e4b7d4c1e8a3b6d2f9e1c7a40";
const SUBJECT: &str = "jobs.requested.footprint";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn request_of(job_id: &str) -> Vec<u8> {
    Envelope::new(
        "/nrt-mesh/trigger",
        JobRequested {
            job_id: job_id.to_owned(),
            rule: "s2-footprint".into(),
            processor: "footprint".into(),
            processor_version: "1.0.0".into(),
            inputs: Vec::new(),
            parameters: Default::default(),
            priority: 0,
            deadline: None,
        },
    )
    .to_json()
}

fn record(state: JobState, attempt: u32, request_sequence: u64) -> JobRecord {
    let created = at("2026-03-01T10:00:00Z");
    JobRecord {
        state,
        attempt,
        updated_at: at("2026-03-01T10:05:00Z"),
        ..JobRecord::requested(JOB, "footprint", "1.0.0", request_sequence, created)
    }
}

fn running(attempt: u32) -> JobRecord {
    JobRecord {
        owner: Some("launcher-a#2".into()),
        lease_expires_at: Some(at("2026-03-01T10:06:00Z")),
        ..record(JobState::Running, attempt, 1)
    }
}

/// A bucket holding a job in `found`, and a stream holding its request at sequence 1.
fn mesh(found: JobRecord) -> (MemoryRecords, MemoryRequests) {
    let requests = MemoryRequests::default();
    requests.append(SUBJECT, request_of(JOB));
    (MemoryRecords::with(found), requests)
}

const NOW: &str = "2026-03-01T11:00:00Z";

#[tokio::test]
async fn a_cancel_kills_a_running_job_and_remembers_the_reason() {
    let (records, _) = mesh(running(2));
    let outcome = cancel(&records, JOB, "wrong inputs", at(NOW))
        .await
        .unwrap();
    assert_eq!(outcome.before, running(2));
    let stored = records.stored(JOB).record;
    assert_eq!(stored, outcome.after);
    assert_eq!(stored.state, JobState::Dead);
    assert!(stored.cancelled);
    assert_eq!(stored.owner, None);
    assert_eq!(
        stored.last_error.unwrap().reason,
        "cancelled by an operator: wrong inputs"
    );
}

#[tokio::test]
async fn a_cancel_that_loses_to_a_lease_renewal_reads_again_and_cancels() {
    let (records, _) = mesh(running(2));
    records.interfere(|found| JobRecord {
        lease_expires_at: Some(at("2026-03-01T10:07:00Z")),
        ..found.clone()
    });
    let outcome = cancel(&records, JOB, "wrong inputs", at(NOW))
        .await
        .unwrap();
    assert_eq!(
        outcome.before.lease_expires_at,
        Some(at("2026-03-01T10:07:00Z")),
        "decided on the renewed record"
    );
    let stored = records.stored(JOB);
    assert_eq!(stored.revision, 3, "created, renewed, cancelled");
    assert!(stored.record.cancelled);
}

#[tokio::test]
async fn a_cancel_that_loses_to_success_refuses_and_leaves_the_success() {
    let (records, _) = mesh(running(2));
    records.interfere(|found| found.moved_to(JobState::Succeeded, at(NOW)).unwrap());
    let error = cancel(&records, JOB, "too late", at(NOW))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("job {JOB} is succeeded: a finished job cannot be cancelled")
    );
    assert_eq!(records.stored(JOB).record.state, JobState::Succeeded);
}

#[tokio::test]
async fn an_unknown_job_is_named_with_the_bucket() {
    let (records, requests) = mesh(running(1));
    let error = cancel(&records, "nope", "x", at(NOW)).await.unwrap_err();
    assert_eq!(error.to_string(), "no job nope in bucket jobs");
    let error = relaunch(&records, &requests, "nope", at(NOW))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "no job nope in bucket jobs");
}

#[tokio::test]
async fn a_relaunch_requests_a_dead_job_again_and_republishes_its_request_under_a_new_id() {
    let (records, requests) = mesh(record(JobState::Dead, 3, 1));
    let outcome = relaunch(&records, &requests, JOB, at(NOW)).await.unwrap();
    let stored = records.stored(JOB);
    assert_eq!(stored.record.state, JobState::Requested);
    assert_eq!(stored.record.relaunched_after, 3);
    let published = Published {
        subject: SUBJECT.into(),
        sequence: 2,
        duplicate: false,
    };
    assert_eq!(
        outcome,
        Retried {
            found: record(JobState::Dead, 3, 1),
            relaunched: true,
            published,
        }
    );
    assert_eq!(requests.at(2).payload, requests.at(1).payload);
    let ids = requests.message_ids.lock().unwrap().clone();
    assert_eq!(ids, HashMap::from([(format!("{JOB}.relaunch.2"), 2)]));
}

#[tokio::test]
async fn a_relaunch_that_loses_to_another_operator_republishes_under_their_revision() {
    let (records, requests) = mesh(record(JobState::Dead, 3, 1));
    records.interfere(|found| found.relaunched(at(NOW)).unwrap());
    let outcome = relaunch(&records, &requests, JOB, at(NOW)).await.unwrap();
    assert!(!outcome.relaunched, "relaunched by the other operator");
    assert_eq!(outcome.found.state, JobState::Requested);
    assert!(!outcome.published.duplicate);
    let ids = requests.message_ids.lock().unwrap().clone();
    assert_eq!(
        ids,
        HashMap::from([(format!("{JOB}.relaunch.2"), 2)]),
        "the id of the other operator's relaunch, which JetStream stores once"
    );
}

#[tokio::test]
async fn a_relaunch_whose_publish_failed_is_published_by_the_next_retry_once() {
    let (records, requests) = mesh(record(JobState::Dead, 3, 1));
    *requests.is_down.lock().unwrap() = true;
    let error = relaunch(&records, &requests, JOB, at(NOW))
        .await
        .unwrap_err();
    assert_eq!(
        nrt_nats::describe_error(&error),
        format!(
            "job {JOB} is requested again but its request could not be published on {SUBJECT}: \
             run `nrtmesh retry {JOB}` again to publish it: no responders"
        )
    );
    assert_eq!(records.stored(JOB).record.state, JobState::Requested);

    *requests.is_down.lock().unwrap() = false;
    let outcome = relaunch(&records, &requests, JOB, at(NOW)).await.unwrap();
    assert!(!outcome.relaunched);
    assert_eq!(
        (outcome.published.sequence, outcome.published.duplicate),
        (2, false)
    );
    let again = relaunch(&records, &requests, JOB, at(NOW)).await.unwrap();
    assert!(!again.relaunched);
    assert_eq!(
        (again.published.sequence, again.published.duplicate),
        (2, true)
    );
    assert_eq!(requests.len(), 2, "one republished request in the stream");
}

#[tokio::test]
async fn a_running_job_is_not_retried() {
    let (records, requests) = mesh(running(1));
    let error = relaunch(&records, &requests, JOB, at(NOW))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("job {JOB} is running, not dead: only a dead job can be retried")
    );
    assert_eq!(records.stored(JOB).record, running(1));
    assert_eq!(requests.len(), 1);
}

#[tokio::test]
async fn a_dead_job_whose_request_is_gone_stays_dead() {
    let (records, requests) = mesh(record(JobState::Dead, 3, 1));
    requests.delete(1);
    let error = relaunch(&records, &requests, JOB, at(NOW))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "the request of job {JOB} is gone from stream JOBS (sequence 1, past the stream's \
             retention or deleted): the job stays dead"
        )
    );
    assert_eq!(records.stored(JOB).revision, 1, "record untouched");
}

#[tokio::test]
async fn a_message_that_is_another_job_s_request_is_not_republished() {
    let records = MemoryRecords::with(record(JobState::Dead, 3, 2));
    let requests = MemoryRequests::default();
    requests.append(SUBJECT, request_of(JOB));
    requests.append(SUBJECT, request_of("another-job"));
    let error = relaunch(&records, &requests, JOB, at(NOW))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("stream JOBS sequence 2 holds {SUBJECT}, not the request of job {JOB}")
    );
    assert_eq!(records.stored(JOB).record.state, JobState::Dead);
}

#[test]
fn a_republished_request_keeps_the_event_s_headers_under_a_new_message_id() {
    let mut original = HeaderMap::new();
    original.insert("Nats-Msg-Id", "job-requested:abc");
    original.insert("Nats-Expected-Stream", "JOBS");
    original.insert("Content-Type", "application/json");
    original.insert(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    );
    let headers = requests::republished_headers(&original, "abc.relaunch.7");
    assert_eq!(
        headers.get("Nats-Msg-Id").unwrap().as_str(),
        "abc.relaunch.7"
    );
    assert!(headers.get("Nats-Expected-Stream").is_none());
    assert_eq!(
        headers.get("Content-Type").unwrap().as_str(),
        "application/json"
    );
    assert_eq!(
        headers.get("traceparent").unwrap().as_str(),
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    );
}

#[test]
fn a_filter_keeps_records_matching_every_criterion() {
    let dead = record(JobState::Dead, 3, 1);
    let filter = Filter {
        states: vec![JobState::Dead, JobState::Failed],
        processor: Some("footprint".into()),
        updated_since: Some(at("2026-03-01T10:05:00Z")),
    };
    assert!(filter.matches(&dead));
    assert!(Filter::default().matches(&dead));
    assert!(!filter.matches(&running(1)));
    let other = JobRecord {
        processor: "snow-cover".into(),
        ..dead.clone()
    };
    assert!(!filter.matches(&other));
    let older = JobRecord {
        updated_at: at("2026-03-01T10:04:59Z"),
        ..dead
    };
    assert!(!filter.matches(&older));
}

#[test]
fn only_jobs_dead_of_their_failures_are_retry_candidates() {
    let dead = record(JobState::Dead, 3, 1);
    assert!(is_retry_candidate(&dead));
    let requested = dead.relaunched(at(NOW)).unwrap();
    assert!(!is_retry_candidate(&requested));
    let cancelled = running(1).cancelled("no", at(NOW)).unwrap();
    assert!(!is_retry_candidate(&cancelled));
}

#[test]
fn windows_are_counts_of_seconds_minutes_hours_days_or_weeks() {
    assert_eq!(parse_since("90s"), Ok(TimeDelta::seconds(90)));
    assert_eq!(parse_since("30m"), Ok(TimeDelta::minutes(30)));
    assert_eq!(parse_since("6h"), Ok(TimeDelta::hours(6)));
    assert_eq!(parse_since("2d"), Ok(TimeDelta::days(2)));
    assert_eq!(parse_since("1w"), Ok(TimeDelta::weeks(1)));
    for wrong in ["", "6", "h", "0h", "-1h", "6x", "6hh", "1.5h", "6é"] {
        assert_eq!(
            parse_since(wrong),
            Err(format!("{wrong:?} is not a duration such as 30m, 6h or 2d")),
            "{wrong}"
        );
    }
}

#[test]
fn states_are_spelled_as_stored_and_a_wrong_one_lists_them() {
    assert_eq!(parse_state("retrying"), Ok(JobState::Retrying));
    let error = parse_state("zombie").unwrap_err();
    assert!(
        error.starts_with("unknown variant `zombie`, expected one of `requested`"),
        "{error}"
    );
}
