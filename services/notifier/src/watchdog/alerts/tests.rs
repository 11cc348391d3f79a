use nrt_events::EventData;

use super::*;
use crate::watchdog::{
    fixtures::at,
    state::{Dead, Failure, LastProduct, Request},
};

fn job(products: &[&str]) -> JobWatch {
    JobWatch {
        job_id: "0f3a9c".into(),
        request: Some(Request {
            rule: "snow-s2".into(),
            processor: "snow-cover".into(),
            products: products.iter().map(|key| (*key).to_owned()).collect(),
            deadline: Some(at("2026-02-01T03:00:00Z")),
        }),
        started: None,
        failure: None,
        dead: None,
        succeeded_at: None,
        published: None,
        overdue: None,
        cleared: false,
        updated_at: at("2026-02-01T01:00:00Z"),
    }
}

#[test]
fn delays_read_in_their_two_largest_units() {
    let cases = [
        (0, "0s"),
        (45, "45s"),
        (250, "4m 10s"),
        (3600, "1h"),
        (3900, "1h 5m"),
        (3 * 86_400 + 3 * 3600 + 59, "3d 3h"),
        (-5, "0s"),
    ];
    for (secs, text) in cases {
        assert_eq!(human(TimeDelta::seconds(secs)), text);
    }
}

#[test]
fn an_overdue_job_names_its_products_rule_processor_deadline_delay_and_stage() {
    let alert = job_overdue(
        &job(&["S2A_X"]),
        at("2026-02-01T03:00:00Z"),
        Stage::TriggeredNotLaunched,
        at("2026-02-01T03:12:00Z"),
    );
    assert_eq!(
        alert.message,
        "Job 0f3a9c on S2A_X (rule snow-s2, processor snow-cover) is 12m past its deadline \
         2026-02-01T03:00:00Z and not published: triggered, not launched."
    );
    assert_eq!(alert.raised_at, at("2026-02-01T03:12:00Z"));
    // The event id names the job, so a second replica's alert is a duplicate JetStream drops.
    assert_eq!(alert.event_id(), "alert:notifier:product-overdue:0f3a9c");
    assert_eq!(alert.subject(), "alerts.warning.product-overdue");
}

#[test]
fn a_failed_or_dead_job_says_why() {
    let mut failing = job(&["S2A_X"]);
    failing.failure = Some(Failure {
        attempt: 2,
        reason: "exited with code 3".into(),
        will_retry: true,
    });
    let deadline = at("2026-02-01T03:00:00Z");
    let now = at("2026-02-01T04:00:00Z");
    let alert = job_overdue(&failing, deadline, Stage::FailedRetrying, now);
    assert!(
        alert
            .message
            .ends_with("failed, retrying. Attempt 2 failed: exited with code 3.")
    );

    failing.dead = Some(Dead {
        attempts: 3,
        reason: "used its 3 attempts".into(),
    });
    let alert = job_overdue(&failing, deadline, Stage::Dead, now);
    assert!(
        alert
            .message
            .ends_with("dead. It gave up after 3 attempt(s): used its 3 attempts.")
    );
}

#[test]
fn a_large_gathering_names_its_first_products_and_counts_the_rest() {
    let alert = job_overdue(
        &job(&["A", "B", "C", "D", "E"]),
        at("2026-02-01T03:00:00Z"),
        Stage::Running,
        at("2026-02-01T03:00:01Z"),
    );
    assert!(
        alert
            .message
            .starts_with("Job 0f3a9c on A, B, C and 2 more (rule"),
        "{}",
        alert.message
    );
}

#[test]
fn a_cleared_job_says_how_late_it_was_published() {
    let publication = Publication {
        item_id: "S2A_X-snow".into(),
        seen_at: at("2026-02-01T04:30:00Z"),
    };
    let alert = job_cleared(
        &job(&["S2A_X"]),
        at("2026-02-01T03:00:00Z"),
        &publication,
        at("2026-02-01T04:30:05Z"),
    );
    assert_eq!(alert.severity, Severity::Info);
    assert_eq!(
        alert.event_id(),
        "alert:notifier:product-overdue-cleared:0f3a9c"
    );
    assert_eq!(
        alert.message,
        "Job 0f3a9c on S2A_X (rule snow-s2, processor snow-cover) is published as item \
         S2A_X-snow, 1h 30m after its deadline 2026-02-01T03:00:00Z."
    );
}

#[test]
fn a_silent_feed_gives_its_last_product_and_cadence() {
    let feed = FeedWatch {
        feed: "cdse".into(),
        watching_since: at("2026-02-01T00:00:00Z"),
        last_product: Some(LastProduct {
            key: "S2A_X".into(),
            published_at: at("2026-02-01T00:20:00Z"),
            seen_at: at("2026-02-01T00:25:00Z"),
        }),
        silent_reported_at: None,
    };
    let alert = feed_silent(
        &feed,
        at("2026-02-01T00:25:00Z"),
        TimeDelta::hours(1),
        at("2026-02-01T01:30:00Z"),
    );
    assert_eq!(
        alert.message,
        "Feed cdse delivered no product for 1h 5m (expected one every 1h); the last, S2A_X, was \
         seen at 2026-02-01T00:25:00Z (published in the feed at 2026-02-01T00:20:00Z)."
    );
    assert_eq!(alert.event_id(), "alert:notifier:feed-silent:cdse");
    let cleared = feed_heard_again(&feed, at("2026-02-01T01:30:00Z"));
    assert_eq!(cleared.subject(), "alerts.info.feed-silent-cleared");
}
