//! What goes wrong, against a real nats-server and a real SeaweedFS: failing processors retry
//! then die with an alert, timeouts kill, unsafe output names stage nothing, bad requests are
//! dead-lettered.

mod harness;

use harness::{Harness, S2_GRANULE, WAIT, job, next_lifecycle};
use nrt_events::{Alert, DeadLetter, JobDead, JobFailed, JobStarted, Severity, streams};
use processor_launcher::JobState;

#[tokio::test]
async fn a_failing_processor_is_retried_then_declared_dead_with_an_alert() {
    let harness = Harness::start().await;
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.>").await;
    let mut alerts = harness
        .tap(streams::ALERTS.name, "alerts.critical.job-dead")
        .await;
    let mut request = job("footprint", "job-fails", &[S2_GRANULE]);
    request
        .parameters
        .insert("fail_with_exit_code".into(), 3.into());
    harness.request(request).await;

    for attempt in 1..=2 {
        let started: JobStarted = next_lifecycle(&mut lifecycle).await;
        assert_eq!(started.attempt, attempt);
        let failed: JobFailed = next_lifecycle(&mut lifecycle).await;
        assert_eq!(failed.attempt, attempt);
        assert_eq!(failed.exit_code, Some(3));
        assert_eq!(failed.reason, "the processor exited with code 3");
        assert!(
            failed
                .log_tail
                .iter()
                .any(|line| line.contains("failing on purpose")),
            "{:?}",
            failed.log_tail
        );
        assert_eq!(failed.will_retry, attempt < 2);
    }
    let dead: JobDead = next_lifecycle(&mut lifecycle).await;
    assert_eq!(dead.attempts, 2);
    assert_eq!(dead.reason, "the processor exited with code 3");
    let alert = alerts.next::<Alert>(WAIT).await.unwrap().data;
    assert_eq!(
        (alert.severity, alert.kind.as_str()),
        (Severity::Critical, "job-dead")
    );
    assert_eq!(alert.about, "job-fails");

    let record = harness.record("job-fails").await.unwrap();
    assert_eq!((record.state, record.attempt), (JobState::Dead, 2));
    let keys = harness.s3_keys().await;
    assert!(keys.contains(&"jobs/footprint/job-fails/logs/attempt-2/stderr.txt".into()));
}

#[tokio::test]
async fn a_process_past_its_timeout_is_killed_and_the_attempt_fails() {
    let harness = Harness::start().await;
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.>").await;
    harness
        .request(job("sleeper", "job-sleeps", &[S2_GRANULE]))
        .await;

    let _: JobStarted = next_lifecycle(&mut lifecycle).await;
    let failed: JobFailed = next_lifecycle(&mut lifecycle).await;
    assert_eq!(
        failed.reason,
        "the processor ran past its timeout of 1s and was killed"
    );
    assert_eq!(failed.exit_code, None);
    assert!(!failed.will_retry);
    let _: JobDead = next_lifecycle(&mut lifecycle).await;
    harness.wait_gone(&harness.pid_of("sleeper").await).await;
}

#[tokio::test]
async fn an_unsafe_output_name_fails_the_job_and_nothing_is_staged_outside_the_prefix() {
    let harness = Harness::start().await;
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.>").await;
    harness
        .request(job("unsafe-names", "job-unsafe", &[S2_GRANULE]))
        .await;

    let _: JobStarted = next_lifecycle(&mut lifecycle).await;
    let failed: JobFailed = next_lifecycle(&mut lifecycle).await;
    assert!(
        failed.reason.starts_with(
            r#"staging the outputs failed: output "bad\u{1}name.txt" has a name that cannot be staged"#
        ),
        "{}",
        failed.reason
    );
    assert_eq!(failed.exit_code, Some(0));
    let _: JobDead = next_lifecycle(&mut lifecycle).await;

    let keys = harness.s3_keys().await;
    assert_eq!(
        keys,
        [
            "jobs/unsafe-names/job-unsafe/logs/attempt-1/stderr.txt",
            "jobs/unsafe-names/job-unsafe/logs/attempt-1/stdout.txt",
        ],
        "only the logs: no output of a set with an unsafe name, nothing from outside output/"
    );
}

#[tokio::test]
async fn a_malformed_request_is_dead_lettered_with_the_reason() {
    let harness = Harness::start().await;
    let mut dead_letters = harness
        .tap(streams::DLQ.name, "dlq.processor-launcher")
        .await;
    let client = harness.nats.client().await;
    let js = async_nats::jetstream::new(client);
    js.publish("jobs.requested.footprint", "{not a cloudevent".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let letter = dead_letters.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert_eq!(letter.payload, "{not a cloudevent");
    assert!(
        letter
            .error
            .starts_with("message is not a job.requested event this service reads"),
        "{}",
        letter.error
    );

    harness
        .request(job("footprint", "../../etc", &[S2_GRANULE]))
        .await;
    let letter = dead_letters.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert!(
        letter.error.contains(r#"job_id "../../etc""#),
        "{}",
        letter.error
    );

    let mut unknown = job("footprint", "job-unknown", &[S2_GRANULE]);
    unknown.processor_version = "9.9.9".into();
    harness.request(unknown).await;
    let letter = dead_letters.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert!(
        letter.error.contains("the registry has version 1.0.0"),
        "{}",
        letter.error
    );
}
