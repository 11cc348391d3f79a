//! One claimed attempt on the local backend: working directory and manifest, the process, the
//! outputs and logs to S3, and the record moved to succeeded or failed.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
};

use chrono::Utc;
use nrt_events::{JobOutput, JobRequested};
use nrt_nats::describe_error;
use nrt_registry::Processor;

use crate::{
    Error,
    claim::Claim,
    command::{self, Placeholders},
    inputs,
    launcher::{Launcher, Step},
    manifest::{JobManifest, Outputs},
    outcome,
    process::{self, Exit, Launch, Running},
    record::{AttemptError, JobState},
    staging::{self, StagingError},
    workspace::AttemptDir,
};

/// An attempt ready to start: its arguments and its manifest's path, as the process sees them.
pub(crate) struct Prepared {
    pub args: Vec<OsString>,
    pub manifest: PathBuf,
}

impl Launcher {
    pub(crate) async fn run_attempt(
        &self,
        claim: &Claim,
        request: &JobRequested,
        processor: &Processor,
        sequence: u64,
    ) -> Result<Step, Error> {
        let attempt = claim.current().await.record.attempt;
        let dir = AttemptDir::new(&self.work_dir, &request.job_id, attempt);
        let started = match self
            .prepare_dir(&dir, request, processor, attempt, None)
            .await
        {
            Ok(prepared) => self.start(&dir, processor, prepared),
            Err(reason) => Err(reason),
        };
        let mut running = match started {
            Ok(running) => running,
            Err(reason) => {
                let error = AttemptError::because(reason);
                return self.fail(claim, request, processor, sequence, error).await;
            }
        };
        let started_at = Utc::now();
        if !claim
            .update(JobState::Running, |record| {
                record.started_at = Some(started_at)
            })
            .await?
        {
            // Dropping `running` kills the process: the job is someone else's now.
            return Ok(Step::Again);
        }
        tracing::info!(job_id = %request.job_id, attempt, pid = running.pid(), "Process started.");
        metrics::counter!("nrt_jobs_total", "processor" => processor.name.clone(), "outcome" => "started").increment(1);
        let started = outcome::started(request, &claim.current().await.record, processor.backend);
        // The job runs whether or not the event got out; the outcome event will.
        if let Err(error) = outcome::publish(&self.publisher, started).await {
            tracing::warn!(error = %describe_error(&error), "Could not publish JobStarted.");
        }

        let exit = claim
            .while_renewing(running.supervise(processor.timeout(), claim.lost()))
            .await;
        let exit = match exit {
            Ok(Exit::Lost) => return Ok(Step::Again),
            Ok(exit) => exit,
            Err(error) => {
                let error = AttemptError {
                    reason: format!("could not wait for the process: {error}"),
                    exit_code: None,
                    log_tail: dir.stderr_tail(),
                };
                return self.fail(claim, request, processor, sequence, error).await;
            }
        };
        let prefix = staging::job_prefix(&request.processor, &request.job_id);
        let logs = staging::stage_logs(
            &self.s3,
            &self.bucket,
            &prefix,
            attempt,
            &dir.stdout,
            &dir.stderr,
        )
        .await;
        let failure = match (exit, logs) {
            (Exit::Code(0), Ok(())) => {
                match claim
                    .while_renewing(self.stage_outputs(&dir, &prefix))
                    .await
                {
                    Ok((outputs, metadata)) => {
                        let step = self
                            .succeed(claim, request, processor, outputs, metadata)
                            .await?;
                        dir.remove();
                        return Ok(step);
                    }
                    Err(error) => AttemptError {
                        reason: format!("staging the outputs failed: {}", describe_error(&error)),
                        exit_code: Some(0),
                        log_tail: dir.stderr_tail(),
                    },
                }
            }
            (Exit::Code(0), Err(error)) => AttemptError {
                reason: format!("staging the logs failed: {}", describe_error(&error)),
                exit_code: Some(0),
                log_tail: dir.stderr_tail(),
            },
            (exit, logs) => {
                if let Err(error) = logs {
                    tracing::warn!(error = %describe_error(&error), dir = %dir.root.display(), "Could not stage the logs of a failed attempt; they stay on disk.");
                }
                AttemptError {
                    reason: describe_exit(exit, processor),
                    exit_code: match exit {
                        Exit::Code(code) => Some(code),
                        _ => None,
                    },
                    log_tail: dir.stderr_tail(),
                }
            }
        };
        self.fail(claim, request, processor, sequence, failure)
            .await
    }

