//! Webhooks over real HTTP from the notifier running on a real nats-server, to receivers that
//! check every request: what is sent, what a receiver refuses, and secret rotation.

mod support;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use notifier::{
    SubscriptionConfig,
    notification::EventKind,
    signature::{self, SigningKey, VerifyError},
};
use nrt_events::DeadLetter;
use nrt_nats::EventTap;
use nrt_runtime::Secret;
use support::{
    CATALOGUE, OTHER_SECRET, Running, SECRET, UNKNOWN_SECRET, WAIT, delivery, events,
    receiver::{Answer, Receiver, Verdict},
    wait_until_settled, webhook,
};

const ITEMS: &[EventKind] = &[EventKind::ItemPublished];
const PUBLISHER: &str = "/nrt-mesh/catalogue-publisher";

fn signed_with(mut subscription: SubscriptionConfig, secrets: &[&str]) -> SubscriptionConfig {
    let webhook = subscription.webhook.as_mut().unwrap();
    webhook.secrets = secrets.iter().map(|s| Secret::new(*s)).collect();
    subscription
}

#[tokio::test]
async fn a_published_item_is_posted_once_signed_and_byte_for_byte() {
    let receiver = Receiver::start(SECRET, &[Answer::Status(204)]).await;
    let subscription = webhook("snow-users", &receiver.url(), ITEMS);
    let running = Running::start(delivery(3, 5), vec![subscription]).await;

    // An orbit file: its id holds dots, which the signature scheme must survive.
    let item = events::item_about(events::recorded(events::ORBIT_PRODUCT), "orbits");
    let (event, body, sequence) = running.publish(PUBLISHER, item).await;
    wait_until_settled(&running.js, CATALOGUE, "snow-users", sequence).await;

    let [request] = receiver.received().try_into().unwrap();
    assert_eq!(request.verdict, Verdict::Fresh);
    assert_eq!(request.body, body, "the CloudEvent is posted as received");
    assert_eq!(request.id(), event.id);
    assert_eq!(request.headers["content-type"], "application/json");
    let signatures = request.headers[signature::SIGNATURE_HEADER]
        .to_str()
        .unwrap();
    assert!(
        signatures.starts_with("v1,") && !signatures.contains(' '),
        "{signatures}"
    );
    running.stop().await;
}

/// Replays a request the notifier sent, changed in one way, and returns what the receiver made
/// of it.
async fn replay(
    receiver: &Receiver,
    original: &support::receiver::Received,
    change: impl FnOnce(&mut reqwest::header::HeaderMap, &mut Bytes),
) -> Verdict {
    let mut headers = original.headers.clone();
    let mut body = original.body.clone();
    change(&mut headers, &mut body);
    let before = receiver.received().len();
    reqwest::Client::new()
        .post(receiver.url())
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    receiver.received()[before].verdict.clone()
}

fn resign(headers: &mut reqwest::header::HeaderMap, body: &[u8], secret: &str, at: SystemTime) {
    let key: SigningKey = secret.parse().unwrap();
    let id = headers[signature::ID_HEADER].to_str().unwrap().to_owned();
    let timestamp = signature::unix_seconds(at);
    let signature = signature::sign(&key, &id, timestamp, body);
    headers.insert(
        signature::TIMESTAMP_HEADER,
        timestamp.to_string().parse().unwrap(),
    );
    headers.insert(signature::SIGNATURE_HEADER, signature.parse().unwrap());
}

#[tokio::test]
async fn the_receiver_refuses_tampered_bodies_wrong_keys_stale_timestamps_and_replays() {
    let receiver = Receiver::start(SECRET, &[Answer::Status(200)]).await;
    let subscription = webhook("snow-users", &receiver.url(), ITEMS);
    let running = Running::start(delivery(3, 5), vec![subscription]).await;
    running.publish(PUBLISHER, events::item("snow")).await;
    let [genuine] = receiver.wait_for_accepted(1).await.try_into().unwrap();

    let tampered = replay(&receiver, &genuine, |_, body| {
        *body = Bytes::from(
            String::from_utf8(body.to_vec())
                .unwrap()
                .replace("snow", "sn0w"),
        );
    })
    .await;
    assert_eq!(tampered, Verdict::Refused(VerifyError::Mismatch));

    let wrong_key = replay(&receiver, &genuine, |headers, body| {
        resign(headers, body, OTHER_SECRET, SystemTime::now());
    })
    .await;
    assert_eq!(wrong_key, Verdict::Refused(VerifyError::Mismatch));

    let stale = replay(&receiver, &genuine, |headers, body| {
        resign(
            headers,
            body,
            SECRET,
            SystemTime::now() - Duration::from_secs(600),
        );
    })
    .await;
    assert!(
        matches!(stale, Verdict::Refused(VerifyError::Stale { .. })),
        "{stale:?}"
    );

    // Authentic and fresh, but already processed: acknowledged, not processed again.
    let replayed = replay(&receiver, &genuine, |_, _| {}).await;
    assert_eq!(replayed, Verdict::Replayed);
    assert_eq!(receiver.accepted_ids(), [genuine.id()]);
    running.stop().await;
}

#[tokio::test]
async fn during_a_rotation_receivers_with_either_secret_verify_and_others_refuse() {
    let old = Receiver::start(SECRET, &[Answer::Status(200)]).await;
    let new = Receiver::start(OTHER_SECRET, &[Answer::Status(200)]).await;
    let stranger = Receiver::start(UNKNOWN_SECRET, &[Answer::Status(200)]).await;
    let rotating = [SECRET, OTHER_SECRET];
    let subscriptions = vec![
        signed_with(webhook("old", &old.url(), ITEMS), &rotating),
        signed_with(webhook("new", &new.url(), ITEMS), &rotating),
        signed_with(webhook("stranger", &stranger.url(), ITEMS), &rotating),
    ];
    let running = Running::start(delivery(3, 5), subscriptions).await;
    let mut dead_letters = EventTap::open(&running.js, "DLQ", "dlq.notifier")
        .await
        .unwrap();

    let (event, body, _) = running.publish(PUBLISHER, events::item("snow")).await;

    for receiver in [&old, &new] {
        let [request] = receiver.wait_for_accepted(1).await.try_into().unwrap();
        assert_eq!(request.body, body);
        let signatures = request.headers[signature::SIGNATURE_HEADER]
            .to_str()
            .unwrap();
        assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    }
    // The receiver holding neither secret refuses; asking again would not help.
    let letter = dead_letters.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert_eq!(
        letter.error,
        "subscription stranger: webhook not delivered: HTTP 401 Unauthorized; not retried"
    );
    assert_eq!(letter.payload.as_bytes(), &body[..]);
    let [refused] = stranger.received().try_into().unwrap();
    assert_eq!(refused.verdict, Verdict::Refused(VerifyError::Mismatch));
    assert_eq!(refused.id(), event.id);
    running.stop().await;
}
