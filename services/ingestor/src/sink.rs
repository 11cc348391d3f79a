//! Where the ingestor's output goes: JetStream in production, memory in unit tests. Every source
//! (polled, pushed or streamed) publishes through the same sink, so a product seen by several
//! sources has one event id and JetStream keeps it once.

use std::future::Future;

use futures::{StreamExt, TryStreamExt};
use nrt_events::Alert;

use crate::{Error, feed::Discovery, handler::Rejected};

/// PubAcks awaited at once while publishing a page or a batch.
const PUBLISH_CONCURRENCY: usize = 32;

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

/// Publishes `discovered` with every PubAck awaited and dead-letters `rejected` with their
/// reasons, counting both for `feed`; the number of new products once all of it is in JetStream.
/// Every source delivers this way before it says it is done (a cursor moved, a notification
/// acknowledged, a 2xx answered), so a crash in between only repeats what dedup drops.
pub async fn deliver(
    sink: &impl ProductSink,
    feed: &str,
    origin: &str,
    discovered: Vec<Discovery>,
    rejected: &[Rejected],
) -> Result<u64, Error> {
    let new = futures::stream::iter(discovered)
        .map(|discovery| sink.publish(discovery))
        .buffered(PUBLISH_CONCURRENCY)
        .try_fold(
            0u64,
            |new, is_new| async move { Ok(new + u64::from(is_new)) },
        )
        .await?;
    metrics::counter!("nrt_ingestor_products_discovered_total", "feed" => feed.to_owned())
        .increment(new);
    for rejected in rejected {
        let reason = rejected.error.to_string();
        sink.dead_letter(origin, rejected.entity.as_bytes(), &reason)
            .await?;
        metrics::counter!("nrt_ingestor_entries_rejected_total", "feed" => feed.to_owned())
            .increment(1);
    }
    Ok(new)
}
