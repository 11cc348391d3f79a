//! What each kind of HTTP answer means, and reading `Retry-After`.

use http::HeaderValue;

use super::*;

fn headers_with_retry_after(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::RETRY_AFTER, HeaderValue::from_str(value).unwrap());
    headers
}

fn judged(status: u16) -> Outcome {
    judge(
        StatusCode::from_u16(status).unwrap(),
        &HeaderMap::new(),
        SystemTime::now(),
    )
}

#[test]
fn any_2xx_is_delivered() {
    for status in [200, 201, 202, 204] {
        assert_eq!(judged(status), Outcome::Delivered, "{status}");
    }
}

#[test]
fn server_errors_timeouts_and_rate_limits_may_heal() {
    for status in [500, 502, 503, 504, 408, 429] {
        assert!(
            matches!(judged(status), Outcome::Unreachable { .. }),
            "{status}"
        );
    }
}

#[test]
fn gone_is_told_apart_from_other_refusals() {
    assert_eq!(
        judged(410),
        Outcome::Gone {
            reason: "HTTP 410 Gone".into()
        }
    );
}

#[test]
fn other_client_errors_and_redirects_are_rejections() {
    for status in [400, 401, 403, 404, 413, 422, 301, 302, 307] {
        assert!(
            matches!(judged(status), Outcome::Rejected { .. }),
            "{status}"
        );
    }
}

#[test]
fn retry_after_in_seconds_is_kept() {
    let outcome = judge(
        StatusCode::SERVICE_UNAVAILABLE,
        &headers_with_retry_after("120"),
        SystemTime::now(),
    );
    assert_eq!(
        outcome,
        Outcome::Unreachable {
            reason: "HTTP 503 Service Unavailable".into(),
            retry_after: Some(Duration::from_secs(120)),
        }
    );
}

#[test]
fn retry_after_as_an_http_date_counts_from_now() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_450); // 07:27:30 GMT
    assert_eq!(
        retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
        Some(Duration::ZERO)
    );
}

#[test]
fn retry_after_is_capped_and_garbage_ignored() {
    let now = SystemTime::now();
    assert_eq!(retry_after("86400", now), Some(MAX_RETRY_AFTER));
    assert_eq!(retry_after("soon", now), None);
    assert_eq!(retry_after("-5", now), None);
}
