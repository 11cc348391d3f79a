use super::*;
use crate::watchdog::fixtures::{JOB, at, job, job_of, replay, request};

#[test]
fn lifecycle_events_before_the_request_make_a_record_that_the_request_completes() {
    let now = at("2026-02-01T01:00:00Z");
    let started = job_of(replay(&[job(JobFact::Started { attempt: 1 })], now));
    assert_eq!(started.request, None);
    assert_eq!(started.deadline(), None);
    let completed =
        job_of(job(request(Some("2026-02-01T03:00:00Z"))).apply(Some(&Watch::Job(started)), now));
    assert_eq!(completed.started, Some(1));
    assert_eq!(completed.deadline(), Some(at("2026-02-01T03:00:00Z")));
}

#[test]
fn a_fact_already_known_changes_nothing_and_the_first_publication_stays() {
    let first = at("2026-02-01T01:00:00Z");
    let later = at("2026-02-01T02:00:00Z");
    let published = job(JobFact::Published {
        item_id: "first".into(),
    });
    let known = replay(
        &[
            job(request(Some("2026-02-01T03:00:00Z"))),
            job(JobFact::Started { attempt: 1 }),
            published,
        ],
        first,
    );
    for repeat in [
        job(request(Some("2026-02-01T05:00:00Z"))),
        job(JobFact::Started { attempt: 1 }),
        job(JobFact::Published {
            item_id: "second".into(),
        }),
    ] {
        assert_eq!(repeat.apply(known.as_ref(), later), None, "{repeat:?}");
    }
    let job = job_of(known);
    assert_eq!(job.published.unwrap().item_id, "first");
    assert_eq!(job.updated_at, first);
}

#[test]
fn a_change_stamps_the_time_of_the_change() {
    let created = replay(
        &[job(request(Some("2026-02-01T03:00:00Z")))],
        at("2026-02-01T01:00:00Z"),
    );
    let started = job(JobFact::Started { attempt: 1 })
        .apply(created.as_ref(), at("2026-02-01T01:30:00Z"))
        .unwrap();
    assert_eq!(job_of(Some(started)).updated_at, at("2026-02-01T01:30:00Z"));
}

#[test]
fn a_publication_changes_only_a_product_already_watched() {
    let now = at("2026-02-01T01:00:00Z");
    let published = Change::Product {
        key: "S1A_X".into(),
        fact: ProductFact::Published,
    };
    assert_eq!(published.apply(None, now), None);
    let triggered = Change::Product {
        key: "S1A_X".into(),
        fact: ProductFact::Triggered { job_id: JOB.into() },
    };
    let watched = triggered.apply(None, now);
    let Some(Watch::Product(product)) = published.apply(watched.as_ref(), now) else {
        panic!("the watched product was not changed");
    };
    assert_eq!(product.published_seen_at, Some(now));
    assert_eq!(product.triggered_by.as_deref(), Some(JOB));
}

#[test]
fn a_product_selected_before_its_discovery_was_handled_stays_selected() {
    let now = at("2026-02-01T01:00:00Z");
    let discovered = Discovered {
        collection: "SENTINEL-1".into(),
        feed: "cdse".into(),
        published_at: at("2026-02-01T00:00:00Z"),
        deadline: at("2026-02-01T02:00:00Z"),
    };
    let watch = replay(
        &[
            Change::Product {
                key: "S1A_X".into(),
                fact: ProductFact::Triggered { job_id: JOB.into() },
            },
            Change::Product {
                key: "S1A_X".into(),
                fact: ProductFact::Discovered(discovered.clone()),
            },
        ],
        now,
    );
    let Some(Watch::Product(product)) = watch else {
        panic!("no product record");
    };
    assert_eq!(product.triggered_by.as_deref(), Some(JOB));
    assert_eq!(product.discovered, Some(discovered));
}

#[test]
fn a_feed_is_watched_from_its_first_start_and_its_last_product_only_moves_forward() {
    let start = at("2026-02-01T00:00:00Z");
    let watched = Change::Feed {
        feed: "cdse".into(),
        fact: FeedFact::Watched,
    };
    let first = watched.apply(None, start);
    assert_eq!(
        watched.apply(first.as_ref(), at("2026-02-02T00:00:00Z")),
        None
    );

    let seen = |key: &str| Change::Feed {
        feed: "cdse".into(),
        fact: FeedFact::ProductSeen {
            key: key.into(),
            published_at: at("2026-01-31T23:59:00Z"),
        },
    };
    let later = seen("S2A_LATER").apply(first.as_ref(), at("2026-02-01T01:00:00Z"));
    // A redelivery handled by a replica whose clock is behind does not move the feed back.
    assert_eq!(
        seen("S2A_EARLIER").apply(later.as_ref(), at("2026-02-01T00:59:00Z")),
        None
    );
    let Some(Watch::Feed(feed)) = later else {
        panic!("no feed record");
    };
    assert_eq!(feed.watching_since, start);
    let last = feed.last_product.unwrap();
    assert_eq!(
        (last.key.as_str(), last.seen_at),
        ("S2A_LATER", at("2026-02-01T01:00:00Z"))
    );
}

#[test]
fn keys_keep_plain_ids_and_hash_names_with_dots() {
    let job = Change::Job {
        job_id: "0f3a9c_x-1".into(),
        fact: JobFact::Succeeded,
    };
    assert_eq!(job.key(), "job.0f3a9c_x-1");
    let feed = Change::Feed {
        feed: "cdse-s2".into(),
        fact: FeedFact::Watched,
    };
    assert_eq!(feed.key(), "feed.cdse-s2");
    let product = |key: &str| Change::Product {
        key: key.into(),
        fact: ProductFact::Published,
    };
    let orbit = product("S1A_OPER_AUX_POEORB_V20140411.EOF").key();
    assert_eq!(orbit, product("S1A_OPER_AUX_POEORB_V20140411.EOF").key());
    assert!(orbit.starts_with("product.") && !orbit["product.".len()..].contains('.'));
    assert_ne!(orbit, product("S1A_OPER_AUX_POEORB_V20140411_EOF").key());
}
