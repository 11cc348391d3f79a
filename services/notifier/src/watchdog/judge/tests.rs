use chrono::TimeDelta;
use nrt_events::Severity;

use super::*;
use crate::watchdog::{
    alerts::{FEED_SILENT, FEED_SILENT_CLEARED, PRODUCT_OVERDUE, PRODUCT_OVERDUE_CLEARED},
    change::{Change, FeedFact, JobFact, ProductFact},
    fixtures::{at, config},
    state::{Discovered, Failure, Request},
};

const DEADLINE: &str = "2026-02-01T03:00:00Z";

fn job_with(facts: Vec<JobFact>, deadline: Option<&str>, now: DateTime<Utc>) -> Watch {
    let request = JobFact::Requested(Request {
        rule: "snow-s2".into(),
        processor: "snow-cover".into(),
        products: vec!["S2A_X".into()],
        deadline: deadline.map(at),
    });
    std::iter::once(request)
        .chain(facts)
        .map(|fact| Change::Job {
            job_id: "0f3a9c".into(),
            fact,
        })
        .fold(None, |current: Option<Watch>, change| {
            change.apply(current.as_ref(), now).or(current)
        })
        .unwrap()
}

/// Judges at `now` and, when an alert is raised, marks the record as the check would.
fn judged(watch: &Watch, now: &str) -> (Option<Verdict>, Watch) {
    let verdict = judge(watch, at(now), &config());
    let next = match &verdict {
        Some(Verdict::Raise { mark, .. }) => mark.apply(watch),
        _ => watch.clone(),
    };
    (verdict, next)
}

fn raised(verdict: Option<Verdict>) -> Alert {
    match verdict {
        Some(Verdict::Raise { alert, .. }) => alert,
        other => panic!("no alert raised: {other:?}"),
    }
}

#[test]
fn a_job_is_overdue_only_once_its_deadline_has_passed_and_is_reported_once() {
    let job = job_with(vec![], Some(DEADLINE), at("2026-02-01T01:00:00Z"));
    assert_eq!(judged(&job, "2026-02-01T02:59:59Z").0, None);
    assert_eq!(judged(&job, DEADLINE).0, None);
    let (verdict, marked) = judged(&job, "2026-02-01T03:00:01Z");
    let Some(Verdict::Raise { alert, mark }) = verdict else {
        panic!("not raised");
    };
    assert_eq!(
        (alert.kind.as_str(), alert.severity),
        (PRODUCT_OVERDUE, Severity::Warning)
    );
    assert_eq!(alert.about, "0f3a9c");
    assert!(
        alert.message.contains("triggered, not launched"),
        "{}",
        alert.message
    );
    assert_eq!(
        mark,
        Mark::Overdue(Reported {
            at: at("2026-02-01T03:00:01Z"),
            stage: Stage::TriggeredNotLaunched
        })
    );
    assert_eq!(judged(&marked, "2026-02-01T04:00:00Z").0, None);
    assert_eq!(
        judged(&marked, "2026-02-20T00:00:00Z").0,
        None,
        "kept until published"
    );
}

#[test]
fn the_overdue_alert_names_the_stage_the_job_is_stuck_at() {
    let now = at("2026-02-01T01:00:00Z");
    let cases = [
        (
            vec![JobFact::Started { attempt: 1 }],
            "launched and running",
        ),
        (
            vec![
                JobFact::Started { attempt: 1 },
                JobFact::Failed(Failure {
                    attempt: 1,
                    reason: "exited with code 3".into(),
                    will_retry: true,
                }),
            ],
            "failed, retrying",
        ),
        (vec![JobFact::Succeeded], "succeeded, not published"),
    ];
    for (facts, stage) in cases {
        let job = job_with(facts, Some(DEADLINE), now);
        let alert = raised(judged(&job, "2026-02-01T03:05:00Z").0);
        assert!(
            alert.message.contains(&format!(": {stage}.")),
            "{}",
            alert.message
        );
    }
}

#[test]
fn a_job_published_before_its_deadline_raises_nothing_and_is_forgotten_a_day_later() {
    let published = job_with(
        vec![JobFact::Published {
            item_id: "item".into(),
        }],
        Some(DEADLINE),
        at("2026-02-01T02:00:00Z"),
    );
    assert_eq!(judged(&published, "2026-02-01T05:00:00Z").0, None);
    assert_eq!(judged(&published, "2026-02-02T01:59:59Z").0, None);
    assert_eq!(
        judged(&published, "2026-02-02T02:00:00Z").0,
        Some(Verdict::Forget)
    );
}

