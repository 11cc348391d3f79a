//! One event to one endpoint over HTTP: a signed POST, a few quick attempts, and what the
//! endpoint's answer means for the event.

use std::{
    fmt,
    time::{Duration, Instant, SystemTime},
};

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode, header};
use nrt_nats::describe_error;

use crate::{
    config::{DeliveryConfig, WebhookConfig},
    notification::Notification,
    signature::{self, KeyError, SigningKey},
};

/// The longest `Retry-After` honoured; a server asking for more is asked again after this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A configured webhook with its decoded key.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub config: WebhookConfig,
    key: SigningKey,
}

impl Endpoint {
    pub fn new(config: WebhookConfig) -> Result<Self, KeyError> {
        let key = SigningKey::from_secret(&config.secret)?;
        Ok(Self { config, key })
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }
}

/// How delivering one event to one endpoint ended, after the quick attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointOutcome {
    /// A 2xx answer.
    Delivered { status: StatusCode },
    /// A 4xx (other than 408 and 429) or 3xx: the endpoint refuses, and asking again won't help.
    Rejected { status: StatusCode },
    /// 5xx, 408, 429, a timeout or no connection, on every quick attempt: try again later.
    Unreachable {
        reason: String,
        /// What the endpoint asked for with `Retry-After`, if it did.
        retry_after: Option<Duration>,
    },
}

/// Why one HTTP attempt did not deliver.
#[derive(Debug)]
enum AttemptError {
    Rejected(StatusCode),
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
}

impl AttemptError {
    fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected(status) => write!(f, "HTTP {status}"),
            Self::Transient { reason, .. } => f.write_str(reason),
        }
    }
}

/// Sends signed webhooks, shared by every endpoint and event of a replica.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    attempts: usize,
    first_backoff: Duration,
    max_backoff: Duration,
}

impl WebhookClient {
    pub fn new(delivery: &DeliveryConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            // The specification counts a 3xx as a failure: the URL should be updated instead.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("nrt-mesh-notifier/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            attempts: delivery.attempts.max(1),
            first_backoff: delivery.first_backoff,
            max_backoff: delivery.max_backoff,
        })
    }

    /// POSTs `notification` to `endpoint`, retrying transient failures a few times with
    /// exponential backoff and jitter, or after the endpoint's `Retry-After` when it is short.
    pub async fn deliver(
        &self,
        endpoint: &Endpoint,
        notification: &Notification,
    ) -> EndpointOutcome {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.first_backoff)
            .with_max_delay(self.max_backoff)
            .with_max_times(self.attempts - 1)
            .with_jitter();
        let max_backoff = self.max_backoff;
        let outcome = (|| self.post(endpoint, notification))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(AttemptError::is_transient)
            .adjust(move |error, next| match (error, next) {
                (_, None) => None,
                (AttemptError::Transient { retry_after: Some(asked), .. }, Some(_)) => {
                    // A long wait is the consumer's job: hand the event back rather than hold it.
                    (*asked <= max_backoff).then_some(*asked)
                }
                (_, next) => next,
            })
            .notify(|error, pause| {
                tracing::debug!(webhook = endpoint.name(), error = %error, ?pause, "Webhook attempt failed; retrying.");
            })
            .await;
        match outcome {
            Ok(status) => EndpointOutcome::Delivered { status },
            Err(AttemptError::Rejected(status)) => EndpointOutcome::Rejected { status },
            Err(AttemptError::Transient {
                reason,
                retry_after,
            }) => EndpointOutcome::Unreachable {
                reason,
                retry_after,
            },
        }
    }

    async fn post(
        &self,
        endpoint: &Endpoint,
        notification: &Notification,
    ) -> Result<StatusCode, AttemptError> {
        // Signed per attempt: the timestamp is when this attempt was made.
        let timestamp = signature::unix_seconds(SystemTime::now());
        let signature = signature::sign(
            &endpoint.key,
            &notification.id,
            timestamp,
            &notification.body,
        );
        let started = Instant::now();
        let sent = self
            .http
            .post(endpoint.config.url.clone())
            .timeout(endpoint.config.timeout)
            .header(header::CONTENT_TYPE, "application/json")
            .header(signature::ID_HEADER, &notification.id)
            .header(signature::TIMESTAMP_HEADER, timestamp.to_string())
            .header(signature::SIGNATURE_HEADER, signature)
            .body(notification.body.clone())
            .send()
            .await;
        metrics::histogram!("nrt_webhook_delivery_seconds", "endpoint" => endpoint.name().to_owned())
            .record(started.elapsed().as_secs_f64());
        let result = match sent {
            Ok(response) => judge(response.status(), response.headers(), SystemTime::now()),
            Err(error) if error.is_timeout() => Err(AttemptError::Transient {
                reason: format!("no answer within {:?}", endpoint.config.timeout),
                retry_after: None,
            }),
            Err(error) => Err(AttemptError::Transient {
                reason: describe_error(&error),
                retry_after: None,
            }),
        };
        let outcome = match &result {
            Ok(_) => "delivered",
            Err(AttemptError::Rejected(_)) => "rejected",
            Err(AttemptError::Transient { .. }) => "failed",
        };
        metrics::counter!("nrt_webhook_deliveries_total", "endpoint" => endpoint.name().to_owned(), "outcome" => outcome)
            .increment(1);
        result
    }
}

/// What an answer means, following the specification's status-code etiquette.
fn judge(
    status: StatusCode,
    headers: &HeaderMap,
    now: SystemTime,
) -> Result<StatusCode, AttemptError> {
    if status.is_success() {
        return Ok(status);
    }
    let transient = status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS;
    if !transient {
        return Err(AttemptError::Rejected(status));
    }
    Err(AttemptError::Transient {
        reason: format!("HTTP {status}"),
        retry_after: headers
            .get(header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| retry_after(value, now)),
    })
}

/// A `Retry-After` value, in seconds or as an HTTP date, capped at an hour.
fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = DateTime::parse_from_rfc2822(value)
                .ok()?
                .with_timezone(&Utc);
            (at - DateTime::<Utc>::from(now))
                .to_std()
                .unwrap_or_default()
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests;
