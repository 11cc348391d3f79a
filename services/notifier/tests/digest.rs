//! Digest mode over a real nats-server: what arrives in a window goes out as one message.

mod support;

use std::{collections::BTreeSet, time::Duration};

use notifier::{
    channel::{DIGEST_CONTENT_TYPE, digest_id},
    notification::EventKind,
    signature,
};
use support::{
    CATALOGUE, Running, SECRET, delivery, events,
    receiver::{Answer, Receiver, Verdict},
    wait_until_settled, webhook,
};

const ITEMS: &[EventKind] = &[EventKind::ItemPublished];
const PUBLISHER: &str = "/nrt-mesh/catalogue-publisher";

#[tokio::test]
async fn five_events_make_one_signed_message_resent_whole_with_the_same_id() {
    let receiver = Receiver::start(SECRET, &[Answer::Status(503), Answer::Status(200)]).await;
    let mut subscription = webhook("daily", &receiver.url(), ITEMS);
    // The window outlasts the test: the cap of five ends the gathering.
    subscription.digest = Some(Duration::from_secs(60));
    let mut settings = delivery(1, 5);
    settings.digest_max_events = 5;
    let running = Running::start(settings, vec![subscription]).await;

    let mut bodies = Vec::new();
    let mut last = 0;
    for collection in ["snow", "ice", "water", "forest", "urban"] {
        let (_, body, sequence) = running.publish(PUBLISHER, events::item(collection)).await;
        bodies.push(body);
        last = sequence;
    }
    wait_until_settled(&running.js, CATALOGUE, "daily", last).await;

    let [failed, delivered] = receiver.received().try_into().unwrap();
    assert_eq!(
        (failed.answered, &delivered.verdict),
        (503, &Verdict::Fresh)
    );
    assert_eq!(failed.id(), delivered.id(), "a resent digest keeps its id");
    assert!(delivered.id().starts_with("digest_"), "{}", delivered.id());
    assert_eq!(delivered.headers["content-type"], DIGEST_CONTENT_TYPE);
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&delivered.body).unwrap();
    assert_eq!(entries.len(), 5);
    // Each CloudEvent byte for byte as published, whatever the order.
    let text = String::from_utf8(delivered.body.to_vec()).unwrap();
    for body in &bodies {
        assert!(text.contains(std::str::from_utf8(body).unwrap()));
    }
    let ids: BTreeSet<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 5);
    let signatures = delivered.headers[signature::SIGNATURE_HEADER]
        .to_str()
        .unwrap();
    assert!(signatures.starts_with("v1,"), "{signatures}");
    running.stop().await;
}

#[tokio::test]
async fn a_window_ends_with_what_arrived() {
    let receiver = Receiver::start(SECRET, &[]).await;
    let mut subscription = webhook("hourly", &receiver.url(), ITEMS);
    subscription.digest = Some(Duration::from_millis(500));
    let running = Running::start(delivery(1, 5), vec![subscription]).await;

    let (first, _, _) = running.publish(PUBLISHER, events::item("snow")).await;
    let (second, _, last) = running.publish(PUBLISHER, events::item("ice")).await;
    wait_until_settled(&running.js, CATALOGUE, "hourly", last).await;

    // One digest, or two if the events fell either side of a window's end.
    let mut listed = Vec::new();
    for request in receiver.received() {
        assert_eq!(request.verdict, Verdict::Fresh);
        let entries: Vec<serde_json::Value> = serde_json::from_slice(&request.body).unwrap();
        listed.extend(entries.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
    }
    listed.sort();
    let mut expected = vec![first.id, second.id];
    expected.sort();
    assert_eq!(listed, expected);
    running.stop().await;
}

#[test]
fn a_digest_id_depends_on_the_events_not_their_order() {
    let notification = |collection: &str| {
        let event = nrt_events::Envelope::new(PUBLISHER, events::item(collection));
        notifier::notification::Notification::decode(
            &nrt_events::EventData::subject(&event.data),
            bytes::Bytes::from(event.to_json()),
            None,
        )
        .unwrap()
    };
    let (a, b, c) = (notification("a"), notification("b"), notification("c"));
    let forward = digest_id(&[a.clone(), b.clone()]);
    assert_eq!(forward, digest_id(&[b.clone(), a.clone()]));
    assert_ne!(forward, digest_id(&[a, b, c]));
}
