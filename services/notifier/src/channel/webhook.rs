//! A Standard Webhooks endpoint: the CloudEvent POSTed as received, signed with each of the
//! endpoint's secrets.

use std::time::{Duration, SystemTime};

use ::http::header;
use bytes::{BufMut, Bytes, BytesMut};
use nrt_events::stable_hash;
use url::Url;

use super::{Outcome, http};
use crate::{
    notification::Notification,
    signature::{self, SigningKey},
};

/// The CloudEvents JSON batch format: an array of structured-mode events.
pub const DIGEST_CONTENT_TYPE: &str = "application/cloudevents-batch+json";

pub(super) struct Webhook {
    pub http: reqwest::Client,
    pub url: Url,
    pub keys: Vec<SigningKey>,
    pub timeout: Duration,
}

impl Webhook {
    /// One signed POST of `body` as message `id`.
    pub async fn post(&self, id: &str, content_type: &str, body: Bytes) -> Outcome {
        // Signed per attempt: the timestamp is when this attempt was made.
        let timestamp = signature::unix_seconds(SystemTime::now());
        let signatures = signature::sign_with_each(&self.keys, id, timestamp, &body);
        let request = self
            .http
            .post(self.url.clone())
            .header(header::CONTENT_TYPE, content_type)
            .header(signature::ID_HEADER, id)
            .header(signature::TIMESTAMP_HEADER, timestamp.to_string())
            .header(signature::SIGNATURE_HEADER, signatures)
            .body(body);
        http::send(request, self.timeout).await
    }
}

/// The `webhook-id` of a digest: the same events make the same id, so a receiver can drop a
/// digest it already has when a retry resends it.
pub fn digest_id(notifications: &[Notification]) -> String {
    let mut ids: Vec<&str> = notifications.iter().map(|n| n.id.as_str()).collect();
    ids.sort_unstable();
    format!("digest_{}", stable_hash(ids))
}

/// The CloudEvents of a digest as a JSON array, each byte for byte as received.
pub(super) fn digest_body(notifications: &[Notification]) -> Bytes {
    let size = notifications
        .iter()
        .map(|n| n.body.len() + 1)
        .sum::<usize>()
        + 2;
    let mut body = BytesMut::with_capacity(size);
    body.put_u8(b'[');
    for (index, notification) in notifications.iter().enumerate() {
        if index > 0 {
            body.put_u8(b',');
        }
        body.put_slice(&notification.body);
    }
    body.put_u8(b']');
    body.freeze()
}
