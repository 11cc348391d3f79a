//! Publishing object events to JetStream as part of answering the write.

use nrt_events::s3::object_subject;
use nrt_nats::{Publisher, describe_error};
use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::notification::{ObjectEvent, Sequencer};

/// Publishes one event per write on `objects.<bucket>` and awaits JetStream's acknowledgement
/// before the write is answered.
///
/// When the event cannot be published the write is answered `503 ServiceUnavailable`: the object
/// is stored but unannounced, and the client's retry (the AWS SDK retries 503s) writes it again
/// and announces it. So an object may exist without its event for a moment, but no event is
/// silently lost. A failed publish may still reach the stream later (the NATS client buffers
/// while reconnecting), so a retried write can yield a second event for the same object: events
/// are at-least-once, as everywhere in the mesh.
pub(crate) struct Announcer {
    publisher: Option<Publisher>,
    region: String,
    sequencer: Sequencer,
}

impl Announcer {
    /// `None` announces nothing: an S3 endpoint without events.
    pub(crate) fn new(publisher: Option<Publisher>, region: String) -> Self {
        Self {
            publisher,
            region,
            sequencer: Sequencer::default(),
        }
    }

    /// A fresh sequencer, also used as the request id of a write.
    pub(crate) fn next_sequencer(&self) -> String {
        self.sequencer.next()
    }

    pub(crate) async fn announce(&self, event: &ObjectEvent) -> S3Result<()> {
        let Some(publisher) = &self.publisher else {
            return Ok(());
        };
        let subject = object_subject(&event.bucket);
        let body = serde_json::to_vec(&event.notification(&self.region))
            .expect("an S3 notification always serializes");
        match publisher
            .publish_raw(subject.clone(), &event.message_id(), body.into())
            .await
        {
            Ok(_) => {
                tracing::debug!(
                    %subject,
                    bucket = %event.bucket,
                    key = %event.key,
                    event = event.kind.event_name(),
                    "Object event published."
                );
                Ok(())
            }
            Err(error) => {
                let cause = describe_error(&error);
                tracing::warn!(
                    %subject,
                    bucket = %event.bucket,
                    key = %event.key,
                    error = %cause,
                    "Object event not published; answering 503 so the client retries."
                );
                let mut refusal = S3Error::with_message(
                    S3ErrorCode::ServiceUnavailable,
                    format!(
                        "s3://{}/{} was written but its event could not be published ({cause}); retry the request",
                        event.bucket, event.key
                    ),
                );
                refusal.set_source(Box::new(error));
                Err(refusal)
            }
        }
    }
}
