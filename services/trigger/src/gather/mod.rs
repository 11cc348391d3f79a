//! Gathering products into jobs: joins and periodic rules, and what a retraction undoes.
//!
//! Each group is one entry of the `trigger-joins` bucket, changed only by compare-and-set: any
//! replica may add to, complete or close any group, and a restart loses nothing. A group is
//! closed (its job requested, or its timeout alert due) in the bucket *before* the job or alert
//! is published, and marked published after; whoever next sees it closed but unpublished — the
//! redelivered product, or any replica's sweep — publishes again, and the job's deterministic id
//! lets JetStream drop the repeat.

mod group;
mod index;
mod outbox;
mod retract;
mod schedule;
mod store;
mod sweep;

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use nrt_events::{JobInput, JobRequested, ProductRetracted};
use nrt_runtime::Shutdown;
use serde::Deserialize;

pub use group::{Group, Joined, Status};
pub use index::JobRef;
pub use outbox::{JetStreamOutbox, Outbox};
pub use schedule::Schedule;
pub(crate) use schedule::follow;
pub use store::{Bucket, KvBucket, Write};

use crate::{ActiveRules, Error, GroupTarget, request_job, rules::GatheringKind, rules::Rule};

/// Compare-and-set attempts on one entry before giving up for now (the message is redelivered):
/// more than this many replicas writing the same group at once is not a real load.
const ATTEMPTS: usize = 32;

/// How often groups are checked for being due, and how long closed groups are remembered.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatherConfig {
    /// Between two sweeps of the groups by this replica: how late a due group may close.
    pub sweep_every_ms: u64,
    /// How long a closed group is kept, so that a late product finds it closed instead of
    /// opening a new group that would make a second, smaller job.
    pub keep_closed_secs: u64,
}

impl GatherConfig {
    pub fn keep_closed(&self) -> Duration {
        Duration::from_secs(self.keep_closed_secs)
    }
}

impl Default for GatherConfig {
    fn default() -> Self {
        Self {
            sweep_every_ms: 5_000,
            keep_closed_secs: 7 * 24 * 3600,
        }
    }
}

/// Sweeps the groups every `config.sweep_every_ms` until `shutdown`. A failed sweep is logged
/// and counted; the next one tries again.
pub(crate) async fn sweep_until(
    context: Arc<crate::jetstream::Context>,
    config: GatherConfig,
    shutdown: Shutdown,
) {
    let every = Duration::from_millis(config.sweep_every_ms.max(10));
    let keep_closed = config.keep_closed();
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.requested() => return,
        }
        let active = context.rules.borrow().clone();
        let now = context.clock.now();
        if let Err(error) = context.gatherer.sweep(&active, now, keep_closed).await {
            metrics::counter!("nrt_trigger_sweep_failures_total").increment(1);
            tracing::warn!(error = %nrt_nats::describe_error(&error), "Sweeping the groups failed; will try again.");
        }
    }
}

/// The gathering engine over its two buckets and an outbox for jobs and alerts.
pub struct Gatherer<B: Bucket, O: Outbox> {
    pub groups: B,
    pub inputs: B,
    pub outbox: O,
    /// Which groups are due, when a watch keeps it; without, sweeps read every group.
    pub schedule: Option<Arc<Schedule>>,
}

impl<B: Bucket, O: Outbox> Gatherer<B, O> {
    pub fn new(groups: B, inputs: B, outbox: O) -> Self {
        Self {
            groups,
            inputs,
            outbox,
            schedule: None,
        }
    }

    /// Records a job against each of its inputs, then publishes it: a retraction handled once
    /// the job is out always finds it named (a crash in between redelivers, and the job follows).
    /// `false` when an input was retracted first: the job is then not requested.
    pub async fn request(&self, job: &JobRequested) -> Result<bool, Error> {
        for input in &job.inputs {
            if !index::record(&self.inputs, input, JobRef::of(job)).await? {
                tracing::info!(job_id = %job.job_id, rule = %job.rule, product = %input.key, "Job not requested: its input was retracted.");
                metrics::counter!("nrt_trigger_jobs_of_retracted_inputs_total", "rule" => job.rule.clone()).increment(1);
                return Ok(false);
            }
        }
        self.outbox.job(job).await?;
        Ok(true)
    }

