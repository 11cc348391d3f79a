//! One job request, start to end: read the record, decide, and act by compare-and-set; a lost
//! compare-and-set means someone else moved the record, so read it again and decide again.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use nrt_events::JobRequested;
use nrt_nats::Publisher;
use nrt_registry::{Backend, Processor, ProcessorRegistry};
use nrt_s3::aws_sdk_s3::Client;

use crate::{
    Error,
    backend::ContainerBackend,
    claim::Claim,
    command::ProgramSearch,
    decision::{Decision, decide},
    outcome,
    record::{JobRecord, JobState},
    slots::{Limit, SlotGuard, Slots},
    store::{JobStore, Versioned},
};

/// Reads, decisions and writes one delivery may go through before it gives up for now.
const MAX_ROUNDS: usize = 16;

/// How a round ended.
pub(crate) enum Step {
    /// Acknowledge the message.
    Done,
    /// The record changed under us: read it again.
    Again,
    /// A failed attempt is to be retried after this delay.
    RetryAfter { attempt: u32, delay: Duration },
}

/// Everything a launcher replica needs to run jobs.
pub struct Launcher {
    pub(crate) store: JobStore,
    pub(crate) publisher: Publisher,
    pub(crate) s3: Client,
    pub(crate) bucket: String,
    pub(crate) registry: ProcessorRegistry,
    pub(crate) programs: ProgramSearch,
    pub(crate) work_dir: PathBuf,
    pub(crate) lease: Duration,
    /// Downloads inputs with an `href`.
    pub(crate) http: reqwest::Client,
    /// The container backends the registry's processors use.
    backends: BTreeMap<Backend, Arc<dyn ContainerBackend>>,
    slots: Slots,
    /// Jobs running at once across every replica, whatever their processor.
    global_limit: Option<Limit>,
    instance: String,
    claims: AtomicU64,
}

/// What [`Launcher::new`] takes.
pub struct LauncherParts {
    pub store: JobStore,
    pub publisher: Publisher,
    pub s3: Client,
    pub bucket: String,
    pub registry: ProcessorRegistry,
    pub programs: ProgramSearch,
    pub work_dir: PathBuf,
    pub lease: Duration,
    pub http: reqwest::Client,
    pub backends: BTreeMap<Backend, Arc<dyn ContainerBackend>>,
    pub slots: Slots,
    pub global_limit: Option<usize>,
    /// Names this replica in job records' `owner`.
    pub instance: String,
}

impl Launcher {
    pub fn new(parts: LauncherParts) -> Self {
        Self {
            store: parts.store,
            publisher: parts.publisher,
            s3: parts.s3,
            bucket: parts.bucket,
            registry: parts.registry,
            programs: parts.programs,
            work_dir: parts.work_dir,
            lease: parts.lease,
            http: parts.http,
            backends: parts.backends,
            slots: parts.slots,
            global_limit: parts.global_limit.map(Limit::global),
            instance: parts.instance,
            claims: AtomicU64::new(0),
        }
    }

    /// Handles the request delivered at stream sequence `sequence`. `Ok` means acknowledge.
    pub async fn handle(&self, request: &JobRequested, sequence: u64) -> Result<(), Error> {
        validate(request)?;
        let processor = self.processor_for(request)?;
        for _ in 0..MAX_ROUNDS {
            let found = self.store.get(&request.job_id).await?;
            let decision = decide(
                found.as_ref().map(|found| &found.record),
                sequence,
                Utc::now(),
            );
            tracing::debug!(job_id = %request.job_id, ?decision, "Decided.");
            let step = match (decision, found) {
                (Decision::Create, _) => {
                    let record = JobRecord::requested(
                        &request.job_id,
                        &request.processor,
                        &request.processor_version,
                        sequence,
                        Utc::now(),
                    );
                    self.store.create(&record).await?;
                    Step::Again
                }
                (Decision::Covered, _) => {
                    tracing::info!(job_id = %request.job_id, "Another copy of the request owns the job; acknowledged.");
                    Step::Done
                }
                (Decision::Wait(retry_after), found) => {
                    let awaited = match found.map(|found| found.record) {
                        Some(JobRecord {
                            owner: Some(owner), ..
                        }) => format!("the lease of {owner}"),
                        _ => "its retry time".to_owned(),
                    };
                    return Err(Error::Held {
                        job_id: request.job_id.clone(),
                        awaited,
                        retry_after,
                    });
                }
                (Decision::Republish, Some(found)) => {
                    outcome::publish_terminal(&self.publisher, request, &found.record).await?;
                    Step::Done
                }
                (Decision::Claim, Some(found)) => {
                    self.claim_and_run(found, request, processor, sequence)
                        .await?
                }
                (Decision::TakeOver, Some(found)) if processor.backend != Backend::Local => {
                    self.adopt(found, request, processor, sequence).await?
                }
                (Decision::TakeOver, Some(found)) => {
                    self.take_over(found, request, processor, sequence).await?
                }
                (Decision::Settle, Some(found)) => {
                    let delay = processor.retry_delay(found.record.attempt);
                    self.settle(found, request, processor, sequence, delay)
                        .await?
                }
                (_, None) => Step::Again,
            };
            match step {
                Step::Done => return Ok(()),
                Step::Again => continue,
                Step::RetryAfter { attempt, delay } => {
                    return Err(Error::RetryScheduled {
                        job_id: request.job_id.clone(),
                        attempt,
                        retry_after: delay,
                    });
                }
            }
        }
        Err(Error::Contended {
            job_id: request.job_id.clone(),
        })
    }

