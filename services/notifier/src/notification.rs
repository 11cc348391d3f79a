//! What the notifier delivers: an event as received, with the few facts webhook filters look at.

use bytes::Bytes;
use http::HeaderValue;
use nrt_events::{DecodeError, ItemPublished, JobDead, JobFailed, RawEvent};
use serde::{Deserialize, Serialize};

use crate::config::WebhookConfig;

/// The kinds of event a webhook can subscribe to, as written in its `events` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    ItemPublished,
    JobFailed,
    JobDead,
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
pub(crate) mod tests {
    use std::{collections::BTreeSet, time::Duration};

    use chrono::Utc;
    use nrt_events::{Envelope, EventData};
    use nrt_runtime::Secret;

    use super::*;

    pub(crate) fn item(collection: &str, processor: &str) -> ItemPublished {
        ItemPublished {
            item_id: "S2B_MSIL2A_20260101T101329_N0511_R022_T32TMS_20260101T122025".into(),
            collection: collection.into(),
            item_href: "s3://catalogue/snow/items/x.json".into(),
            job_id: "0f3c5a1e9b7d4c2a8e6f1b3d5c7a9e0f".into(),
            processor: processor.into(),
            input_keys: vec!["S2B_MSIL2A_20260101T101329_N0511_R022_T32TMS_20260101T122025".into()],
            datetime: Some(Utc::now()),
            bbox: Some(vec![8.99, 45.04, 10.41, 46.05]),
            published_at: Utc::now(),
        }
    }

    pub(crate) fn job_failed(processor: &str) -> JobFailed {
        JobFailed {
            job_id: "0f3c5a1e9b7d4c2a8e6f1b3d5c7a9e0f".into(),
            rule: "snow-alps".into(),
            processor: processor.into(),
            processor_version: "1.2.0".into(),
            attempt: 1,
            input_keys: vec!["S2B_MSIL2A_20260101T101329".into()],
            reason: "exit code 3".into(),
            exit_code: Some(3),
            log_tail: vec!["no snow mask".into()],
            will_retry: true,
        }
    }

    pub(crate) fn job_dead(processor: &str) -> JobDead {
        JobDead {
            job_id: "0f3c5a1e9b7d4c2a8e6f1b3d5c7a9e0f".into(),
            rule: "snow-alps".into(),
            processor: processor.into(),
            processor_version: "1.2.0".into(),
            attempts: 3,
            input_keys: vec!["S2B_MSIL2A_20260101T101329".into()],
            reason: "used its 3 attempts".into(),
        }
    }

    pub(crate) fn notification_of<T: EventData>(data: T) -> Notification {
        let event = Envelope::new("/nrt-mesh/test", data);
        Notification::decode(&event.subject(), Bytes::from(event.to_json())).unwrap()
    }

    pub(crate) fn webhook(name: &str, events: &[EventKind]) -> WebhookConfig {
        WebhookConfig {
            name: name.into(),
            url: "http://127.0.0.1:9/hook".parse().unwrap(),
            secret: Secret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
            events: events.iter().copied().collect(),
            collections: None,
            processors: None,
            timeout: Duration::from_secs(5),
        }
    }

    fn set(values: &[&str]) -> Option<BTreeSet<String>> {
        Some(values.iter().map(|v| (*v).to_owned()).collect())
    }

    #[test]
    fn keeps_the_body_exactly_as_received() {
        let event = Envelope::new("/nrt-mesh/catalogue-publisher", item("snow", "snow-cover"));
        let body = Bytes::from(event.to_json());
        let notification = Notification::decode(&event.subject(), body.clone()).unwrap();
        assert_eq!(notification.body, body);
        assert_eq!(notification.id, event.id);
        assert_eq!(notification.kind, EventKind::ItemPublished);
        assert_eq!(notification.collection.as_deref(), Some("snow"));
        assert_eq!(notification.processor, "snow-cover");
    }

