//! The ingestor's side of JetStream: products, dead letters and alerts out through the mesh's
//! publisher (each awaiting its PubAck), cursors in the `ingest-cursors` bucket by
//! compare-and-set.

use bytes::Bytes;
use nrt_events::Alert;
use nrt_nats::{
    DeadLetterer, Mesh, Publisher,
    async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind},
};
use tracing::Instrument;

use crate::{
    Error,
    cursor::{CasOutcome, Cursor, CursorStore, StoredCursor},
    feed::Discovery,
    sink::ProductSink,
};

/// Publishes through the mesh as the ingestor.
#[derive(Clone)]
pub struct MeshSink {
    publisher: Publisher,
    dead_letters: DeadLetterer,
}

impl MeshSink {
    pub fn new(mesh: &Mesh) -> Self {
        Self {
            publisher: mesh.publisher.clone(),
            dead_letters: mesh.dead_letters.clone(),
        }
    }
}

impl ProductSink for MeshSink {
    async fn publish(&self, discovery: Discovery) -> Result<bool, Error> {
        let key = discovery.key().to_owned();
        // A root span: each product's journey through the mesh is its own trace.
        let published = match discovery {
            Discovery::Discovered(product) => {
                let span = tracing::info_span!(parent: None, "product discovered", product.key = %key, otel.kind = "producer");
                self.publisher.publish(*product).instrument(span).await
            }
            Discovery::Retracted(product) => {
                let span = tracing::info_span!(parent: None, "product retracted", product.key = %key, otel.kind = "producer");
                self.publisher.publish(*product).instrument(span).await
            }
        };
        let ack = published.map_err(|source| Error::Publish {
            key: format!("product {key}"),
            source,
        })?;
        Ok(!ack.duplicate)
    }

    async fn dead_letter(&self, origin: &str, entity: &[u8], reason: &str) -> Result<(), Error> {
        self.dead_letters
            .raw(origin, entity, reason)
            .await
            .map_err(|source| Error::DeadLetter {
                url: origin.to_owned(),
                source,
            })
    }

    async fn alert(&self, alert: Alert) -> Result<(), Error> {
        let about = alert.about.clone();
        self.publisher
            .publish(alert)
            .await
            .map(drop)
            .map_err(|source| Error::Publish {
                key: format!("alert about {about}"),
                source,
            })
    }
}

/// Feed cursors as JSON values in `ingest-cursors`, keyed by feed name.
#[derive(Clone)]
pub struct KvCursors {
    bucket: kv::Store,
}

impl KvCursors {
    pub fn new(bucket: kv::Store) -> Self {
        Self { bucket }
    }
}

impl CursorStore for KvCursors {
    async fn load(&self, feed: &str) -> Result<Option<StoredCursor>, Error> {
        let entry = self
            .bucket
            .entry(feed)
            .await
            .map_err(|source| Error::CursorRead {
                feed: feed.to_owned(),
                source: source.into(),
            })?;
        let Some(entry) = entry.filter(|entry| entry.operation == Operation::Put) else {
            return Ok(None);
        };
        let cursor =
            serde_json::from_slice(&entry.value).map_err(|source| Error::CursorDecode {
                feed: feed.to_owned(),
                source,
            })?;
        Ok(Some(StoredCursor {
            cursor,
            revision: entry.revision,
        }))
    }

    async fn compare_and_set(
        &self,
        feed: &str,
        cursor: &Cursor,
        expected: Option<u64>,
    ) -> Result<CasOutcome, Error> {
        let value = Bytes::from(serde_json::to_vec(cursor).expect("a cursor serialises"));
        let failed = |source: nrt_nats::async_nats::Error| Error::CursorWrite {
            feed: feed.to_owned(),
            source,
        };
        let revision = match expected {
            Some(revision) => match self.bucket.update(feed, value, revision).await {
                Err(error) if error.kind() == UpdateErrorKind::WrongLastRevision => {
                    return Ok(CasOutcome::Conflict);
                }
                written => written.map_err(|error| failed(error.into()))?,
            },
            None => match self.bucket.create(feed, value).await {
                Err(error) if error.kind() == CreateErrorKind::AlreadyExists => {
                    return Ok(CasOutcome::Conflict);
                }
                written => written.map_err(|error| failed(error.into()))?,
            },
        };
        Ok(CasOutcome::Committed { revision })
    }
}
