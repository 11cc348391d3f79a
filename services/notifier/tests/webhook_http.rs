//! `WebhookClient` over real HTTP against a local receiver: what is sent, and what each kind of
//! answer makes of the delivery.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use notifier::{
    notification::{EventKind, Notification},
    signature::{self, VerifyError},
    webhook::{Endpoint, EndpointOutcome, WebhookClient},
};
use nrt_events::{Envelope, EventData};
use support::{Answer, Receiver, delivery, events, webhook};

fn published() -> Notification {
    let event = Envelope::new(
        "/nrt-mesh/catalogue-publisher",
        events::item_about(events::recorded(events::ORBIT_PRODUCT), "orbits"),
    );
    Notification::decode(&event.data.subject(), Bytes::from(event.to_json())).unwrap()
}

async fn deliver(receiver: &Receiver, attempts: usize) -> EndpointOutcome {
    let endpoint = Endpoint::new(webhook("test", receiver, &[EventKind::ItemPublished])).unwrap();
    let client = WebhookClient::new(&delivery(attempts, 1)).unwrap();
    client.deliver(&endpoint, &published()).await
}

#[tokio::test]
async fn posts_the_body_unchanged_with_standard_webhooks_headers() {
    let receiver = Receiver::start(support::SECRET, &[Answer::Status(204)]).await;
    let notification = published();
    let endpoint = Endpoint::new(webhook("test", &receiver, &[EventKind::ItemPublished])).unwrap();
    let client = WebhookClient::new(&delivery(1, 1)).unwrap();

    let outcome = client.deliver(&endpoint, &notification).await;

    assert_eq!(
        outcome,
        EndpointOutcome::Delivered {
            status: StatusCode::NO_CONTENT
        }
    );
    let [request] = receiver.received().try_into().unwrap();
    request.verified.unwrap();
    assert_eq!(request.body, notification.body);
    assert_eq!(request.headers["content-type"], "application/json");
    // Dots in the id are safe: the timestamp is checked as a number and the body is a JSON object.
    assert_eq!(
        request.headers[signature::ID_HEADER],
        notification.id.as_str()
    );
    let signatures = request.headers[signature::SIGNATURE_HEADER]
        .to_str()
        .unwrap();
    assert!(signatures.starts_with("v1,"), "{signatures}");
}

#[tokio::test]
async fn a_receiver_with_another_key_refuses_the_signature() {
    let receiver = Receiver::start(support::OTHER_SECRET, &[Answer::Status(200)]).await;
    let outcome = deliver(&receiver, 1).await;
    assert_eq!(
        outcome,
        EndpointOutcome::Rejected {
            status: StatusCode::UNAUTHORIZED
        }
    );
    assert_eq!(receiver.received()[0].verified, Err(VerifyError::Mismatch));
}

#[tokio::test]
async fn server_errors_are_retried_within_the_quick_attempts() {
    let receiver = Receiver::start(
        support::SECRET,
        &[
            Answer::Status(503),
            Answer::Status(502),
            Answer::Status(200),
        ],
    )
    .await;
    let outcome = deliver(&receiver, 3).await;
    assert_eq!(
        outcome,
        EndpointOutcome::Delivered {
            status: StatusCode::OK
        }
    );
    let answers: Vec<u16> = receiver.received().iter().map(|r| r.answered).collect();
    assert_eq!(answers, [503, 502, 200]);
    assert!(receiver.received().iter().all(|r| r.verified.is_ok()));
}

#[tokio::test]
async fn a_short_retry_after_is_waited_out_within_the_quick_attempts() {
    let receiver = Receiver::start(
        support::SECRET,
        &[Answer::StatusWithRetryAfter(429, "0"), Answer::Status(200)],
    )
    .await;
    let outcome = deliver(&receiver, 2).await;
    assert_eq!(
        outcome,
        EndpointOutcome::Delivered {
            status: StatusCode::OK
        }
    );
}

#[tokio::test]
async fn a_long_retry_after_ends_the_quick_attempts_and_is_reported() {
    let receiver =
        Receiver::start(support::SECRET, &[Answer::StatusWithRetryAfter(503, "120")]).await;
    let outcome = deliver(&receiver, 3).await;
    assert_eq!(
        outcome,
        EndpointOutcome::Unreachable {
            reason: "HTTP 503 Service Unavailable".into(),
            retry_after: Some(Duration::from_secs(120)),
        }
    );
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn every_quick_attempt_failing_leaves_the_endpoint_unreachable() {
    let receiver = Receiver::start(support::SECRET, &[Answer::Status(500)]).await;
    let outcome = deliver(&receiver, 3).await;
    assert!(
        matches!(&outcome, EndpointOutcome::Unreachable { reason, retry_after: None } if reason.contains("500")),
        "{outcome:?}"
    );
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn a_client_error_is_a_rejection_and_not_retried() {
    for status in [404, 410, 400] {
        let receiver = Receiver::start(support::SECRET, &[Answer::Status(status)]).await;
        let outcome = deliver(&receiver, 3).await;
        assert_eq!(
            outcome,
            EndpointOutcome::Rejected {
                status: StatusCode::from_u16(status).unwrap()
            }
        );
        assert_eq!(receiver.received().len(), 1, "{status}");
    }
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let receiver = Receiver::start(support::SECRET, &[Answer::Status(307)]).await;
    let outcome = deliver(&receiver, 3).await;
    assert_eq!(
        outcome,
        EndpointOutcome::Rejected {
            status: StatusCode::TEMPORARY_REDIRECT
        }
    );
}

#[tokio::test]
async fn an_endpoint_that_does_not_answer_in_time_is_unreachable() {
    let receiver = Receiver::start(support::SECRET, &[Answer::Hang(Duration::from_secs(60))]).await;
    let mut config = webhook("slow", &receiver, &[EventKind::ItemPublished]);
    config.timeout = Duration::from_millis(300);
    let client = WebhookClient::new(&delivery(2, 1)).unwrap();

    let outcome = client
        .deliver(&Endpoint::new(config).unwrap(), &published())
        .await;

    assert!(
        matches!(&outcome, EndpointOutcome::Unreachable { reason, .. } if reason.contains("no answer within")),
        "{outcome:?}"
    );
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn a_refused_connection_is_unreachable() {
    let receiver = Receiver::start(support::SECRET, &[Answer::Status(200)]).await;
    let mut config = webhook("closed", &receiver, &[EventKind::ItemPublished]);
    let port = nrt_nats::server::free_port().unwrap();
    config.url = format!("http://127.0.0.1:{port}/hook").parse().unwrap();
    let client = WebhookClient::new(&delivery(2, 1)).unwrap();

    let outcome = client
        .deliver(&Endpoint::new(config).unwrap(), &published())
        .await;

    assert!(
        matches!(
            outcome,
            EndpointOutcome::Unreachable {
                retry_after: None,
                ..
            }
        ),
        "{outcome:?}"
    );
}
