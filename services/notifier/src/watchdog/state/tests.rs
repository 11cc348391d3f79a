use super::*;
use crate::watchdog::{
    change::{Change, JobFact},
    fixtures::{at, failure, job, job_of, replay, request},
};

fn stage_after(facts: Vec<JobFact>) -> Option<Stage> {
    let changes: Vec<Change> = facts.into_iter().map(job).collect();
    job_of(replay(&changes, at("2026-02-01T01:00:00Z"))).stage()
}

#[test]
fn the_stage_follows_the_job_through_its_lifecycle() {
    let mut facts = vec![request(Some("2026-02-01T03:00:00Z"))];
    assert_eq!(
        stage_after(facts.clone()),
        Some(Stage::TriggeredNotLaunched)
    );
    facts.push(JobFact::Started { attempt: 1 });
    assert_eq!(stage_after(facts.clone()), Some(Stage::Running));
    facts.push(failure(1, true));
    assert_eq!(stage_after(facts.clone()), Some(Stage::FailedRetrying));
    facts.push(JobFact::Started { attempt: 2 });
    assert_eq!(stage_after(facts.clone()), Some(Stage::Running));
    facts.push(JobFact::Succeeded);
    assert_eq!(
        stage_after(facts.clone()),
        Some(Stage::SucceededNotPublished)
    );
    facts.push(JobFact::Published {
        item_id: "item".into(),
    });
    assert_eq!(stage_after(facts), None);
}

#[test]
fn a_job_is_dead_when_the_launcher_says_so_or_its_last_failure_is_not_retried() {
    let declared = vec![
        JobFact::Started { attempt: 3 },
        failure(3, true),
        JobFact::Dead(Dead {
            attempts: 3,
            reason: "used its 3 attempts".into(),
        }),
    ];
    assert_eq!(stage_after(declared.clone()), Some(Stage::Dead));
    assert_eq!(
        stage_after(vec![JobFact::Started { attempt: 3 }, failure(3, false)]),
        Some(Stage::Dead)
    );
    // An operator's retry starts a later attempt: the job runs again.
    let mut retried = declared;
    retried.push(JobFact::Started { attempt: 4 });
    assert_eq!(stage_after(retried), Some(Stage::Running));
}

#[test]
fn events_handled_out_of_order_give_the_same_stage() {
    // A failure of attempt 1 handled after attempt 2 started does not hide the new attempt.
    let late_failure = vec![JobFact::Started { attempt: 2 }, failure(1, true)];
    assert_eq!(stage_after(late_failure), Some(Stage::Running));
    let late_request = vec![
        JobFact::Succeeded,
        JobFact::Started { attempt: 1 },
        request(Some("2026-02-01T03:00:00Z")),
    ];
    assert_eq!(
        stage_after(late_request),
        Some(Stage::SucceededNotPublished)
    );
}

#[test]
fn records_are_tagged_json_that_reads_back_the_same() {
    let watch = replay(
        &[
            job(request(Some("2026-02-01T03:00:00Z"))),
            job(failure(1, true)),
        ],
        at("2026-02-01T01:00:00Z"),
    )
    .unwrap();
    let json = serde_json::to_value(&watch).unwrap();
    assert_eq!(json["watch"], "job");
    assert_eq!(json["request"]["deadline"], "2026-02-01T03:00:00Z");
    assert_eq!(serde_json::from_value::<Watch>(json).unwrap(), watch);
    assert_eq!(
        serde_json::to_value(Stage::SucceededNotPublished).unwrap(),
        "succeeded-not-published"
    );
}
