//! Reading what Nomad reports: which dispatch is an attempt's, how its allocation ended, the end
//! of its log.

use super::{
    api::{Allocation, JobStub, TaskEvent},
    spec::META_JOB_NAME,
};
use crate::backend::Ended;

/// Task events that say why a task stopped, the most telling first when read newest first.
const FAILURE_EVENTS: &[&str] = &[
    "Terminated",
    "Driver Failure",
    "Setup Failure",
    "Failed Validation",
    "Failed Artifact Download",
    "Killed",
];
/// Bytes read from the end of a log per line asked for; lines longer than that are cut.
const LOG_BYTES_PER_LINE: usize = 512;
const LOG_BYTES_MAX: usize = 1024 * 1024;

/// The dispatch of `parent` whose meta names the attempt `name`. Should a race have made two,
/// the first one, as Nomad's own idempotency check would find.
pub fn dispatch_named<'a>(
    children: &'a [JobStub],
    parent: &str,
    name: &str,
) -> Option<&'a JobStub> {
    children
        .iter()
        .filter(|child| child.parent_id == parent)
        .filter(|child| {
            let meta = child.meta.as_ref();
            meta.and_then(|meta| meta.get(META_JOB_NAME))
                .map(String::as_str)
                == Some(name)
        })
        .min_by_key(|child| child.create_index)
}

/// The allocation created last: the one that decides how the job ended.
pub fn latest(allocations: &[Allocation]) -> Option<&Allocation> {
    allocations
        .iter()
        .max_by_key(|allocation| allocation.create_index)
}

/// How the job ended, judged by its latest allocation; `None` while that has not ended.
pub fn ended(allocations: &[Allocation]) -> Option<Ended> {
    let allocation = latest(allocations)?;
    let events = allocation
        .task()
        .and_then(|task| task.events.as_deref())
        .unwrap_or_default();
    let exit_code = events
        .iter()
        .rev()
        .find(|event| event.kind == "Terminated")
        .map(|event| event.exit_code);
    let killed = events.iter().any(|event| event.kind == "Killed");
    match allocation.client_status.as_str() {
        // A killed task ends `complete` too: only an exit of its own is a success.
        "complete" if !killed && exit_code.unwrap_or(0) == 0 => Some(Ended::Succeeded),
        "complete" | "failed" => Some(Ended::Failed {
            exit_code,
            reason: failure_reason(allocation, events),
        }),
        "lost" => Some(Ended::Failed {
            exit_code: None,
            reason: described("allocation lost", allocation.description()),
        }),
        _ => None,
    }
}

/// How many bytes to read from the end of a log for its last `lines` lines.
pub fn tail_bytes(lines: usize) -> usize {
    lines.saturating_mul(LOG_BYTES_PER_LINE).min(LOG_BYTES_MAX)
}

/// The last `lines` lines of `text`, read as the last `requested` bytes of a log: a read that
/// filled the request probably started mid-line, so its first line is dropped.
pub fn last_lines(text: &str, lines: usize, requested: usize) -> Vec<String> {
    let mut all: Vec<&str> = text.lines().collect();
    if text.len() >= requested && all.len() > 1 {
        all.remove(0);
    }
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|line| (*line).to_owned())
        .collect()
}

fn failure_reason(allocation: &Allocation, events: &[TaskEvent]) -> String {
    events
        .iter()
        .rev()
        .find(|event| FAILURE_EVENTS.contains(&event.kind.as_str()))
        .map(event_reason)
        .unwrap_or_else(|| {
            let status = format!("allocation {}", allocation.client_status);
            described(&status, allocation.description())
        })
}

/// `OOM Killed`, or the event's type and the first of its messages Nomad filled in.
fn event_reason(event: &TaskEvent) -> String {
    let details = event.details.as_ref();
    if details
        .and_then(|details| details.get("oom_killed"))
        .map(String::as_str)
        == Some("true")
    {
        return "OOM Killed".to_owned();
    }
    let messages = [
        &event.display_message,
        &event.driver_error,
        &event.setup_error,
        &event.validation_error,
        &event.download_error,
        &event.kill_error,
        &event.kill_reason,
        &event.message,
    ];
    match messages.into_iter().find(|text| !text.trim().is_empty()) {
        Some(text) => format!("{}: {}", event.kind, text.trim()),
        None => event.kind.clone(),
    }
}

