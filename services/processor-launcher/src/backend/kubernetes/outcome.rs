//! What a Job's status and its pod say about how the attempt ended.

use k8s_openapi::api::{
    batch::v1::{Job, JobCondition},
    core::v1::{ContainerStateTerminated, ContainerStateWaiting, Pod},
};

use super::manifest::CONTAINER_NAME;
use crate::backend::Ended;

/// How a Job ended, as far as its status tells.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Final {
    Succeeded,
    /// The `Failed` condition: its reason and message say why (`DeadlineExceeded`, ...).
    Failed(JobCondition),
    /// Deleted, or replaced by a Job of the same name with another uid: either way the one
    /// launched is no more.
    Gone,
}

/// `None` while the Job runs. Only `Complete` and `Failed` are final; `SuccessCriteriaMet` and
/// `FailureTarget` (1.31+) come first, while pods may still be terminating.
pub(super) fn final_state(job: &Job, uid: &str) -> Option<Final> {
    if job.metadata.uid.as_deref() != Some(uid) {
        return Some(Final::Gone);
    }
    let conditions = job
        .status
        .as_ref()
        .and_then(|status| status.conditions.as_ref());
    let condition = conditions
        .into_iter()
        .flatten()
        .find(|condition| condition.status == "True" && is_final(&condition.type_))?;
    Some(if condition.type_ == "Complete" {
        Final::Succeeded
    } else {
        Final::Failed(condition.clone())
    })
}

fn is_final(condition_type: &str) -> bool {
    matches!(condition_type, "Complete" | "Failed")
}

/// The Job's failure, with the processor container's exit code and termination reason
/// (`OOMKilled`) when its pod is still there to tell.
pub(super) fn failure(condition: &JobCondition, pods: &[Pod]) -> Ended {
    let mut reason = match (&condition.reason, &condition.message) {
        (Some(reason), Some(message)) => format!("{reason}: {message}"),
        (Some(text), None) | (None, Some(text)) => text.clone(),
        (None, None) => "Job failed".to_owned(),
    };
    let container = newest(pods).and_then(processor_state);
    let exit_code = match container {
        Some(ContainerEnd::Terminated(terminated)) => {
            let why = terminated.reason.as_deref().unwrap_or("terminated");
            reason.push_str(&format!(
                "; container {CONTAINER_NAME}: {why} (exit code {})",
                terminated.exit_code
            ));
            Some(terminated.exit_code)
        }
        Some(ContainerEnd::Waiting(waiting)) => {
            // A pod that never started (image pull, bad config) fails the Job by its deadline.
            let why = waiting.reason.as_deref().unwrap_or("waiting");
            reason.push_str(&format!(
                "; container {CONTAINER_NAME} never started: {why}"
            ));
            if let Some(message) = &waiting.message {
                reason.push_str(&format!(": {message}"));
            }
            None
        }
        None => None,
    };
    Ended::Failed { exit_code, reason }
}

enum ContainerEnd<'a> {
    Terminated(&'a ContainerStateTerminated),
    Waiting(&'a ContainerStateWaiting),
}

/// With `backoffLimit: 0` there is one pod, unless the node lost it and the controller made
/// another: the newest is the one that ran last.
pub(super) fn newest(pods: &[Pod]) -> Option<&Pod> {
    pods.iter()
        .max_by_key(|pod| pod.metadata.creation_timestamp.as_ref().map(|time| time.0))
}

fn processor_state(pod: &Pod) -> Option<ContainerEnd<'_>> {
    let status = pod
        .status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|status| status.name == CONTAINER_NAME)?;
    let state = status.state.as_ref()?;
    if let Some(terminated) = &state.terminated {
        return Some(ContainerEnd::Terminated(terminated));
    }
    state.waiting.as_ref().map(ContainerEnd::Waiting)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn job(uid: &str, conditions: serde_json::Value) -> Job {
        serde_json::from_value(json!({
            "metadata": { "name": "nrt-x-1", "uid": uid },
            "status": { "conditions": conditions },
        }))
        .unwrap()
    }

    fn condition(type_: &str, reason: &str, message: &str) -> serde_json::Value {
        json!({ "type": type_, "status": "True", "reason": reason, "message": message })
    }

    fn pod(created: &str, container_state: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": { "name": format!("nrt-x-1-{created}"), "creationTimestamp": created },
            "status": { "containerStatuses": [{
                "name": "processor", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": container_state,
            }]},
        }))
        .unwrap()
    }

    #[test]
    fn only_complete_or_failed_conditions_that_are_true_end_a_job() {
        assert_eq!(final_state(&job("u1", json!([])), "u1"), None);
        let pending = json!([
            condition("SuccessCriteriaMet", "CompletionsReached", ""),
            { "type": "Complete", "status": "False" },
        ]);
        assert_eq!(final_state(&job("u1", pending), "u1"), None);
        let complete = json!([condition("Complete", "CompletionsReached", "")]);
        assert_eq!(
            final_state(&job("u1", complete), "u1"),
            Some(Final::Succeeded)
        );
        let failed = condition(
            "Failed",
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
        );
        assert_eq!(
            final_state(&job("u1", json!([failed.clone()])), "u1"),
            Some(Final::Failed(serde_json::from_value(failed).unwrap()))
        );
    }

    #[test]
    fn a_job_with_another_uid_is_not_the_one_launched() {
        let complete = json!([condition("Complete", "CompletionsReached", "")]);
        assert_eq!(final_state(&job("u2", complete), "u1"), Some(Final::Gone));
    }

    #[test]
    fn a_failure_names_the_condition_and_the_newest_pods_termination() {
        let condition: JobCondition = serde_json::from_value(condition(
            "Failed",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ))
        .unwrap();
        let earlier = pod(
            "2026-01-01T10:00:00Z",
            json!({ "terminated": { "exitCode": 1, "reason": "Error" } }),
        );
        let latest = pod(
            "2026-01-01T10:05:00Z",
            json!({ "terminated": { "exitCode": 137, "reason": "OOMKilled" } }),
        );
        assert_eq!(
            failure(&condition, &[latest, earlier]),
            Ended::Failed {
                exit_code: Some(137),
                reason: "BackoffLimitExceeded: Job has reached the specified backoff limit; \
                         container processor: OOMKilled (exit code 137)"
                    .to_owned(),
            }
        );
    }

    #[test]
    fn a_container_that_never_started_explains_a_deadline() {
        let condition: JobCondition = serde_json::from_value(condition(
            "Failed",
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
        ))
        .unwrap();
        let stuck = pod(
            "2026-01-01T10:00:00Z",
            json!({ "waiting": { "reason": "ImagePullBackOff", "message": "Back-off pulling image \"x\"" } }),
        );
        let Ended::Failed { exit_code, reason } = failure(&condition, &[stuck]) else {
            panic!("not a failure");
        };
        assert_eq!(exit_code, None);
        assert!(
            reason.starts_with("DeadlineExceeded: Job was active longer"),
            "{reason}"
        );
        assert!(
            reason.ends_with("never started: ImagePullBackOff: Back-off pulling image \"x\""),
            "{reason}"
        );
    }

    #[test]
    fn without_a_pod_the_condition_alone_is_the_reason() {
        let condition: JobCondition = serde_json::from_value(condition(
            "Failed",
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
        ))
        .unwrap();
        assert_eq!(
            failure(&condition, &[]),
            Ended::Failed {
                exit_code: None,
                reason: "DeadlineExceeded: Job was active longer than specified deadline"
                    .to_owned(),
            }
        );
    }
}
