//! Closing groups when they are due, and forgetting them once closed long enough.

use chrono::{DateTime, TimeDelta, Utc};
use nrt_events::{Alert, Severity};

use super::{Bucket, Gatherer, Group, Outbox, Status, Write, store};
use crate::{
    ActiveRules, Error, SERVICE,
    rules::{GatheringKind, OnTimeout, Rule},
};

pub(super) async fn sweep<B: Bucket, O: Outbox>(
    gatherer: &Gatherer<B, O>,
    active: &ActiveRules,
    now: DateTime<Utc>,
    keep_closed: std::time::Duration,
) -> Result<(), Error> {
    let keep_closed = TimeDelta::from_std(keep_closed).unwrap_or(TimeDelta::MAX);
    let keys = match gatherer
        .schedule
        .as_ref()
        .and_then(|schedule| schedule.due(now))
    {
        Some(due) => due,
        None => gatherer.groups.keys().await?,
    };
    for key in keys {
        let (group, revision) = match store::read::<Group>(&gatherer.groups, &key).await {
            Ok(Some(entry)) => entry,
            // Deleted since listed.
            Ok(None) => continue,
            // One unreadable group must not stop the others from closing.
            Err(error) => {
                tracing::error!(key, error = %nrt_nats::describe_error(&error), "Skipping a group that cannot be read.");
                continue;
            }
        };
        if group.is_open() && now >= group.due_at {
            close_due(gatherer, active, &key, group, revision, now).await?;
        } else if group.is_unpublished() {
            gatherer
                .publish_closed(active, &key, group, revision)
                .await?;
        } else if group
            .closed_at()
            .is_some_and(|closed| now - closed >= keep_closed && now >= group.due_at)
        {
            // Kept until then so that a late product finds its group closed, not a new one.
            gatherer.groups.delete(&key, revision).await?;
        }
    }
    Ok(())
}

/// Closes a due group as its rule says: the job with what came, or an alert. A conflict means
/// another replica closed it or a product just arrived; the next sweep looks again.
async fn close_due<B: Bucket, O: Outbox>(
    gatherer: &Gatherer<B, O>,
    active: &ActiveRules,
    key: &str,
    mut group: Group,
    revision: u64,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let Some(rule) = active.rules.get(&group.rule) else {
        tracing::warn!(rule = %group.rule, key = %group.key, "A due group's rule is gone; cancelling the group.");
        group.status = Status::Cancelled {
            reason: format!("rule {} was removed from the rules", group.rule),
            at: now,
        };
        store::write(&gatherer.groups, key, &group, Some(revision)).await?;
        return Ok(());
    };
    let on_timeout = match rule.gathering.as_ref().map(|g| &g.kind) {
        Some(GatheringKind::Join { on_timeout, .. }) => *on_timeout,
        _ => OnTimeout::Partial,
    };
    group.status = if on_timeout == OnTimeout::Alert && !group.is_complete(rule) {
        Status::TimedOut {
            at: now,
            published: false,
        }
    } else {
        Status::Requested {
            job_id: gatherer.job_of(active, rule, &group)?.job_id,
            at: now,
            published: false,
        }
    };
    if let Write::Done(revision) =
        store::write(&gatherer.groups, key, &group, Some(revision)).await?
    {
        gatherer
            .publish_closed(active, key, group, revision)
            .await?;
    }
    Ok(())
}

/// The alert of a join that timed out before it was complete.
pub(super) fn timeout_alert(rule: &Rule, group: &Group, missing: &[String]) -> Alert {
    Alert {
        severity: Severity::Warning,
        kind: "join-timed-out".into(),
        service: SERVICE.into(),
        message: format!(
            "Join {} for {:?} timed out with {} product(s), still missing {}; no job was requested.",
            rule.name,
            group.key,
            group.members.len(),
            missing.join(", ")
        ),
        about: format!("{}/{}", rule.name, group.key),
        raised_at: group.closed_at().unwrap_or(group.due_at),
    }
}