#[test]
fn publication_after_an_overdue_alert_clears_it_once() {
    let job = job_with(vec![], Some(DEADLINE), at("2026-02-01T01:00:00Z"));
    let (_, overdue) = judged(&job, "2026-02-01T03:00:30Z");
    let published = Change::Job {
        job_id: "0f3a9c".into(),
        fact: JobFact::Published {
            item_id: "S2A_X-snow".into(),
        },
    }
    .apply(Some(&overdue), at("2026-02-01T03:40:00Z"))
    .unwrap();
    let (verdict, cleared) = judged(&published, "2026-02-01T03:40:30Z");
    let alert = raised(verdict);
    assert_eq!(
        (alert.kind.as_str(), alert.severity),
        (PRODUCT_OVERDUE_CLEARED, Severity::Info)
    );
    assert_eq!(alert.about, "0f3a9c");
    assert!(
        alert
            .message
            .contains("item S2A_X-snow, 40m after its deadline"),
        "{}",
        alert.message
    );
    assert_eq!(judged(&cleared, "2026-02-01T04:00:00Z").0, None);
    assert_eq!(
        judged(&cleared, "2026-02-02T03:40:00Z").0,
        Some(Verdict::Forget)
    );
}

#[test]
fn a_job_without_a_deadline_is_never_reported_and_forgotten_after_a_quiet_day() {
    let job = job_with(
        vec![JobFact::Started { attempt: 1 }],
        None,
        at("2026-02-01T01:00:00Z"),
    );
    assert_eq!(judged(&job, "2026-02-01T23:00:00Z").0, None);
    assert_eq!(
        judged(&job, "2026-02-02T01:00:00Z").0,
        Some(Verdict::Forget)
    );
}

#[test]
fn a_deadline_missed_longer_ago_than_retained_is_history_not_news() {
    let job = job_with(vec![], Some(DEADLINE), at("2026-02-01T01:00:00Z"));
    assert_eq!(
        judged(&job, "2026-02-02T03:00:00Z").0,
        Some(Verdict::Forget)
    );
    assert!(matches!(
        judged(&job, "2026-02-02T02:59:00Z").0,
        Some(Verdict::Raise { .. })
    ));
}

fn product(triggered: bool) -> Watch {
    let now = at("2026-02-01T00:10:00Z");
    let discovered = Change::Product {
        key: "S1A_X".into(),
        fact: ProductFact::Discovered(Discovered {
            collection: "SENTINEL-1".into(),
            feed: "cdse".into(),
            published_at: at("2026-02-01T00:00:00Z"),
            deadline: at("2026-02-01T02:00:00Z"),
        }),
    };
    let watch = discovered.apply(None, now).unwrap();
    if !triggered {
        return watch;
    }
    Change::Product {
        key: "S1A_X".into(),
        fact: ProductFact::Triggered {
            job_id: "0f3a9c".into(),
        },
    }
    .apply(Some(&watch), now)
    .unwrap()
}

#[test]
fn a_product_no_rule_selected_is_overdue_as_discovered_not_triggered() {
    let unselected = product(false);
    assert_eq!(judged(&unselected, "2026-02-01T02:00:00Z").0, None);
    let (verdict, marked) = judged(&unselected, "2026-02-01T02:15:00Z");
    let alert = raised(verdict);
    assert_eq!(
        (alert.kind.as_str(), alert.about.as_str()),
        (PRODUCT_OVERDUE, "S1A_X")
    );
    assert!(
        alert
            .message
            .contains("15m past its deadline 2026-02-01T02:00:00Z: discovered, not triggered"),
        "{}",
        alert.message
    );
    assert_eq!(judged(&marked, "2026-02-01T03:00:00Z").0, None);

    let published = Change::Product {
        key: "S1A_X".into(),
        fact: ProductFact::Published,
    }
    .apply(Some(&marked), at("2026-02-01T04:00:00Z"))
    .unwrap();
    let cleared = raised(judged(&published, "2026-02-01T04:00:10Z").0);
    assert_eq!(
        (cleared.kind.as_str(), cleared.about.as_str()),
        (PRODUCT_OVERDUE_CLEARED, "S1A_X")
    );
}

