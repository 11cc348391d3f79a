use std::sync::{Arc, atomic::Ordering};

use serde_json::{Value, json};
use url::Url;

use super::*;
use crate::{
    feed::FeedPage,
    http::HttpRequest,
    odata::products_url,
    testing::{MemoryCursors, MemorySink, ScriptedFeed},
};

fn feed() -> FeedConfig {
    let mut feed = FeedConfig::cdse("test", Url::parse("http://feed/odata/v1").unwrap());
    feed.start_from = Some("2026-01-01T00:00:00Z".parse().unwrap());
    feed.poll_interval = Duration::from_millis(5);
    feed.alert_after_failures = 2;
    feed
}

fn entity(id: &str, published: &str) -> Value {
    json!({
        "Id": id,
        "Name": format!("{id}.SAFE"),
        "PublicationDate": published,
        "ContentDate": {"Start": "2026-01-01T00:00:00Z", "End": "2026-01-01T00:00:10Z"},
        "Attributes": [
            {"Name": "platformShortName", "Value": "SENTINEL-2"},
            {"Name": "productType", "Value": "S2MSI1C"},
        ],
    })
}

fn page(entities: &[Value], next: Option<&str>) -> Result<FeedPage<HttpRequest>, Error> {
    Ok(FeedPage {
        entries: entities
            .iter()
            .map(|entity| serde_json::value::to_raw_value(entity).unwrap())
            .collect(),
        next: next.map(|next| HttpRequest::get(Url::parse(next).unwrap())),
    })
}

type TestPoller = FeedPoller<ScriptedFeed, MemorySink, MemoryCursors>;

fn poller(answers: impl IntoIterator<Item = Result<FeedPage<HttpRequest>, Error>>) -> TestPoller {
    FeedPoller::new(
        feed(),
        ScriptedFeed::answering(&feed(), answers),
        MemorySink::default(),
        MemoryCursors::default(),
    )
}

/// The URLs the poller asked for, in order.
fn requested(poller: &TestPoller) -> Vec<Url> {
    let requested = poller.source.requested.lock().unwrap();
    requested
        .iter()
        .map(|request| request.url.clone())
        .collect()
}

fn first_url(since: &str) -> Url {
    products_url(feed().odata().unwrap(), since.parse().unwrap())
}

fn stored(poller: &TestPoller) -> Cursor {
    poller.cursors.0.lock().unwrap()["test"].cursor.clone()
}

fn cursor(time: &str, ids: &[&str]) -> Cursor {
    Cursor {
        published_at: time.parse().unwrap(),
        ids_at_cursor: ids.iter().map(|id| (*id).to_owned()).collect(),
    }
}

#[tokio::test]
async fn pages_are_followed_and_the_cursor_lands_after_the_last_product() {
    let poller = poller([
        page(
            &[
                entity("a", "2026-01-01T00:00:01Z"),
                entity("b", "2026-01-01T00:00:02Z"),
            ],
            Some("http://feed/odata/v1/Products?page=2"),
        ),
        page(&[entity("c", "2026-01-01T00:00:02Z")], None),
    ]);
    let report = poller.poll(&Shutdown::default()).await.unwrap();
    assert_eq!((report.pages, report.discovered), (2, 3));
    assert_eq!(stored(&poller), cursor("2026-01-01T00:00:02Z", &["b", "c"]));
    let requested = requested(&poller);
    assert_eq!(requested[0], first_url("2026-01-01T00:00:00Z"));
    assert_eq!(
        requested[1].as_str(),
        "http://feed/odata/v1/Products?page=2"
    );
}

#[tokio::test]
async fn a_second_poll_asks_from_the_cursor_and_skips_the_ties_it_has_seen() {
    let poller = poller([
        page(&[entity("a", "2026-01-01T00:00:02Z")], None),
        // `ge` returns the tie again, with one not seen before.
        page(
            &[
                entity("a", "2026-01-01T00:00:02Z"),
                entity("b", "2026-01-01T00:00:02Z"),
            ],
            None,
        ),
    ]);
    poller.poll(&Shutdown::default()).await.unwrap();
    let second = poller.poll(&Shutdown::default()).await.unwrap();
    assert_eq!(second.discovered, 1);
    assert_eq!(poller.sink.published_keys(), ["a", "b"]);
    let requested = requested(&poller);
    assert!(
        requested[1]
            .query_pairs()
            .any(|(_, value)| value == "PublicationDate ge 2026-01-01T00:00:02.000000Z")
    );
}

