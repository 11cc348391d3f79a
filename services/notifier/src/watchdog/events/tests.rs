use nrt_events::Envelope;

use super::*;
use crate::watchdog::fixtures::{
    at, config, dead, failed, item, product, requested, started, succeeded,
};

fn encoded<T: EventData>(event: T) -> (String, Vec<u8>) {
    let envelope = Envelope::new("/test", event);
    (envelope.subject(), envelope.to_json())
}

#[test]
fn each_event_decodes_from_the_subject_it_is_published_on() {
    let s2 = product("S2A_X", "SENTINEL-2", "2026-02-01T00:00:00Z");
    let cases = [
        (encoded(s2.clone()), WatchEvent::Discovered(s2.clone())),
        (
            encoded(requested("job1", &[&s2], None)),
            WatchEvent::Requested(requested("job1", &[&s2], None)),
        ),
        (
            encoded(started("job1", 1)),
            WatchEvent::Started(started("job1", 1)),
        ),
        (
            encoded(failed("job1", 1, true)),
            WatchEvent::Failed(failed("job1", 1, true)),
        ),
        (encoded(dead("job1", 3)), WatchEvent::Dead(dead("job1", 3))),
        (
            encoded(succeeded("job1")),
            WatchEvent::Succeeded(succeeded("job1")),
        ),
        (
            encoded(item("job1", &["S2A_X"])),
            WatchEvent::Published(item("job1", &["S2A_X"])),
        ),
    ];
    for ((subject, body), expected) in cases {
        assert_eq!(
            WatchEvent::decode(&subject, &body).unwrap(),
            expected,
            "{subject}"
        );
    }
}

#[test]
fn an_event_of_another_type_or_no_event_at_all_is_refused_with_the_reason() {
    let (_, started_body) = encoded(started("job1", 1));
    let error = WatchEvent::decode("jobs.requested.snow-cover", &started_body).unwrap_err();
    assert_eq!(
        nrt_nats::describe_error(&error),
        "message on jobs.requested.snow-cover is not a valid eu.nrtmesh.job.requested.v1 event: \
         event type eu.nrtmesh.job.started.v1 is not the expected eu.nrtmesh.job.requested.v1"
    );
    let garbage = WatchEvent::decode("jobs.dead.snow-cover", b"{not json").unwrap_err();
    assert!(matches!(garbage, WatchEventError::Decode { .. }));
    let elsewhere = WatchEvent::decode("objects.eodata", &started_body).unwrap_err();
    assert_eq!(
        elsewhere.to_string(),
        "subject objects.eodata carries no event the watchdog reads"
    );
}

#[test]
fn a_product_of_an_unwatched_feed_and_collection_changes_nothing() {
    let mut unwatched = product("S2A_X", "SENTINEL-2", "2026-02-01T00:00:00Z");
    unwatched.feed = "stac-earth-search".into();
    assert_eq!(WatchEvent::Discovered(unwatched).changes(&config()), vec![]);
}

#[test]
fn a_product_tells_its_feed_and_starts_the_deadline_of_a_watched_collection() {
    let s1 = product("S1A_X", "SENTINEL-1", "2026-02-01T00:00:00Z");
    let changes = WatchEvent::Discovered(s1).changes(&config());
    assert_eq!(
        changes,
        vec![
            Change::Feed {
                feed: "cdse".into(),
                fact: FeedFact::ProductSeen {
                    key: "S1A_X".into(),
                    published_at: at("2026-02-01T00:00:00Z"),
                },
            },
            Change::Product {
                key: "S1A_X".into(),
                fact: ProductFact::Discovered(Discovered {
                    collection: "SENTINEL-1".into(),
                    feed: "cdse".into(),
                    published_at: at("2026-02-01T00:00:00Z"),
                    deadline: at("2026-02-01T02:00:00Z"),
                }),
            },
        ]
    );
}

#[test]
fn a_request_carries_the_triggers_deadline_and_selects_watched_inputs() {
    let s1 = product("S1A_X", "SENTINEL-1", "2026-02-01T00:00:00Z");
    let s2 = product("S2A_X", "SENTINEL-2", "2026-02-01T00:30:00Z");
    let request = requested("job1", &[&s1, &s2], Some("2026-02-01T03:30:00Z"));
    let changes = WatchEvent::Requested(request).changes(&config());
    assert_eq!(
        changes,
        vec![
            Change::Job {
                job_id: "job1".into(),
                fact: JobFact::Requested(Request {
                    rule: "snow-s2".into(),
                    processor: "snow-cover".into(),
                    products: vec!["S1A_X".into(), "S2A_X".into()],
                    deadline: Some(at("2026-02-01T03:30:00Z")),
                }),
            },
            Change::Product {
                key: "S1A_X".into(),
                fact: ProductFact::Triggered {
                    job_id: "job1".into()
                },
            },
        ]
    );
}

#[test]
fn an_item_ends_its_job_and_tells_its_inputs_only_when_collections_are_watched() {
    let published = WatchEvent::Published(item("job1", &["S1A_X", "S2A_X"]));
    let job = Change::Job {
        job_id: "job1".into(),
        fact: JobFact::Published {
            item_id: "item-of-job1".into(),
        },
    };
    let input = |key: &str| Change::Product {
        key: key.into(),
        fact: ProductFact::Published,
    };
    assert_eq!(
        published.changes(&config()),
        vec![job.clone(), input("S1A_X"), input("S2A_X")]
    );
    assert_eq!(published.changes(&WatchdogConfig::default()), vec![job]);
}
