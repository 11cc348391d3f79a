//! One attempt on a container backend (Docker, Kubernetes, Nomad), claimed afresh or adopted
//! from a launcher that died. The container is not this process's child: it outlives a
//! launcher, so a launcher taking the job over watches the container that runs rather than
//! starting another, and the attempt's timeout counts from when it started.

mod spec;

use std::sync::Arc;

use chrono::Utc;
use nrt_events::{JobOutput, JobRequested};
use nrt_nats::describe_error;
use nrt_registry::{Backend, Processor};

use self::spec::remote_attempt_prefix_from;
use crate::{
    Error,
    backend::{BackendJob, ContainerBackend, Ended},
    claim::Claim,
    launcher::{Launcher, Step},
    outcome,
    record::{AttemptError, JobState},
    staging::{self, StagingError},
    workspace::{AttemptDir, LOG_TAIL_LINES},
};

/// How watching a container ended.
enum Watched {
    Ended(Result<Ended, crate::backend::BackendError>),
    TimedOut,
    Lost,
}

/// How starting a container ended.
enum Start {
    Running(BackendJob),
    /// The attempt failed before its container ran (a bad spec, a refused create).
    Failed(AttemptError),
    /// Another launcher moved the record meanwhile.
    Lost,
}

impl Launcher {
    pub(crate) async fn run_in_container(
        &self,
        claim: &Claim,
        request: &JobRequested,
        processor: &Processor,
        sequence: u64,
        backend: &Arc<dyn ContainerBackend>,
    ) -> Result<Step, Error> {
        let record = claim.current().await.record;
        let attempt = record.attempt;
        let dir = AttemptDir::new(&self.work_dir, &request.job_id, attempt);
        let job = match record.backend_job {
            Some(job) => {
                tracing::info!(job_id = %request.job_id, attempt, backend = %job.backend, container = %job.name, "Adopted a running container.");
                job
            }
            None => match self
                .start_container(claim, &dir, request, processor, backend)
                .await?
            {
                Start::Running(job) => job,
                Start::Failed(error) => {
                    return self.fail(claim, request, processor, sequence, error).await;
                }
                Start::Lost => return Ok(Step::Again),
            },
        };
        let prefix = staging::job_prefix(&request.processor, &request.job_id);
        let error = match self.watch(claim, processor, backend, &job).await {
            Watched::Lost => {
                self.after_loss(&request.job_id, backend, &job).await;
                return Ok(Step::Again);
            }
            // The watch broke (the API was unreachable): the container may well be running.
            // The request comes back, and whoever holds the job then watches it again.
            Watched::Ended(Err(error)) if error.transient => return Err(Error::Backend(error)),
            Watched::Ended(Err(error)) => AttemptError::because(describe_error(&error)),
            Watched::TimedOut => {
                let log_tail = self.log_tail(backend, &job).await;
                self.remove(backend, &job).await;
                AttemptError {
                    log_tail,
                    ..AttemptError::because(format!(
                        "the processor ran past its timeout of {}s and its {} job {} was stopped",
                        processor.timeout_secs, job.backend, job.name
                    ))
                }
            }
            Watched::Ended(Ok(Ended::Succeeded)) => {
                let collected = claim
                    .while_renewing(self.container_outputs(backend.kind(), &dir, &prefix, attempt))
                    .await;
                self.keep_log_tail(backend, &job, &prefix, attempt).await;
                match collected {
                    Ok((outputs, metadata)) => {
                        self.remove(backend, &job).await;
                        let step = self
                            .succeed(claim, request, processor, outputs, metadata)
                            .await?;
                        dir.remove();
                        return Ok(step);
                    }
                    Err(error) => AttemptError {
                        exit_code: Some(0),
                        ..AttemptError::because(format!(
                            "collecting the outputs failed: {}",
                            describe_error(&error)
                        ))
                    },
                }
            }
            Watched::Ended(Ok(Ended::Failed { exit_code, reason })) => {
                let log_tail = self.keep_log_tail(backend, &job, &prefix, attempt).await;
                self.remove(backend, &job).await;
                let reason = match exit_code {
                    Some(code) => format!("the processor exited with code {code}: {reason}"),
                    None => format!("the processor failed: {reason}"),
                };
                AttemptError {
                    reason,
                    exit_code,
                    log_tail,
                }
            }
            Watched::Ended(Ok(Ended::Vanished)) => AttemptError::because(format!(
                "the {} job {} disappeared before it ended (deleted outside nrt-mesh?)",
                job.backend, job.name
            )),
        };
        self.fail(claim, request, processor, sequence, error).await
    }

