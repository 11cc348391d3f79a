//! Decoding events as delivered, and webhook filters.

use std::collections::BTreeSet;

use nrt_events::{Envelope, EventData};

use super::*;
use crate::fixtures::{item, job_dead, job_failed, notification_of, webhook};

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
    let error = Notification::decode("catalogue.published.snow", Bytes::from_static(b"{not json"))
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("catalogue.published.snow"), "{message}");
    assert!(message.contains("item-published"), "{message}");
}

#[test]
fn an_event_of_another_type_on_a_job_subject_is_refused() {
    let event = Envelope::new("/t", job_dead("snow"));
    let error = Notification::decode("jobs.failed.snow", Bytes::from(event.to_json())).unwrap_err();
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
    let error = Notification::decode(&event.subject(), Bytes::from(event.to_json())).unwrap_err();
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
