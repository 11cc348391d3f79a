//! Container backends: Docker, Kubernetes and Nomad run an attempt as a container the launcher
//! does not parent. Every attempt has a deterministic name ([`attempt_name`]), so creating it a
//! second time (a redelivery, a launcher that died between the create and the record update)
//! finds the first one instead of starting another: that is how a launcher adopts a job.

pub mod docker;
pub mod kubernetes;
pub mod nomad;

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use async_trait::async_trait;
use nrt_registry::{Backend, Resources};
use serde::{Deserialize, Serialize};

/// Where a Docker container sees the attempt's directory (manifest, `inputs/`, `output/`).
pub const JOB_DIR_IN_CONTAINER: &str = "/nrt/job";

/// Labels every backend puts on what it creates, so operators (and adoption) can find them.
pub const LABEL_JOB_NAME: &str = "nrt-mesh.io/job-name";
pub const LABEL_PROCESSOR: &str = "nrt-mesh.io/processor";
pub const LABEL_ATTEMPT: &str = "nrt-mesh.io/attempt";
/// Marks what nrt-mesh created (`true`), for listing and cleaning up.
pub const LABEL_MANAGED: &str = "nrt-mesh.io/managed";
/// The full job id does not fit a Kubernetes label value (63 characters): it is an annotation
/// there, a label on Docker, a meta value on Nomad.
pub const ANNOTATION_JOB_ID: &str = "nrt-mesh.io/job-id";

/// `nrt-<32 hex digits of the job id's hash>-<attempt>`: the same on every launcher, a valid
/// DNS-1123 label (Kubernetes Job and Docker container name, Nomad idempotency token) whatever
/// the job id holds.
pub fn attempt_name(job_id: &str, attempt: u32) -> String {
    let hash = nrt_events::stable_hash([job_id]);
    format!("nrt-{}-{attempt}", &hash[..32])
}

/// One attempt as a container backend runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerAttempt {
    /// [`attempt_name`] of the job and attempt.
    pub name: String,
    pub job_id: String,
    pub processor: String,
    pub processor_version: String,
    pub attempt: u32,
    pub image: String,
    /// Program and arguments, templated; they replace the image's entrypoint and command, and
    /// are never given to a shell.
    pub command: Vec<String>,
    /// Exactly the environment the process gets.
    pub env: BTreeMap<String, String>,
    pub resources: Resources,
    /// The launcher kills the attempt at it; backends that can also enforce it themselves do
    /// (Kubernetes' `activeDeadlineSeconds`).
    pub timeout: Duration,
    /// Docker only: the host directory mounted at [`JOB_DIR_IN_CONTAINER`].
    pub job_dir: Option<PathBuf>,
    /// Nomad only: the parameterized job this attempt is a dispatch of.
    pub nomad_job: Option<String>,
}

impl ContainerAttempt {
    /// [`LABEL_JOB_NAME`], [`LABEL_PROCESSOR`], [`LABEL_ATTEMPT`] and [`LABEL_MANAGED`]: values
    /// that are valid Kubernetes label values (the processor name is letters, digits, `-`, `_`).
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_JOB_NAME.to_owned(), self.name.clone()),
            (LABEL_PROCESSOR.to_owned(), self.processor.clone()),
            (LABEL_ATTEMPT.to_owned(), self.attempt.to_string()),
            (LABEL_MANAGED.to_owned(), "true".to_owned()),
        ])
    }
}

/// How a backend knows an attempt once created; kept in the job record, so a launcher taking
/// the job over finds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendJob {
    /// `docker`, `kubernetes` or `nomad`.
    pub backend: String,
    /// [`attempt_name`].
    pub name: String,
    /// The backend's own id: Docker's container id, the Kubernetes Job's uid, Nomad's
    /// dispatched job id.
    pub id: String,
}

/// How an attempt ended, as far as the backend can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Succeeded,
    Failed {
        exit_code: Option<i32>,
        /// What the backend says went wrong: `OOMKilled`, `image pull failed: ...`, ...
        reason: String,
    },
    /// The backend no longer has it (deleted by hand, garbage-collected): the attempt's outcome
    /// is unknown, so it counts as failed.
    Vanished,
}

#[derive(Debug, thiserror::Error)]
#[error("{backend} could not {operation} {name}")]
pub struct BackendError {
    pub backend: &'static str,
    pub operation: &'static str,
    pub name: String,
    /// Worth trying again (the API was unreachable, answered 5xx or 429); a refused spec is not.
    pub transient: bool,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// A place where containers run.
#[async_trait]
pub trait ContainerBackend: Send + Sync {
    fn kind(&self) -> Backend;

    /// Creates the attempt, or finds it when the backend already has one by its name: never
    /// a second one.
    async fn launch(&self, attempt: &ContainerAttempt) -> Result<BackendJob, BackendError>;

    /// The attempt's job if the backend has it.
    async fn find(&self, attempt: &ContainerAttempt) -> Result<Option<BackendJob>, BackendError>;

    /// Waits until the job has ended (by watch or poll).
    async fn wait(&self, job: &BackendJob) -> Result<Ended, BackendError>;

    /// Stops the job and removes it; one that is gone already is not an error.
    async fn kill(&self, job: &BackendJob) -> Result<(), BackendError>;

    /// The last `lines` lines the job wrote, best effort (empty when the backend cannot say).
    async fn log_tail(&self, job: &BackendJob, lines: usize) -> Result<Vec<String>, BackendError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_names_are_deterministic_dns_labels_whatever_the_job_id() {
        let name = attempt_name("0123abcdef", 2);
        assert_eq!(name, attempt_name("0123abcdef", 2));
        assert_ne!(name, attempt_name("0123abcdef", 3));
        assert_ne!(name, attempt_name("0123abcdeF", 2));
        for job_id in ["x", &"A_b-".repeat(32)] {
            let name = attempt_name(job_id, u32::MAX);
            assert!(name.len() <= 63, "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
        }
    }
}
