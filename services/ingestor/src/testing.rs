//! In-memory stand-ins for the feed, JetStream and the cursor bucket, for unit tests.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use chrono::{DateTime, Utc};
use nrt_events::Alert;
use nrt_nats::async_nats::jetstream::context::{PublishError, PublishErrorKind};
use serde_json::value::RawValue;

use crate::{
    Error,
    config::FeedConfig,
    cursor::{CasOutcome, Cursor, CursorStore, StoredCursor},
    feed::{Discovery, FeedEntry, FeedPage, PolledFeed},
    http::HttpRequest,
    odata::OdataFeed,
    sink::ProductSink,
};

/// A bucket with revisions, like JetStream KV.
#[derive(Default)]
pub struct MemoryCursors(pub Mutex<HashMap<String, StoredCursor>>);

impl CursorStore for MemoryCursors {
    async fn load(&self, feed: &str) -> Result<Option<StoredCursor>, Error> {
        Ok(self.0.lock().unwrap().get(feed).cloned())
    }

    async fn compare_and_set(
        &self,
        feed: &str,
        cursor: &Cursor,
        expected: Option<u64>,
    ) -> Result<CasOutcome, Error> {
        let mut map = self.0.lock().unwrap();
        let current = map.get(feed).map(|stored| stored.revision);
        if current != expected {
            return Ok(CasOutcome::Conflict);
        }
        let revision = current.unwrap_or(0) + 1;
        let stored = StoredCursor {
            cursor: cursor.clone(),
            revision,
        };
        map.insert(feed.to_owned(), stored);
        Ok(CasOutcome::Committed { revision })
    }
}

/// Records what would be published; can be told to fail like a NATS server that went away.
#[derive(Default)]
pub struct MemorySink {
    pub published: Mutex<Vec<Discovery>>,
    /// (origin, entity, reason)
    pub dead_letters: Mutex<Vec<(String, String, String)>>,
    pub alerts: Mutex<Vec<Alert>>,
    pub unreachable: AtomicBool,
}

impl MemorySink {
    fn check_reachable(&self, subject: &str) -> Result<(), nrt_nats::PublishError> {
        if self.unreachable.load(Ordering::SeqCst) {
            return Err(nrt_nats::PublishError {
                subject: subject.to_owned(),
                source: PublishError::new(PublishErrorKind::TimedOut),
            });
        }
        Ok(())
    }
}

impl ProductSink for MemorySink {
    async fn publish(&self, discovery: Discovery) -> Result<bool, Error> {
        self.check_reachable("products.discovered")
            .map_err(|source| Error::Publish {
                key: discovery.key().to_owned(),
                source,
            })?;
        let mut published = self.published.lock().unwrap();
        let is_new = !published.contains(&discovery);
        published.push(discovery);
        Ok(is_new)
    }

    async fn dead_letter(&self, origin: &str, entity: &[u8], reason: &str) -> Result<(), Error> {
        self.check_reachable("dlq.ingestor")
            .map_err(|source| Error::DeadLetter {
                url: origin.to_owned(),
                source,
            })?;
        self.dead_letters.lock().unwrap().push((
            origin.to_owned(),
            String::from_utf8(entity.to_vec()).unwrap(),
            reason.to_owned(),
        ));
        Ok(())
    }

    async fn alert(&self, alert: Alert) -> Result<(), Error> {
        self.alerts.lock().unwrap().push(alert);
        Ok(())
    }
}

impl MemorySink {
    /// The keys of what was published, in order.
    pub fn published_keys(&self) -> Vec<String> {
        let published = self.published.lock().unwrap();
        published.iter().map(|d| d.key().to_owned()).collect()
    }
}

/// An OData feed whose pages are scripted: answers them in order, then empty pages, and records
/// what was asked.
pub struct ScriptedFeed {
    pub odata: OdataFeed,
    pub answers: Mutex<VecDeque<Result<FeedPage<HttpRequest>, Error>>>,
    pub requested: Mutex<Vec<HttpRequest>>,
}

impl ScriptedFeed {
    pub fn answering(
        feed: &FeedConfig,
        answers: impl IntoIterator<Item = Result<FeedPage<HttpRequest>, Error>>,
    ) -> Self {
        let source = feed.odata().unwrap();
        Self {
            odata: OdataFeed::new(feed, source).unwrap(),
            answers: Mutex::new(answers.into_iter().collect()),
            requested: Mutex::default(),
        }
    }
}

impl PolledFeed for ScriptedFeed {
    type Request = HttpRequest;

    fn first_request(&self, since: DateTime<Utc>) -> HttpRequest {
        self.odata.first_request(since)
    }

    async fn fetch(&self, request: &HttpRequest) -> Result<FeedPage<HttpRequest>, Error> {
        self.requested.lock().unwrap().push(request.clone());
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(FeedPage {
                entries: Vec::new(),
                next: None,
            }))
    }

    fn read_entry(&self, entry: &RawValue, position: usize) -> FeedEntry {
        self.odata.read_entry(entry, position)
    }

    fn restarts_from_cursor(&self, next: &HttpRequest) -> bool {
        self.odata.restarts_from_cursor(next)
    }
}

/// The configuration `text` would load as, from a file as operators write it.
pub fn load_text(text: &str) -> Result<crate::Config, nrt_runtime::config::ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ingestor.toml");
    std::fs::write(&file, text).unwrap();
    crate::config::load(Some(&file))
}