    #[test]
    fn decodes_failed_and_dead_jobs_without_a_collection() {
        let failed = notification_of(job_failed("snow-cover"));
        assert_eq!(
            (failed.kind, failed.collection),
            (EventKind::JobFailed, None)
        );
        let dead = notification_of(job_dead("snow-cover"));
        assert_eq!(dead.kind, EventKind::JobDead);
        assert_eq!(dead.id, job_dead("snow-cover").event_id());
    }

    #[test]
    fn a_body_that_is_not_a_cloudevent_names_the_subject_and_kind() {
        let error =
            Notification::decode("catalogue.published.snow", Bytes::from_static(b"{not json"))
                .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("catalogue.published.snow"), "{message}");
        assert!(message.contains("item-published"), "{message}");
    }

    #[test]
    fn an_event_of_another_type_on_a_job_subject_is_refused() {
        let event = Envelope::new("/t", job_dead("snow"));
        let error =
            Notification::decode("jobs.failed.snow", Bytes::from(event.to_json())).unwrap_err();
        assert!(
            matches!(
                &error,
                NotificationError::Decode {
                    source: DecodeError::UnexpectedType { .. },
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_subject_is_refused() {
        let event = Envelope::new("/t", job_dead("snow"));
        let error =
            Notification::decode("jobs.started.snow", Bytes::from(event.to_json())).unwrap_err();
        assert!(matches!(error, NotificationError::UnexpectedSubject(_)));
    }

    #[test]
    fn an_id_that_cannot_be_a_header_is_refused() {
        let mut event = Envelope::new("/t", item("snow", "snow-cover"));
        event.id = "item\nwith a line break".into();
        let error =
            Notification::decode(&event.subject(), Bytes::from(event.to_json())).unwrap_err();
        assert!(
            matches!(error, NotificationError::UnsendableId(_)),
            "{error}"
        );
    }

    #[test]
    fn a_webhook_gets_only_the_kinds_it_subscribed_to() {
        let hook = webhook("ops", &[EventKind::JobFailed]);
        assert!(hook.accepts(&notification_of(job_failed("snow"))));
        assert!(!hook.accepts(&notification_of(job_dead("snow"))));
        assert!(!hook.accepts(&notification_of(item("snow", "snow"))));
    }

    #[test]
    fn a_collection_filter_selects_items_of_those_collections() {
        let mut hook = webhook("snow-users", &[EventKind::ItemPublished]);
        hook.collections = set(&["snow", "ice"]);
        assert!(hook.accepts(&notification_of(item("ice", "any"))));
        assert!(!hook.accepts(&notification_of(item("footprint", "any"))));
    }

    #[test]
    fn a_collection_filter_never_matches_events_without_a_collection() {
        let mut hook = webhook("snow", &[EventKind::JobDead]);
        hook.collections = set(&["snow"]);
        assert!(!hook.accepts(&notification_of(job_dead("snow-cover"))));
    }

    #[test]
    fn a_processor_filter_applies_to_items_and_jobs() {
        let mut hook = webhook(
            "snow-team",
            &[
                EventKind::ItemPublished,
                EventKind::JobFailed,
                EventKind::JobDead,
            ],
        );
        hook.processors = set(&["snow-cover"]);
        assert!(hook.accepts(&notification_of(item("snow", "snow-cover"))));
        assert!(hook.accepts(&notification_of(job_failed("snow-cover"))));
        assert!(hook.accepts(&notification_of(job_dead("snow-cover"))));
        assert!(!hook.accepts(&notification_of(item("snow", "footprint"))));
        assert!(!hook.accepts(&notification_of(job_failed("footprint"))));
    }

    #[test]
    fn all_filters_must_match() {
        let mut hook = webhook("narrow", &[EventKind::ItemPublished]);
        hook.collections = set(&["snow"]);
        hook.processors = set(&["snow-cover"]);
        assert!(hook.accepts(&notification_of(item("snow", "snow-cover"))));
        assert!(!hook.accepts(&notification_of(item("snow", "other"))));
        assert!(!hook.accepts(&notification_of(item("other", "snow-cover"))));
    }
}
