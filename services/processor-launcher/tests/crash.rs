//! The launcher process killed with SIGKILL mid-job, against a real nats-server and SeaweedFS:
//! its processor dies with it, and a new launcher process takes the job over and runs it to
//! one success: never two attempts at once, one outcome.

mod harness;

use std::{process::Stdio, time::Duration};

use harness::{Harness, S2_GRANULE, job, next_lifecycle, next_lifecycle_within};
use nrt_events::{JobFailed, JobStarted, JobSucceeded, streams};
use processor_launcher::JobState;

fn launcher_process(harness: &Harness) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_processor-launcher"))
        .arg("--config")
        .arg(harness.config_file())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn a_sigkilled_launchers_job_is_taken_over_by_the_next_launcher_and_runs_once() {
    let harness = Harness::prepare().await;
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.>").await;
    let mut first = launcher_process(&harness);
    harness
        .request(job("crashable", "job-crash", &[S2_GRANULE]))
        .await;
    let started: JobStarted = next_lifecycle(&mut lifecycle).await;
    assert_eq!(started.attempt, 1);
    let pid = harness.pid_of("crashable").await;

    first.kill().await.unwrap(); // SIGKILL: no drain, no cleanup
    harness.wait_gone(&pid).await; // the kernel killed the processor with its parent
    let orphaned = harness.record("job-crash").await.unwrap();
    assert_eq!(orphaned.state, JobState::Running);

    let _second = launcher_process(&harness);
    // The request comes back once its ack wait (30 s) has passed since the last progress the
    // killed launcher sent.
    let failed: JobFailed = next_lifecycle_within(&mut lifecycle, Duration::from_secs(60)).await;
    assert_eq!(failed.attempt, 1);
    assert!(
        failed.reason.contains("stopped renewing its lease"),
        "{}",
        failed.reason
    );
    let started: JobStarted = next_lifecycle(&mut lifecycle).await;
    assert_eq!(started.attempt, 2);
    let succeeded: JobSucceeded = next_lifecycle(&mut lifecycle).await;
    assert_eq!(succeeded.attempt, 2);
    let later = lifecycle.drain_raw(Duration::from_secs(2)).await;
    assert!(later.is_empty(), "one outcome only: {later:?}");
    // Attempt 1 ran until the kill, attempt 2 after it: two runs, never at once.
    assert_eq!(harness.log_lines("crashable").len(), 2);
    let record = harness.record("job-crash").await.unwrap();
    assert_eq!((record.state, record.attempt), (JobState::Succeeded, 2));
}
