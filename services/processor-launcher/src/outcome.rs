//! The lifecycle events, built from the request and the job record so that a launcher taking
//! over, or a redelivery after a crash, publishes exactly what the first one would have.

use chrono::Utc;
use nrt_events::{
    Alert, EventData, JobDead, JobFailed, JobRequested, JobStarted, JobSucceeded, Severity,
};
use nrt_nats::Publisher;
use nrt_registry::Backend;

use crate::{
    Error, SERVICE,
    record::{AttemptError, JobRecord, JobState},
};

/// `backend` is where the attempt runs: `local`, `docker`, `kubernetes` or `nomad`.
pub fn started(request: &JobRequested, record: &JobRecord, backend: Backend) -> JobStarted {
    JobStarted {
        job_id: request.job_id.clone(),
        processor: request.processor.clone(),
        processor_version: request.processor_version.clone(),
        attempt: record.attempt,
        backend: backend.as_str().into(),
        input_keys: input_keys(request),
        started_at: record.started_at.unwrap_or(record.updated_at),
    }
}

pub fn succeeded(request: &JobRequested, record: &JobRecord) -> JobSucceeded {
    JobSucceeded {
        job_id: request.job_id.clone(),
        rule: request.rule.clone(),
        processor: request.processor.clone(),
        processor_version: request.processor_version.clone(),
        attempt: record.attempt,
        inputs: request.inputs.clone(),
        outputs: record.outputs.clone(),
        metadata: record.metadata.clone(),
        started_at: record.started_at.unwrap_or(record.created_at),
        finished_at: record.finished_at.unwrap_or(record.updated_at),
    }
}

pub fn failed(request: &JobRequested, record: &JobRecord, will_retry: bool) -> JobFailed {
    let error = last_error(record);
    JobFailed {
        job_id: request.job_id.clone(),
        rule: request.rule.clone(),
        processor: request.processor.clone(),
        processor_version: request.processor_version.clone(),
        attempt: record.attempt,
        input_keys: input_keys(request),
        reason: error.reason,
        exit_code: error.exit_code,
        log_tail: error.log_tail,
        will_retry,
    }
}

/// The dead job's event and its alert: critical when its attempts ran out, a warning when an
/// operator cancelled it (someone knows already; the people waiting for its products do not).
pub fn dead(request: &JobRequested, record: &JobRecord) -> (JobDead, Alert) {
    let reason = last_error(record).reason;
    let (severity, kind) = if record.cancelled {
        (Severity::Warning, "job-cancelled")
    } else {
        (Severity::Critical, "job-dead")
    };
    let alert = Alert {
        severity,
        kind: kind.into(),
        service: SERVICE.into(),
        message: format!(
            "Job {} of processor {} {} is dead after {} attempts: {reason}",
            request.job_id, request.processor, request.processor_version, record.attempt
        ),
        about: request.job_id.clone(),
        raised_at: Utc::now(),
    };
    let dead = JobDead {
        job_id: request.job_id.clone(),
        rule: request.rule.clone(),
        processor: request.processor.clone(),
        processor_version: request.processor_version.clone(),
        attempts: record.attempt,
        input_keys: input_keys(request),
        reason,
    };
    (dead, alert)
}

/// Publishes the terminal outcome of `record` (again): JetStream drops it when it was already
/// published within the duplicate window.
pub async fn publish_terminal(
    publisher: &Publisher,
    request: &JobRequested,
    record: &JobRecord,
) -> Result<(), Error> {
    match record.state {
        JobState::Succeeded => publish(publisher, succeeded(request, record)).await,
        JobState::Dead => {
            let (dead, alert) = dead(request, record);
            publish(publisher, dead).await?;
            publish(publisher, alert).await
        }
        _ => Ok(()),
    }
}

pub async fn publish<T: EventData>(publisher: &Publisher, event: T) -> Result<(), Error> {
    let job_id = event.about().unwrap_or_default();
    publisher
        .publish(event)
        .await
        .map(|_| ())
        .map_err(|source| Error::Publish {
            event: T::TYPE,
            job_id,
            source,
        })
}

fn last_error(record: &JobRecord) -> AttemptError {
    record
        .last_error
        .clone()
        .unwrap_or_else(|| AttemptError::because("the attempt failed without a recorded reason"))
}

fn input_keys(request: &JobRequested) -> Vec<String> {
    request
        .inputs
        .iter()
        .map(|input| input.key.clone())
        .collect()
}