    fn processor_for(&self, request: &JobRequested) -> Result<&Processor, Error> {
        let processor =
            self.registry
                .get(&request.processor)
                .ok_or_else(|| Error::UnknownProcessor {
                    job_id: request.job_id.clone(),
                    processor: request.processor.clone(),
                })?;
        if processor.version != request.processor_version {
            return Err(Error::VersionMismatch {
                job_id: request.job_id.clone(),
                processor: processor.name.clone(),
                requested: request.processor_version.clone(),
                registered: processor.version.clone(),
            });
        }
        Ok(processor)
    }

    /// Claims the next attempt (waiting first for a free slot of the processor and the global
    /// limit) and runs it.
    async fn claim_and_run(
        &self,
        found: Versioned,
        request: &JobRequested,
        processor: &Processor,
        sequence: u64,
    ) -> Result<Step, Error> {
        let _slots = self.take_slots(request, processor).await;
        // The record may have moved while this waited for a slot.
        let Some(found) = self
            .store
            .get(&request.job_id)
            .await?
            .filter(|now| now.revision == found.revision)
        else {
            return Ok(Step::Again);
        };
        let now = Utc::now();
        let mut record = found.record.moved_to(JobState::Launching, now)?;
        record.attempt += 1;
        record.retry_at = None;
        record.started_at = None;
        record.finished_at = None;
        record.backend_job = None;
        let Some(claim) = self.claim(record, found.revision, sequence, now).await? else {
            return Ok(Step::Again);
        };
        tracing::info!(job_id = %request.job_id, attempt = found.record.attempt + 1, "Job claimed.");
        self.run_claimed(&claim, request, processor, sequence).await
    }

    /// Writes `record` as this launcher's claim on the job (its owner, lease and owning
    /// message) by compare-and-set over `revision`; `None` when the record moved first.
    pub(crate) async fn claim(
        &self,
        mut record: JobRecord,
        revision: u64,
        sequence: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<Claim>, Error> {
        record.owner = Some(self.next_owner());
        record.lease_expires_at = Some(now + self.lease);
        record.request_sequence = sequence;
        let Some(revision) = self.store.update(&record, revision).await? else {
            return Ok(None);
        };
        let claimed = Versioned { record, revision };
        Ok(Some(Claim::new(self.store.clone(), claimed, self.lease)))
    }

    /// A container job whose launcher died: claim it as it is (no attempt is spent) and watch
    /// its container, or launch it when the launcher died before the container was created.
    async fn adopt(
        &self,
        found: Versioned,
        request: &JobRequested,
        processor: &Processor,
        sequence: u64,
    ) -> Result<Step, Error> {
        let _slots = self.take_slots(request, processor).await;
        let previous = found.record.owner.clone().unwrap_or_default();
        let now = Utc::now();
        let record = found.record.moved_to(found.record.state, now)?;
        let Some(claim) = self.claim(record, found.revision, sequence, now).await? else {
            return Ok(Step::Again);
        };
        tracing::warn!(job_id = %request.job_id, %previous, attempt = found.record.attempt, state = %found.record.state, "Lease expired; adopting the job.");
        self.run_claimed(&claim, request, processor, sequence).await
    }

    async fn run_claimed(
        &self,
        claim: &Claim,
        request: &JobRequested,
        processor: &Processor,
        sequence: u64,
    ) -> Result<Step, Error> {
        match processor.backend {
            Backend::Local => self.run_attempt(claim, request, processor, sequence).await,
            kind => {
                let backend =
                    self.backends
                        .get(&kind)
                        .cloned()
                        .ok_or_else(|| Error::NoBackend {
                            job_id: request.job_id.clone(),
                            backend: kind.as_str(),
                        })?;
                self.run_in_container(claim, request, processor, sequence, &backend)
                    .await
            }
        }
    }

    /// A slot of the processor's limit, then one of the global limit: always in this order, so
    /// two jobs never hold one each of what the other waits for.
    async fn take_slots(&self, request: &JobRequested, processor: &Processor) -> Vec<SlotGuard> {
        let owner = format!("{}#slots", self.instance);
        let mut held = vec![
            self.slots
                .acquire(
                    &Limit::processor(&processor.name, processor.concurrency),
                    &request.job_id,
                    &owner,
                )
                .await,
        ];
        if let Some(global) = &self.global_limit {
            held.push(self.slots.acquire(global, &request.job_id, &owner).await);
        }
        held
    }

    pub(crate) fn next_owner(&self) -> String {
        let claim = self.claims.fetch_add(1, Ordering::Relaxed);
        format!("{}#{claim}", self.instance)
    }
}

/// A job id becomes a KV key, a directory name and an S3 key segment: ids are hex digests, so
/// anything beyond letters, digits, `-` and `_` is refused.
fn validate(request: &JobRequested) -> Result<(), Error> {
    let id = &request.job_id;
    let safe = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if safe {
        Ok(())
    } else {
        Err(Error::InvalidRequest {
            reason: format!(
                "job_id {id:?} must be 1 to 128 letters, digits, '-' or '_' (it names a directory and an S3 prefix)"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn request(job_id: &str) -> JobRequested {
        JobRequested {
            job_id: job_id.into(),
            rule: "r".into(),
            processor: "footprint".into(),
            processor_version: "1.0.0".into(),
            inputs: Vec::new(),
            parameters: BTreeMap::new(),
            priority: 0,
            deadline: None,
        }
    }

    #[test]
    fn job_ids_that_could_escape_a_directory_or_prefix_are_refused() {
        assert!(validate(&request("0123abcdef_x-1")).is_ok());
        for bad in ["", "../etc", "a/b", "a.b", "a b", "x\n", &"a".repeat(129)] {
            let error = validate(&request(bad)).unwrap_err().to_string();
            assert!(
                error.starts_with("job request is invalid: job_id"),
                "{bad:?}: {error}"
            );
        }
    }
}
