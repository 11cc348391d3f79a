//! `notify` with in-memory stores and a scripted sender: no network.

use std::{collections::HashSet, sync::Arc, time::Duration};

use http::StatusCode;
use tokio::sync::Notify;

use super::*;
use crate::{
    fixtures::{item, job_failed, notification_of, webhook},
    notification::EventKind,
};

mod fakes;

use fakes::{MemoryAlerts, MemoryLog, ScriptedSender};

fn endpoint(name: &str, events: &[EventKind]) -> Endpoint {
    Endpoint::new(webhook(name, events)).unwrap()
}

fn delivered() -> EndpointOutcome {
    EndpointOutcome::Delivered {
        status: StatusCode::OK,
    }
}

fn unreachable(retry_after: Option<u64>) -> EndpointOutcome {
    EndpointOutcome::Unreachable {
        reason: "HTTP 503 Service Unavailable".into(),
        retry_after: retry_after.map(Duration::from_secs),
    }
}

const ITEMS_ONLY: &[EventKind] = &[EventKind::ItemPublished];

#[tokio::test]
async fn delivers_to_every_accepting_webhook_and_records_each() {
    let endpoints = [
        endpoint("a", ITEMS_ONLY),
        endpoint("b", ITEMS_ONLY),
        endpoint("jobs", &[EventKind::JobFailed]),
    ];
    let sender = ScriptedSender::answering(&[("a", delivered()), ("b", delivered())]);
    let log = MemoryLog::default();
    let event = notification_of(item("snow", "snow-cover"));

    notify(&event, &endpoints, &sender, &log, &MemoryAlerts::default())
        .await
        .unwrap();

    assert_eq!((sender.sent_to("a"), sender.sent_to("b")), (1, 1));
    assert_eq!(sender.sent_to("jobs"), 0);
    let records = log.records.lock().unwrap();
    let record = &records[&settlement_key(&event.id, "a")];
    assert_eq!(
        (record.outcome, record.status, record.endpoint.as_str()),
        (SettledAs::Delivered, 200, "a")
    );
    assert!(records.contains_key(&settlement_key(&event.id, "b")));
}

#[tokio::test]
async fn an_unreachable_webhook_fails_the_event_but_the_others_are_recorded() {
    let endpoints = [endpoint("down", ITEMS_ONLY), endpoint("up", ITEMS_ONLY)];
    let sender = ScriptedSender::answering(&[("down", unreachable(None)), ("up", delivered())]);
    let log = MemoryLog::default();
    let event = notification_of(item("snow", "snow-cover"));

    let error = notify(&event, &endpoints, &sender, &log, &MemoryAlerts::default())
        .await
        .unwrap_err();

    assert!(error.is_transient());
    assert!(
        error
            .to_string()
            .contains("webhook down not reached: HTTP 503"),
        "{error}"
    );
    assert!(!error.to_string().contains("webhook up"), "{error}");
    let records = log.records.lock().unwrap();
    assert!(records.contains_key(&settlement_key(&event.id, "up")));
    assert!(!records.contains_key(&settlement_key(&event.id, "down")));
}

#[tokio::test]
async fn a_redelivered_event_goes_only_to_webhooks_not_yet_served() {
    let endpoints = [endpoint("down", ITEMS_ONLY), endpoint("up", ITEMS_ONLY)];
    let sender = ScriptedSender::answering(&[
        ("down", unreachable(None)),
        ("down", delivered()),
        ("up", delivered()),
    ]);
    let log = MemoryLog::default();
    let alerts = MemoryAlerts::default();
    let event = notification_of(item("snow", "snow-cover"));

    assert!(
        notify(&event, &endpoints, &sender, &log, &alerts)
            .await
            .is_err()
    );
    notify(&event, &endpoints, &sender, &log, &alerts)
        .await
        .unwrap();
    // A third delivery (say, the ack was lost) sends nothing at all.
    notify(&event, &endpoints, &sender, &log, &alerts)
        .await
        .unwrap();

    assert_eq!((sender.sent_to("down"), sender.sent_to("up")), (2, 1));
}

#[tokio::test]
async fn the_longest_retry_after_any_webhook_asked_for_is_kept() {
    let endpoints = [
        endpoint("a", ITEMS_ONLY),
        endpoint("b", ITEMS_ONLY),
        endpoint("c", ITEMS_ONLY),
    ];
    let sender = ScriptedSender::answering(&[
        ("a", unreachable(Some(30))),
        ("b", unreachable(None)),
        ("c", unreachable(Some(120))),
    ]);
    let error = notify(
        &notification_of(item("snow", "x")),
        &endpoints,
        &sender,
        &MemoryLog::default(),
        &MemoryAlerts::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        nrt_nats::HandlerError::retry_after(&error),
        Some(Duration::from_secs(120))
    );
}

