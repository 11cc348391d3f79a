//! The request messages that own jobs, in stream JOBS: read one back, publish it again.

use std::future::Future;

use async_nats::{
    HeaderMap,
    header::NATS_MESSAGE_ID,
    jetstream::{self, stream::RawMessageErrorKind},
};
use bytes::Bytes;
use nrt_events::streams::JOBS;

/// A message as the stream holds it.
#[derive(Debug, Clone)]
pub struct StoredRequest {
    pub subject: String,
    pub sequence: u64,
    pub headers: HeaderMap,
    pub payload: Bytes,
}

/// Where a republished request landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub subject: String,
    pub sequence: u64,
    /// JetStream knew the message id already: this request was republished before, at
    /// `sequence`, and nothing new was stored.
    pub duplicate: bool,
}

/// Stream JOBS as a relaunch needs it; unit tests put an in-memory one in its place.
pub trait JobRequests {
    /// The message at `sequence`, or `None` when the stream no longer holds it.
    fn read(
        &self,
        sequence: u64,
    ) -> impl Future<Output = Result<Option<StoredRequest>, async_nats::Error>>;

    /// Publishes `request` again, same subject, headers and payload, under `message_id`.
    fn republish(
        &self,
        request: &StoredRequest,
        message_id: &str,
    ) -> impl Future<Output = Result<Published, async_nats::Error>>;
}

/// Stream JOBS on a NATS server.
#[derive(Clone)]
pub struct StreamRequests {
    js: jetstream::Context,
}

impl StreamRequests {
    pub fn new(js: jetstream::Context) -> Self {
        Self { js }
    }
}

impl JobRequests for StreamRequests {
    async fn read(&self, sequence: u64) -> Result<Option<StoredRequest>, async_nats::Error> {
        // A plain get, not a direct get: JOBS is declared without allow_direct.
        let stream = self.js.get_stream_no_info(JOBS.name).await?;
        match stream.get_raw_message(sequence).await {
            Ok(message) => Ok(Some(StoredRequest {
                subject: message.subject.to_string(),
                sequence: message.sequence,
                headers: message.headers,
                payload: message.payload,
            })),
            Err(error) if error.kind() == RawMessageErrorKind::NoMessageFound => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    async fn republish(
        &self,
        request: &StoredRequest,
        message_id: &str,
    ) -> Result<Published, async_nats::Error> {
        let ack = self
            .js
            .publish_with_headers(
                request.subject.clone(),
                republished_headers(&request.headers, message_id),
                request.payload.clone(),
            )
            .await?
            .await?;
        Ok(Published {
            subject: request.subject.clone(),
            sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }
}

/// The event's own headers (content type, trace context) with a new message id. JetStream's
/// `Nats-*` headers were instructions for the first publish and are not repeated.
pub(super) fn republished_headers(original: &HeaderMap, message_id: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, values) in original.iter() {
        let name: &str = name.as_ref();
        if name.to_ascii_lowercase().starts_with("nats-") {
            continue;
        }
        for value in values {
            headers.append(name, value.clone());
        }
    }
    headers.insert(NATS_MESSAGE_ID, message_id);
    headers
}
