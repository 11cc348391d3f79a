//! The job record: one per job id in the `jobs` bucket, the single source of truth on whether a
//! job may run. It is created once (`kv.create`) and moved only by compare-and-set.

use chrono::{DateTime, Utc};
use nrt_events::JobOutput;
use serde::{Deserialize, Serialize};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Known, not yet claimed by a launcher (also what an operator's relaunch resets a job to).
    Requested,
    /// Claimed by `owner`, preparing and starting the process.
    Launching,
    /// The process runs; `owner` renews the lease.
    Running,
    /// An attempt failed; the owner is recording it and deciding between a retry and death.
    Failed,
    /// Waiting for `retry_at`, when the request message that owns the job comes back.
    Retrying,
    /// Outputs are in S3. Terminal.
    Succeeded,
    /// Attempts used up. Terminal until an operator relaunches it.
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Launching => "launching",
            Self::Running => "running",
            Self::Failed => "failed",
            Self::Retrying => "retrying",
            Self::Succeeded => "succeeded",
            Self::Dead => "dead",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Dead)
    }

    /// Whether a record may move from `self` to `next`. `Running → Running` is a lease renewal;
    /// `Dead → Requested` is an operator's relaunch (`nrtmesh retry`).
    pub fn can_move_to(self, next: JobState) -> bool {
        use JobState::*;
        matches!(
            (self, next),
            (Requested, Launching)
                | (Launching, Running | Failed)
                | (Running, Running | Succeeded | Failed)
                | (Failed, Retrying | Dead)
                | (Retrying, Launching)
                | (Dead, Requested)
        )
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an attempt failed, kept so a launcher that takes over can still report it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptError {
    pub reason: String,
    pub exit_code: Option<i32>,
    /// The last lines the processor wrote to stderr.
    pub log_tail: Vec<String>,
}

/// The value stored under the job id in the `jobs` bucket (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: String,
    pub processor: String,
    pub processor_version: String,
    pub state: JobState,
    /// Attempts started so far; the current one while launching or running.
    pub attempt: u32,
    /// The claim holding the job: `<launcher instance>#<claim>`; none while nobody runs it.
    pub owner: Option<String>,
    /// Until when the owner (or, while retrying, the request message) holds the job. After it,
    /// another launcher may take the job over.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Stream sequence of the request message that owns the job: its redeliveries wait, other
    /// copies of the request are acknowledged.
    pub request_sequence: u64,
    /// While retrying: not before this time.
    pub retry_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the current (or last) attempt's process started.
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub last_error: Option<AttemptError>,
    /// The staged outputs, once succeeded.
    #[serde(default)]
    pub outputs: Vec<JobOutput>,
    /// The processor's sidecar, once succeeded.
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job {job_id} cannot move from {from} to {to}")]
pub struct IllegalTransition {
    pub job_id: String,
    pub from: JobState,
    pub to: JobState,
}

impl JobRecord {
    /// A job seen for the first time, owned by the request message at `request_sequence`.
    pub fn requested(
        job_id: &str,
        processor: &str,
        processor_version: &str,
        request_sequence: u64,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            job_id: job_id.to_owned(),
            processor: processor.to_owned(),
            processor_version: processor_version.to_owned(),
            state: JobState::Requested,
            attempt: 0,
            owner: None,
            lease_expires_at: None,
            request_sequence,
            retry_at: None,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
            last_error: None,
            outputs: Vec::new(),
            metadata: None,
        }
    }

    /// The record moved to `next`, or why it may not move.
    pub fn moved_to(&self, next: JobState, now: DateTime<Utc>) -> Result<Self, IllegalTransition> {
        if !self.state.can_move_to(next) {
            return Err(IllegalTransition {
                job_id: self.job_id.clone(),
                from: self.state,
                to: next,
            });
        }
        Ok(Self {
            state: next,
            updated_at: now,
            ..self.clone()
        })
    }

    /// Whether someone holds the job at `now`.
    pub fn is_leased(&self, now: DateTime<Utc>) -> bool {
        self.lease_expires_at.is_some_and(|expiry| expiry > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [JobState; 7] = [
        JobState::Requested,
        JobState::Launching,
        JobState::Running,
        JobState::Failed,
        JobState::Retrying,
        JobState::Succeeded,
        JobState::Dead,
    ];

    #[test]
    fn the_lifecycle_moves_forward_only_along_its_edges() {
        use JobState::*;
        let legal = [
            (Requested, Launching),
            (Launching, Running),
            (Launching, Failed),
            (Running, Running),
            (Running, Succeeded),
            (Running, Failed),
            (Failed, Retrying),
            (Failed, Dead),
            (Retrying, Launching),
            (Dead, Requested),
        ];
        for from in ALL {
            for to in ALL {
                assert_eq!(
                    from.can_move_to(to),
                    legal.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn a_succeeded_job_never_runs_again() {
        for to in ALL {
            assert!(!JobState::Succeeded.can_move_to(to), "succeeded -> {to}");
        }
    }

    #[test]
    fn an_illegal_move_names_the_job_and_both_states() {
        let record = JobRecord::requested("abc", "footprint", "1.0.0", 7, Utc::now());
        let error = record.moved_to(JobState::Running, Utc::now()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "job abc cannot move from requested to running"
        );
        let launching = record.moved_to(JobState::Launching, Utc::now()).unwrap();
        assert_eq!(launching.state, JobState::Launching);
        assert_eq!(launching.request_sequence, 7);
    }

    #[test]
    fn the_record_is_stored_as_lowercase_json() {
        let record = JobRecord::requested("abc", "footprint", "1.0.0", 7, Utc::now());
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["state"], "requested");
        let back: JobRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
    }
}
