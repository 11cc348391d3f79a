//! Each filter on its own, all of them together, and the subjects they narrow consumers to.

use std::collections::BTreeSet;

use super::*;
use crate::{
    area::AreaConfig,
    fixtures::{alert, item, job_dead, job_failed, notification_of, subscription},
};

fn set(values: &[&str]) -> Option<BTreeSet<String>> {
    Some(values.iter().map(|v| (*v).to_owned()).collect())
}

fn filter(config: &SubscriptionConfig) -> Filter {
    Filter::new(config).unwrap()
}

const ALL: &[EventKind] = &EventKind::ALL;

#[test]
fn only_the_subscribed_kinds_pass() {
    let ops = filter(&subscription("ops", &[EventKind::JobFailed]));
    assert!(ops.accepts(&notification_of(job_failed("snow"))));
    assert!(!ops.accepts(&notification_of(job_dead("snow"))));
    assert!(!ops.accepts(&notification_of(item("snow", "snow"))));
    assert!(!ops.accepts(&notification_of(alert(Severity::Critical, "x"))));
}

#[test]
fn a_collection_filter_selects_items_of_those_collections() {
    let mut config = subscription("snow-users", &[EventKind::ItemPublished]);
    config.collections = set(&["snow", "ice"]);
    let snow = filter(&config);
    assert!(snow.accepts(&notification_of(item("ice", "any"))));
    assert!(!snow.accepts(&notification_of(item("footprint", "any"))));
}

#[test]
fn a_processor_filter_applies_to_items_and_jobs() {
    let mut config = subscription(
        "snow-team",
        &[
            EventKind::ItemPublished,
            EventKind::JobFailed,
            EventKind::JobDead,
        ],
    );
    config.processors = set(&["snow-cover"]);
    let team = filter(&config);
    assert!(team.accepts(&notification_of(item("snow", "snow-cover"))));
    assert!(team.accepts(&notification_of(job_failed("snow-cover"))));
    assert!(team.accepts(&notification_of(job_dead("snow-cover"))));
    assert!(!team.accepts(&notification_of(item("snow", "footprint"))));
    assert!(!team.accepts(&notification_of(job_failed("footprint"))));
}

#[test]
fn an_area_filter_selects_items_whose_box_meets_it() {
    let mut config = subscription("alps", &[EventKind::ItemPublished]);
    config.area_of_interest = Some(AreaConfig::Bbox(vec![5.0, 44.0, 16.0, 48.0]));
    let alps = filter(&config);
    assert!(alps.accepts(&notification_of(item("snow", "x"))));
    let mut elsewhere = item("snow", "x");
    elsewhere.bbox = Some(vec![142.35, 13.47, 142.94, 14.19]);
    assert!(!alps.accepts(&notification_of(elsewhere)));
    // Where an item is not known, it is not in the area.
    let mut nowhere = item("snow", "x");
    nowhere.bbox = None;
    assert!(!alps.accepts(&notification_of(nowhere)));
}

#[test]
fn an_area_filter_reads_a_polygon() {
    let mut config = subscription("alps", &[EventKind::ItemPublished]);
    config.area_of_interest = Some(AreaConfig::Geometry(
        r#"{"type": "Polygon", "coordinates": [[[9, 45], [10, 45], [10, 46], [9, 46], [9, 45]]]}"#
            .parse()
            .unwrap(),
    ));
    assert!(filter(&config).accepts(&notification_of(item("snow", "x"))));
}

