//! Limits and operators against a real nats-server and SeaweedFS: a processor's concurrency
//! limit and the global one hold across launcher replicas; a cancelled job stops.

mod harness;

use std::time::Duration;

use chrono::Utc;
use harness::{Harness, S2_GRANULE, job, next_lifecycle};
use nrt_events::{Alert, JobDead, JobSucceeded, Severity, streams};
use processor_launcher::{JobState, store::JobStore};

/// The most jobs that ran at once, from the `start`/`end` lines of `spans.log`.
fn most_at_once(lines: &[String]) -> usize {
    let mut events: Vec<(u128, i32)> = lines
        .iter()
        .map(|line| {
            let mut words = line.split_whitespace();
            let kind = words.next().unwrap();
            let at: u128 = words.next().unwrap().parse().unwrap();
            (at, if kind == "start" { 1 } else { -1 })
        })
        .collect();
    // An end and a start at the same nanosecond do not overlap.
    events.sort();
    let (mut running, mut most) = (0, 0);
    for (_, change) in events {
        running += change;
        most = most.max(running);
    }
    usize::try_from(most).unwrap()
}

async fn run_limited_jobs(harness: &Harness, prefix: &str, count: usize) {
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.succeeded.>").await;
    for n in 0..count {
        harness
            .request(job("limited", &format!("{prefix}-{n}"), &[S2_GRANULE]))
            .await;
    }
    for _ in 0..count {
        let _: JobSucceeded = next_lifecycle(&mut lifecycle).await;
    }
}

#[tokio::test]
async fn a_processors_limit_holds_across_two_replicas_and_is_used() {
    let mut harness = Harness::prepare().await;
    harness.start_launcher();
    harness.start_launcher();
    run_limited_jobs(&harness, "limited", 6).await;
    let spans = harness.log_lines("spans");
    assert_eq!(spans.len(), 12, "{spans:?}");
    let most = most_at_once(&spans);
    println!("limit 2 across 2 replicas, 6 jobs of 1 s: at most {most} ran at once");
    assert_eq!(
        most, 2,
        "the limit of 2 is never exceeded, and reached: {spans:?}"
    );
}

#[tokio::test]
async fn the_global_limit_holds_across_replicas_below_a_processors_own() {
    let mut harness = Harness::prepare().await;
    let config = processor_launcher::Config {
        global_concurrency: Some(1),
        ..harness.config()
    };
    harness.start_launcher_with(config.clone());
    harness.start_launcher_with(config);
    run_limited_jobs(&harness, "global", 3).await;
    let spans = harness.log_lines("spans");
    let most = most_at_once(&spans);
    println!("global limit 1 across 2 replicas, 3 jobs of 1 s: at most {most} ran at once");
    assert_eq!(most, 1, "{spans:?}");
}

#[tokio::test]
async fn a_cancelled_job_stops_its_process_and_is_dead_with_a_warning() {
    let mut harness = Harness::start().await;
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.dead.>").await;
    let mut alerts = harness.tap(streams::ALERTS.name, "alerts.>").await;
    harness
        .request(job("holder", "job-cancelled", &[S2_GRANULE]))
        .await;
    let pid = harness.pid_of("holder").await;

    let store = JobStore::new(harness.js.get_key_value(streams::KV_JOBS).await.unwrap());
    let found = store.get("job-cancelled").await.unwrap().unwrap();
    assert_eq!(found.record.state, JobState::Running);
    let cancelled = found.record.cancelled("wrong area", Utc::now()).unwrap();
    store
        .update(&cancelled, found.revision)
        .await
        .unwrap()
        .unwrap();

    // The owner loses its next lease renewal (a third of the 3 s lease) and kills the process.
    harness.wait_gone(&pid).await;
    let dead: JobDead = next_lifecycle(&mut lifecycle).await;
    assert_eq!(dead.reason, "cancelled by an operator: wrong area");
    let alert: Alert = next_lifecycle(&mut alerts).await;
    assert_eq!(
        (alert.kind.as_str(), alert.severity),
        ("job-cancelled", Severity::Warning)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let record = harness.record("job-cancelled").await.unwrap();
    assert_eq!(record.state, JobState::Dead);
    assert!(record.cancelled);
    harness.stop_launcher().await;
}
