//! The Nomad backend: a processor is a parameterized batch job, an attempt one dispatch of it,
//! driven through Nomad's HTTP API.
//!
//! - **The parameterized job** is the attempt's `nomad_job` (the registry's, `nrt-<processor>` by
//!   default). With `register_jobs` the backend registers it ([`parameterized_job`]) before its
//!   first dispatch, and again when an attempt brings a different spec (a registry change).
//!   Without, operators register it; it must require the meta keys `nrt_job_id`, `nrt_attempt`
//!   and `nrt_job_name`.
//! - **Per-attempt values**: a parameterized job's task is fixed at registration, so an
//!   attempt's command and environment must be the same for every attempt of a processor. What
//!   differs reaches the task as dispatch meta (`${NOMAD_META_nrt_job_id}` in the command) and
//!   as the payload.
//! - **The manifest** travels as the dispatch payload. [`ContainerBackend::launch`] takes no
//!   payload, so the backend takes it from the attempt's [`MANIFEST_JSON_VARIABLE`]
//!   (`NRT_JOB_MANIFEST_JSON`), which the task does not get; Nomad writes it to
//!   `${NOMAD_TASK_DIR}/manifest.json`, where `NRT_JOB_MANIFEST` points. An attempt without the
//!   variable is dispatched without payload, which a job registered here refuses (it requires
//!   one). Nomad caps payloads at 16 KiB: a bigger manifest is refused before any request.
//! - **Exactly one dispatch per attempt**: the attempt's name is the dispatch's idempotency
//!   token, and Nomad answers a repeated dispatch with the job it already has (until that is
//!   garbage-collected). [`ContainerBackend::find`] lists the parent's children with their meta
//!   (`GET /v1/jobs?prefix=<job>/dispatch-&meta=true`, Nomad 1.4 or later).
//! - **Waiting** uses blocking queries on the dispatched job's allocations; the latest one
//!   decides. Nomad neither restarts nor reschedules (retries are the launcher's), so a failed
//!   or lost allocation is the attempt's end. A lost one can still be replaced by Nomad's
//!   scheduler: [`ContainerBackend::kill`] after a failure stops that.
//! - **Resources**: CPU in MHz at 1 core = 1000 MHz, memory in MiB (Nomad's `MemoryMB`), GPUs as
//!   `nvidia/gpu` devices.

mod api;
mod error;
mod spec;
mod status;

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use nrt_registry::Backend;
use nrt_runtime::Secret;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

pub use error::NomadError;
pub use spec::{
    MANIFEST_JSON_VARIABLE, META_ATTEMPT, META_JOB_ID, META_JOB_NAME, PAYLOAD_LIMIT, TASK,
    dispatch_request, parameterized_job,
};

use self::api::Api;
use crate::backend::{BackendError, BackendJob, ContainerAttempt, ContainerBackend, Ended};

/// The `[nomad]` section; every key has a default, so the section may be left out.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NomadConfig {
    /// Nomad's HTTP API.
    pub address: String,
    /// ACL token sent as `X-Nomad-Token`; the launcher's configuration also takes it from
    /// `NOMAD_TOKEN`.
    pub token: Option<Secret>,
    /// Namespace of the jobs (Nomad's default namespace when unset).
    pub namespace: Option<String>,
    /// Region of the jobs (the agent's region when unset).
    pub region: Option<String>,
    /// Where the registered parameterized jobs may run.
    pub datacenters: Vec<String>,
    /// Pause between polls when a blocking query answers without a change.
    pub poll_every_ms: u64,
    /// The launcher registers and updates each processor's parameterized job; `false` when
    /// operators manage the job specs.
    pub register_jobs: bool,
}

impl Default for NomadConfig {
    fn default() -> Self {
        Self {
            address: "http://127.0.0.1:4646".into(),
            token: None,
            namespace: None,
            region: None,
            datacenters: vec!["dc1".into()],
            poll_every_ms: 2000,
            register_jobs: true,
        }
    }
}

impl NomadConfig {
    pub fn poll_every(&self) -> Duration {
        Duration::from_millis(self.poll_every_ms)
    }
}

/// Runs attempts as dispatches of parameterized Nomad jobs.
#[derive(Debug)]
pub struct NomadBackend {
    api: Api,
    config: NomadConfig,
    /// The spec each parameterized job was last registered with by this backend. Held from
    /// registration through dispatch, so an attempt never runs another attempt's spec.
    registered: Mutex<HashMap<String, Value>>,
}

impl NomadBackend {
    pub fn new(config: NomadConfig) -> Result<Self, NomadError> {
        Ok(Self {
            api: Api::new(&config)?,
            config,
            registered: Mutex::default(),
        })
    }

