//! The ingestor killed between the PubAck of a page's products and the commit of its cursor:
//! after the restart nothing is missed, and JetStream reports the products sent again as
//! duplicates instead of storing them twice.

mod common;

use std::sync::Arc;

use common::*;
use ingestor::{
    KvCursors, MeshSink,
    cursor::{CasOutcome, Cursor, CursorStore, StoredCursor},
    odata::OdataFeed,
    poller::FeedPoller,
};
use nrt_events::streams::KV_INGEST_CURSORS;
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
    let recording = RecordingSink::new(MeshSink::new(&mesh));

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
    let first_life = recording.take();
    assert_eq!(first_life.len(), 10);
    assert!(first_life.iter().all(|(_, is_new, _)| *is_new));
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
    let second_life = recording.take();
    let repeats: Vec<&String> = second_life
        .iter()
        .filter(|(_, is_new, _)| !is_new)
        .map(|(key, _, _)| key)
        .collect();
    let first_keys: Vec<&String> = first_life.iter().map(|(key, _, _)| key).collect();
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
