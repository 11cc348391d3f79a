//! `nrtmesh backfill`'s engine: a window of a feed's history walked through the same dedup path,
//! resumable after an interruption, leaving the live cursor alone.

mod common;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use common::*;
use ingestor::backfill::{self, Backfill};
use nrt_cdse_replay::{ReplayFeed, ReplayOptions};
use nrt_runtime::{Shutdown, shutdown};

#[tokio::test]
async fn a_window_is_walked_once_and_resumes_where_an_interruption_left_it() {
    let nats = nats().await;
    let replay = ReplayFeed::recorded()
        .start(ReplayOptions::default())
        .await
        .unwrap();
    let mut feed = replay_feed("cdse", &replay);
    feed.odata_mut().unwrap().page_size = 5;
    let config = config(&nats, vec![feed]);
    let mut times: Vec<DateTime<Utc>> =
        golden_products().values().map(|p| p.published_at).collect();
    times.sort();
    // From the 6th to the 30th product: 25 of the 39, over five pages or more.
    let campaign = Backfill {
        feed: "cdse".into(),
        from: times[5],
        until: times[29],
    };
    let in_window = times
        .iter()
        .filter(|time| (campaign.from..=campaign.until).contains(time))
        .count();

    // The first walk is stopped after its second page, as Ctrl-C would.
    let (stop, stopping) = shutdown::manual();
    let stop = Mutex::new(Some(stop));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let first = backfill::run(
        &config,
        &campaign,
        Box::new({
            let seen = seen.clone();
            move |report| {
                seen.lock().unwrap().push(report.discovered);
                if report.pages == 2 {
                    stop.lock().unwrap().take().unwrap().trigger();
                }
            }
        }),
        stopping,
    )
    .await
    .unwrap();
    assert_eq!(first.pages, 2);
    let interrupted_at = first.cursor.published_at;
    assert!(interrupted_at < campaign.until);
    assert_eq!(stored_product_count(&nats).await, first.discovered as u64);

    let resumed = backfill::run(&config, &campaign, Box::new(|_| {}), Shutdown::default())
        .await
        .unwrap();
    assert_eq!(resumed.cursor.published_at, campaign.until);
    assert_eq!(stored_product_count(&nats).await, in_window as u64);
    assert_eq!(
        stored_cursor(&nats, &campaign.cursor_key())
            .await
            .unwrap()
            .published_at,
        campaign.until
    );
    assert_eq!(
        stored_cursor(&nats, "cdse").await,
        None,
        "the live feed's cursor is not the campaign's"
    );
    // The resumed walk asked from where the first stopped, not from the window's start.
    let from_interruption = format!(
        "PublicationDate+ge+{}",
        interrupted_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            .replace(':', "%3A")
    );
    let requests = replay.requests();
    assert!(
        requests.iter().any(|r| r.url.contains(&from_interruption)),
        "{from_interruption} in {:?}",
        requests.iter().map(|r| &r.url).collect::<Vec<_>>()
    );
    assert!(
        seen.lock().unwrap().windows(2).all(|w| w[0] <= w[1]),
        "progress only grows"
    );
}

#[tokio::test]
async fn an_unknown_feed_or_an_empty_window_is_refused_by_name() {
    let nats = nats().await;
    let replay = ReplayFeed::recorded()
        .start(ReplayOptions::default())
        .await
        .unwrap();
    let config = config(&nats, vec![replay_feed("cdse", &replay)]);
    let campaign = |feed: &str, from: &str, until: &str| Backfill {
        feed: feed.into(),
        from: from.parse().unwrap(),
        until: until.parse().unwrap(),
    };
    let error = backfill::run(
        &config,
        &campaign("s2", "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"),
        Box::new(|_| {}),
        Shutdown::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "configuration key --source is invalid: no feed is named \"s2\"; the configured feeds are cdse"
    );
    let error = backfill::run(
        &config,
        &campaign("cdse", "2024-02-01T00:00:00Z", "2024-01-01T00:00:00Z"),
        Box::new(|_| {}),
        Shutdown::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "configuration key --to is invalid: must be after --from"
    );
}
