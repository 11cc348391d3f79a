//! What a request message may do with the job record it finds: the whole exactly-once rule, as
//! a pure function of the record, the message and the time.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::record::{JobRecord, JobState};

/// The next step for one delivery of a job request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No record yet: create it (`requested`); only one creator wins.
    Create,
    /// Succeeded or dead: publish the outcome again (its id makes JetStream drop a repeat; this
    /// heals a crash between the record update and the publish) and acknowledge.
    Republish,
    /// Another request message owns a live claim on the job: acknowledge, that message covers
    /// this one.
    Covered,
    /// This message owns the job but may not act yet (the owner's lease is live, or the retry is
    /// not due): leave it for redelivery after the delay.
    Wait(Duration),
    /// Claim the next attempt and run it.
    Claim,
    /// The owner's lease ran out while launching or running: the owner died. Record its attempt
    /// as failed, then go on as after any failure.
    TakeOver,
    /// An attempt failed and its owner died before recording a retry or death: finish that.
    Settle,
}

/// Decides for the delivery at stream sequence `sequence`, finding `record` at `now`.
pub fn decide(record: Option<&JobRecord>, sequence: u64, now: DateTime<Utc>) -> Decision {
    let Some(record) = record else {
        return Decision::Create;
    };
    if record.state.is_terminal() {
        return Decision::Republish;
    }
    let owned_by_this_message = record.request_sequence == sequence;
    let leased = record.is_leased(now);
    match record.state {
        JobState::Requested => Decision::Claim,
        JobState::Retrying if leased && !owned_by_this_message => Decision::Covered,
        JobState::Retrying => match record.retry_at {
            Some(retry_at) if retry_at > now && owned_by_this_message => {
                Decision::Wait(until(now, retry_at))
            }
            _ => Decision::Claim,
        },
        _ if leased && owned_by_this_message => {
            // A second after the lease ends: by then the job is finished or free to take over.
            let expiry = record.lease_expires_at.unwrap_or(now);
            Decision::Wait(until(now, expiry) + Duration::from_secs(1))
        }
        _ if leased => Decision::Covered,
        JobState::Failed => Decision::Settle,
        _ => Decision::TakeOver,
    }
}

fn until(now: DateTime<Utc>, then: DateTime<Utc>) -> Duration {
    (then - now).to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    const OWNER_MESSAGE: u64 = 10;
    const OTHER_MESSAGE: u64 = 20;

    fn record(state: JobState, lease_secs: i64) -> JobRecord {
        let now = Utc::now();
        JobRecord {
            state,
            owner: Some("launcher-a#1".into()),
            lease_expires_at: Some(now + TimeDelta::seconds(lease_secs)),
            ..JobRecord::requested("job", "footprint", "1.0.0", OWNER_MESSAGE, now)
        }
    }

    #[test]
    fn a_new_job_is_created() {
        assert_eq!(decide(None, OWNER_MESSAGE, Utc::now()), Decision::Create);
    }

    #[test]
    fn a_finished_job_republishes_its_outcome_for_any_message() {
        for state in [JobState::Succeeded, JobState::Dead] {
            for sequence in [OWNER_MESSAGE, OTHER_MESSAGE] {
                let found = record(state, 30);
                assert_eq!(
                    decide(Some(&found), sequence, Utc::now()),
                    Decision::Republish
                );
            }
        }
    }

    #[test]
    fn a_requested_job_is_claimed() {
        let found = JobRecord::requested("job", "footprint", "1.0.0", OWNER_MESSAGE, Utc::now());
        assert_eq!(
            decide(Some(&found), OTHER_MESSAGE, Utc::now()),
            Decision::Claim
        );
    }

    #[test]
    fn a_live_claim_covers_other_copies_of_the_request() {
        for state in [JobState::Launching, JobState::Running, JobState::Failed] {
            let found = record(state, 30);
            assert_eq!(
                decide(Some(&found), OTHER_MESSAGE, Utc::now()),
                Decision::Covered
            );
        }
    }

    #[test]
    fn the_owning_message_redelivered_during_a_live_lease_waits_past_the_lease() {
        let found = record(JobState::Running, 30);
        let Decision::Wait(delay) = decide(Some(&found), OWNER_MESSAGE, Utc::now()) else {
            panic!("expected a wait");
        };
        assert!(
            delay > Duration::from_secs(29) && delay <= Duration::from_secs(31),
            "{delay:?}"
        );
    }

    #[test]
    fn an_expired_lease_is_taken_over_by_any_message() {
        for sequence in [OWNER_MESSAGE, OTHER_MESSAGE] {
            for state in [JobState::Launching, JobState::Running] {
                let found = record(state, -1);
                assert_eq!(
                    decide(Some(&found), sequence, Utc::now()),
                    Decision::TakeOver
                );
            }
            let failed = record(JobState::Failed, -1);
            assert_eq!(
                decide(Some(&failed), sequence, Utc::now()),
                Decision::Settle
            );
        }
    }

    #[test]
    fn a_retry_waits_for_its_time_then_is_claimed_by_its_message() {
        let now = Utc::now();
        let retrying = JobRecord {
            owner: None,
            retry_at: Some(now + TimeDelta::seconds(5)),
            ..record(JobState::Retrying, 35)
        };
        assert!(matches!(
            decide(Some(&retrying), OWNER_MESSAGE, now),
            Decision::Wait(delay) if delay <= Duration::from_secs(5) && delay > Duration::from_secs(4)
        ));
        assert_eq!(
            decide(Some(&retrying), OTHER_MESSAGE, now),
            Decision::Covered
        );
        let due = now + TimeDelta::seconds(6);
        assert_eq!(decide(Some(&retrying), OWNER_MESSAGE, due), Decision::Claim);
        assert_eq!(
            decide(Some(&retrying), OTHER_MESSAGE, due),
            Decision::Covered
        );
    }

    #[test]
    fn a_retry_whose_message_never_came_back_is_claimed_by_another_copy() {
        let now = Utc::now();
        let abandoned = JobRecord {
            owner: None,
            retry_at: Some(now - TimeDelta::seconds(40)),
            ..record(JobState::Retrying, -10)
        };
        assert_eq!(
            decide(Some(&abandoned), OTHER_MESSAGE, now),
            Decision::Claim
        );
    }
}
