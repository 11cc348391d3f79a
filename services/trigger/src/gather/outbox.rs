//! Where the trigger's jobs and alerts go: JetStream in production, a recorder in unit tests.

use std::future::Future;

use nrt_events::{Alert, JobRequested};
use nrt_nats::Publisher;

use crate::Error;

pub trait Outbox: Send + Sync + 'static {
    /// Publishes a job request; done once the stream acknowledged it (or dropped it as a repeat).
    fn job(&self, job: &JobRequested) -> impl Future<Output = Result<(), Error>> + Send;

    fn alert(&self, alert: Alert) -> impl Future<Output = Result<(), Error>> + Send;
}

/// Publishes through the mesh's publisher: deterministic ids, so repeats are dropped.
pub struct JetStreamOutbox {
    pub publisher: Publisher,
}

impl Outbox for JetStreamOutbox {
    async fn job(&self, job: &JobRequested) -> Result<(), Error> {
        let ack = self
            .publisher
            .publish(job.clone())
            .await
            .map_err(|source| Error::Publish {
                job_id: job.job_id.clone(),
                rule: job.rule.clone(),
                source,
            })?;
        if ack.duplicate {
            tracing::info!(job_id = %job.job_id, rule = %job.rule, "Job was already requested.");
        } else {
            metrics::counter!(
                "nrt_trigger_jobs_requested_total",
                "rule" => job.rule.clone(),
                "processor" => job.processor.clone(),
            )
            .increment(1);
        }
        Ok(())
    }

    async fn alert(&self, alert: Alert) -> Result<(), Error> {
        tracing::warn!(kind = %alert.kind, about = %alert.about, "{}", alert.message);
        self.publisher
            .publish(alert.clone())
            .await
            .map_err(|source| Error::RaiseAlert {
                kind: alert.kind,
                about: alert.about,
                source,
            })?;
        Ok(())
    }
}

/// Keeps what was sent, for unit tests.
#[cfg(test)]
#[derive(Default)]
pub struct RecordingOutbox {
    pub jobs: std::sync::Mutex<Vec<JobRequested>>,
    pub alerts: std::sync::Mutex<Vec<Alert>>,
}

#[cfg(test)]
impl Outbox for RecordingOutbox {
    async fn job(&self, job: &JobRequested) -> Result<(), Error> {
        self.jobs.lock().unwrap().push(job.clone());
        Ok(())
    }

    async fn alert(&self, alert: Alert) -> Result<(), Error> {
        self.alerts.lock().unwrap().push(alert);
        Ok(())
    }
}
