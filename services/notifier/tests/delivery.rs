//! The notifier over a real nats-server, delivering to local receivers: filters, outages and
//! recovery, isolation of slow endpoints, Retry-After, gone endpoints and dead letters.

mod support;

use std::{collections::BTreeSet, time::Duration};

use bytes::Bytes;
use notifier::{
    area::AreaConfig, consumers::durable_name, delivery::ENDPOINT_GONE, disabled,
    notification::EventKind,
};
use nrt_events::{Alert, DeadLetter, Severity};
use nrt_nats::EventTap;
use support::{
    CATALOGUE, JOBS, Running, SECRET, WAIT, consumer_info, delivery, events, eventually,
    receiver::{Answer, Receiver, Verdict},
    wait_until_settled, webhook,
};

const ITEMS: &[EventKind] = &[EventKind::ItemPublished];
const PUBLISHER: &str = "/nrt-mesh/catalogue-publisher";
const LAUNCHER: &str = "/nrt-mesh/processor-launcher";

#[tokio::test]
async fn events_go_only_to_subscriptions_whose_filters_accept_them() {
    let failures = Receiver::start(SECRET, &[]).await;
    let deaths = Receiver::start(SECRET, &[]).await;
    let here = Receiver::start(SECRET, &[]).await;
    let elsewhere = Receiver::start(SECRET, &[]).await;
    let area = |mut subscription: notifier::SubscriptionConfig, bbox: [f64; 4]| {
        subscription.area_of_interest = Some(AreaConfig::Bbox(bbox.to_vec()));
        subscription
    };
    let subscriptions = vec![
        webhook("failures", &failures.url(), &[EventKind::JobFailed]),
        webhook("deaths", &deaths.url(), &[EventKind::JobDead]),
        // The recorded product is tile 54PXA, near Guam; the other area is the Alps.
        area(
            webhook("pacific", &here.url(), ITEMS),
            [140.0, 10.0, 150.0, 20.0],
        ),
        area(
            webhook("alps", &elsewhere.url(), ITEMS),
            [5.0, 44.0, 16.0, 48.0],
        ),
    ];
    let running = Running::start(delivery(3, 5), subscriptions).await;

    let (failed, failed_body, failed_at) = running.publish(LAUNCHER, events::job_failed()).await;
    let (dead, _, dead_at) = running.publish(LAUNCHER, events::job_dead()).await;
    let (item, _, item_at) = running.publish(PUBLISHER, events::item("snow")).await;
    // A consumer's acknowledgements reach only as far as the last event it reads.
    wait_until_settled(&running.js, JOBS, "failures", failed_at).await;
    wait_until_settled(&running.js, JOBS, "deaths", dead_at).await;
    for name in ["pacific", "alps"] {
        wait_until_settled(&running.js, CATALOGUE, name, item_at).await;
    }

    let [request] = failures.received().try_into().unwrap();
    assert_eq!(
        (request.id(), &request.body),
        (failed.id.as_str(), &failed_body)
    );
    assert_eq!(deaths.accepted_ids(), [dead.id]);
    assert_eq!(here.accepted_ids(), [item.id]);
    assert!(elsewhere.received().is_empty());
    running.stop().await;
}

#[tokio::test]
async fn alerts_reach_subscriptions_by_severity() {
    let on_call = Receiver::start(SECRET, &[]).await;
    let mut subscription = webhook("on-call", &on_call.url(), &[EventKind::Alert]);
    subscription.min_severity = Some(Severity::Critical);
    let running = Running::start(delivery(3, 5), vec![subscription]).await;

    running
        .publish(
            "/nrt-mesh/ingestor",
            events::alert(Severity::Warning, "feed-stalled"),
        )
        .await;
    // About another feed: an alert's id names what it is about, not its severity.
    let mut stalled = events::alert(Severity::Critical, "feed-stalled");
    stalled.about = "cdse-live".into();
    let (critical, body, sequence) = running.publish("/nrt-mesh/ingestor", stalled).await;
    wait_until_settled(&running.js, "ALERTS", "on-call", sequence).await;

    let [request] = on_call.received().try_into().unwrap();
    assert_eq!((request.id(), &request.body), (critical.id.as_str(), &body));
    running.stop().await;
}

