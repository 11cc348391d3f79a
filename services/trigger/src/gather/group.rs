//! One group of a gathering rule as it is kept in the `trigger-joins` bucket, and the pure
//! decisions about it: may this product join, is the group complete, is it due.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use nrt_events::{JobInput, stable_hash};
use serde::{Deserialize, Serialize};

use crate::{
    GroupTarget,
    rules::{Completion, GatheringKind, PeriodSpan, Rule, template::TILE},
};

/// A group of products waiting to make one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub rule: String,
    /// The rendered key, e.g. `54PXA/2020-08-08`.
    pub key: String,
    pub period: Option<PeriodSpan>,
    /// The tile of the group, for rules with tiles.
    #[serde(default)]
    pub tile: Option<String>,
    pub opened_at: DateTime<Utc>,
    /// When a join times out, or a period's grace delay ends.
    pub due_at: DateTime<Utc>,
    pub members: Vec<Member>,
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The join input it fills, for joins with named inputs.
    pub input: Option<String>,
    pub product: JobInput,
}

/// Where a group is in its life. Closing is written before its job or alert is published, and
/// `published` after, so whichever replica sees a closed, unpublished group publishes it: a crash
/// in between loses nothing, and JetStream drops the repeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Status {
    Open,
    /// Complete, or due with what came: its job is requested.
    Requested {
        job_id: String,
        at: DateTime<Utc>,
        published: bool,
    },
    /// A join due before it was complete, whose rule asks for an alert instead of a job.
    TimedOut {
        at: DateTime<Utc>,
        published: bool,
    },
    /// A member was retracted by its feed, or the rule was removed.
    Cancelled {
        reason: String,
        at: DateTime<Utc>,
    },
}

/// What adding a product to a group did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Joined {
    Added,
    /// Already a member: the product was redelivered.
    AlreadyMember,
    /// The input it would fill already has its count of products.
    InputFull,
    /// The group has closed; the product came too late for it.
    Closed,
    /// The product's feed retracted it before it could join.
    Retracted,
}

impl Group {
    /// A new, empty group of `rule` for `target`, due by the rule's timeout or period. A period
    /// that closed before its first product came (a reprocessing campaign walking past months)
    /// waits the grace delay from now, so that its other products can still come.
    pub fn open(rule: &Rule, target: &GroupTarget, now: DateTime<Utc>) -> Self {
        let due_at = match (&rule.gathering.as_ref().map(|g| &g.kind), &target.period) {
            (Some(GatheringKind::Periodic { grace, .. }), Some(period)) => {
                period.end.max(now) + delta(*grace)
            }
            (Some(GatheringKind::Join { timeout, .. }), _) => now + delta(*timeout),
            // A wiring bug; due at once so that the sweeper does not keep it for ever.
            _ => now,
        };
        Self {
            rule: rule.name.clone(),
            key: target.key.clone(),
            period: target.period.clone(),
            tile: target.tile.clone(),
            opened_at: now,
            due_at,
            members: Vec::new(),
            status: Status::Open,
        }
    }

    /// The group's key in the bucket: `<rule>.<hash of key and period>` (keys and periods may
    /// hold any character; KV keys may not).
    pub fn bucket_key(rule: &str, target_key: &str, period: Option<&PeriodSpan>) -> String {
        let period = period
            .map(|period| period.label.as_str())
            .unwrap_or_default();
        format!("{rule}.{}", stable_hash([target_key, period]))
    }

    pub fn is_open(&self) -> bool {
        matches!(self.status, Status::Open)
    }

    pub fn has_member(&self, product_key: &str) -> bool {
        self.members
            .iter()
            .any(|member| member.product.key == product_key)
    }

    /// Adds `product` as `input` when the group is open, the product new and its input not full.
    pub fn add(&mut self, rule: &Rule, input: Option<&str>, product: JobInput) -> Joined {
        if self.has_member(&product.key) {
            return Joined::AlreadyMember;
        }
        if !self.is_open() {
            return Joined::Closed;
        }
        if let Some(needed) = named_input_count(rule, input) {
            let filled = self.count_of(input);
            if filled >= needed {
                return Joined::InputFull;
            }
        }
        self.members.push(Member {
            input: input.map(str::to_owned),
            product,
        });
        Joined::Added
    }

    fn count_of(&self, input: Option<&str>) -> usize {
        self.members
            .iter()
            .filter(|member| member.input.as_deref() == input)
            .count()
    }

    /// Whether a join has all it waits for. Periodic groups complete only when due.
    pub fn is_complete(&self, rule: &Rule) -> bool {
        match rule.gathering.as_ref().map(|g| &g.kind) {
            Some(GatheringKind::Join {
                completion: Completion::Count(count),
                ..
            }) => self.members.len() >= *count,
            Some(GatheringKind::Join {
                completion: Completion::Inputs(inputs),
                ..
            }) => inputs
                .iter()
                .all(|input| self.count_of(Some(&input.name)) >= input.count),
            _ => false,
        }
    }

    /// What an incomplete join still lacks, for the timeout alert: `s1: 0 of 1`.
    pub fn missing(&self, rule: &Rule) -> Vec<String> {
        match rule.gathering.as_ref().map(|g| &g.kind) {
            Some(GatheringKind::Join {
                completion: Completion::Count(count),
                ..
            }) => vec![format!("products: {} of {count}", self.members.len())],
            Some(GatheringKind::Join {
                completion: Completion::Inputs(inputs),
                ..
            }) => inputs
                .iter()
                .map(|input| (input, self.count_of(Some(&input.name))))
                .filter(|(input, filled)| *filled < input.count)
                .map(|(input, filled)| format!("{}: {filled} of {}", input.name, input.count))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The products of the group, for its job.
    pub fn inputs(&self) -> Vec<JobInput> {
        self.members
            .iter()
            .map(|member| member.product.clone())
            .collect()
    }

    /// The names parameter templates may use besides product fields.
    pub fn extras(&self) -> BTreeMap<&'static str, String> {
        let mut extras = BTreeMap::from([("join_key", self.key.clone())]);
        if let Some(tile) = &self.tile {
            extras.insert(TILE, tile.clone());
        }
        if let Some(period) = &self.period {
            extras.insert("period", period.label.clone());
            extras.insert("period_start", period.start.to_rfc3339());
            extras.insert("period_end", period.end.to_rfc3339());
        }
        extras
    }

    /// When the group stopped taking products, if it has.
    pub fn closed_at(&self) -> Option<DateTime<Utc>> {
        match &self.status {
            Status::Open => None,
            Status::Requested { at, .. }
            | Status::TimedOut { at, .. }
            | Status::Cancelled { at, .. } => Some(*at),
        }
    }

    /// Whether its job or alert still has to be published.
    pub fn is_unpublished(&self) -> bool {
        matches!(
            self.status,
            Status::Requested {
                published: false,
                ..
            } | Status::TimedOut {
                published: false,
                ..
            }
        )
    }

    /// Marks its job or alert as published.
    pub fn mark_published(&mut self) {
        if let Status::Requested { published, .. } | Status::TimedOut { published, .. } =
            &mut self.status
        {
            *published = true;
        }
    }
}

fn named_input_count(rule: &Rule, input: Option<&str>) -> Option<usize> {
    let Some(GatheringKind::Join {
        completion: Completion::Inputs(inputs),
        ..
    }) = rule.gathering.as_ref().map(|g| &g.kind)
    else {
        return None;
    };
    inputs
        .iter()
        .find(|named| Some(named.name.as_str()) == input)
        .map(|named| named.count)
}

fn delta(duration: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}
