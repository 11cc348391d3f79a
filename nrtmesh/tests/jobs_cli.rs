//! `nrtmesh jobs list|show`, `retry` and `cancel` as an operator runs them, against a real
//! nats-server holding job records and their request messages.

use std::process::{Command, Output};

use async_nats::jetstream;
use chrono::{DateTime, TimeDelta, Utc};
use nrt_events::{
    JobRequested,
    streams::{JOBS, KV_JOBS},
};
use nrt_nats::{NatsServer, Publisher, TopologyOptions, apply_topology};
use processor_launcher::{JobRecord, JobState, record::AttemptError, store::JobStore};

/// A server with the mesh's streams and buckets, and the launcher's view of the `jobs` bucket.
struct Mesh {
    server: NatsServer,
    js: jetstream::Context,
    store: JobStore,
}

impl Mesh {
    async fn start() -> Self {
        let server = NatsServer::start().await;
        let js = server.jetstream().await;
        apply_topology(&js, TopologyOptions::default())
            .await
            .unwrap();
        let store = JobStore::new(js.get_key_value(KV_JOBS).await.unwrap());
        Self { server, js, store }
    }

    /// Publishes the request of `job_id` as the trigger does; its stream sequence.
    async fn request(&self, job_id: &str, processor: &str) -> u64 {
        let request = JobRequested {
            job_id: job_id.to_owned(),
            rule: format!("{processor}-rule"),
            processor: processor.to_owned(),
            processor_version: "1.0.0".into(),
            inputs: Vec::new(),
            parameters: Default::default(),
            priority: 0,
            deadline: None,
        };
        Publisher::new(self.js.clone(), "trigger")
            .publish(request)
            .await
            .unwrap()
            .sequence
    }

    /// A requested job whose record is then written as `shape` makes it, as a launcher would.
    async fn job(
        &self,
        job_id: &str,
        processor: &str,
        shape: impl FnOnce(JobRecord) -> JobRecord,
    ) -> JobRecord {
        let sequence = self.request(job_id, processor).await;
        let requested = JobRecord::requested(job_id, processor, "1.0.0", sequence, Utc::now());
        assert!(self.store.create(&requested).await.unwrap());
        let record = shape(requested);
        let created = self.revision(job_id).await;
        self.store.update(&record, created).await.unwrap().unwrap();
        record
    }

    async fn record(&self, job_id: &str) -> JobRecord {
        self.store.get(job_id).await.unwrap().unwrap().record
    }

    async fn revision(&self, job_id: &str) -> u64 {
        self.store.get(job_id).await.unwrap().unwrap().revision
    }

    async fn jobs_stream(&self) -> jetstream::stream::Stream {
        self.js.get_stream(JOBS.name).await.unwrap()
    }

    /// Runs `nrtmesh <args> --nats-url <this server>`.
    async fn nrtmesh(&self, args: &[&str]) -> Output {
        let mut args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        args.extend(["--nats-url".into(), self.server.url()]);
        tokio::task::spawn_blocking(move || nrtmesh(&args))
            .await
            .unwrap()
    }
}

