//! Faults stay where they happen: a feed answering garbage raises one alert and then recovers, a
//! processor that always fails ends in dead jobs with alerts and webhooks, an undecodable event is
//! dead-lettered with its reason — and every other product still flows through the mesh once.

mod common;

use std::collections::BTreeMap;

use common::{WAIT, recorded_mesh, runs, selected};
use nrt_cdse_replay::{Fault, ReleaseSchedule};
use nrt_e2e::mesh::MeshUnderTest;
use nrt_events::{
    Alert, DeadLetter, Envelope, EventData, ItemPublished, JobDead, JobFailed, streams,
};
use nrtmesh::history::{History, read_stream};

/// The three precise-orbit files of the recorded feed, which the failing rule selects.
const ORBIT_FILES: usize = 3;
const FAILING_RULE: &str = r#"
[[rules]]
name = "s1-orbit-always-fails"
processor = "footprint"
collections = ["SENTINEL-1"]
product_types = ["AUX_POEORB"]

[rules.parameters]
fail_with_exit_code = 3
"#;
const GARBAGE: &[u8] = b"<html>502 Bad Gateway</html>";

#[tokio::test]
async fn faults_are_contained_and_everything_else_still_flows() {
    let mut options = recorded_mesh(FAILING_RULE);
    // Nothing is visible until the feed has failed once, so the failure comes before any product.
    options.schedule = ReleaseSchedule::Manual { visible: 0 };
    options.alert_after_failures = 1;
    let mesh = MeshUnderTest::start(options).await.unwrap();

    // One poll fails through its first request and both retries: one feed-failing alert.
    mesh.feed.inject(Fault::MalformedBody, 3);
    mesh.js
        .publish("products.discovered.garbage", GARBAGE.into())
        .await
        .unwrap()
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while alerts(&mesh)
        .await
        .iter()
        .all(|a| a.data.kind != "feed-failing")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no feed-failing alert:\n{}",
            mesh.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    mesh.feed.release(mesh.feed.product_count());

    let history = mesh
        .wait_until(
            "the good products published and the failing jobs dead",
            WAIT,
            |history, receipts| {
                history.products.len() == 39
                    && history.items.len() == 5
                    && history.dead.len() == ORBIT_FILES
                    && receipts.len() >= 5 + 2 * ORBIT_FILES + ORBIT_FILES
            },
        )
        .await
        .unwrap();

    // The feed recovered: every product discovered once, after the failed poll.
    let mut keys: Vec<&str> = history
        .products
        .iter()
        .map(|p| p.data.key.as_str())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!((history.products.len(), keys.len()), (39, 39));

    // The good products went all the way.
    let published: std::collections::BTreeSet<String> = history
        .items
        .iter()
        .flat_map(|item| item.data.input_keys.iter().cloned())
        .collect();
    assert_eq!(published, selected());
    assert_eq!(history.succeeded.len(), 5);

    // Each orbit job ran twice (max_attempts = 2), failed with the processor's exit code each
    // time, and died once.
    let mut failures_per_job: BTreeMap<&str, Vec<&JobFailed>> = BTreeMap::new();
    for failed in &history.failed {
        failures_per_job
            .entry(failed.data.job_id.as_str())
            .or_default()
            .push(&failed.data);
    }
    assert_eq!(failures_per_job.len(), ORBIT_FILES, "{failures_per_job:#?}");
    for (job, failures) in &failures_per_job {
        let attempts: Vec<(u32, bool)> =
            failures.iter().map(|f| (f.attempt, f.will_retry)).collect();
        assert_eq!(attempts, [(1, true), (2, false)], "{job}");
        assert!(
            failures.iter().all(|f| f.exit_code == Some(3)),
            "{failures:#?}"
        );
        assert!(
            failures.iter().all(|f| f.reason.contains('3')),
            "the reason names the exit code: {failures:#?}"
        );
    }
    let mut runs_per_job: BTreeMap<String, usize> = BTreeMap::new();
    for job in runs(&mesh) {
        *runs_per_job.entry(job).or_default() += 1;
    }
    for job in failures_per_job.keys() {
        assert_eq!(
            runs_per_job.get(*job),
            Some(&2),
            "{job} ran once per attempt"
        );
    }
    assert_eq!(runs_per_job.len(), 5 + ORBIT_FILES, "{runs_per_job:?}");
    let dead: Vec<&JobDead> = history.dead.iter().map(|d| &d.data).collect();
    assert!(
        dead.iter()
            .all(|d| d.attempts == 2 && d.rule == "s1-orbit-always-fails")
    );

    // The undecodable event is in the trigger's dead-letter subject, whole and with the reason.
    let dead_letters: Vec<Envelope<DeadLetter>> = read_stream(&mesh.js, streams::DLQ.name)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|(_, body)| Envelope::from_json(&body).ok())
        .collect();
    assert_eq!(dead_letters.len(), 1, "{dead_letters:#?}");
    let letter = &dead_letters[0].data;
    assert_eq!(
        (letter.service.as_str(), letter.subject.as_str()),
        ("trigger", "products.discovered.garbage")
    );
    assert!(!letter.error.is_empty());
    assert_eq!(letter.payload.as_bytes(), GARBAGE);

    // Alerts: one for the feed, one per dead job, one for the poison message.
    let mut alert_kinds: BTreeMap<String, usize> = BTreeMap::new();
    for alert in alerts(&mesh).await {
        *alert_kinds.entry(alert.data.kind).or_default() += 1;
    }
    assert_eq!(alert_kinds.get("feed-failing"), Some(&1), "{alert_kinds:?}");
    assert_eq!(
        alert_kinds.get("job-dead"),
        Some(&ORBIT_FILES),
        "{alert_kinds:?}"
    );
    assert_eq!(
        alert_kinds.get("poison-message"),
        Some(&1),
        "{alert_kinds:?}"
    );

    // The webhook saw each item once, each failed attempt and each dead job.
    let mut received: BTreeMap<String, usize> = BTreeMap::new();
    for receipt in mesh.receiver.receipts() {
        *received.entry(receipt.event_type().to_owned()).or_default() += 1;
    }
    assert_eq!(
        (
            received.get(ItemPublished::TYPE),
            received.get(JobFailed::TYPE),
            received.get(JobDead::TYPE)
        ),
        (Some(&5), Some(&(2 * ORBIT_FILES)), Some(&ORBIT_FILES)),
        "{received:?}"
    );
    assert!(mesh.receiver.rejections().is_empty());

    let after = History::read(&mesh.js).await.unwrap();
    assert_eq!(after.dead_letters, 1, "nothing else was dead-lettered");
    mesh.stop().await.unwrap();
}

async fn alerts(mesh: &MeshUnderTest) -> Vec<Envelope<Alert>> {
    read_stream(&mesh.js, streams::ALERTS.name)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|(_, body)| Envelope::from_json(&body).ok())
        .collect()
}
