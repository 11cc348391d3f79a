use nrt_events::JobOutput;
use processor_launcher::{backend::BackendJob, record::AttemptError};

use super::*;
use crate::jobs::Published;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn requested(job_id: &str) -> JobRecord {
    JobRecord::requested(job_id, "footprint", "1.0.0", 17, at("2026-03-01T10:00:00Z"))
}

fn dead() -> JobRecord {
    JobRecord {
        state: JobState::Dead,
        attempt: 3,
        updated_at: at("2026-03-01T10:20:00Z"),
        started_at: Some(at("2026-03-01T10:18:00Z")),
        finished_at: Some(at("2026-03-01T10:20:00Z")),
        backend_job: Some(BackendJob {
            backend: "docker".into(),
            name: "nrt-footprint-job1-3".into(),
            id: "4f9a0c".into(),
        }),
        last_error: Some(AttemptError {
            reason: "processor exited with 2\nsee the log".into(),
            exit_code: Some(2),
            log_tail: vec!["reading input".into(), "no such band B08".into()],
        }),
        ..requested("job1")
    }
}

fn running() -> JobRecord {
    JobRecord {
        state: JobState::Running,
        attempt: 1,
        owner: Some("host-a-12-9f3e#1".into()),
        lease_expires_at: Some(at("2026-03-01T10:31:00Z")),
        updated_at: at("2026-03-01T10:30:00Z"),
        ..requested("job2")
    }
}

fn retrying() -> JobRecord {
    JobRecord {
        state: JobState::Retrying,
        attempt: 1,
        retry_at: Some(at("2026-03-01T10:40:00Z")),
        updated_at: at("2026-03-01T10:35:00Z"),
        processor: "snow-cover".into(),
        processor_version: "2.1.0".into(),
        ..requested("job3")
    }
}

#[test]
fn a_listing_aligns_its_columns_and_says_who_holds_each_job_or_why_it_died() {
    assert_eq!(
        table(&[retrying(), running(), dead()]),
        "JOB   PROCESSOR   VERSION  STATE     ATTEMPT  UPDATED               DETAIL\n\
         job3  snow-cover  2.1.0    retrying  1        2026-03-01T10:35:00Z  retry at 2026-03-01T10:40:00Z\n\
         job2  footprint   1.0.0    running   1        2026-03-01T10:30:00Z  owner host-a-12-9f3e#1\n\
         job1  footprint   1.0.0    dead      3        2026-03-01T10:20:00Z  processor exited with 2\n"
    );
}

#[test]
fn a_long_reason_is_cut_in_a_listing() {
    let record = JobRecord {
        last_error: Some(AttemptError {
            reason: "é".repeat(100),
            exit_code: None,
            log_tail: Vec::new(),
        }),
        ..dead()
    };
    let line = table(&[record]).lines().nth(1).unwrap().to_owned();
    assert!(line.ends_with(&format!("{}…", "é".repeat(71))), "{line}");
}

#[test]
fn a_dead_job_shows_its_backend_job_times_and_last_error_with_the_log_tail() {
    assert_eq!(
        describe(&dead(), at("2026-03-01T11:00:00Z")),
        "job         job1\n\
         processor   footprint 1.0.0\n\
         state       dead\n\
         attempts    3\n\
         request     stream JOBS sequence 17\n\
         backend     docker nrt-footprint-job1-3 (id 4f9a0c)\n\
         created     2026-03-01T10:00:00Z\n\
         updated     2026-03-01T10:20:00Z\n\
         started     2026-03-01T10:18:00Z\n\
         finished    2026-03-01T10:20:00Z\n\
         last error  processor exited with 2\n            see the log (exit code 2)\n\
         \x20 | reading input\n\
         \x20 | no such band B08\n"
    );
}

#[test]
fn a_running_job_shows_its_owner_and_whether_the_lease_is_live() {
    let text = describe(&running(), at("2026-03-01T10:30:30Z"));
    assert!(text.contains("owner       host-a-12-9f3e#1\n"), "{text}");
    assert!(
        text.contains("lease       until 2026-03-01T10:31:00Z (live)\n"),
        "{text}"
    );
    let later = describe(&running(), at("2026-03-01T10:32:00Z"));
    assert!(later.contains("(expired)"), "{later}");
}

#[test]
fn a_succeeded_job_lists_its_outputs_with_their_s3_uris_and_sizes() {
    let record = JobRecord {
        state: JobState::Succeeded,
        attempt: 1,
        outputs: vec![JobOutput {
            path: "footprint.geojson".into(),
            bucket: "nrt-outputs".into(),
            key: "jobs/footprint/job4/footprint.geojson".into(),
            size: 1234,
            sha256: "ab12".into(),
            media_type: Some("application/geo+json".into()),
        }],
        metadata: Some(serde_json::json!({"cloud_cover": 12})),
        ..requested("job4")
    };
    let text = describe(&record, at("2026-03-01T11:00:00Z"));
    assert!(
        text.ends_with(
            "outputs     1\n\
             \x20 s3://nrt-outputs/jobs/footprint/job4/footprint.geojson  1234 bytes  sha256 ab12  application/geo+json\n\
             metadata    {\"cloud_cover\":12}\n"
        ),
        "{text}"
    );
    assert!(
        table(&[record]).ends_with("  1 outputs\n"),
        "a listing counts the outputs"
    );
}

#[test]
fn a_relaunched_and_cancelled_job_says_so() {
    let record = JobRecord {
        attempt: 5,
        relaunched_after: 3,
        cancelled: true,
        ..dead()
    };
    let text = describe(&record, at("2026-03-01T11:00:00Z"));
    assert!(
        text.contains("state       dead, cancelled by an operator\n"),
        "{text}"
    );
    assert!(
        text.contains("attempts    5 (2 since an operator relaunched it after attempt 3)\n"),
        "{text}"
    );
}

#[test]
fn outcomes_say_what_changed_and_where_the_request_went() {
    let before = running();
    let after = before.cancelled("x", at("2026-03-01T10:30:30Z")).unwrap();
    assert_eq!(
        cancelled(&Cancelled { before, after }),
        "Job job2 cancelled: it was running at attempt 1; now dead, its holder \
         host-a-12-9f3e#1 loses its next compare-and-set and stops.\n"
    );
    let published = Published {
        subject: "jobs.requested.footprint".into(),
        sequence: 42,
        duplicate: false,
    };
    let relaunched = Retried {
        found: dead(),
        relaunched: true,
        published: published.clone(),
    };
    assert_eq!(
        retried(&relaunched),
        "Job job1 relaunched: it was dead after 3 attempts; its request is published again on \
         jobs.requested.footprint (stream JOBS sequence 42) for a launcher to pick up.\n"
    );
    let cancelled_once = JobRecord {
        attempt: 1,
        cancelled: true,
        ..dead()
    };
    let relaunched_after_cancel = Retried {
        found: cancelled_once,
        relaunched: true,
        published: published.clone(),
    };
    assert!(
        retried(&relaunched_after_cancel)
            .starts_with("Job job1 relaunched: it was cancelled after 1 attempt; ")
    );
    let republished = Retried {
        found: requested("job1"),
        relaunched: false,
        published: Published {
            duplicate: true,
            ..published
        },
    };
    assert_eq!(
        retried(&republished),
        "Job job1 was requested already and its request is in stream JOBS already \
         (sequence 42): nothing published.\n"
    );
}
