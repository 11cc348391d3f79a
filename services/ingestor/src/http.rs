//! Asking a feed over HTTP: one request with a timeout, a size limit and, when the feed has an
//! account, a bearer token; retried with exponential backoff and jitter, or after the server's
//! `Retry-After`. The body is parsed inside the retry, so a truncated page is asked for again.

use std::{fmt, sync::Arc, time::Duration};

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use nrt_nats::describe_error;
use reqwest::{
    Method, StatusCode,
    header::{ACCEPT, HeaderMap, RETRY_AFTER},
};
use url::Url;

use crate::{
    Error,
    auth::{Credentials, TokenSource},
    config::{FeedConfig, RetryPolicy},
};

/// A `Retry-After` beyond this is taken as this: a feed asking for hours is better re-polled.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);
/// How much of an error body goes into the error message.
const DETAIL_CHARS: usize = 300;

/// One request to a feed: `GET` a URL, or `POST` a JSON body (STAC searches, acknowledgements).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: Method,
    pub url: Url,
    pub body: Option<serde_json::Value>,
    /// Headers a feed asked for in its next link (STAC API paging): kept out of `Display`, which
    /// names the page in logs and dead letters, since they may carry a token.
    pub headers: HeaderMap,
}

impl HttpRequest {
    pub fn get(url: Url) -> Self {
        Self {
            method: Method::GET,
            url,
            body: None,
            headers: HeaderMap::new(),
        }
    }

    pub fn post(url: Url, body: Option<serde_json::Value>) -> Self {
        Self {
            method: Method::POST,
            url,
            body,
            headers: HeaderMap::new(),
        }
    }
}

/// `GET <url>`, or `POST <url> <body>`: how a page is named in logs and dead letters.
impl fmt::Display for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.url)?;
        if let Some(body) = &self.body {
            write!(f, " {body}")?;
        }
        Ok(())
    }
}

/// One feed's HTTP client.
pub struct HttpClient {
    client: reqwest::Client,
    feed: String,
    timeout: Duration,
    max_body_bytes: usize,
    retry: RetryPolicy,
    token: Option<Arc<TokenSource>>,
}

impl HttpClient {
    /// A client with the feed's timeout and retry policy, logging in with `credentials` if any.
    pub fn new(feed: &FeedConfig, credentials: Option<&Credentials>) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .timeout(feed.request_timeout)
            .user_agent(concat!("nrt-mesh-ingestor/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(Error::HttpClient)?;
        let token = credentials
            .map(|credentials| Arc::new(TokenSource::new(client.clone(), credentials.clone())));
        Ok(Self {
            client,
            feed: feed.name.clone(),
            timeout: feed.request_timeout,
            max_body_bytes: feed.max_body_bytes,
            retry: feed.retry,
            token,
        })
    }

    /// Sends `request` and parses the answer with `parse`, retrying what may succeed later.
    pub async fn send<T>(
        &self,
        request: &HttpRequest,
        parse: impl Fn(&Url, &[u8]) -> Result<T, Error> + Send + Sync,
    ) -> Result<T, Error> {
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.attempts);
        (|| async {
            let body = self.send_once(request).await?;
            parse(&request.url, &body)
        })
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

    /// The body of a successful answer.
    async fn send_once(&self, request: &HttpRequest) -> Result<Vec<u8>, Error> {
        let url = &request.url;
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
        let mut builder = self
            .client
            .request(request.method.clone(), url.clone())
            .header(ACCEPT, "application/json")
            .headers(request.headers.clone());
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        if let Some(token) = &self.token {
            builder = builder.bearer_auth(token.bearer().await?.expose());
        }
        let mut response = builder.send().await.map_err(failed)?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED
            && let Some(token) = &self.token
        {
            // The token was revoked or the clocks disagree: the next attempt logs in afresh.
            token.invalidate().await;
        }
        if !status.is_success() {
            let retry_after = retry_after(response.headers(), Utc::now());
            let body = response.text().await.unwrap_or_default();
            return Err(Error::Status {
                url: url.to_string(),
                status: status.as_u16(),
                retry_after,
                detail: excerpt(&body),
                retry_with_new_token: status == StatusCode::UNAUTHORIZED && self.token.is_some(),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(Error::TooLarge {
                    url: url.to_string(),
                    limit: self.max_body_bytes,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// `Retry-After` as seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
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
pub(crate) fn excerpt(body: &str) -> String {
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
