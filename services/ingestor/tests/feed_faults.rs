//! Feed and mesh faults: malformed pages, rate limits, a feed that is down, a NATS server killed
//! mid-poll. Nothing is lost, the cursor waits, and operators are alerted.

mod common;

use std::{collections::BTreeSet, time::Duration};

use common::*;
use ingestor::FeedConfig;
use nrt_cdse_replay::{Fault, ReleaseSchedule, ReplayFeed, ReplayOptions};
use nrt_events::{Alert, streams};
use url::Url;

#[tokio::test]
async fn malformed_pages_alert_after_the_streak_keep_the_cursor_and_lose_nothing() {
    let nats = nats().await;
    let replay = ReplayFeed::recorded()
        .start(ReplayOptions {
            schedule: ReleaseSchedule::Manual { visible: 30 },
            ..ReplayOptions::default()
        })
        .await
        .unwrap();
    let mut wire = WireTap::open(&nats).await;
    let mut tap = products_tap(&nats).await;
    let mut alerts = failing_alerts_tap(&nats).await;
    let ingestor = Ingestor::start(config(&nats, vec![replay_feed("cdse", &replay)]));
    next_products(&mut tap, 30).await;
    let before = stored_cursor(&nats, "cdse").await.unwrap();
    let answered_before = replay.requests().len();

    // Each poll makes two attempts: these forty faulty answers are a streak of ~twenty polls.
    for fault in [
        Fault::TruncatedBody,
        Fault::MalformedBody,
        Fault::MissingValue,
        Fault::Status(503),
    ] {
        replay.inject(fault, 10);
    }
    replay.release(9);

    let alert: Alert = alerts.next(WAIT).await.unwrap().data;
    assert_eq!(
        (alert.kind.as_str(), alert.about.as_str()),
        ("feed-failing", "cdse")
    );
    assert!(
        alert
            .message
            .starts_with("feed cdse failed 2 polls in a row; last error: http://127.0.0.1:"),
        "{}",
        alert.message
    );
    assert_eq!(stored_cursor(&nats, "cdse").await.unwrap(), before);

    next_products(&mut tap, 9).await;
    let sent = wire.keys_until_quiet().await;
    ingestor.stop().await;
    assert_eq!(sent.len(), 39);
    assert_eq!(stored_product_count(&nats).await, 39);
    assert!(
        alerts.drain_raw(QUIET).await.is_empty(),
        "one alert per streak"
    );

    // Every request of the streak, up to the last 503, asked from the same cursor.
    let requests = replay.requests();
    let last_fault = requests.iter().rposition(|r| r.status == 503).unwrap();
    let streak = &requests[answered_before..=last_fault];
    assert!(streak.len() >= 40);
    let asked: BTreeSet<&str> = streak.iter().map(|request| request.url.as_str()).collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
}

#[tokio::test]
async fn retry_after_of_a_429_is_waited_out_before_asking_again() {
    let nats = nats().await;
    let replay = ReplayFeed::recorded()
        .start(ReplayOptions::default())
        .await
        .unwrap();
    replay.inject(
        Fault::TooManyRequests {
            retry_after: Duration::from_secs(1),
        },
        1,
    );
    let mut tap = products_tap(&nats).await;
    let ingestor = Ingestor::start(config(&nats, vec![replay_feed("cdse", &replay)]));
    next_products(&mut tap, 39).await;
    ingestor.stop().await;

    let requests = replay.requests();
    assert_eq!(requests[0].status, 429);
    let waited = requests[1].received_at - requests[0].received_at;
    // The retry policy alone would have asked again after at most 100 ms.
    assert!(
        waited >= Duration::from_millis(900),
        "asked again after {waited:?}"
    );
    assert_eq!(requests[1].url, requests[0].url);
}

#[tokio::test]
async fn a_feed_that_is_down_alerts_without_stopping_the_others() {
    let nats = nats().await;
    let replay = ReplayFeed::recorded()
        .start(ReplayOptions::default())
        .await
        .unwrap();
    let port = nrt_nats::server::free_port().unwrap();
    let mut down = FeedConfig::cdse(
        "down",
        Url::parse(&format!("http://127.0.0.1:{port}/odata/v1")).unwrap(),
    );
    down.poll_interval = Duration::from_millis(100);
    down.retry.attempts = 0;
    down.alert_after_failures = 2;
    let mut tap = products_tap(&nats).await;
    let mut alerts = failing_alerts_tap(&nats).await;
    let ingestor = Ingestor::start(config(&nats, vec![down, replay_feed("cdse", &replay)]));

    let alert: Alert = alerts.next(WAIT).await.unwrap().data;
    assert_eq!(alert.about, "down");
    assert!(alert.message.contains(&format!(
        "request to http://127.0.0.1:{port}/odata/v1/Products?"
    )));
    let products = next_products(&mut tap, 39).await;
    ingestor.stop().await;
    assert!(products.iter().all(|product| product.feed == "cdse"));
    assert_eq!(
        stored_cursor(&nats, "down")
            .await
            .map(|c| c.ids_at_cursor.len()),
        Some(0)
    );
}