#[tokio::test]
async fn an_endpoint_down_for_a_while_gets_each_notification_once_after_recovery() {
    // Nothing listens here until the endpoint comes back.
    let port = nrt_nats::server::free_port().unwrap();
    let healthy = Receiver::start(SECRET, &[]).await;
    let subscriptions = vec![
        webhook(
            "recovering",
            &format!("http://127.0.0.1:{port}/hook"),
            ITEMS,
        ),
        webhook("healthy", &healthy.url(), ITEMS),
    ];
    let running = Running::start(delivery(2, 1000), subscriptions).await;

    let mut published = BTreeSet::new();
    let mut last = 0;
    for collection in ["snow", "ice", "water", "forest", "urban"] {
        let (event, _, sequence) = running.publish(PUBLISHER, events::item(collection)).await;
        published.insert(event.id);
        last = sequence;
    }
    // During the outage the healthy subscription gets everything, and the other one retries.
    healthy.wait_for_accepted(5).await;
    let durable = durable_name("recovering");
    eventually("redeliveries during the outage", || async {
        consumer_info(&running.js, CATALOGUE, &durable)
            .await
            .num_redelivered
            > 0
    })
    .await;

    let recovered = Receiver::start_on(port, SECRET, &[]).await;
    wait_until_settled(&running.js, CATALOGUE, "recovering", last).await;

    let received = recovered.received();
    assert!(
        received.iter().all(|r| r.verdict == Verdict::Fresh),
        "{received:?}"
    );
    let ids: BTreeSet<String> = recovered.accepted_ids().into_iter().collect();
    assert_eq!((ids, received.len()), (published.clone(), 5));
    let healthy_ids: BTreeSet<String> = healthy.accepted_ids().into_iter().collect();
    assert_eq!((healthy_ids, healthy.received().len()), (published, 5));
    running.stop().await;
}

#[tokio::test]
async fn a_slow_endpoint_holds_up_no_other_subscription() {
    let slow = Receiver::start(SECRET, &[Answer::Hang(Duration::from_secs(10))]).await;
    let fast = Receiver::start(SECRET, &[]).await;
    let mut patient = webhook("slow", &slow.url(), ITEMS);
    patient.timeout = Duration::from_secs(15);
    let subscriptions = vec![patient, webhook("fast", &fast.url(), ITEMS)];
    let running = Running::start(delivery(1, 5), subscriptions).await;

    running.publish(PUBLISHER, events::item("snow")).await;
    slow.wait_for(1).await;
    // While the slow endpoint sits on the first event, the others go out to the fast one.
    running.publish(PUBLISHER, events::item("ice")).await;
    running.publish(PUBLISHER, events::item("water")).await;
    fast.wait_for_accepted(3).await;
    assert_eq!(
        slow.completed(),
        0,
        "the slow endpoint has not answered yet"
    );
    // Not drained: draining would wait out the slow answer.
    running.service.abort();
}

#[tokio::test]
async fn an_endpoint_that_is_gone_disables_its_subscription_until_it_is_enabled_again() {
    let gone = Receiver::start(SECRET, &[Answer::Status(410)]).await;
    let witness = Receiver::start(SECRET, &[]).await;
    let subscriptions = vec![
        webhook("gone", &gone.url(), ITEMS),
        webhook("witness", &witness.url(), ITEMS),
    ];
    let running = Running::start(delivery(3, 5), subscriptions).await;
    let js = &running.js;
    let mut alerts = EventTap::open(js, "ALERTS", "alerts.>").await.unwrap();

    let (first, _, _) = running.publish(PUBLISHER, events::item("snow")).await;
    let alert = alerts.next::<Alert>(WAIT).await.unwrap().data;
    assert_eq!(
        (
            alert.severity,
            alert.kind.as_str(),
            alert.about.as_str(),
            alert.service.as_str()
        ),
        (Severity::Critical, ENDPOINT_GONE, "gone", "notifier")
    );
    assert!(alert.message.contains("HTTP 410 Gone"), "{}", alert.message);
    assert!(
        alert.message.contains("nats kv del notifier-disabled gone"),
        "{}",
        alert.message
    );
    eventually("the subscription recorded as disabled", || async {
        disabled::list(js).await.unwrap().contains_key("gone")
    })
    .await;
    assert_eq!(
        disabled::list(js).await.unwrap()["gone"].reason,
        "HTTP 410 Gone"
    );

    let (second, _, _) = running.publish(PUBLISHER, events::item("ice")).await;
    let (third, _, last) = running.publish(PUBLISHER, events::item("water")).await;
    witness.wait_for_accepted(3).await;
    wait_until_settled(js, CATALOGUE, "witness", last).await;
    assert_eq!(gone.received().len(), 1, "no attempt after the 410");
    let info = consumer_info(js, CATALOGUE, &durable_name("gone")).await;
    assert_eq!(info.ack_floor.stream_sequence, 0, "nothing acknowledged");
    assert_eq!(
        info.num_ack_pending as u64 + info.num_pending,
        3,
        "all wait: {info:?}"
    );

    // The operator fixes the endpoint and enables the subscription: everything arrives, once.
    gone.answer(&[Answer::Status(200)]);
    let disabling = disabled::enable(js, "gone").await.unwrap().unwrap();
    assert_eq!(disabling.reason, "HTTP 410 Gone");
    wait_until_settled(js, CATALOGUE, "gone", last).await;
    let delivered: BTreeSet<String> = gone.accepted_ids().into_iter().collect();
    assert_eq!(delivered, BTreeSet::from([first.id, second.id, third.id]));
    assert_eq!(gone.received().len(), 4);
    // One alert, however many events met the 410.
    let later: Vec<_> = alerts.drain_raw(Duration::from_millis(300)).await;
    assert!(later.is_empty(), "{later:?}");
    running.stop().await;
}

