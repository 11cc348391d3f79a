//! Decoding events as delivered: kinds, facts and the trace id.

use nrt_events::{Envelope, EventData};

use super::*;
use crate::fixtures::{ITEM_EVENT, alert, item, job_dead, job_failed, notification_of};

fn headers_with(name: &str, value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(name, value);
    headers
}

#[test]
fn keeps_the_body_exactly_as_received() {
    let event = Envelope::new("/nrt-mesh/catalogue-publisher", item("snow", "snow-cover"));
    let body = Bytes::from(event.to_json());
    let notification = Notification::decode(&event.subject(), body.clone(), None).unwrap();
    assert_eq!(notification.body, body);
    assert_eq!(notification.id, event.id);
    assert_eq!(notification.kind(), EventKind::ItemPublished);
    assert_eq!(notification.collection(), Some("snow"));
    assert_eq!(notification.processor(), Some("snow-cover"));
    assert_eq!(notification.bbox(), Some(&[8.99, 45.04, 10.41, 46.05][..]));
}

#[test]
fn reads_a_cloudevent_as_written_on_the_wire() {
    let subject = "catalogue.published.footprint";
    let notification =
        Notification::decode(subject, Bytes::from_static(ITEM_EVENT.as_bytes()), None).unwrap();
    assert_eq!(
        notification.time,
        "2026-03-02T10:15:04.120Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(notification.collection(), Some("footprint"));
    // Lower-cased, as tracing backends show it.
    assert_eq!(
        notification.trace_id.as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
}

#[test]
fn the_trace_comes_from_the_nats_header_first() {
    let headers = headers_with(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    );
    let body = Bytes::from_static(ITEM_EVENT.as_bytes());
    let notification =
        Notification::decode("catalogue.published.footprint", body, Some(&headers)).unwrap();
    assert_eq!(
        notification.trace_id.as_deref(),
        Some("0af7651916cd43dd8448eb211c80319c")
    );
}

#[test]
fn an_event_without_a_trace_has_no_trace_id() {
    assert_eq!(notification_of(item("snow", "x")).trace_id, None);
    for malformed in [
        "",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319z-b7ad6b7169203331-01",
        "0af7651916cd43dd8448eb211c80319c",
    ] {
        assert_eq!(trace_id_of(malformed), None, "{malformed:?}");
    }
}

#[test]
fn decodes_jobs_and_alerts_with_their_severity() {
    let failed = notification_of(job_failed("snow-cover"));
    assert_eq!(
        (failed.kind(), failed.collection(), failed.severity()),
        (EventKind::JobFailed, None, Some(Severity::Warning))
    );
    let dead = notification_of(job_dead("snow-cover"));
    assert_eq!(dead.kind(), EventKind::JobDead);
    assert_eq!(dead.severity(), Some(Severity::Critical));
    assert_eq!(dead.id, job_dead("snow-cover").event_id());
    let raised = notification_of(alert(Severity::Info, "feed-stalled"));
    assert_eq!(raised.kind(), EventKind::Alert);
    assert_eq!(raised.severity(), Some(Severity::Info));
    assert_eq!(raised.processor(), None);
    assert_eq!(raised.alert().unwrap().kind, "feed-stalled");
}

#[test]
fn a_body_that_is_not_a_cloudevent_names_the_subject_and_kind() {
    let error = Notification::decode(
        "catalogue.published.snow",
        Bytes::from_static(b"{not json"),
        None,
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("catalogue.published.snow"), "{message}");
    assert!(message.contains("item-published"), "{message}");
}

#[test]
fn an_event_of_another_type_on_a_job_subject_is_refused() {
    let event = Envelope::new("/t", job_dead("snow"));
    let error =
        Notification::decode("jobs.failed.snow", Bytes::from(event.to_json()), None).unwrap_err();
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
        Notification::decode("jobs.started.snow", Bytes::from(event.to_json()), None).unwrap_err();
    assert!(matches!(error, NotificationError::UnexpectedSubject(_)));
}

#[test]
fn an_id_that_cannot_be_a_header_is_refused() {
    let mut event = Envelope::new("/t", item("snow", "snow-cover"));
    event.id = "item\nwith a line break".into();
    let error =
        Notification::decode(&event.subject(), Bytes::from(event.to_json()), None).unwrap_err();
    assert!(
        matches!(error, NotificationError::UnsendableId(_)),
        "{error}"
    );
}