    /// Adds `member` to the group of `rule` at `target`, opening the group when needed, and
    /// requests the group's job when this makes it complete.
    pub async fn gather(
        &self,
        active: &ActiveRules,
        rule: &Rule,
        target: &GroupTarget,
        member: JobInput,
        now: DateTime<Utc>,
    ) -> Result<Joined, Error> {
        let key = Group::bucket_key(&rule.name, &target.key, target.period.as_ref());
        // Before the group learns of the product, so that a retraction always finds the group.
        if !index::record_group(&self.inputs, &member, &key).await? {
            return Ok(Joined::Retracted);
        }
        for _ in 0..ATTEMPTS {
            let (mut group, revision) = match store::read::<Group>(&self.groups, &key).await? {
                Some((group, revision)) => (group, Some(revision)),
                None => (Group::open(rule, target, now), None),
            };
            let added = group.add(rule, target.input.as_deref(), member.clone());
            if added != Joined::Added {
                if let Some(revision) = revision
                    && group.has_member(&member.key)
                    && group.is_unpublished()
                {
                    // Redelivered after a crash between closing the group and publishing.
                    self.publish_closed(active, &key, group, revision).await?;
                }
                return Ok(added);
            }
            if group.is_complete(rule) {
                let job = self.job_of(active, rule, &group)?;
                group.status = Status::Requested {
                    job_id: job.job_id,
                    at: now,
                    published: false,
                };
            }
            match store::write(&self.groups, &key, &group, revision).await? {
                Write::Conflict => {
                    // Another replica wrote the group first: read it again and decide again.
                    metrics::counter!("nrt_trigger_group_write_conflicts_total", "rule" => rule.name.clone()).increment(1);
                    continue;
                }
                Write::Done(revision) => {
                    tracing::debug!(rule = %rule.name, key = %group.key, members = group.members.len(), "Product gathered.");
                    if group.is_unpublished() {
                        self.publish_closed(active, &key, group, revision).await?;
                    }
                    return Ok(Joined::Added);
                }
            }
        }
        Err(Error::Contended { key })
    }

    /// The job a group makes under its rule as the rules stand now.
    fn job_of(
        &self,
        active: &ActiveRules,
        rule: &Rule,
        group: &Group,
    ) -> Result<JobRequested, Error> {
        let due_from = match (&rule.gathering.as_ref().map(|g| &g.kind), &group.period) {
            (Some(GatheringKind::Periodic { .. }), Some(_)) => Some(group.due_at),
            _ => None,
        };
        request_job(
            rule,
            &active.registry,
            group.inputs(),
            &group.extras(),
            due_from,
        )
    }

    /// Publishes the job or alert of a closed group, then marks it published (a conflict means
    /// another replica did, or the group moved on: either way nothing is left to do here).
    async fn publish_closed(
        &self,
        active: &ActiveRules,
        key: &str,
        mut group: Group,
        revision: u64,
    ) -> Result<(), Error> {
        let Some(rule) = active.rules.get(&group.rule) else {
            // Its job cannot be built without the rule: cancel it rather than try every sweep.
            tracing::warn!(rule = %group.rule, key = %group.key, "The rule of a closed group is gone; nothing is published for it.");
            group.status = Status::Cancelled {
                reason: format!(
                    "rule {} was removed before its job was published",
                    group.rule
                ),
                at: group.closed_at().unwrap_or(group.due_at),
            };
            store::write(&self.groups, key, &group, Some(revision)).await?;
            return Ok(());
        };
        match &group.status {
            Status::Requested { .. } => {
                let job = self.job_of(active, rule, &group)?;
                if !self.request(&job).await? {
                    // An input was retracted after the group closed: the job is not requested.
                    group.mark_published();
                    store::write(&self.groups, key, &group, Some(revision)).await?;
                    return Ok(());
                }
                metrics::counter!("nrt_trigger_groups_closed_total", "rule" => rule.name.clone(), "outcome" => "requested").increment(1);
                tracing::info!(job_id = %job.job_id, rule = %rule.name, key = %group.key, inputs = job.inputs.len(), "Job requested for a group.");
            }
            Status::TimedOut { .. } => {
                let missing = group.missing(rule);
                self.outbox
                    .alert(sweep::timeout_alert(rule, &group, &missing))
                    .await?;
                metrics::counter!("nrt_trigger_groups_closed_total", "rule" => rule.name.clone(), "outcome" => "timed_out").increment(1);
            }
            Status::Open | Status::Cancelled { .. } => return Ok(()),
        }
        group.mark_published();
        store::write(&self.groups, key, &group, Some(revision)).await?;
        Ok(())
    }

    /// Closes every group that is due at `now`, publishes what closed groups still owe, and
    /// forgets groups closed longer than `keep_closed` ago. Any replica may run it at any time.
    pub async fn sweep(
        &self,
        active: &ActiveRules,
        now: DateTime<Utc>,
        keep_closed: std::time::Duration,
    ) -> Result<(), Error> {
        sweep::sweep(self, active, now, keep_closed).await
    }

    /// A product was retracted: cancel the open joins holding it, drop it from open periodic
    /// groups, and alert about every job already requested with it.
    pub async fn retract(
        &self,
        active: &ActiveRules,
        retracted: &ProductRetracted,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        retract::retract(self, active, retracted, now).await
    }
}

#[cfg(test)]
mod tests;