    fn backend_job(attempt: &ContainerAttempt, id: String) -> BackendJob {
        BackendJob {
            backend: Backend::Nomad.as_str().to_owned(),
            name: attempt.name.clone(),
            id,
        }
    }

    /// The end of a dispatched job with no allocation: gone from Nomad, or stopped before one
    /// was placed; `None` while it waits for placement.
    async fn unplaced_end(&self, job_id: &str) -> Result<Option<Ended>, NomadError> {
        Ok(match self.api.job(job_id).await? {
            None => Some(Ended::Vanished),
            Some(dispatched) if dispatched.stop => Some(Ended::Failed {
                exit_code: None,
                reason: "stopped before an allocation ran".into(),
            }),
            Some(_) => None,
        })
    }

    /// Registers the attempt's parameterized job unless this backend already did with the same
    /// spec.
    async fn ensure_registered(
        &self,
        registered: &mut HashMap<String, Value>,
        parent: &str,
        attempt: &ContainerAttempt,
    ) -> Result<(), NomadError> {
        let spec = parameterized_job(parent, attempt, &self.config);
        if registered.get(parent) != Some(&spec) {
            self.api.register(&spec).await?;
            registered.insert(parent.to_owned(), spec);
        }
        Ok(())
    }
}

#[async_trait]
impl ContainerBackend for NomadBackend {
    fn kind(&self) -> Backend {
        Backend::Nomad
    }

    async fn launch(&self, attempt: &ContainerAttempt) -> Result<BackendJob, BackendError> {
        let failed = |error: NomadError| error.into_backend_error("dispatch", &attempt.name);
        let parent = parent_job(attempt).map_err(failed)?;
        let request = dispatch_request(attempt).map_err(failed)?;
        let mut registered = self.registered.lock().await;
        if self.config.register_jobs {
            self.ensure_registered(&mut registered, parent, attempt)
                .await
                .map_err(|error| {
                    error.into_backend_error("register the parameterized job of", &attempt.name)
                })?;
        }
        match self.api.dispatch(parent, &request, &attempt.name).await {
            Ok(id) => Ok(Self::backend_job(attempt, id)),
            Err(error) => {
                // Deleted or stopped behind our back: the next launch registers it again.
                let registers_again = self.config.register_jobs && error.is_missing_parent();
                if registers_again {
                    registered.remove(parent);
                }
                let mut error = failed(error);
                error.transient |= registers_again;
                Err(error)
            }
        }
    }

    async fn find(&self, attempt: &ContainerAttempt) -> Result<Option<BackendJob>, BackendError> {
        let failed = |error: NomadError| error.into_backend_error("find", &attempt.name);
        let parent = parent_job(attempt).map_err(failed)?;
        let children = self.api.children(parent).await.map_err(failed)?;
        Ok(status::dispatch_named(&children, parent, &attempt.name)
            .map(|child| Self::backend_job(attempt, child.id.clone())))
    }

    async fn wait(&self, job: &BackendJob) -> Result<Ended, BackendError> {
        let failed = |error: NomadError| error.into_backend_error("wait for", &job.name);
        let mut index = None;
        loop {
            let (allocations, answered_at) =
                self.api.allocations(&job.id, index).await.map_err(failed)?;
            if let Some(ended) = status::ended(&allocations) {
                return Ok(ended);
            }
            if allocations.is_empty()
                && let Some(ended) = self.unplaced_end(&job.id).await.map_err(failed)?
            {
                return Ok(ended);
            }
            // No newer index (or none at all: `None` is below any): Nomad did not block, so
            // pace the polls.
            if answered_at <= index {
                tokio::time::sleep(self.config.poll_every()).await;
            }
            index = answered_at.or(index);
        }
    }

    async fn kill(&self, job: &BackendJob) -> Result<(), BackendError> {
        self.api
            .purge(&job.id)
            .await
            .map_err(|error| error.into_backend_error("kill", &job.name))
    }

    async fn log_tail(&self, job: &BackendJob, lines: usize) -> Result<Vec<String>, BackendError> {
        let failed = |error: NomadError| error.into_backend_error("read the log of", &job.name);
        if lines == 0 {
            return Ok(Vec::new());
        }
        let (allocations, _) = self.api.allocations(&job.id, None).await.map_err(failed)?;
        let Some(allocation) = status::latest(&allocations) else {
            return Ok(Vec::new());
        };
        let bytes = status::tail_bytes(lines);
        let text = self
            .api
            .stderr_tail(&allocation.id, bytes)
            .await
            .map_err(failed)?;
        Ok(text.map_or_else(Vec::new, |text| status::last_lines(&text, lines, bytes)))
    }
}

fn parent_job(attempt: &ContainerAttempt) -> Result<&str, NomadError> {
    attempt.nomad_job.as_deref().ok_or(NomadError::NoParentJob)
}
