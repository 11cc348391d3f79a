//! What the notifier delivers: an event as received, with the few facts webhook filters look at.

use bytes::Bytes;
use http::HeaderValue;
use nrt_events::{DecodeError, ItemPublished, JobDead, JobFailed, RawEvent};
use serde::{Deserialize, Serialize};

use crate::config::WebhookConfig;

/// The kinds of event a webhook can subscribe to, as written in its `events` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", try_from = "String")]
pub enum EventKind {
    ItemPublished,
    JobFailed,
    JobDead,
}

impl TryFrom<String> for EventKind {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        [Self::ItemPublished, Self::JobFailed, Self::JobDead]
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| {
                format!("{name:?} is not an event kind; use item-published, job-failed or job-dead")
            })
    }
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ItemPublished => "item-published",
            Self::JobFailed => "job-failed",
            Self::JobDead => "job-dead",
        }
    }

    /// Whether events of this kind name a collection a `collections` filter could match.
    pub fn has_collection(self) -> bool {
        matches!(self, Self::ItemPublished)
    }

    /// The kind carried on `subject`, judged by the subject so that an event of the wrong type
    /// there is reported against the type that belongs there.
    fn of_subject(subject: &str) -> Option<Self> {
        let kind = if subject.starts_with("catalogue.published.") {
            Self::ItemPublished
        } else if subject.starts_with("jobs.failed.") {
            Self::JobFailed
        } else if subject.starts_with("jobs.dead.") {
            Self::JobDead
        } else {
            return None;
        };
        Some(kind)
    }
}

/// An event to deliver: the CloudEvent body exactly as received, so signatures hold over the
/// producer's bytes, and what filters need.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The CloudEvent id, sent as `webhook-id`.
    pub id: String,
    pub kind: EventKind,
    /// Only item events name a collection.
    pub collection: Option<String>,
    pub processor: String,
    pub body: Bytes,
}

/// Why a message cannot be delivered to anyone. Never worth retrying.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("subject {0} carries no event the notifier delivers")]
    UnexpectedSubject(String),
    #[error("message on {subject} is not a valid {kind} event")]
    Decode {
        subject: String,
        kind: &'static str,
        #[source]
        source: DecodeError,
    },
    #[error("event id {0:?} cannot be sent as a webhook-id header (visible ASCII only)")]
    UnsendableId(String),
}

impl Notification {
    /// Decodes the event that arrived on `subject`, checking its type and schema.
    pub fn decode(subject: &str, body: Bytes) -> Result<Self, NotificationError> {
        let kind = EventKind::of_subject(subject)
            .ok_or_else(|| NotificationError::UnexpectedSubject(subject.to_owned()))?;
        let decode_error = |source| NotificationError::Decode {
            subject: subject.to_owned(),
            kind: kind.as_str(),
            source,
        };
        let raw = RawEvent::from_json(&body).map_err(decode_error)?;
        let (id, collection, processor) = match kind {
            EventKind::ItemPublished => {
                let event = raw.into_typed::<ItemPublished>().map_err(decode_error)?;
                (event.id, Some(event.data.collection), event.data.processor)
            }
            EventKind::JobFailed => {
                let event = raw.into_typed::<JobFailed>().map_err(decode_error)?;
                (event.id, None, event.data.processor)
            }
            EventKind::JobDead => {
                let event = raw.into_typed::<JobDead>().map_err(decode_error)?;
                (event.id, None, event.data.processor)
            }
        };
        if id.is_empty() || HeaderValue::from_str(&id).is_err() {
            return Err(NotificationError::UnsendableId(id));
        }
        Ok(Self {
            id,
            kind,
            collection,
            processor,
            body,
        })
    }
}

impl WebhookConfig {
    /// Whether this webhook wants `notification`: its kind is subscribed, and every filter set
    /// on the webhook matches.
    pub fn accepts(&self, notification: &Notification) -> bool {
        let collection_matches = match (&self.collections, &notification.collection) {
            (None, _) => true,
            (Some(wanted), Some(collection)) => wanted.contains(collection),
            // A collection filter cannot be satisfied by an event that names none.
            (Some(_), None) => false,
        };
        let processor_matches = self
            .processors
            .as_ref()
            .is_none_or(|wanted| wanted.contains(&notification.processor));
        self.events.contains(&notification.kind) && collection_matches && processor_matches
    }
}

/// Subjects of the event types this module decodes, kept beside the decoder that reads them.
pub(crate) const ITEM_SUBJECTS: &[&str] = &["catalogue.published.>"];
pub(crate) const JOB_SUBJECTS: &[&str] = &["jobs.failed.>", "jobs.dead.>"];

#[cfg(test)]
mod tests;
