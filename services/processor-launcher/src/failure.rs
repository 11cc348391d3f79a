//! After an attempt failed, or its launcher died: report it, then retry or declare the job dead.

use std::time::Duration;

use chrono::Utc;
use nrt_events::JobRequested;
use nrt_registry::Processor;

use crate::{
    Error,
    launcher::{Launcher, Step},
    outcome,
    record::{AttemptError, JobState},
    store::Versioned,
};

impl Launcher {
    /// The owner's lease ran out mid-attempt: record that attempt as failed, under this
    /// message's ownership, and go on at once (the launcher's death is not the processor's
    /// failure, so no retry delay).
    pub(crate) async fn take_over(
        &self,
        found: Versioned,
        request: &JobRequested,
        processor: &Processor,
        sequence: u64,
    ) -> Result<Step, Error> {
        let previous = found.record.owner.clone().unwrap_or_default();
        tracing::warn!(job_id = %request.job_id, %previous, attempt = found.record.attempt, "Lease expired; taking the job over.");
        let now = Utc::now();
        let mut record = found.record.moved_to(JobState::Failed, now)?;
        record.finished_at = Some(now);
        record.last_error = Some(AttemptError::because(format!(
            "launcher {previous} stopped renewing its lease during attempt {} (it died or lost NATS)",
            found.record.attempt
        )));
        let Some(claim) = self.claim(record, found.revision, sequence, now).await? else {
            return Ok(Step::Again);
        };
        let failed = claim.current().await;
        self.settle(failed, request, processor, sequence, Duration::ZERO)
            .await
    }

    /// After a failed attempt: report it, then retry after `delay` or declare the job dead.
    pub(crate) async fn settle(
        &self,
        failed: Versioned,
        request: &JobRequested,
        processor: &Processor,
        sequence: u64,
        delay: Duration,
    ) -> Result<Step, Error> {
        let attempt = failed.record.attempt;
        let will_retry = failed.record.may_retry(processor.max_attempts);
        let event = outcome::failed(request, &failed.record, will_retry);
        tracing::warn!(job_id = %request.job_id, attempt, will_retry, reason = %event.reason, "Attempt failed.");
        outcome::publish(&self.publisher, event).await?;
        let now = Utc::now();
        let mut record = failed.record.moved_to(
            if will_retry {
                JobState::Retrying
            } else {
                JobState::Dead
            },
            now,
        )?;
        record.owner = None;
        record.request_sequence = sequence;
        if will_retry {
            let retry_at = now + delay;
            record.retry_at = Some(retry_at);
            // The message that owns the retry must come back by then, or any copy may claim it.
            record.lease_expires_at = Some(retry_at + self.lease);
        } else {
            record.lease_expires_at = None;
        }
        if self.store.update(&record, failed.revision).await?.is_none() {
            return Ok(Step::Again);
        }
        metrics::counter!("nrt_jobs_total", "processor" => processor.name.clone(), "outcome" => if will_retry { "retrying" } else { "dead" }).increment(1);
        if will_retry {
            return Ok(if delay.is_zero() {
                Step::Again
            } else {
                Step::RetryAfter { attempt, delay }
            });
        }
        tracing::error!(job_id = %request.job_id, attempts = attempt, "Job is dead.");
        outcome::publish_terminal(&self.publisher, request, &record).await?;
        Ok(Step::Done)
    }
}