#[tokio::test]
async fn products_of_a_page_cut_off_by_a_nats_crash_arrive_once_after_the_restart() {
    let mut nats = nats().await;
    let replay = ReplayFeed::recorded()
        .start(ReplayOptions::default())
        .await
        .unwrap();
    // The first page is answered at once; the second is held while NATS goes away.
    replay.inject(Fault::Delay(Duration::ZERO), 1);
    replay.inject(Fault::Delay(Duration::from_secs(2)), 1);
    let mut feed = replay_feed("crash", &replay);
    feed.odata_mut().unwrap().page_size = 5;
    feed.request_timeout = Duration::from_secs(10);
    let fifth_published = golden_published_times()[4];
    let mut config = config(&nats, vec![feed]);
    let health =
        std::net::SocketAddr::from(([127, 0, 0, 1], nrt_nats::server::free_port().unwrap()));
    config.health.listen = Some(health);
    let ingestor = Ingestor::start(config);
    eventually("the first page's cursor is committed", async || {
        stored_cursor(&nats, "crash")
            .await
            .is_some_and(|cursor| cursor.published_at == fifth_published)
    })
    .await;
    nats.kill().await;
    // The held page arrives with NATS gone: its PubAcks never come, and the poll fails.
    eventually("a poll failed", async || {
        poll_failures(health, "crash").await >= 1
    })
    .await;
    nats.restart().await.unwrap();

    let mut tap = products_tap(&nats).await;
    let products = next_products(&mut tap, 39).await;
    assert!(tap.drain_raw(QUIET).await.is_empty());
    ingestor.stop().await;
    let keys: BTreeSet<&str> = products.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys.len(), 39);
    assert_eq!(stored_product_count(&nats).await, 39);
    let newest = golden_products()
        .values()
        .map(|p| p.published_at)
        .max()
        .unwrap();
    assert_eq!(
        stored_cursor(&nats, "crash").await.unwrap().published_at,
        newest
    );
}

#[tokio::test]
async fn timeouts_and_oversized_answers_are_asked_again_and_every_product_is_stored_once() {
    let nats = nats().await;
    let replay = ReplayFeed::recorded()
        .start(ReplayOptions::default())
        .await
        .unwrap();
    let mut feed = replay_feed("cdse", &replay);
    feed.request_timeout = Duration::from_millis(300);
    feed.max_body_bytes = 512 * 1024;
    replay.inject(Fault::Delay(Duration::from_secs(2)), 1);
    replay.inject(Fault::OversizedBody { bytes: 1024 * 1024 }, 1);
    replay.inject(Fault::Delay(Duration::from_secs(2)), 1);
    let mut wire = WireTap::open(&nats).await;
    let mut tap = products_tap(&nats).await;
    let ingestor = Ingestor::start(config(&nats, vec![feed]));
    next_products(&mut tap, 39).await;
    let sent = wire.keys_until_quiet().await;
    ingestor.stop().await;
    assert_eq!(sent.len(), 39, "no page was published twice");
    assert_eq!(stored_product_count(&nats).await, 39);
    let statuses: Vec<u16> = replay.requests().iter().map(|r| r.status).collect();
    // Three faulty answers before the first good page; delayed ones are logged when sent.
    assert!(statuses.len() >= 4, "{statuses:?}");
}

#[tokio::test]
async fn a_feed_silent_past_its_cadence_raises_one_stalled_alert() {
    let nats = nats().await;
    let replay = ReplayFeed::recorded()
        .start(ReplayOptions {
            schedule: ReleaseSchedule::Manual { visible: 5 },
            ..ReplayOptions::default()
        })
        .await
        .unwrap();
    let mut feed = replay_feed("quiet", &replay);
    feed.stalled_after = Some(Duration::from_secs(1));
    let mut alerts = tap(&nats, streams::ALERTS, "alerts.warning.feed-stalled").await;
    let mut tap = products_tap(&nats).await;
    let ingestor = Ingestor::start(config(&nats, vec![feed]));
    next_products(&mut tap, 5).await;
    let alert: Alert = alerts.next(WAIT).await.unwrap().data;
    assert_eq!(
        (alert.kind.as_str(), alert.about.as_str()),
        ("feed-stalled", "quiet")
    );
    assert!(
        alert
            .message
            .starts_with("feed quiet brought no new product for "),
        "{}",
        alert.message
    );
    assert!(
        alerts.drain_raw(QUIET).await.is_empty(),
        "one alert per silence"
    );
    // New products end the silence; polls go on either way.
    replay.release(3);
    next_products(&mut tap, 3).await;
    ingestor.stop().await;
}

/// Publication times of the recorded products, oldest first.
fn golden_published_times() -> Vec<chrono::DateTime<chrono::Utc>> {
    let mut times: Vec<_> = golden_products().values().map(|p| p.published_at).collect();
    times.sort();
    times
}

/// `nrt_ingestor_poll_failures_total` for `feed`, read from the ingestor's `/metrics`.
async fn poll_failures(health: std::net::SocketAddr, feed: &str) -> u64 {
    let Ok(response) = reqwest::get(format!("http://{health}/metrics")).await else {
        return 0;
    };
    let text = response.text().await.unwrap_or_default();
    let series = format!("nrt_ingestor_poll_failures_total{{feed=\"{feed}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}