#[tokio::test]
async fn the_cursor_stays_when_publishing_fails() {
    let poller = poller([page(&[entity("a", "2026-01-01T00:00:01Z")], None)]);
    poller.sink.unreachable.store(true, Ordering::SeqCst);
    let error = poller.poll(&Shutdown::default()).await.unwrap_err();
    assert!(matches!(error, Error::Publish { .. }));
    assert_eq!(stored(&poller), cursor("2026-01-01T00:00:00Z", &[]));
}

#[tokio::test]
async fn the_cursor_stays_when_a_later_page_fails_after_earlier_pages_committed() {
    let poller = poller([
        page(
            &[entity("a", "2026-01-01T00:00:01Z")],
            Some("http://feed/odata/v1/Products?page=2"),
        ),
        Err(Error::NoValue {
            url: "http://feed/odata/v1/Products?page=2".into(),
        }),
    ]);
    assert!(poller.poll(&Shutdown::default()).await.is_err());
    assert_eq!(stored(&poller), cursor("2026-01-01T00:00:01Z", &["a"]));
}

#[tokio::test]
async fn an_entry_that_cannot_be_mapped_is_dead_lettered_and_passed() {
    let mut broken = entity("b", "2026-01-01T00:00:02Z");
    broken.as_object_mut().unwrap().remove("ContentDate");
    let poller = poller([page(
        &[entity("a", "2026-01-01T00:00:01Z"), broken.clone()],
        None,
    )]);
    let report = poller.poll(&Shutdown::default()).await.unwrap();
    assert_eq!((report.discovered, report.rejected), (1, 1));
    let dead = poller.sink.dead_letters.lock().unwrap().clone();
    let (origin, entity, reason) = &dead[0];
    assert!(origin.starts_with("GET http://feed/odata/v1/Products?"));
    assert_eq!(serde_json::from_str::<Value>(entity).unwrap(), broken);
    assert_eq!(
        reason,
        "product b.SAFE: ContentDate is missing or not an object"
    );
    assert_eq!(stored(&poller), cursor("2026-01-01T00:00:02Z", &["b"]));
}

#[tokio::test]
async fn a_streak_of_failed_polls_raises_one_alert_naming_the_feed_and_reason() {
    let failure = || {
        Err(Error::Status {
            url: "http://feed/odata/v1/Products".into(),
            status: 503,
            retry_after: None,
            detail: "busy".into(),
            retry_with_new_token: false,
        })
    };
    let poller = Arc::new(poller([
        failure(),
        failure(),
        failure(),
        page(&[entity("a", "2026-01-01T00:00:01Z")], None),
    ]));
    let (stop, shutdown) = nrt_runtime::shutdown::manual();
    let running = tokio::spawn({
        let poller = poller.clone();
        async move { poller.run(shutdown).await }
    });
    tokio::time::timeout(Duration::from_secs(5), async {
        while poller.sink.published.lock().unwrap().is_empty() {
            // Until the product arrives, the cursor is at most created, never moved.
            if let Some(stored) = poller.cursors.0.lock().unwrap().get("test") {
                assert_eq!(stored.cursor, cursor("2026-01-01T00:00:00Z", &[]));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the feed recovers");
    stop.trigger();
    running.await.unwrap();

    let alerts = poller.sink.alerts.lock().unwrap().clone();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (
            alerts[0].kind.as_str(),
            alerts[0].about.as_str(),
            alerts[0].service.as_str()
        ),
        ("feed-failing", "test", "ingestor")
    );
    assert_eq!(
        alerts[0].message,
        "feed test failed 2 polls in a row; last error: http://feed/odata/v1/Products answered 503: busy"
    );
}

#[tokio::test]
async fn a_next_link_past_the_skip_limit_is_replaced_by_a_query_from_the_cursor() {
    let deep = "http://feed/odata/v1/Products?%24top=100&%24skip=10100";
    let poller = poller([
        page(&[entity("a", "2026-01-01T00:00:01Z")], Some(deep)),
        page(&[entity("a", "2026-01-01T00:00:01Z")], Some(deep)),
    ]);
    poller.poll(&Shutdown::default()).await.unwrap();
    let requested = requested(&poller);
    assert_eq!(requested[1], first_url("2026-01-01T00:00:01Z"));
    // The cursor did not move on the second page: only paging on can make progress.
    assert_eq!(requested[2].as_str(), deep);
}

#[tokio::test]
async fn a_new_feed_stores_its_start_before_any_product() {
    let poller = poller([]);
    let report = poller.poll(&Shutdown::default()).await.unwrap();
    assert_eq!(report.pages, 1);
    assert_eq!(stored(&poller), cursor("2026-01-01T00:00:00Z", &[]));
}