    /// Creates the attempt's directory, stages the inputs in when the processor asks for them,
    /// writes the manifest and fills the command's arguments, all as the process will see them
    /// (through `mount` in a container); the reason when it cannot.
    pub(crate) async fn prepare_dir(
        &self,
        dir: &AttemptDir,
        request: &JobRequested,
        processor: &Processor,
        attempt: u32,
        mount: Option<&Path>,
    ) -> Result<Prepared, String> {
        dir.create().map_err(|error| {
            format!(
                "could not prepare the working directory {}: {error}",
                dir.root.display()
            )
        })?;
        let staged = if processor.stage_inputs {
            inputs::stage_inputs(&self.s3, &self.http, &request.inputs, &dir.inputs)
                .await
                .map_err(|error| format!("staging the inputs in failed: {error}"))?
        } else {
            Vec::new()
        };
        let seen = |path: &Path| dir.seen_at(path, mount);
        let staged: Vec<_> = staged
            .iter()
            .map(|path| path.as_deref().map(seen))
            .collect();
        let manifest = JobManifest::new(request, attempt, Outputs::Dir(seen(&dir.output)), &staged);
        dir.write_manifest(&manifest)
            .map_err(|error| format!("could not write {}: {error}", dir.manifest.display()))?;
        let (manifest, output, inputs, root) = (
            seen(&dir.manifest),
            seen(&dir.output),
            seen(&dir.inputs),
            seen(&dir.root),
        );
        let placeholders = Placeholders {
            manifest: manifest.as_os_str(),
            output_dir: Some(output.as_os_str()),
            input_dir: Some(inputs.as_os_str()),
            job_id: &request.job_id,
            work_dir: Some(root.as_os_str()),
            parameters: Some(&request.parameters),
        };
        let args = command::arguments(&processor.command[1..], &placeholders)
            .map_err(|error| error.to_string())?;
        Ok(Prepared { args, manifest })
    }

    /// Starts the local process of a prepared attempt.
    fn start(
        &self,
        dir: &AttemptDir,
        processor: &Processor,
        prepared: Prepared,
    ) -> Result<Running, String> {
        let program = self
            .programs
            .resolve(&processor.command[0])
            .map_err(|error| error.to_string())?;
        let launch = Launch {
            program: &program,
            args: prepared.args,
            env: &processor.env,
            manifest: &prepared.manifest,
            current_dir: &dir.root,
            stdout: &dir.stdout,
            stderr: &dir.stderr,
        };
        process::spawn(&launch)
            .map_err(|error| format!("could not start {}: {error}", program.display()))
    }

    pub(crate) async fn stage_outputs(
        &self,
        dir: &AttemptDir,
        prefix: &str,
    ) -> Result<(Vec<JobOutput>, Option<serde_json::Value>), StagingError> {
        // Names and sidecar are checked before anything is uploaded.
        let files = staging::collect(&dir.output)?;
        let metadata = staging::read_sidecar(&dir.output)?;
        let outputs = staging::stage_outputs(&self.s3, &self.bucket, prefix, &files).await?;
        Ok((outputs, metadata))
    }

    pub(crate) async fn succeed(
        &self,
        claim: &Claim,
        request: &JobRequested,
        processor: &Processor,
        outputs: Vec<JobOutput>,
        metadata: Option<serde_json::Value>,
    ) -> Result<Step, Error> {
        let finished_at = Utc::now();
        let moved = claim
            .update(JobState::Succeeded, |record| {
                record.outputs = outputs;
                record.metadata = metadata;
                record.finished_at = Some(finished_at);
                record.lease_expires_at = None;
                record.last_error = None;
            })
            .await?;
        if !moved {
            return Ok(Step::Again);
        }
        let record = claim.current().await.record;
        tracing::info!(job_id = %request.job_id, attempt = record.attempt, outputs = record.outputs.len(), "Job succeeded.");
        metrics::counter!("nrt_jobs_total", "processor" => processor.name.clone(), "outcome" => "succeeded").increment(1);
        // A crash before this publish is healed by the redelivery, which finds the record
        // succeeded and publishes again.
        outcome::publish_terminal(&self.publisher, request, &record).await?;
        Ok(Step::Done)
    }

    pub(crate) async fn fail(
        &self,
        claim: &Claim,
        request: &JobRequested,
        processor: &Processor,
        sequence: u64,
        error: AttemptError,
    ) -> Result<Step, Error> {
        let finished_at = Utc::now();
        let moved = claim
            .update(JobState::Failed, |record| {
                record.last_error = Some(error);
                record.finished_at = Some(finished_at);
            })
            .await?;
        if !moved {
            return Ok(Step::Again);
        }
        let failed = claim.current().await;
        let delay = processor.retry_delay(failed.record.attempt);
        self.settle(failed, request, processor, sequence, delay)
            .await
    }
}

fn describe_exit(exit: Exit, processor: &Processor) -> String {
    match exit {
        Exit::Code(code) => format!("the processor exited with code {code}"),
        Exit::Signal(signal) => format!("the processor was killed by signal {signal}"),
        Exit::TimedOut => format!(
            "the processor ran past its timeout of {}s and was killed",
            processor.timeout_secs
        ),
        Exit::Lost => "another launcher took the job over".into(),
    }
}
