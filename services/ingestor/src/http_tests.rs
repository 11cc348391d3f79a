use nrt_cdse_replay::{Fault, ReplayFeed, ReplayOptions, RunningReplay};
use reqwest::header::HeaderValue;

use super::*;
use crate::odata::products_url;

async fn replay() -> RunningReplay {
    ReplayFeed::recorded()
        .start(ReplayOptions::default())
        .await
        .unwrap()
}

fn feed_for(replay: &RunningReplay, attempts: usize) -> FeedConfig {
    let mut feed = FeedConfig::cdse("test", Url::parse(&replay.url()).unwrap());
    feed.request_timeout = Duration::from_millis(500);
    feed.retry = RetryPolicy {
        attempts,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    };
    feed
}

fn first_page(feed: &FeedConfig) -> HttpRequest {
    let source = feed.odata().unwrap();
    HttpRequest::get(products_url(
        source,
        "2000-01-01T00:00:00Z".parse().unwrap(),
    ))
}

/// Asks for the page at `request` as the OData feed does.
async fn fetch(
    feed: &FeedConfig,
    request: &HttpRequest,
) -> Result<crate::feed::FeedPage<HttpRequest>, Error> {
    HttpClient::new(feed, None)
        .unwrap()
        .send(request, crate::odata::parse_page)
        .await
}

#[tokio::test]
async fn transient_faults_are_retried_until_the_page_arrives() {
    let replay = replay().await;
    let feed = feed_for(&replay, 5);
    replay.inject(Fault::Status(503), 1);
    replay.inject(Fault::TruncatedBody, 1);
    replay.inject(Fault::MissingValue, 1);
    replay.inject(Fault::Delay(Duration::from_secs(5)), 1);
    let page = fetch(&feed, &first_page(&feed)).await.unwrap();
    assert_eq!(page.entries.len(), 39);
    let statuses: Vec<u16> = replay.requests().iter().map(|r| r.status).collect();
    // The delayed answer is logged when it is sent, after the client gave up on it.
    assert_eq!(&statuses[..3], [503, 200, 200]);
    assert_eq!(statuses.len(), 4);
}

#[tokio::test]
async fn retries_are_bounded_and_the_last_error_names_the_url() {
    let replay = replay().await;
    let feed = feed_for(&replay, 2);
    replay.inject(Fault::Status(500), 10);
    let url = first_page(&feed);
    let error = fetch(&feed, &url).await.unwrap_err();
    assert_eq!(replay.requests().len(), 3);
    assert!(matches!(error, Error::Status { status: 500, .. }));
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("{} answered 500: ", url.url)),
        "{message}"
    );
    assert!(message.contains("injected fault"), "{message}");
}

#[tokio::test]
async fn a_refused_query_is_not_retried() {
    let replay = replay().await;
    let feed = feed_for(&replay, 3);
    let url =
        HttpRequest::get(Url::parse(&format!("{}/Products?$orderby=Name", replay.url())).unwrap());
    let error = fetch(&feed, &url).await.unwrap_err();
    assert!(matches!(error, Error::Status { status: 400, .. }));
    assert!(!error.is_transient());
    assert_eq!(replay.requests().len(), 1);
}

#[tokio::test]
async fn a_slow_feed_times_out_with_the_url_and_timeout_named() {
    let replay = replay().await;
    let feed = feed_for(&replay, 0);
    replay.inject(Fault::Delay(Duration::from_secs(5)), 1);
    let url = first_page(&feed);
    let error = fetch(&feed, &url).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("no answer from {} within 500ms", url.url)
    );
}

#[tokio::test]
async fn a_feed_nobody_listens_on_is_a_request_error() {
    let port = nrt_nats::server::free_port().unwrap();
    let mut feed = FeedConfig::cdse(
        "down",
        Url::parse(&format!("http://127.0.0.1:{port}/odata/v1")).unwrap(),
    );
    feed.retry.attempts = 0;
    let error = fetch(&feed, &first_page(&feed)).await.unwrap_err();
    assert!(matches!(error, Error::Request { .. }), "{error:?}");
    assert!(error.is_transient());
}

#[tokio::test]
async fn retry_after_is_carried_by_the_error() {
    let replay = replay().await;
    let feed = feed_for(&replay, 0);
    replay.inject(
        Fault::TooManyRequests {
            retry_after: Duration::from_secs(7),
        },
        1,
    );
    let error = fetch(&feed, &first_page(&feed)).await.unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    assert!(error.is_transient());
}

#[test]
fn retry_after_reads_seconds_and_http_dates() {
    let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("120"));
    assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(120)));
    headers.insert(
        RETRY_AFTER,
        HeaderValue::from_static("Thu, 01 Jan 2026 00:00:30 GMT"),
    );
    assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(30)));
    headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
    assert_eq!(retry_after(&headers, now), None);
}

#[test]
fn error_bodies_are_cut_to_one_readable_line() {
    assert_eq!(
        excerpt("  {\"detail\":\n  \"busy\"}  "),
        "{\"detail\": \"busy\"}"
    );
    assert_eq!(excerpt(""), "(empty body)");
    assert_eq!(excerpt(&"x".repeat(400)).chars().count(), DETAIL_CHARS + 1);
}
