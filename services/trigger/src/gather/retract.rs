//! What a retracted product undoes: its open joins are cancelled, it leaves open periodic
//! groups, and every job already requested with it is named in an alert.

use chrono::{DateTime, Utc};
use nrt_events::{Alert, ProductRetracted, Severity};

use super::{
    ATTEMPTS, Bucket, Gatherer, Group, Outbox, Status, Write, index, index::Retracted, store,
};
use crate::{ActiveRules, Error, SERVICE, rules::GatheringKind};

pub(super) async fn retract<B: Bucket, O: Outbox>(
    gatherer: &Gatherer<B, O>,
    active: &ActiveRules,
    retracted: &ProductRetracted,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let mark = Retracted {
        feed_id: retracted.feed_id.clone(),
        at: retracted.retracted_at,
    };
    // Marked and read in one compare-and-set: a job recorded after this is refused instead.
    let done = index::mark_retracted(&gatherer.inputs, &retracted.key, mark).await?;
    for job in done.jobs {
        gatherer
            .outbox
            .alert(Alert {
                severity: Severity::Warning,
                kind: "input-retracted".into(),
                service: SERVICE.into(),
                message: format!(
                    "Product {} was retracted by feed {}{}, after job {} (rule {}, processor {}) was requested with it.",
                    retracted.name,
                    retracted.feed,
                    retracted
                        .cause
                        .as_deref()
                        .map(|cause| format!(" ({cause})"))
                        .unwrap_or_default(),
                    job.job_id,
                    job.rule,
                    job.processor
                ),
                about: format!("{}/{}", job.job_id, retracted.key),
                raised_at: now,
            })
            .await?;
    }
    for key in done.groups {
        leave_group(gatherer, active, &key, retracted, now).await?;
    }
    Ok(())
}

/// Takes the retracted product out of one open group: a join is cancelled (its job would be
/// built on a product that no longer exists), a periodic group just loses the product.
async fn leave_group<B: Bucket, O: Outbox>(
    gatherer: &Gatherer<B, O>,
    active: &ActiveRules,
    key: &str,
    retracted: &ProductRetracted,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    for _ in 0..ATTEMPTS {
        let Some((mut group, revision)) = store::read::<Group>(&gatherer.groups, key).await? else {
            return Ok(());
        };
        if !group.is_open() || !group.has_member(&retracted.key) {
            return Ok(());
        }
        let is_periodic = active
            .rules
            .get(&group.rule)
            .and_then(|rule| rule.gathering.as_ref())
            .is_some_and(|gathering| matches!(gathering.kind, GatheringKind::Periodic { .. }));
        group
            .members
            .retain(|member| member.product.key != retracted.key);
        if !is_periodic || group.members.is_empty() {
            group.status = Status::Cancelled {
                reason: format!("input {} was retracted", retracted.key),
                at: now,
            };
        }
        if let Write::Done(_) = store::write(&gatherer.groups, key, &group, Some(revision)).await? {
            tracing::info!(rule = %group.rule, key = %group.key, product = %retracted.key, cancelled = !group.is_open(), "Retracted product left its group.");
            metrics::counter!("nrt_trigger_retracted_from_groups_total", "rule" => group.rule.clone()).increment(1);
            return Ok(());
        }
    }
    Err(Error::Contended {
        key: key.to_owned(),
    })
}