#[test]
fn a_minimum_severity_counts_dead_jobs_critical_and_failed_ones_warnings() {
    let mut config = subscription("on-call", &[EventKind::JobDead, EventKind::Alert]);
    config.min_severity = Some(Severity::Critical);
    let on_call = filter(&config);
    assert!(on_call.accepts(&notification_of(job_dead("x"))));
    assert!(on_call.accepts(&notification_of(alert(Severity::Critical, "feed-stalled"))));
    assert!(!on_call.accepts(&notification_of(alert(Severity::Warning, "feed-stalled"))));

    let mut config = subscription("ops", &[EventKind::JobFailed, EventKind::Alert]);
    config.min_severity = Some(Severity::Warning);
    let ops = filter(&config);
    assert!(ops.accepts(&notification_of(job_failed("x"))));
    assert!(ops.accepts(&notification_of(alert(Severity::Warning, "feed-stalled"))));
    assert!(!ops.accepts(&notification_of(alert(Severity::Info, "feed-stalled"))));
}

#[test]
fn an_alert_kind_filter_selects_alerts_and_leaves_jobs_alone() {
    let mut config = subscription("ops", &[EventKind::JobDead, EventKind::Alert]);
    config.alert_kinds = set(&["product-overdue"]);
    let ops = filter(&config);
    assert!(ops.accepts(&notification_of(alert(
        Severity::Warning,
        "product-overdue"
    ))));
    assert!(!ops.accepts(&notification_of(alert(Severity::Warning, "feed-stalled"))));
    assert!(ops.accepts(&notification_of(job_dead("x"))));
}

#[test]
fn all_filters_must_match() {
    let mut config = subscription("narrow", &[EventKind::ItemPublished]);
    config.collections = set(&["snow"]);
    config.processors = set(&["snow-cover"]);
    config.area_of_interest = Some(AreaConfig::Bbox(vec![5.0, 44.0, 16.0, 48.0]));
    let narrow = filter(&config);
    assert!(narrow.accepts(&notification_of(item("snow", "snow-cover"))));
    assert!(!narrow.accepts(&notification_of(item("snow", "other"))));
    assert!(!narrow.accepts(&notification_of(item("other", "snow-cover"))));
}

#[test]
fn a_subscription_is_not_sent_the_notifier_s_alerts_about_itself() {
    let everything = filter(&subscription("ops", ALL));
    let mut gone = alert(Severity::Critical, "endpoint-gone");
    gone.service = SERVICE.into();
    gone.about = "ops".into();
    assert!(!everything.accepts(&notification_of(gone.clone())));
    gone.about = "another-subscription".into();
    assert!(everything.accepts(&notification_of(gone)));
}

#[test]
fn consumers_read_every_subject_of_their_kinds_when_unfiltered() {
    let subjects = filter(&subscription("all", ALL)).subjects();
    let expected = BTreeMap::from([
        ("ALERTS", BTreeSet::from(["alerts.*.>".to_owned()])),
        (
            "CATALOGUE",
            BTreeSet::from(["catalogue.published.>".to_owned()]),
        ),
        (
            "JOBS",
            BTreeSet::from(["jobs.dead.>".to_owned(), "jobs.failed.>".to_owned()]),
        ),
    ]);
    assert_eq!(subjects, expected);
}

#[test]
fn collections_processors_and_severities_narrow_the_subjects() {
    let mut config = subscription("narrow", &[EventKind::ItemPublished]);
    config.collections = set(&["SENTINEL-2", "snow.cover", "snow_cover"]);
    assert_eq!(
        filter(&config).subjects()["CATALOGUE"],
        BTreeSet::from([
            "catalogue.published.SENTINEL-2".to_owned(),
            "catalogue.published.snow_cover".to_owned(),
        ])
    );

    let mut config = subscription("jobs", &[EventKind::JobFailed]);
    config.processors = set(&["snow-cover"]);
    assert_eq!(
        filter(&config).subjects()["JOBS"],
        BTreeSet::from(["jobs.failed.snow-cover".to_owned()])
    );

    let mut config = subscription("on-call", &[EventKind::Alert]);
    config.min_severity = Some(Severity::Warning);
    config.alert_kinds = set(&["feed-stalled"]);
    assert_eq!(
        filter(&config).subjects()["ALERTS"],
        BTreeSet::from([
            "alerts.critical.feed-stalled".to_owned(),
            "alerts.warning.feed-stalled".to_owned(),
        ])
    );
}
