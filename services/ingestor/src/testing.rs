//! In-memory stand-ins for the feed, JetStream and the cursor bucket, for unit tests.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use nrt_events::{Alert, ProductDiscovered};
use nrt_nats::async_nats::jetstream::context::{PublishError, PublishErrorKind};
use url::Url;

use crate::{
    Error,
    cursor::{CasOutcome, Cursor, CursorStore, StoredCursor},
    http::FeedSource,
    odata::Page,
    poller::ProductSink,
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
    pub published: Mutex<Vec<ProductDiscovered>>,
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
    async fn publish(&self, product: ProductDiscovered) -> Result<bool, Error> {
        self.check_reachable("products.discovered")
            .map_err(|source| Error::Publish {
                key: product.key.clone(),
                source,
            })?;
        let mut published = self.published.lock().unwrap();
        let is_new = !published.iter().any(|seen| seen.key == product.key);
        published.push(product);
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

/// Answers with scripted pages in order, then with empty pages; records what was asked.
#[derive(Default)]
pub struct ScriptedSource {
    pub answers: Mutex<VecDeque<Result<Page, Error>>>,
    pub requested: Mutex<Vec<Url>>,
}

impl ScriptedSource {
    pub fn answering(answers: impl IntoIterator<Item = Result<Page, Error>>) -> Self {
        Self {
            answers: Mutex::new(answers.into_iter().collect()),
            requested: Mutex::default(),
        }
    }
}

impl FeedSource for ScriptedSource {
    async fn fetch(&self, url: &Url) -> Result<Page, Error> {
        self.requested.lock().unwrap().push(url.clone());
        self.answers.lock().unwrap().pop_front().unwrap_or(Ok(Page {
            entries: Vec::new(),
            next_link: None,
        }))
    }
}