#[tokio::test]
async fn a_retry_after_is_waited_out_before_the_next_attempt() {
    let receiver = Receiver::start(
        SECRET,
        &[Answer::StatusWithRetryAfter(503, "2"), Answer::Status(200)],
    )
    .await;
    let subscriptions = vec![webhook("busy", &receiver.url(), ITEMS)];
    // Three quick attempts, but a wait longer than their pauses hands the event back.
    let running = Running::start(delivery(3, 5), subscriptions).await;

    running.publish(PUBLISHER, events::item("snow")).await;
    let [asked, retried] = receiver.wait_for_accepted(1).await.try_into().unwrap();

    assert_eq!((asked.answered, retried.answered), (503, 200));
    let waited = retried.at - asked.at;
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}");
    running.stop().await;
}

#[tokio::test]
async fn an_event_whose_deliveries_are_used_up_is_dead_lettered_per_subscription() {
    let down = Receiver::start(SECRET, &[Answer::Status(503)]).await;
    let subscriptions = vec![
        webhook("down-a", &down.url(), ITEMS),
        webhook("down-b", &down.url(), ITEMS),
    ];
    let running = Running::start(delivery(2, 3), subscriptions).await;
    let mut dead_letters = EventTap::open(&running.js, "DLQ", "dlq.notifier")
        .await
        .unwrap();
    let mut alerts = EventTap::open(
        &running.js,
        "ALERTS",
        "alerts.warning.notification-undelivered",
    )
    .await
    .unwrap();

    let (_, body, _) = running.publish(PUBLISHER, events::item("snow")).await;

    let mut errors = BTreeSet::new();
    for _ in 0..2 {
        let letter = dead_letters.next::<DeadLetter>(WAIT).await.unwrap().data;
        assert_eq!(letter.deliveries, Some(3));
        assert_eq!(letter.payload.as_bytes(), &body[..]);
        errors.insert(letter.error);
    }
    let reason = "webhook not delivered: gave up after 3 deliveries: HTTP 503 Service Unavailable";
    assert_eq!(
        errors,
        BTreeSet::from([
            format!("subscription down-a: {reason}"),
            format!("subscription down-b: {reason}"),
        ])
    );
    let mut about = BTreeSet::new();
    for _ in 0..2 {
        about.insert(alerts.next::<Alert>(WAIT).await.unwrap().data.about);
    }
    assert_eq!(
        about,
        BTreeSet::from(["down-a".to_owned(), "down-b".to_owned()])
    );
    // Two quick attempts in each of three deliveries, for each subscription.
    assert_eq!(down.received().len(), 12);
    running.stop().await;
}

#[tokio::test]
async fn a_malformed_event_is_dead_lettered_once_however_many_subscriptions_read_it() {
    let receiver = Receiver::start(SECRET, &[]).await;
    let subscriptions = vec![
        webhook("one", &receiver.url(), ITEMS),
        webhook("two", &receiver.url(), ITEMS),
    ];
    let running = Running::start(delivery(3, 5), subscriptions).await;
    let mut dead_letters = EventTap::open(&running.js, "DLQ", "dlq.notifier")
        .await
        .unwrap();

    let body = Bytes::from_static(
        br#"{"specversion":"1.0","id":"x","type":"eu.nrtmesh.item.published.v1"}"#,
    );
    let ack = running
        .publisher
        .publish_raw(
            "catalogue.published.snow".into(),
            "malformed-1",
            body.clone(),
        )
        .await
        .unwrap();
    for name in ["one", "two"] {
        wait_until_settled(&running.js, CATALOGUE, name, ack.sequence).await;
    }

    let letter = dead_letters.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert_eq!(letter.subject, "catalogue.published.snow");
    assert_eq!(letter.payload.as_bytes(), &body[..]);
    assert!(letter.error.contains("item-published"), "{}", letter.error);
    assert_eq!(letter.deliveries, Some(1));
    assert!(
        dead_letters
            .drain_raw(Duration::from_millis(300))
            .await
            .is_empty()
    );
    assert!(receiver.received().is_empty());
    running.stop().await;
}