fn described(what: &str, description: &str) -> String {
    if description.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {description}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::backend::nomad::api::TaskState;

    fn event(kind: &str, exit_code: i32, display_message: &str) -> TaskEvent {
        TaskEvent {
            kind: kind.into(),
            exit_code,
            display_message: display_message.into(),
            ..TaskEvent::default()
        }
    }

    fn allocation(client_status: &str, create_index: u64, events: Vec<TaskEvent>) -> Allocation {
        Allocation {
            id: format!("alloc-{create_index}"),
            client_status: client_status.into(),
            create_index,
            task_states: Some(HashMap::from([(
                "processor".to_owned(),
                TaskState {
                    events: Some(events),
                },
            )])),
            ..Allocation::default()
        }
    }

    fn started() -> Vec<TaskEvent> {
        vec![
            event("Received", 0, "Task received by client"),
            event("Started", 0, "Task started by client"),
        ]
    }

    #[test]
    fn a_task_that_exits_0_succeeds() {
        let mut events = started();
        events.push(event("Terminated", 0, "Exit Code: 0"));
        assert_eq!(
            ended(&[allocation("complete", 9, events)]),
            Some(Ended::Succeeded)
        );
    }

    #[test]
    fn running_and_pending_allocations_have_not_ended() {
        assert_eq!(ended(&[allocation("running", 9, started())]), None);
        assert_eq!(ended(&[allocation("pending", 9, vec![])]), None);
        assert_eq!(ended(&[]), None);
    }

    #[test]
    fn a_non_zero_exit_fails_with_the_code_and_the_event_message() {
        let mut events = started();
        events.push(event(
            "Terminated",
            3,
            "Exit Code: 3, Exit Message: \"no input\"",
        ));
        events.push(event("Not Restarting", 0, "Error was unrecoverable"));
        assert_eq!(
            ended(&[allocation("failed", 9, events)]),
            Some(Ended::Failed {
                exit_code: Some(3),
                reason: "Terminated: Exit Code: 3, Exit Message: \"no input\"".into(),
            })
        );
    }

    #[test]
    fn an_oom_kill_is_named_as_such() {
        let mut terminated = event(
            "Terminated",
            137,
            "Exit Code: 137, Exit Message: \"OOM Killed\"",
        );
        terminated.details = Some(HashMap::from([
            ("exit_code".to_owned(), "137".to_owned()),
            ("oom_killed".to_owned(), "true".to_owned()),
        ]));
        let mut events = started();
        events.push(terminated);
        assert_eq!(
            ended(&[allocation("failed", 9, events)]),
            Some(Ended::Failed {
                exit_code: Some(137),
                reason: "OOM Killed".into(),
            })
        );
    }

    #[test]
    fn a_driver_failure_has_no_exit_code_and_says_what_the_driver_said() {
        let mut failure = event("Driver Failure", 0, "");
        failure.driver_error = "Failed to pull `snow:9`: manifest unknown".into();
        let events = vec![event("Received", 0, ""), failure];
        assert_eq!(
            ended(&[allocation("failed", 9, events)]),
            Some(Ended::Failed {
                exit_code: None,
                reason: "Driver Failure: Failed to pull `snow:9`: manifest unknown".into(),
            })
        );
    }

    #[test]
    fn a_killed_task_is_not_a_success_even_when_it_exited_0() {
        let mut events = started();
        events.push(event(
            "Killing",
            0,
            "Sent interrupt. Waiting 30s before force killing",
        ));
        events.push(event("Terminated", 0, "Exit Code: 0"));
        events.push(event("Killed", 0, "Task successfully killed"));
        assert_eq!(
            ended(&[allocation("complete", 9, events)]),
            Some(Ended::Failed {
                exit_code: Some(0),
                reason: "Killed: Task successfully killed".into(),
            })
        );
    }

    #[test]
    fn a_lost_allocation_fails_with_the_scheduler_description() {
        let mut lost = allocation("lost", 9, started());
        lost.desired_description = "alloc is lost since its node is down".into();
        assert_eq!(
            ended(&[lost]),
            Some(Ended::Failed {
                exit_code: None,
                reason: "allocation lost: alloc is lost since its node is down".into(),
            })
        );
    }

    #[test]
    fn the_latest_allocation_decides() {
        let mut done = started();
        done.push(event("Terminated", 0, "Exit Code: 0"));
        let allocations = [
            allocation("running", 12, started()),
            allocation("complete", 9, done),
        ];
        assert_eq!(ended(&allocations), None);
    }

    #[test]
    fn the_dispatch_is_found_by_the_attempt_name_in_its_meta() {
        let child = |id: &str, parent: &str, name: &str, create_index| JobStub {
            id: id.into(),
            parent_id: parent.into(),
            meta: Some(HashMap::from([(META_JOB_NAME.to_owned(), name.to_owned())])),
            create_index,
        };
        let children = [
            child("nrt-snow/dispatch-3-c", "nrt-snow", "nrt-a-1", 30),
            child("nrt-snow/dispatch-2-b", "nrt-snow", "nrt-a-2", 20),
            child("nrt-snow/dispatch-1-a", "nrt-snow", "nrt-a-1", 10),
            child(
                "nrt-snow/dispatch-x/dispatch-4-d",
                "nrt-snow/dispatch-x",
                "nrt-a-3",
                40,
            ),
        ];
        let found = |name| dispatch_named(&children, "nrt-snow", name).map(|c| c.id.as_str());
        assert_eq!(found("nrt-a-1"), Some("nrt-snow/dispatch-1-a"));
        assert_eq!(found("nrt-a-2"), Some("nrt-snow/dispatch-2-b"));
        assert_eq!(found("nrt-a-3"), None);
    }

    #[test]
    fn a_full_read_drops_its_cut_first_line() {
        assert_eq!(last_lines("one\ntwo\nthree\n", 2, 1024), ["two", "three"]);
        assert_eq!(last_lines("ne\ntwo\nthree\n", 5, 13), ["two", "three"]);
        assert_eq!(last_lines("", 5, 1024), Vec::<String>::new());
        assert_eq!(tail_bytes(10), 5120);
        assert_eq!(tail_bytes(usize::MAX), 1024 * 1024);
    }
}
