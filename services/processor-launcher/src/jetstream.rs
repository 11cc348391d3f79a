//! The consumer of job requests: decode, hand to the launcher; the runner acknowledges.

use std::{sync::Arc, time::Duration};

use nrt_events::{Envelope, JobRequested, streams};
use nrt_nats::{ConsumerSpec, Delivery, Handler};

use crate::{Error, launcher::Launcher};

/// The launcher's durable consumer on `jobs.requested.>`.
///
/// Deliveries are not attempts: a job's attempts are counted in its record and bounded by the
/// registry's `max_attempts`; a request is redelivered also while it waits for a retry or for
/// another launcher's lease. `max_deliver` only stops a request that can never be handled
/// (the bucket unreachable for hours).
pub const CONSUMER: ConsumerSpec = ConsumerSpec {
    stream: streams::JOBS,
    durable: "processor-launcher",
    filter_subjects: &["jobs.requested.>"],
    // The runner sends progress every 10 s while a job runs: 30 s without one is a dead launcher.
    ack_wait: Duration::from_secs(30),
    max_deliver: 1000,
    retry_delays: &[
        Duration::from_secs(1),
        Duration::from_secs(5),
        Duration::from_secs(30),
        Duration::from_secs(60),
    ],
    // Every running job holds its request unacknowledged: this bounds the jobs in flight across
    // all replicas (a grid production runs 10,000 at once).
    max_ack_pending: 20_000,
};

pub struct RequestHandler {
    launcher: Arc<Launcher>,
}

impl RequestHandler {
    pub fn new(launcher: Arc<Launcher>) -> Self {
        Self { launcher }
    }
}

impl Handler for RequestHandler {
    type Error = Error;

    async fn handle(&self, delivery: &Delivery) -> Result<(), Error> {
        let request = Envelope::<JobRequested>::from_json(&delivery.payload)?.data;
        self.launcher
            .handle(&request, delivery.stream_sequence)
            .await
    }
}
