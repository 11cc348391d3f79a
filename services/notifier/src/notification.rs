//! What the notifier delivers: an event as received, decoded, with the facts that filters and
//! messages read.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::HeaderValue;
use nrt_events::{
    Alert, DecodeError, ItemPublished, JobDead, JobFailed, RawEvent, Severity,
    streams::{self, StreamDef},
};
use nrt_nats::async_nats::HeaderMap;
use serde::{Deserialize, Serialize};

/// The kinds of event a subscription can ask for, as written in its `events` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", try_from = "String")]
pub enum EventKind {
    ItemPublished,
    JobFailed,
    JobDead,
    Alert,
}

impl TryFrom<String> for EventKind {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| {
                format!(
                    "{name:?} is not an event kind; use item-published, job-failed, job-dead or alert"
                )
            })
    }
}

impl EventKind {
    pub const ALL: [Self; 4] = [
        Self::ItemPublished,
        Self::JobFailed,
        Self::JobDead,
        Self::Alert,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ItemPublished => "item-published",
            Self::JobFailed => "job-failed",
            Self::JobDead => "job-dead",
            Self::Alert => "alert",
        }
    }

    /// Whether events of this kind name a collection and a place (a bbox).
    pub fn is_an_item(self) -> bool {
        matches!(self, Self::ItemPublished)
    }

    /// Whether events of this kind name the processor they are about.
    pub fn has_processor(self) -> bool {
        !matches!(self, Self::Alert)
    }

    /// The severity every event of this kind has; alerts carry their own, items have none.
    pub fn fixed_severity(self) -> Option<Severity> {
        match self {
            Self::JobFailed => Some(Severity::Warning),
            Self::JobDead => Some(Severity::Critical),
            Self::ItemPublished | Self::Alert => None,
        }
    }

    pub fn stream(self) -> StreamDef {
        match self {
            Self::ItemPublished => streams::CATALOGUE,
            Self::JobFailed | Self::JobDead => streams::JOBS,
            Self::Alert => streams::ALERTS,
        }
    }

    /// The subject prefix, before the collection, processor or severity token.
    pub fn subject_prefix(self) -> &'static str {
        match self {
            Self::ItemPublished => "catalogue.published.",
            Self::JobFailed => "jobs.failed.",
            Self::JobDead => "jobs.dead.",
            Self::Alert => "alerts.",
        }
    }

    /// The kind carried on `subject`, judged by the subject so that an event of the wrong type
    /// there is reported against the type that belongs there.
    fn of_subject(subject: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| subject.starts_with(kind.subject_prefix()))
    }
}

/// The event itself, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    ItemPublished(ItemPublished),
    JobFailed(JobFailed),
    JobDead(JobDead),
    Alert(Alert),
}

/// An event to deliver: the CloudEvent body exactly as received, so webhook signatures hold over
/// the producer's bytes, and what was decoded from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The CloudEvent id, sent as `webhook-id`.
    pub id: String,
    /// When the event happened (the CloudEvent `time`).
    pub time: DateTime<Utc>,
    pub event: Event,
    /// The W3C trace id of the journey that led here, for finding it in the tracing backend.
    pub trace_id: Option<String>,
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

/// The CloudEvents distributed-tracing extension, for events that carry their trace in the body.
#[derive(Deserialize)]
struct TracingExtension {
    traceparent: Option<String>,
}

impl Notification {
    /// Decodes the event that arrived on `subject`, checking its type and schema. The trace
    /// comes from the `traceparent` NATS header every mesh publisher sets, else from the
    /// CloudEvent's own `traceparent` extension.
    pub fn decode(
        subject: &str,
        body: Bytes,
        headers: Option<&HeaderMap>,
    ) -> Result<Self, NotificationError> {
        let kind = EventKind::of_subject(subject)
            .ok_or_else(|| NotificationError::UnexpectedSubject(subject.to_owned()))?;
        let decode_error = |source| NotificationError::Decode {
            subject: subject.to_owned(),
            kind: kind.as_str(),
            source,
        };
        let raw = RawEvent::from_json(&body).map_err(decode_error)?;
        let (id, time) = (raw.id.clone(), raw.time.unwrap_or_default());
        let event = match kind {
            EventKind::ItemPublished => {
                Event::ItemPublished(raw.into_typed().map_err(decode_error)?.data)
            }
            EventKind::JobFailed => Event::JobFailed(raw.into_typed().map_err(decode_error)?.data),
            EventKind::JobDead => Event::JobDead(raw.into_typed().map_err(decode_error)?.data),
            EventKind::Alert => Event::Alert(raw.into_typed().map_err(decode_error)?.data),
        };
        if id.is_empty() || HeaderValue::from_str(&id).is_err() {
            return Err(NotificationError::UnsendableId(id));
        }
        let header = headers
            .and_then(|headers| headers.get("traceparent"))
            .map(|value| value.as_str().to_owned());
        let trace_id = header
            .or_else(|| {
                serde_json::from_slice::<TracingExtension>(&body)
                    .ok()
                    .and_then(|extension| extension.traceparent)
            })
            .and_then(|traceparent| trace_id_of(&traceparent));
        Ok(Self {
            id,
            time,
            event,
            trace_id,
            body,
        })
    }

    pub fn kind(&self) -> EventKind {
        match self.event {
            Event::ItemPublished(_) => EventKind::ItemPublished,
            Event::JobFailed(_) => EventKind::JobFailed,
            Event::JobDead(_) => EventKind::JobDead,
            Event::Alert(_) => EventKind::Alert,
        }
    }

    pub fn collection(&self) -> Option<&str> {
        match &self.event {
            Event::ItemPublished(item) => Some(&item.collection),
            _ => None,
        }
    }

    pub fn processor(&self) -> Option<&str> {
        match &self.event {
            Event::ItemPublished(item) => Some(&item.processor),
            Event::JobFailed(job) => Some(&job.processor),
            Event::JobDead(job) => Some(&job.processor),
            Event::Alert(_) => None,
        }
    }

    pub fn severity(&self) -> Option<Severity> {
        match &self.event {
            Event::Alert(alert) => Some(alert.severity),
            _ => self.kind().fixed_severity(),
        }
    }

    /// The item's `[west, south, east, north]` (or 3D) bounding box.
    pub fn bbox(&self) -> Option<&[f64]> {
        match &self.event {
            Event::ItemPublished(item) => item.bbox.as_deref(),
            _ => None,
        }
    }

    pub fn alert(&self) -> Option<&Alert> {
        match &self.event {
            Event::Alert(alert) => Some(alert),
            _ => None,
        }
    }
}

/// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`); `None` for anything
/// else, including the all-zero id that means "no trace".
fn trace_id_of(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.trim().split('-');
    let (_version, trace_id) = (parts.next()?, parts.next()?);
    let is_hex = trace_id.len() == 32 && trace_id.bytes().all(|b| b.is_ascii_hexdigit());
    let is_zero = trace_id.bytes().all(|b| b == b'0');
    (is_hex && !is_zero && parts.next().is_some()).then(|| trace_id.to_ascii_lowercase())
}

#[cfg(test)]
mod tests;
