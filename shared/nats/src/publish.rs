use async_nats::{
    HeaderMap,
    header::NATS_MESSAGE_ID,
    jetstream::{self, context::PublishErrorKind, publish::PublishAck},
};
use bytes::Bytes;
use nrt_events::{Envelope, EventData};

/// Publishes events so that no service can forget the two things every event needs: its
/// deterministic id as `Nats-Msg-Id` (JetStream drops repeats) and the current trace context.
#[derive(Clone)]
pub struct Publisher {
    js: jetstream::Context,
    /// CloudEvents `source` of everything this publisher sends, e.g. `/nrt-mesh/trigger`.
    source: String,
}

#[derive(Debug, thiserror::Error)]
#[error("could not publish to {subject}")]
pub struct PublishError {
    pub subject: String,
    #[source]
    pub source: jetstream::context::PublishError,
}

impl PublishError {
    /// Timeouts and a missing server heal; a refused message (too large, no stream) does not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.source.kind(),
            PublishErrorKind::TimedOut
                | PublishErrorKind::BrokenPipe
                | PublishErrorKind::StreamNotFound
        )
    }
}

impl Publisher {
    pub fn new(js: jetstream::Context, service: &str) -> Self {
        Self {
            js,
            source: format!("/nrt-mesh/{service}"),
        }
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// Wraps `data` in a CloudEvent and publishes it, awaiting the stream's acknowledgement.
    pub async fn publish<T: EventData>(&self, data: T) -> Result<PublishAck, PublishError> {
        self.publish_envelope(&Envelope::new(self.source.clone(), data))
            .await
    }

    pub async fn publish_envelope<T: EventData>(
        &self,
        event: &Envelope<T>,
    ) -> Result<PublishAck, PublishError> {
        self.publish_raw(event.subject(), &event.id, Bytes::from(event.to_json()))
            .await
    }

    /// Publishes a body that is not a CloudEvent (an S3 notification) with the same guarantees.
    pub async fn publish_raw(
        &self,
        subject: String,
        message_id: &str,
        body: Bytes,
    ) -> Result<PublishAck, PublishError> {
        let mut headers = HeaderMap::new();
        headers.insert(NATS_MESSAGE_ID, message_id);
        headers.insert("Content-Type", "application/json");
        nrt_telemetry::inject_context(&mut headers);
        let error = |source| PublishError {
            subject: subject.clone(),
            source,
        };
        let ack = self
            .js
            .publish_with_headers(subject.clone(), headers, body)
            .await
            .map_err(error)?
            .await
            .map_err(error)?;
        if ack.duplicate {
            tracing::debug!(%subject, message_id, "Duplicate dropped by JetStream.");
        }
        metrics::counter!("nrt_events_published_total", "stream" => ack.stream.clone(), "duplicate" => ack.duplicate.to_string())
            .increment(1);
        Ok(ack)
    }
}