    /// Creates the attempt's container (or finds the one a dead launcher created under the same
    /// name) and records it: the job is `running` from here, and publishes `JobStarted`.
    async fn start_container(
        &self,
        claim: &Claim,
        dir: &AttemptDir,
        request: &JobRequested,
        processor: &Processor,
        backend: &Arc<dyn ContainerBackend>,
    ) -> Result<Start, Error> {
        let attempt = claim.current().await.record.attempt;
        let spec = match self.container_spec(dir, request, processor, attempt).await {
            Ok(spec) => spec,
            Err(reason) => return Ok(Start::Failed(AttemptError::because(reason))),
        };
        let job = match backend.launch(&spec).await {
            Ok(job) => job,
            // The record stays `launching` under this launcher's lease; the redelivery finds the
            // container by its name, or creates it.
            Err(error) if error.transient => return Err(Error::Backend(error)),
            Err(error) => return Ok(Start::Failed(AttemptError::because(describe_error(&error)))),
        };
        let started_at = Utc::now();
        let recorded = claim
            .update(JobState::Running, |record| {
                record.backend_job = Some(job.clone());
                record.started_at = Some(started_at);
            })
            .await?;
        if !recorded {
            return Ok(Start::Lost);
        }
        tracing::info!(job_id = %request.job_id, attempt, backend = %job.backend, container = %job.name, "Container started.");
        metrics::counter!("nrt_jobs_total", "processor" => processor.name.clone(), "outcome" => "started").increment(1);
        let started = outcome::started(request, &claim.current().await.record, processor.backend);
        if let Err(error) = outcome::publish(&self.publisher, started).await {
            tracing::warn!(error = %describe_error(&error), "Could not publish JobStarted.");
        }
        Ok(Start::Running(job))
    }

    /// Waits for the container to end, at most until the attempt's timeout counted from when it
    /// started (an adopted container does not get a fresh timeout), or until the job is lost.
    async fn watch(
        &self,
        claim: &Claim,
        processor: &Processor,
        backend: &Arc<dyn ContainerBackend>,
        job: &BackendJob,
    ) -> Watched {
        let started_at = claim
            .current()
            .await
            .record
            .started_at
            .unwrap_or_else(Utc::now);
        let elapsed = (Utc::now() - started_at).to_std().unwrap_or_default();
        let remaining = processor.timeout().saturating_sub(elapsed);
        claim
            .while_renewing(async {
                tokio::select! {
                    ended = backend.wait(job) => Watched::Ended(ended),
                    () = tokio::time::sleep(remaining) => Watched::TimedOut,
                    () = claim.lost().cancelled() => Watched::Lost,
                }
            })
            .await
    }

    async fn container_outputs(
        &self,
        backend: Backend,
        dir: &AttemptDir,
        prefix: &str,
        attempt: u32,
    ) -> Result<(Vec<JobOutput>, Option<serde_json::Value>), StagingError> {
        if backend == Backend::Docker {
            return self.stage_outputs(dir, prefix).await;
        }
        let output_prefix = format!("{}output/", remote_attempt_prefix_from(prefix, attempt));
        let stored = nrt_s3::collect_stored_outputs(
            &self.s3,
            &self.bucket,
            &output_prefix,
            staging::SIDECAR,
        );
        Ok(stored.await?)
    }

    /// The container's last lines, also kept in S3 beside the outputs (a container's logs go
    /// when it is removed).
    async fn keep_log_tail(
        &self,
        backend: &Arc<dyn ContainerBackend>,
        job: &BackendJob,
        prefix: &str,
        attempt: u32,
    ) -> Vec<String> {
        let lines = self.log_tail(backend, job).await;
        if !lines.is_empty() {
            let key = format!("{prefix}logs/attempt-{attempt}/log-tail.txt");
            let body = lines.join("\n") + "\n";
            if let Err(error) = nrt_s3::put_bytes(
                &self.s3,
                &self.bucket,
                &key,
                body.into(),
                "text/plain; charset=utf-8",
            )
            .await
            {
                tracing::warn!(error = %describe_error(&error), %key, "Could not keep the container's log tail.");
            }
        }
        lines
    }

    async fn log_tail(&self, backend: &Arc<dyn ContainerBackend>, job: &BackendJob) -> Vec<String> {
        backend
            .log_tail(job, LOG_TAIL_LINES)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(error = %describe_error(&error), container = %job.name, "Could not read the container's logs.");
                Vec::new()
            })
    }

    /// Stops and removes a container whose attempt is settled (or must end).
    async fn remove(&self, backend: &Arc<dyn ContainerBackend>, job: &BackendJob) {
        if let Err(error) = backend.kill(job).await {
            tracing::warn!(error = %describe_error(&error), container = %job.name, "Could not remove the container; remove it by hand.");
        }
    }

    /// Another launcher moved the record. If an operator cancelled the job, its container must
    /// stop; if another launcher adopted it, the container is theirs to watch.
    async fn after_loss(
        &self,
        job_id: &str,
        backend: &Arc<dyn ContainerBackend>,
        job: &BackendJob,
    ) {
        match self.store.get(job_id).await {
            Ok(Some(found)) if found.record.cancelled => {
                tracing::warn!(job_id, container = %job.name, "Job cancelled; stopping its container.");
                self.remove(backend, job).await;
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(job_id, error = %describe_error(&error), "Could not read the job after losing it; its container is left to whoever holds it.");
            }
        }
    }
}
