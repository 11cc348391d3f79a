//! A bucket's object events → its products. Each `s3-bucket` feed with `events = true` reads
//! `objects.<bucket>` (stream OBJECTS) through its own durable consumer, so replicas share the
//! work and a restart resumes where the last acknowledged event left off.
//!
//! An event is acknowledged only after the products it completes are published with their
//! PubAck; an event that cannot be read, or whose object names no product, is dead-lettered by
//! the consumer runner with the reason. Removals are not retractions: buckets are cleaned by
//! lifecycle rules after processing, and a withdrawn product is announced by its catalogue.

use std::time::Duration;

use chrono::Utc;
use nrt_events::{
    s3::{ChangeKind, NotificationError, ObjectChange, object_subject, read_object_changes},
    streams,
};
use nrt_nats::{ConsumerSpec, Delivery, Handler, HandlerError};

use super::{BucketSource, objects::BucketObject, objects::product_of};
use crate::{
    Error,
    feed::{Discovery, EntryError},
    sink::{self, ProductSink},
};

/// Turns one bucket's object events into product events.
pub struct ObjectEvents<S> {
    feed: String,
    source: BucketSource,
    sink: S,
}

impl<S> ObjectEvents<S> {
    pub fn new(feed: &str, source: &BucketSource, sink: S) -> Self {
        Self {
            feed: feed.to_owned(),
            source: source.clone(),
            sink,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ObjectEventError {
    /// Not a source: its message is the whole story, and the runner's report walks sources.
    #[error("unreadable object notification: {0}")]
    Unreadable(NotificationError),
    /// Every object of the notification that names no product; the others were published.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    NoProduct(Vec<EntryError>),
    #[error(transparent)]
    Publish(Error),
}

impl HandlerError for ObjectEventError {
    fn is_transient(&self) -> bool {
        // JetStream unreachable or slow: the same event will publish once it is back.
        matches!(self, Self::Publish(_))
    }
}

impl<S: ProductSink + 'static> Handler for ObjectEvents<S> {
    type Error = ObjectEventError;

    async fn handle(&self, delivery: &Delivery) -> Result<(), ObjectEventError> {
        let changes =
            read_object_changes(&delivery.payload).map_err(ObjectEventError::Unreadable)?;
        let (mut discovered, mut refused) = (Vec::new(), Vec::new());
        for object in changes
            .iter()
            .filter_map(|change| self.marker_written(change))
        {
            match product_of(&object, &self.feed, &self.source) {
                Ok(product) => discovered.push(Discovery::Discovered(Box::new(product))),
                Err(error) => refused.push(error),
            }
        }
        // Objects naming no product are not dead-lettered here: the runner dead-letters the
        // whole notification with their reasons, once the products it names are published.
        sink::deliver(&self.sink, &self.feed, &delivery.subject, discovered, &[])
            .await
            .map_err(ObjectEventError::Publish)?;
        if refused.is_empty() {
            Ok(())
        } else {
            Err(ObjectEventError::NoProduct(refused))
        }
    }
}

impl<S> ObjectEvents<S> {
    /// The object a change wrote, when it is a marker of this feed's products.
    fn marker_written(&self, change: &ObjectChange) -> Option<BucketObject> {
        // Subjects are bucket names made safe for NATS, so two buckets can share one.
        if change.kind != ChangeKind::Created || change.bucket != self.source.bucket {
            return None;
        }
        let object = BucketObject {
            bucket: change.bucket.clone(),
            key: change.key.clone(),
            size: change.size,
            etag: change.etag.clone(),
            // A sender that gives no time (some emulators) is dated by its arrival here.
            modified: change.event_time.unwrap_or_else(Utc::now),
        };
        object.is_marker(&self.source).then_some(object)
    }
}

/// A NATS outage heals within minutes; then the event is dead-lettered, and the listing
/// reconciler still finds the product.
const RETRY_DELAYS: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(15),
    Duration::from_secs(60),
];

/// The durable consumer of a feed's object events: `ingestor-<feed>` on `objects.<bucket>`.
pub fn consumer_spec(feed: &str, source: &BucketSource) -> ConsumerSpec {
    // ConsumerSpec holds 'static names, as the services' fixed consumers do. A feed's names are
    // built once at startup and live as long as the process, so leaking them costs a few bytes.
    let durable: &'static str = Box::leak(format!("ingestor-{feed}").into_boxed_str());
    let subject: &'static str = Box::leak(object_subject(&source.bucket).into_boxed_str());
    ConsumerSpec {
        stream: streams::OBJECTS,
        durable,
        filter_subjects: Box::leak(Box::new([subject])),
        ack_wait: Duration::from_secs(30),
        max_deliver: 8,
        retry_delays: &RETRY_DELAYS,
        max_ack_pending: 256,
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
