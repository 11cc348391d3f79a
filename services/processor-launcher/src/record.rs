//! The job record: one per job id in the `jobs` bucket, the single source of truth on whether a
//! job may run. It is created once (`kv.create`) and moved only by compare-and-set.

use chrono::{DateTime, Utc};
use nrt_events::JobOutput;
use serde::{Deserialize, Serialize};

use crate::backend::BackendJob;

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
    /// Attempts used up, or cancelled by an operator. Terminal until an operator relaunches it.
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

    /// Whether a record may move from `self` to `next`. `Running → Running` is a lease renewal
    /// (or a container adopted by another launcher), `Launching → Launching` the adoption of a
    /// launch whose launcher died;
    /// `Dead → Requested` is an operator's relaunch (`nrtmesh retry`).
    pub fn can_move_to(self, next: JobState) -> bool {
        use JobState::*;
        matches!(
            (self, next),
            (Requested, Launching)
                | (Launching, Launching | Running | Failed)
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

impl AttemptError {
    /// A failure with only a reason: no exit code, no log.
    pub fn because(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            exit_code: None,
            log_tail: Vec::new(),
        }
    }
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
    /// The current (or last) attempt's container on a Docker, Kubernetes or Nomad backend, once
    /// created: what a launcher taking the job over watches instead of starting another.
    #[serde(default)]
    pub backend_job: Option<BackendJob>,
    /// Dead because an operator cancelled it (`nrtmesh cancel`), not because attempts ran out.
    #[serde(default)]
    pub cancelled: bool,
    /// Attempts made before the last operator relaunch: the retry budget counts from here.
    #[serde(default)]
    pub relaunched_after: u32,
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
            backend_job: None,
            cancelled: false,
            relaunched_after: 0,
        }
    }

    /// Whether the processor's `max_attempts` allow another attempt after the current one
    /// (counting since the last operator relaunch).
    pub fn may_retry(&self, max_attempts: u32) -> bool {
        self.attempt.saturating_sub(self.relaunched_after) < max_attempts
    }

    /// The record cancelled by an operator: dead from any state but a terminal one, with
    /// `reason`. The launcher holding it loses its next compare-and-set and stops the attempt.
    pub fn cancelled(&self, reason: &str, now: DateTime<Utc>) -> Result<Self, IllegalTransition> {
        if self.state.is_terminal() {
            return Err(IllegalTransition {
                job_id: self.job_id.clone(),
                from: self.state,
                to: JobState::Dead,
            });
        }
        Ok(Self {
            state: JobState::Dead,
            updated_at: now,
            finished_at: Some(now),
            owner: None,
            lease_expires_at: None,
            retry_at: None,
            cancelled: true,
            last_error: Some(AttemptError::because(format!(
                "cancelled by an operator: {reason}"
            ))),
            ..self.clone()
        })
    }

    /// A dead job relaunched by an operator (`nrtmesh retry`): requested again, with a fresh
    /// retry budget. Attempt numbers go on counting, so the new attempts get new names.
    pub fn relaunched(&self, now: DateTime<Utc>) -> Result<Self, IllegalTransition> {
        let mut record = self.moved_to(JobState::Requested, now)?;
        record.relaunched_after = self.attempt;
        record.cancelled = false;
        record.finished_at = None;
        record.backend_job = None;
        Ok(record)
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
            (Launching, Launching),
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
    fn a_cancel_kills_any_live_state_but_never_a_finished_job() {
        let now = Utc::now();
        let requested = JobRecord::requested("abc", "footprint", "1.0.0", 7, now);
        for state in [
            JobState::Requested,
            JobState::Launching,
            JobState::Running,
            JobState::Failed,
            JobState::Retrying,
        ] {
            let record = JobRecord {
                state,
                owner: Some("a#1".into()),
                lease_expires_at: Some(now),
                ..requested.clone()
            };
            let cancelled = record.cancelled("wrong inputs", now).unwrap();
            assert_eq!(cancelled.state, JobState::Dead);
            assert!(cancelled.cancelled);
            assert_eq!(cancelled.owner, None);
            assert_eq!(
                cancelled.last_error.unwrap().reason,
                "cancelled by an operator: wrong inputs"
            );
        }
        for state in [JobState::Succeeded, JobState::Dead] {
            let record = JobRecord {
                state,
                ..requested.clone()
            };
            assert!(record.cancelled("late", now).is_err(), "{state}");
        }
    }

    #[test]
    fn a_relaunch_gives_a_fresh_retry_budget_and_keeps_counting_attempts() {
        let now = Utc::now();
        let dead = JobRecord {
            state: JobState::Dead,
            attempt: 3,
            cancelled: true,
            ..JobRecord::requested("abc", "footprint", "1.0.0", 7, now)
        };
        assert!(!dead.may_retry(3));
        let again = dead.relaunched(now).unwrap();
        assert_eq!(again.state, JobState::Requested);
        assert_eq!(again.attempt, 3, "the next attempt is number 4");
        assert!(!again.cancelled);
        assert!(
            JobRecord {
                attempt: 5,
                ..again.clone()
            }
            .may_retry(3)
        );
        assert!(
            !JobRecord {
                attempt: 6,
                ..again
            }
            .may_retry(3)
        );
        let running = JobRecord {
            state: JobState::Running,
            ..dead
        };
        assert!(running.relaunched(now).is_err());
    }

    #[test]
    fn a_record_written_before_backends_existed_still_reads() {
        let mut json = serde_json::to_value(JobRecord::requested(
            "abc",
            "footprint",
            "1.0.0",
            7,
            Utc::now(),
        ))
        .unwrap();
        let object = json.as_object_mut().unwrap();
        for field in ["backend_job", "cancelled", "relaunched_after"] {
            object.remove(field);
        }
        let record: JobRecord = serde_json::from_value(json).unwrap();
        assert_eq!(record.relaunched_after, 0);
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
