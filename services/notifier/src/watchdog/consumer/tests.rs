use bytes::Bytes;
use nrt_events::{Envelope, EventData};
use nrt_nats::HandlerError;

use super::*;
use crate::watchdog::{
    fixtures::{at, config, product, requested},
    state::Watch,
    store::{MemoryBucket, Write},
};

fn delivery<T: EventData>(event: T) -> Delivery {
    let envelope = Envelope::new("/test", event);
    Delivery {
        subject: envelope.subject(),
        payload: Bytes::from(envelope.to_json()),
        headers: None,
        stream_sequence: 1,
        attempt: 1,
    }
}

fn handler<B>(bucket: B) -> Watchdog<B> {
    Watchdog {
        bucket,
        config: config(),
        clock: Clock::manual(at("2026-02-01T01:00:00Z")),
    }
}

#[tokio::test]
async fn a_request_is_stored_for_its_job_and_its_watched_inputs() {
    let handler = handler(MemoryBucket::default());
    let s1 = product("S1A_X", "SENTINEL-1", "2026-02-01T00:00:00Z");
    let s2 = product("S2A_X", "SENTINEL-2", "2026-02-01T00:00:00Z");
    let request = requested("job1", &[&s1, &s2], Some("2026-02-01T03:00:00Z"));
    handler.handle(&delivery(request)).await.unwrap();

    let Some(Watch::Job(job)) = handler.bucket.watch("job.job1") else {
        panic!("no job record");
    };
    assert_eq!(job.deadline(), Some(at("2026-02-01T03:00:00Z")));
    assert_eq!(job.updated_at, at("2026-02-01T01:00:00Z"));
    let keys = handler.bucket.keys().await.unwrap();
    assert_eq!(keys.len(), 2, "the job and its SENTINEL-1 input: {keys:?}");
}

#[tokio::test]
async fn a_redelivered_event_writes_nothing() {
    let handler = handler(MemoryBucket::default());
    let s2 = product("S2A_X", "SENTINEL-2", "2026-02-01T00:00:00Z");
    let request = delivery(requested("job1", &[&s2], Some("2026-02-01T03:00:00Z")));
    handler.handle(&request).await.unwrap();
    let before = handler.bucket.entry("job.job1").await.unwrap();
    handler.clock.advance(chrono::TimeDelta::minutes(5));
    handler.handle(&request).await.unwrap();
    assert_eq!(handler.bucket.entry("job.job1").await.unwrap(), before);
}

#[tokio::test]
async fn an_undecodable_event_is_passed_over_and_records_nothing() {
    let handler = handler(MemoryBucket::default());
    let mut broken = delivery(requested("job1", &[], None));
    broken.payload = Bytes::from_static(b"{\"specversion\":\"1.0\"");
    handler
        .handle(&broken)
        .await
        .expect("the event's own consumer dead-letters it; the watchdog reads on");
    assert_eq!(handler.bucket.keys().await.unwrap(), Vec::<String>::new());
}

/// A bucket some other writer always changes first.
struct Contested;

impl Bucket for Contested {
    async fn entry(&self, _: &str) -> Result<Option<(Bytes, u64)>, WatchdogError> {
        Ok(None)
    }

    async fn create(&self, _: &str, _: Bytes) -> Result<Write, WatchdogError> {
        Ok(Write::Conflict)
    }

    async fn update(&self, _: &str, _: Bytes, _: u64) -> Result<Write, WatchdogError> {
        Ok(Write::Conflict)
    }

    async fn purge(&self, _: &str, _: u64) -> Result<Write, WatchdogError> {
        Ok(Write::Conflict)
    }

    async fn keys(&self) -> Result<Vec<String>, WatchdogError> {
        Ok(Vec::new())
    }
}

#[tokio::test]
async fn a_record_that_keeps_changing_is_retried_later() {
    let handler = handler(Contested);
    let error = handler
        .handle(&delivery(requested("job1", &[], None)))
        .await
        .unwrap_err();
    assert!(error.is_transient());
    assert_eq!(
        error.to_string(),
        "key job.job1 of bucket watchdog changed under each of 10 attempts to update it"
    );
}