#[tokio::test]
async fn a_rejecting_webhook_raises_an_alert_and_is_not_tried_again() {
    let endpoints = [endpoint("gone", ITEMS_ONLY), endpoint("down", ITEMS_ONLY)];
    let sender = ScriptedSender::answering(&[
        (
            "gone",
            EndpointOutcome::Rejected {
                status: StatusCode::GONE,
            },
        ),
        ("down", unreachable(None)),
    ]);
    let log = MemoryLog::default();
    let alerts = MemoryAlerts::default();
    let event = notification_of(item("snow", "snow-cover"));

    // The unreachable endpoint brings the event back twice; the rejecting one is asked once.
    for _ in 0..2 {
        let error = notify(&event, &endpoints, &sender, &log, &alerts)
            .await
            .unwrap_err();
        assert!(!error.to_string().contains("gone"), "{error}");
    }

    assert_eq!(sender.sent_to("gone"), 1);
    let alerts = alerts.0.lock().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, "webhook-rejected");
    assert_eq!(alerts[0].about, "gone");
    assert!(alerts[0].message.contains("410"), "{}", alerts[0].message);
    assert!(
        alerts[0].message.contains(&event.id),
        "{}",
        alerts[0].message
    );
    let record = &log.records.lock().unwrap()[&settlement_key(&event.id, "gone")];
    assert_eq!(record.outcome, SettledAs::Rejected);
}

#[tokio::test]
async fn a_rejection_alone_does_not_fail_the_event() {
    let endpoints = [endpoint("gone", ITEMS_ONLY)];
    let sender = ScriptedSender::answering(&[(
        "gone",
        EndpointOutcome::Rejected {
            status: StatusCode::NOT_FOUND,
        },
    )]);
    notify(
        &notification_of(item("snow", "x")),
        &endpoints,
        &sender,
        &MemoryLog::default(),
        &MemoryAlerts::default(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_slow_webhook_does_not_hold_up_the_others() {
    // "slow" answers only after "fast" was sent the event: sequential delivery would hang.
    let fast_done = Arc::new(Notify::new());
    let mut sender = ScriptedSender::answering(&[("slow", delivered()), ("fast", delivered())]);
    sender.waits.insert("slow".into(), fast_done.clone());
    sender.signals.insert("fast".into(), fast_done);
    let endpoints = [endpoint("slow", ITEMS_ONLY), endpoint("fast", ITEMS_ONLY)];
    let (event, log, alerts) = (
        notification_of(item("snow", "x")),
        MemoryLog::default(),
        MemoryAlerts::default(),
    );

    let delivery = notify(&event, &endpoints, &sender, &log, &alerts);
    tokio::time::timeout(Duration::from_secs(10), delivery)
        .await
        .expect("endpoints are delivered concurrently")
        .unwrap();
    let order: Vec<String> = sender
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|(n, _)| n.clone())
        .collect();
    assert_eq!(order, ["fast", "slow"]);
}

#[tokio::test]
async fn an_unreadable_delivery_log_sends_nothing_and_is_transient() {
    let sender = ScriptedSender::answering(&[("a", delivered())]);
    let log = MemoryLog {
        unreadable: true,
        ..MemoryLog::default()
    };
    let error = notify(
        &notification_of(item("snow", "x")),
        &[endpoint("a", ITEMS_ONLY)],
        &sender,
        &log,
        &MemoryAlerts::default(),
    )
    .await
    .unwrap_err();
    assert!(error.is_transient());
    assert!(error.to_string().contains("webhook a"), "{error}");
    assert_eq!(sender.sent_to("a"), 0);
}

#[tokio::test]
async fn a_delivery_that_cannot_be_recorded_still_counts() {
    let sender = ScriptedSender::answering(&[("a", delivered())]);
    let log = MemoryLog {
        unwritable: true,
        ..MemoryLog::default()
    };
    notify(
        &notification_of(job_failed("snow")),
        &[endpoint("a", &[EventKind::JobFailed])],
        &sender,
        &log,
        &MemoryAlerts::default(),
    )
    .await
    .unwrap();
    assert_eq!(sender.sent_to("a"), 1);
}

#[tokio::test]
async fn an_event_no_webhook_wants_is_done() {
    let sender = ScriptedSender::default();
    notify(
        &notification_of(job_failed("snow")),
        &[endpoint("items", ITEMS_ONLY)],
        &sender,
        &MemoryLog::default(),
        &MemoryAlerts::default(),
    )
    .await
    .unwrap();
    assert!(sender.sent.lock().unwrap().is_empty());
}

#[test]
fn settlement_keys_differ_by_event_and_by_endpoint() {
    let keys: HashSet<String> = [("e1", "a"), ("e1", "b"), ("e2", "a")]
        .iter()
        .map(|(event, endpoint)| settlement_key(event, endpoint))
        .collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(settlement_key("e1", "a"), settlement_key("e1", "a"));
}
