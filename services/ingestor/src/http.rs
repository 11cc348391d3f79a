//! Fetching feed pages over HTTP: one request with a timeout and a size limit, retried with
//! exponential backoff and jitter, or after the server's `Retry-After`.

use std::{future::Future, time::Duration};

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use nrt_nats::describe_error;
use reqwest::header::{ACCEPT, HeaderMap, RETRY_AFTER};
use url::Url;

use crate::{
    Error,
    config::{FeedConfig, RetryPolicy},
    odata::{Page, parse_page},
};

/// A page larger than this is refused: 1000 fully expanded CDSE products are a few MB.
const MAX_PAGE_BYTES: usize = 64 * 1024 * 1024;
/// A `Retry-After` beyond this is taken as this: a feed asking for hours is better re-polled.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);
/// How much of an error body goes into the error message.
const DETAIL_CHARS: usize = 300;

/// Where pages come from: HTTP in production, memory in unit tests.
pub trait FeedSource: Send + Sync {
    /// The page at `url`, after the retries the feed's policy allows.
    fn fetch(&self, url: &Url) -> impl Future<Output = Result<Page, Error>> + Send;
}

/// One feed's HTTP client.
pub struct HttpFeed {
    client: reqwest::Client,
    feed: String,
    timeout: Duration,
    retry: RetryPolicy,
}

impl HttpFeed {
    pub fn new(feed: &FeedConfig) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .timeout(feed.request_timeout)
            .user_agent(concat!("nrt-mesh-ingestor/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(Error::HttpClient)?;
        Ok(Self {
            client,
            feed: feed.name.clone(),
            timeout: feed.request_timeout,
            retry: feed.retry,
        })
    }

    async fn fetch_once(&self, url: &Url) -> Result<Page, Error> {
        let failed = |source: reqwest::Error| {
            if source.is_timeout() {
                Error::Timeout {
                    url: url.to_string(),
                    timeout: self.timeout,
                }
            } else {
                Error::Request {
                    url: url.to_string(),
                    source,
                }
            }
        };
        let mut response = self
            .client
            .get(url.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(failed)?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after(response.headers(), Utc::now());
            let body = response.text().await.unwrap_or_default();
            return Err(Error::Status {
                url: url.to_string(),
                status: status.as_u16(),
                retry_after,
                detail: excerpt(&body),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_PAGE_BYTES {
                return Err(Error::TooLarge {
                    url: url.to_string(),
                    limit: MAX_PAGE_BYTES,
                });
            }
            body.extend_from_slice(&chunk);
        }
        parse_page(url, &body)
    }
}

impl FeedSource for HttpFeed {
    async fn fetch(&self, url: &Url) -> Result<Page, Error> {
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.attempts);
        (|| self.fetch_once(url))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(Error::is_transient)
            // The server's Retry-After replaces our guess, but never adds attempts.
            .adjust(|error, delay| {
                delay.map(|delay| {
                    error
                        .retry_after()
                        .map_or(delay, |after| after.min(MAX_RETRY_AFTER))
                })
            })
            .notify(|error, delay| {
                tracing::warn!(
                    feed = %self.feed,
                    error = %describe_error(error),
                    retry_in = ?delay,
                    "Feed request failed; retrying."
                );
            })
            .await
    }
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(text).ok()?;
    Some(
        (at.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// The start of an error body on one line, enough to recognise it in a log.
fn excerpt(body: &str) -> String {
    let line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(DETAIL_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None if line.is_empty() => "(empty body)".to_owned(),
        None => line,
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
