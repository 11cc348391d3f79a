use std::sync::{
    Mutex,
    atomic::{AtomicBool, Ordering},
};

use super::*;
use crate::watchdog::{
    change::{Change, FeedFact, JobFact},
    fixtures::{at, config},
    state::{Request, Watch},
    store::MemoryBucket,
};

/// Keeps what it is given; refuses the next alert when told to, as an unreachable stream would.
#[derive(Default)]
struct Sink {
    raised: Mutex<Vec<Alert>>,
    refuse_next: AtomicBool,
}

impl AlertSink for Sink {
    async fn raise(&self, alert: Alert) -> Result<(), WatchdogError> {
        if self.refuse_next.swap(false, Ordering::SeqCst) {
            return Err(WatchdogError::Contended {
                key: "alerts".into(),
                attempts: 1,
            });
        }
        self.raised.lock().unwrap().push(alert);
        Ok(())
    }
}

impl Sink {
    fn kinds(&self) -> Vec<(String, String)> {
        self.raised
            .lock()
            .unwrap()
            .iter()
            .map(|alert| (alert.kind.clone(), alert.about.clone()))
            .collect()
    }
}

async fn requested(bucket: &MemoryBucket, job_id: &str, deadline: &str) {
    let change = Change::Job {
        job_id: job_id.into(),
        fact: JobFact::Requested(Request {
            rule: "snow-s2".into(),
            processor: "snow-cover".into(),
            products: vec!["S2A_X".into()],
            deadline: Some(at(deadline)),
        }),
    };
    store::record(bucket, &change, at("2026-02-01T01:00:00Z"))
        .await
        .unwrap();
}

fn pair(kind: &str, about: &str) -> (String, String) {
    (kind.to_owned(), about.to_owned())
}

#[tokio::test]
async fn each_due_alert_is_raised_once_however_often_the_check_runs() {
    let bucket = MemoryBucket::default();
    let sink = Sink::default();
    requested(&bucket, "late", "2026-02-01T03:00:00Z").await;
    requested(&bucket, "on-time", "2026-02-01T09:00:00Z").await;
    for now in [
        "2026-02-01T03:00:30Z",
        "2026-02-01T03:01:00Z",
        "2026-02-01T03:01:30Z",
    ] {
        check(&bucket, &sink, &config(), at(now)).await.unwrap();
    }
    assert_eq!(sink.kinds(), vec![pair("product-overdue", "late")]);
    let Some(Watch::Job(late)) = bucket.watch("job.late") else {
        panic!("record gone");
    };
    assert_eq!(late.overdue.unwrap().at, at("2026-02-01T03:00:30Z"));
}

#[tokio::test]
async fn an_alert_that_could_not_be_raised_is_raised_by_the_next_check() {
    let bucket = MemoryBucket::default();
    let sink = Sink::default();
    requested(&bucket, "late", "2026-02-01T03:00:00Z").await;
    sink.refuse_next.store(true, Ordering::SeqCst);
    check(&bucket, &sink, &config(), at("2026-02-01T03:00:30Z"))
        .await
        .unwrap();
    assert_eq!(sink.kinds(), vec![]);
    let Some(Watch::Job(unmarked)) = bucket.watch("job.late") else {
        panic!("record gone");
    };
    assert_eq!(unmarked.overdue, None);
    check(&bucket, &sink, &config(), at("2026-02-01T03:01:00Z"))
        .await
        .unwrap();
    assert_eq!(sink.kinds(), vec![pair("product-overdue", "late")]);
}

#[tokio::test]
async fn a_record_that_cannot_be_read_holds_up_no_other() {
    let bucket = MemoryBucket::default();
    let sink = Sink::default();
    bucket.put_raw(
        "job.aaa-broken",
        b"{\"watch\":\"job\",\"from\":\"a newer watchdog\"}",
    );
    requested(&bucket, "late", "2026-02-01T03:00:00Z").await;
    check(&bucket, &sink, &config(), at("2026-02-01T03:00:30Z"))
        .await
        .unwrap();
    assert_eq!(sink.kinds(), vec![pair("product-overdue", "late")]);
    assert!(
        bucket
            .keys()
            .await
            .unwrap()
            .contains(&"job.aaa-broken".to_owned())
    );
}

#[tokio::test]
async fn done_records_are_deleted_and_feeds_judged_in_the_same_pass() {
    let bucket = MemoryBucket::default();
    let sink = Sink::default();
    requested(&bucket, "published", "2026-02-01T03:00:00Z").await;
    let published = Change::Job {
        job_id: "published".into(),
        fact: JobFact::Published {
            item_id: "item".into(),
        },
    };
    store::record(&bucket, &published, at("2026-02-01T02:00:00Z"))
        .await
        .unwrap();
    let watched = Change::Feed {
        feed: "cdse".into(),
        fact: FeedFact::Watched,
    };
    store::record(&bucket, &watched, at("2026-02-01T00:00:00Z"))
        .await
        .unwrap();

    check(&bucket, &sink, &config(), at("2026-02-02T02:00:00Z"))
        .await
        .unwrap();
    assert_eq!(bucket.keys().await.unwrap(), vec!["feed.cdse".to_owned()]);
    assert_eq!(sink.kinds(), vec![pair("feed-silent", "cdse")]);
}
