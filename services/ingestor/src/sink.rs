//! Where the ingestor's output goes: JetStream in production, memory in unit tests. Every source
//! (polled, pushed or streamed) publishes through the same sink, so a product seen by several
//! sources has one event id and JetStream keeps it once.

use std::future::Future;

use nrt_events::Alert;

use crate::{Error, feed::Discovery};

pub trait ProductSink: Send + Sync {
    /// Publishes and awaits the PubAck; `true` when new, `false` when JetStream dropped a repeat.
    fn publish(&self, discovery: Discovery) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Copies an entry that cannot be read to the dead-letter queue, byte for byte, with the
    /// reason; `origin` names where it came from (the request, the endpoint, the subject).
    fn dead_letter(
        &self,
        origin: &str,
        entity: &[u8],
        reason: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    fn alert(&self, alert: Alert) -> impl Future<Output = Result<(), Error>> + Send;
}
