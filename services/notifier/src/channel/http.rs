//! One HTTP attempt, and what the answer means for the notification.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode, header};
use nrt_nats::describe_error;

use super::Outcome;

/// The longest `Retry-After` honoured; a server asking for more is asked again after this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Sends `request` once, waiting at most `timeout`.
pub(super) async fn send(request: reqwest::RequestBuilder, timeout: Duration) -> Outcome {
    match request.timeout(timeout).send().await {
        Ok(response) => judge(response.status(), response.headers(), SystemTime::now()),
        Err(error) if error.is_timeout() => Outcome::Unreachable {
            reason: format!("no answer within {timeout:?}"),
            retry_after: None,
        },
        Err(error) => Outcome::Unreachable {
            // Without the URL: a chat webhook's URL is its credential.
            reason: describe_error(&error.without_url()),
            retry_after: None,
        },
    }
}

/// What an answer means, following the Standard Webhooks specification's status-code etiquette.
fn judge(status: StatusCode, headers: &HeaderMap, now: SystemTime) -> Outcome {
    let reason = format!("HTTP {status}");
    if status.is_success() {
        return Outcome::Delivered;
    }
    if status == StatusCode::GONE {
        return Outcome::Gone { reason };
    }
    let transient = status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS;
    if !transient {
        return Outcome::Rejected { reason };
    }
    Outcome::Unreachable {
        reason,
        retry_after: headers
            .get(header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| retry_after(value, now)),
    }
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