#[test]
fn a_selected_product_is_left_to_its_job_and_forgotten_a_day_later() {
    let selected = product(true);
    assert_eq!(judged(&selected, "2026-02-01T05:00:00Z").0, None);
    assert_eq!(
        judged(&selected, "2026-02-02T00:10:00Z").0,
        Some(Verdict::Forget)
    );
}

fn feed(last_seen: Option<&str>) -> Watch {
    let start = at("2026-02-01T00:00:00Z");
    let watched = Change::Feed {
        feed: "cdse".into(),
        fact: FeedFact::Watched,
    }
    .apply(None, start)
    .unwrap();
    match last_seen {
        None => watched,
        Some(seen) => Change::Feed {
            feed: "cdse".into(),
            fact: FeedFact::ProductSeen {
                key: "S2A_X".into(),
                published_at: at("2026-01-31T23:50:00Z"),
            },
        }
        .apply(Some(&watched), at(seen))
        .unwrap(),
    }
}

#[test]
fn a_feed_never_heard_from_is_silent_one_cadence_after_watching_began() {
    let never = feed(None);
    assert_eq!(judged(&never, "2026-02-01T01:00:00Z").0, None);
    let (verdict, marked) = judged(&never, "2026-02-01T01:00:01Z");
    let alert = raised(verdict);
    assert_eq!(
        (alert.kind.as_str(), alert.severity),
        (FEED_SILENT, Severity::Warning)
    );
    assert_eq!(alert.about, "cdse");
    assert!(
        alert
            .message
            .contains("none was seen since watching began at 2026-02-01T00:00:00Z")
    );
    assert_eq!(
        judged(&marked, "2026-02-01T05:00:00Z").0,
        None,
        "raised once per silence"
    );
}

#[test]
fn a_silent_feed_is_cleared_by_its_next_product() {
    let heard = feed(Some("2026-02-01T00:30:00Z"));
    assert_eq!(judged(&heard, "2026-02-01T01:30:00Z").0, None);
    let (verdict, silent) = judged(&heard, "2026-02-01T01:45:00Z");
    let alert = raised(verdict);
    assert!(
        alert
            .message
            .contains("no product for 1h 15m (expected one every 1h)"),
        "{}",
        alert.message
    );
    assert!(
        alert
            .message
            .contains("the last, S2A_X, was seen at 2026-02-01T00:30:00Z")
    );

    let next = Change::Feed {
        feed: "cdse".into(),
        fact: FeedFact::ProductSeen {
            key: "S2A_Y".into(),
            published_at: at("2026-02-01T01:50:00Z"),
        },
    }
    .apply(Some(&silent), at("2026-02-01T02:00:00Z"))
    .unwrap();
    let (verdict, cleared) = judged(&next, "2026-02-01T02:00:05Z");
    let alert = raised(verdict);
    assert_eq!(
        (alert.kind.as_str(), alert.severity),
        (FEED_SILENT_CLEARED, Severity::Info)
    );
    assert!(alert.message.contains("S2A_Y seen at 2026-02-01T02:00:00Z"));
    assert_eq!(judged(&cleared, "2026-02-01T02:30:00Z").0, None);
}

#[test]
fn a_feed_no_longer_configured_is_forgotten() {
    let mut config = config();
    config.feeds.clear();
    assert_eq!(
        judge(&feed(None), at("2026-02-01T00:00:01Z"), &config),
        Some(Verdict::Forget)
    );
}

#[test]
fn a_mark_keeps_what_was_merged_in_after_the_judgement() {
    let job = job_with(vec![], Some(DEADLINE), at("2026-02-01T01:00:00Z"));
    let Some(Verdict::Raise { mark, .. }) = judge(&job, at("2026-02-01T03:01:00Z"), &config())
    else {
        panic!("not raised");
    };
    let started_meanwhile = Change::Job {
        job_id: "0f3a9c".into(),
        fact: JobFact::Started { attempt: 1 },
    }
    .apply(
        Some(&job),
        at("2026-02-01T03:01:00Z") + TimeDelta::seconds(1),
    )
    .unwrap();
    let Watch::Job(marked) = mark.apply(&started_meanwhile) else {
        panic!("not a job");
    };
    assert_eq!(marked.started, Some(1));
    assert_eq!(marked.overdue.unwrap().stage, Stage::TriggeredNotLaunched);
}