fn nrtmesh(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nrtmesh"))
        .args(args)
        .env_remove("NRTMESH_NATS_URL")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn ago(minutes: i64) -> DateTime<Utc> {
    Utc::now() - TimeDelta::minutes(minutes)
}

fn running(record: JobRecord, updated_at: DateTime<Utc>) -> JobRecord {
    JobRecord {
        state: JobState::Running,
        attempt: 1,
        owner: Some("launcher-a#1".into()),
        lease_expires_at: Some(updated_at + TimeDelta::seconds(30)),
        started_at: Some(updated_at),
        created_at: updated_at - TimeDelta::minutes(5),
        updated_at,
        ..record
    }
}

fn dead(record: JobRecord, updated_at: DateTime<Utc>) -> JobRecord {
    JobRecord {
        state: JobState::Dead,
        attempt: 3,
        finished_at: Some(updated_at),
        created_at: updated_at - TimeDelta::minutes(5),
        updated_at,
        last_error: Some(AttemptError {
            reason: "processor exited with 2".into(),
            exit_code: Some(2),
            log_tail: vec!["no such band B08".into()],
        }),
        ..record
    }
}

fn succeeded(record: JobRecord, updated_at: DateTime<Utc>) -> JobRecord {
    JobRecord {
        state: JobState::Succeeded,
        attempt: 1,
        finished_at: Some(updated_at),
        created_at: updated_at - TimeDelta::minutes(5),
        updated_at,
        ..record
    }
}

/// The job ids of a listing's lines, header left out.
fn listed(output: &Output) -> Vec<String> {
    assert!(output.status.success(), "{}", stderr(output));
    stdout(output)
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn list_shows_jobs_newest_first_filtered_by_state_processor_and_window() {
    let mesh = Mesh::start().await;
    mesh.job("dead-1", "footprint", |r| dead(r, ago(60))).await;
    mesh.job("running-1", "footprint", |r| running(r, ago(10)))
        .await;
    mesh.job("succeeded-1", "snow-cover", |r| {
        succeeded(r, ago(3 * 24 * 60))
    })
    .await;
    mesh.job("dead-2", "snow-cover", |r| dead(r, ago(120)))
        .await;

    let all = mesh.nrtmesh(&["jobs", "list"]).await;
    assert_eq!(
        listed(&all),
        ["running-1", "dead-1", "dead-2", "succeeded-1"]
    );
    let text = stdout(&all);
    assert!(text.starts_with("JOB  "), "{text}");
    let dead_line = text
        .lines()
        .find(|line| line.starts_with("dead-1"))
        .unwrap();
    assert!(
        dead_line.contains(" footprint ") && dead_line.ends_with("  processor exited with 2"),
        "{dead_line}"
    );
    let running_line = text
        .lines()
        .find(|line| line.starts_with("running-1"))
        .unwrap();
    assert!(
        running_line.ends_with("  owner launcher-a#1"),
        "{running_line}"
    );

    let states = mesh
        .nrtmesh(&["jobs", "list", "--state", "dead", "--state", "running"])
        .await;
    assert_eq!(listed(&states), ["running-1", "dead-1", "dead-2"]);
    let processor = mesh
        .nrtmesh(&["jobs", "list", "--processor", "snow-cover"])
        .await;
    assert_eq!(listed(&processor), ["dead-2", "succeeded-1"]);
    let recent = mesh.nrtmesh(&["jobs", "list", "--since", "90m"]).await;
    assert_eq!(listed(&recent), ["running-1", "dead-1"]);
    let none = mesh.nrtmesh(&["jobs", "list", "--state", "retrying"]).await;
    assert!(none.status.success());
    assert_eq!(stdout(&none), "No job in bucket jobs matches.\n");
}

#[tokio::test]
async fn list_as_json_prints_the_records_themselves() {
    let mesh = Mesh::start().await;
    let older = mesh.job("dead-1", "footprint", |r| dead(r, ago(60))).await;
    let newer = mesh
        .job("running-1", "footprint", |r| running(r, ago(10)))
        .await;
    let output = mesh.nrtmesh(&["jobs", "list", "--json"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let records: Vec<JobRecord> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(records, [newer, older]);
}

#[tokio::test]
async fn list_refuses_a_state_that_does_not_exist_naming_the_real_ones() {
    let mesh = Mesh::start().await;
    let output = mesh.nrtmesh(&["jobs", "list", "--state", "zombie"]).await;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("unknown variant `zombie`, expected one of `requested`"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn show_prints_the_whole_record_readable_or_as_json_and_fails_on_an_unknown_job() {
    let mesh = Mesh::start().await;
    let record = mesh.job("dead-1", "footprint", |r| dead(r, ago(60))).await;

    let output = mesh.nrtmesh(&["jobs", "show", "dead-1"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for line in [
        "job         dead-1\n",
        "processor   footprint 1.0.0\n",
        "state       dead\n",
        "attempts    3\n",
        &format!(
            "request     stream JOBS sequence {}\n",
            record.request_sequence
        ),
        "last error  processor exited with 2 (exit code 2)\n  | no such band B08\n",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }

    let output = mesh.nrtmesh(&["jobs", "show", "dead-1", "--json"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let shown: JobRecord = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown, record);

    let output = mesh.nrtmesh(&["jobs", "show", "nope"]).await;
    assert!(!output.status.success());
    assert_eq!(stderr(&output), "nrtmesh: no job nope in bucket jobs\n");
}

#[tokio::test]
async fn show_reads_the_server_from_the_environment_like_the_other_commands() {
    let mesh = Mesh::start().await;
    mesh.job("dead-1", "footprint", |r| dead(r, ago(60))).await;
    let url = mesh.server.url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_nrtmesh"))
            .args(["jobs", "show", "dead-1"])
            .env("NRTMESH_NATS_URL", url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("job         dead-1\n"));
}

#[tokio::test]
async fn cancel_makes_a_running_job_dead_and_cancelled_and_refuses_a_succeeded_one() {
    let mesh = Mesh::start().await;
    mesh.job("running-1", "footprint", |r| running(r, ago(1)))
        .await;
    mesh.job("succeeded-1", "footprint", |r| succeeded(r, ago(1)))
        .await;

    let output = mesh
        .nrtmesh(&["cancel", "running-1", "--reason", "wrong inputs"])
        .await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "Job running-1 cancelled: it was running at attempt 1; now dead, its holder \
         launcher-a#1 loses its next compare-and-set and stops.\n"
    );
    let cancelled = mesh.record("running-1").await;
    assert_eq!(cancelled.state, JobState::Dead);
    assert!(cancelled.cancelled);
    assert_eq!(cancelled.owner, None);
    assert_eq!(
        cancelled.last_error.unwrap().reason,
        "cancelled by an operator: wrong inputs"
    );

    let revision = mesh.revision("succeeded-1").await;
    let output = mesh.nrtmesh(&["cancel", "succeeded-1"]).await;
    assert!(!output.status.success());
    assert_eq!(
        stderr(&output),
        "nrtmesh: job succeeded-1 is succeeded: a finished job cannot be cancelled\n"
    );
    assert_eq!(mesh.revision("succeeded-1").await, revision, "untouched");
}

#[tokio::test]
async fn cancel_without_a_reason_says_it_came_from_nrtmesh() {
    let mesh = Mesh::start().await;
    mesh.job("requested-1", "footprint", |r| r).await;
    let output = mesh.nrtmesh(&["cancel", "requested-1"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).ends_with("now dead, no launcher will start it.\n"));
    assert_eq!(
        mesh.record("requested-1").await.last_error.unwrap().reason,
        "cancelled by an operator: cancelled with nrtmesh cancel"
    );
}

#[tokio::test]
async fn retry_requests_a_dead_job_again_and_republishes_its_request_for_a_launcher() {
    let mesh = Mesh::start().await;
    let before = mesh.job("dead-1", "footprint", |r| dead(r, ago(60))).await;
    let stream = mesh.jobs_stream().await;
    let original = stream
        .get_raw_message(before.request_sequence)
        .await
        .unwrap();

    let output = mesh.nrtmesh(&["retry", "dead-1"]).await;
    assert!(output.status.success(), "{}", stderr(&output));

    let after = mesh.record("dead-1").await;
    assert_eq!(after.state, JobState::Requested);
    assert_eq!(after.relaunched_after, 3);
    assert_eq!(after.attempt, 3);
    let republished = stream
        .get_last_raw_message_by_subject("jobs.requested.footprint")
        .await
        .unwrap();
    assert!(republished.sequence > before.request_sequence);
    assert_eq!(republished.payload, original.payload);
    assert_eq!(
        republished.headers.get("Nats-Msg-Id").unwrap().as_str(),
        format!("dead-1.relaunch.{}", mesh.revision("dead-1").await)
    );
    assert_eq!(
        stdout(&output),
        format!(
            "Job dead-1 relaunched: it was dead after 3 attempts; its request is published \
             again on jobs.requested.footprint (stream JOBS sequence {}) for a launcher to pick \
             up.\n",
            republished.sequence
        )
    );

    // Retrying the requested job again stores nothing new: the same relaunch, the same id.
    let output = mesh.nrtmesh(&["retry", "dead-1"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).ends_with(&format!(
            "its request is in stream JOBS already (sequence {}): nothing published.\n",
            republished.sequence
        )),
        "{}",
        stdout(&output)
    );
}

#[tokio::test]
async fn retry_refuses_a_running_job_naming_its_state() {
    let mesh = Mesh::start().await;
    mesh.job("running-1", "footprint", |r| running(r, ago(1)))
        .await;
    let output = mesh.nrtmesh(&["retry", "running-1"]).await;
    assert!(!output.status.success());
    assert_eq!(
        stderr(&output),
        "nrtmesh: job running-1 is running, not dead: only a dead job can be retried\n"
    );
    assert_eq!(mesh.record("running-1").await.state, JobState::Running);
}

#[tokio::test]
async fn retry_of_a_job_whose_request_left_the_stream_says_so_and_leaves_it_dead() {
    let mesh = Mesh::start().await;
    let record = mesh.job("dead-1", "footprint", |r| dead(r, ago(60))).await;
    let stream = mesh.jobs_stream().await;
    assert!(
        stream
            .delete_message(record.request_sequence)
            .await
            .unwrap()
    );

    let output = mesh.nrtmesh(&["retry", "dead-1"]).await;
    assert!(!output.status.success());
    assert_eq!(
        stderr(&output),
        format!(
            "nrtmesh: the request of job dead-1 is gone from stream JOBS (sequence {}, past the \
             stream's retention or deleted): the job stays dead\n",
            record.request_sequence
        )
    );
    assert_eq!(mesh.record("dead-1").await, record);
}

#[tokio::test]
async fn retry_failed_relaunches_only_recent_dead_jobs_that_were_not_cancelled() {
    let mesh = Mesh::start().await;
    mesh.job("recent", "footprint", |r| dead(r, ago(60))).await;
    let gone = mesh.job("gone", "footprint", |r| dead(r, ago(30))).await;
    mesh.jobs_stream()
        .await
        .delete_message(gone.request_sequence)
        .await
        .unwrap();
    mesh.job("other", "snow-cover", |r| dead(r, ago(90))).await;
    let untouched = [
        mesh.job("old", "footprint", |r| dead(r, ago(2 * 24 * 60)))
            .await,
        mesh.job("cancelled", "footprint", |r| JobRecord {
            cancelled: true,
            ..dead(r, ago(20))
        })
        .await,
        mesh.job("running", "footprint", |r| running(r, ago(5)))
            .await,
    ];

    let output = mesh
        .nrtmesh(&["retry", "--failed", "--since", "6h", "--dry-run"])
        .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let would: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("Would relaunch job "))
        .map(|rest| rest.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(would, ["gone", "recent", "other"]);
    assert!(
        text.ends_with(" would be relaunched; nothing changed (dry run).\n"),
        "{text}"
    );
    for job_id in ["recent", "gone", "other"] {
        assert_eq!(mesh.record(job_id).await.state, JobState::Dead, "{job_id}");
    }

    let output = mesh
        .nrtmesh(&[
            "retry",
            "--failed",
            "--since",
            "6h",
            "--processor",
            "snow-cover",
        ])
        .await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("Job other relaunched: "));
    assert_eq!(mesh.record("other").await.state, JobState::Requested);
    assert_eq!(mesh.record("recent").await.state, JobState::Dead);

    let output = mesh.nrtmesh(&["retry", "--failed", "--since", "6h"]).await;
    assert!(!output.status.success(), "the gone request fails the run");
    let text = stdout(&output);
    assert!(text.starts_with("Job recent relaunched: "), "{text}");
    assert!(text.ends_with(" relaunched, 1 could not be.\n"), "{text}");
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("1 of 2 dead jobs updated since ")
    );
    assert!(
        stderr(&output)
            .starts_with("nrtmesh: job gone not relaunched: the request of job gone is gone"),
        "{}",
        stderr(&output)
    );
    assert_eq!(mesh.record("recent").await.state, JobState::Requested);
    assert_eq!(mesh.record("gone").await.state, JobState::Dead);
    for record in untouched {
        assert_eq!(mesh.record(&record.job_id).await, record);
    }
}

#[tokio::test]
async fn retry_needs_a_job_or_failed_with_a_window() {
    let mesh = Mesh::start().await;
    for args in [
        &["retry"][..],
        &["retry", "--failed"],
        &["retry", "job", "--failed", "--since", "1h"],
    ] {
        let output = mesh.nrtmesh(args).await;
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}
