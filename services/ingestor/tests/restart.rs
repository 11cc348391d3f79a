//! The ingestor killed between the PubAck of a page's products and the commit of its cursor:
//! after the restart nothing is missed, and JetStream reports the products sent again as
//! duplicates instead of storing them twice.

mod common;

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use common::*;
use ingestor::{
    KvCursors, MeshSink,
    cursor::{CasOutcome, Cursor, CursorStore, StoredCursor},
    feed::Discovery,
    odata::OdataFeed,
    poller::FeedPoller,
    sink::ProductSink,
};
use nrt_events::{Alert, streams::KV_INGEST_CURSORS};
use nrt_nats::{Mesh, NatsConfig};
use nrt_runtime::{Readiness, Shutdown};
use tokio::sync::Notify;

/// The real cursor bucket, except that a commit after products never completes: the moment of
/// the kill, reported through `reached`.
struct KilledAtCommit {
    bucket: KvCursors,
    reached: Arc<Notify>,
}

impl CursorStore for KilledAtCommit {
    async fn load(&self, feed: &str) -> Result<Option<StoredCursor>, ingestor::Error> {
        self.bucket.load(feed).await
    }

    async fn compare_and_set(
        &self,
        feed: &str,
        cursor: &Cursor,
        expected: Option<u64>,
    ) -> Result<CasOutcome, ingestor::Error> {
        if expected.is_none() {
            // Creating the start cursor happens before any product: let it through.
            return self.bucket.compare_and_set(feed, cursor, expected).await;
        }
        self.reached.notify_one();
        std::future::pending().await
    }
}

/// The mesh's sink, remembering what JetStream said of each product: new or a repeat.
#[derive(Clone)]
struct Recording {
    sink: MeshSink,
    verdicts: Arc<Mutex<Vec<(String, bool)>>>,
    published_before_kill: Arc<AtomicBool>,
}

impl ProductSink for Recording {
    async fn publish(&self, discovery: Discovery) -> Result<bool, ingestor::Error> {
        let key = discovery.key().to_owned();
        let is_new = self.sink.publish(discovery).await?;
        self.verdicts.lock().unwrap().push((key, is_new));
        self.published_before_kill.store(true, Ordering::SeqCst);
        Ok(is_new)
    }

    async fn dead_letter(
        &self,
        origin: &str,
        entity: &[u8],
        reason: &str,
    ) -> Result<(), ingestor::Error> {
        self.sink.dead_letter(origin, entity, reason).await
    }

    async fn alert(&self, alert: Alert) -> Result<(), ingestor::Error> {
        self.sink.alert(alert).await
    }
}

#[tokio::test]
async fn a_kill_between_puback_and_cursor_commit_loses_nothing_and_repeats_are_duplicates() {
    let nats = nats().await;
    let replay = nrt_cdse_replay::ReplayFeed::recorded()
        .start(nrt_cdse_replay::ReplayOptions::default())
        .await
        .unwrap();
    let mut feed = replay_feed("cdse", &replay);
    feed.odata_mut().unwrap().page_size = 10;
    let odata = feed.odata_mut().unwrap().clone();
    let mesh = Mesh::connect(
        ingestor::SERVICE,
        &NatsConfig::local(nats.url()),
        Readiness::default(),
    )
    .await
    .unwrap();
    let bucket = KvCursors::new(mesh.key_value(KV_INGEST_CURSORS).await.unwrap());
    let recording = Recording {
        sink: MeshSink::new(&mesh),
        verdicts: Arc::default(),
        published_before_kill: Arc::default(),
    };

    // First life: the first page's ten products are acknowledged, then the commit hangs.
    let reached = Arc::new(Notify::new());
    let doomed = FeedPoller::new(
        feed.clone(),
        OdataFeed::new(&feed, &odata).unwrap(),
        recording.clone(),
        KilledAtCommit {
            bucket: bucket.clone(),
            reached: reached.clone(),
        },
    );
    let life = tokio::spawn(async move { doomed.poll(&Shutdown::default()).await });
    tokio::time::timeout(WAIT, reached.notified())
        .await
        .expect("the first page reaches its commit");
    life.abort();
    assert!(life.await.unwrap_err().is_cancelled(), "killed mid-commit");
    let first_life: Vec<(String, bool)> = recording.verdicts.lock().unwrap().drain(..).collect();
    assert_eq!(first_life.len(), 10);
    assert!(first_life.iter().all(|(_, is_new)| *is_new));
    assert_eq!(stored_product_count(&nats).await, 10);
    let cursor = stored_cursor(&nats, "cdse").await.unwrap();
    assert_eq!(
        cursor.published_at,
        "2000-01-01T00:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap(),
        "the cursor never moved past the page"
    );

    // Second life, from the same cursor.
    let restarted = FeedPoller::new(
        feed.clone(),
        OdataFeed::new(&feed, &odata).unwrap(),
        recording.clone(),
        bucket,
    );
    let report = restarted.poll(&Shutdown::default()).await.unwrap();
    assert_eq!(report.discovered, 39);
    let second_life = recording.verdicts.lock().unwrap().clone();
    let repeats: Vec<&String> = second_life
        .iter()
        .filter(|(_, is_new)| !is_new)
        .map(|(key, _)| key)
        .collect();
    let first_keys: Vec<&String> = first_life.iter().map(|(key, _)| key).collect();
    assert_eq!(
        repeats, first_keys,
        "exactly the first page came back, as duplicates"
    );
    assert_eq!(
        stored_product_count(&nats).await,
        39,
        "nothing missed, nothing twice"
    );
    assert_eq!(
        stored_cursor(&nats, "cdse").await.unwrap().published_at,
        golden_products()
            .values()
            .map(|p| p.published_at)
            .max()
            .unwrap()
    );
}
