//! Deciding what to do with a product: pure functions of the product, the rules, the registry
//! and the time.

use std::{collections::BTreeMap, fmt};

use chrono::{DateTime, Utc};
use nrt_events::{JobInput, JobRequested, ProductDiscovered};
use nrt_registry::ProcessorRegistry;

use crate::{
    Error,
    jobs::{check_parameters, request_alone},
    rules::{Gathering, GatheringKind, Mismatch, PeriodSpan, Rule, Rules, template::TILE},
};

/// What a rule does with a product it fires for.
#[derive(Debug, Clone, PartialEq)]
pub enum Firing {
    /// A plain rule: one job with this product alone.
    Alone,
    /// A join or periodic rule: the product joins these groups (one, or one per tile).
    Gather(Vec<GroupTarget>),
}

/// The group of a gathering rule a product belongs in.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupTarget {
    /// The rendered key; empty when the rule gathers without one.
    pub key: String,
    /// The join input the product fills, for joins with named inputs.
    pub input: Option<String>,
    /// The period the product was sensed in, for periodic rules.
    pub period: Option<PeriodSpan>,
    /// The tile of the group, for rules with tiles.
    pub tile: Option<String>,
}

/// One rule's verdict on one product: what it fires, or the first condition that failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict<'r> {
    pub rule: &'r Rule,
    pub outcome: Result<Firing, Mismatch>,
}

impl Verdict<'_> {
    /// Whether the rule fires: every condition holds.
    pub fn is_match(&self) -> bool {
        self.outcome.is_ok()
    }
}

impl fmt::Display for Verdict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Rule {
            name, processor, ..
        } = self.rule;
        match &self.outcome {
            Ok(Firing::Alone) => write!(f, "{name} ({processor}): matches"),
            Ok(Firing::Gather(targets)) => {
                let keys: Vec<String> = targets
                    .iter()
                    .map(|target| format!("{:?}", target.key))
                    .collect();
                let noun = if keys.len() == 1 { "group" } else { "groups" };
                write!(
                    f,
                    "{name} ({processor}): matches, joins {noun} {}",
                    keys.join(", ")
                )?;
                if let Some(input) = targets.first().and_then(|target| target.input.as_ref()) {
                    write!(f, " as input {input}")?;
                }
                if let Some(period) = targets.first().and_then(|target| target.period.as_ref()) {
                    write!(f, " of period {}", period.label)?;
                }
                Ok(())
            }
            Err(mismatch) => write!(f, "{name} ({processor}): no match, {mismatch}"),
        }
    }
}

/// What the trigger must do for a product: request a job now, or add the product to a group.
#[derive(Debug, Clone, PartialEq)]
pub enum Action<'r> {
    Request(JobRequested),
    Gather {
        rule: &'r Rule,
        target: GroupTarget,
        member: Box<JobInput>,
    },
}

/// Every rule's verdict on `product` at `now`, in file order: what `nrtmesh rules test` prints.
pub fn explain<'r>(
    product: &ProductDiscovered,
    rules: &'r Rules,
    now: DateTime<Utc>,
) -> Vec<Verdict<'r>> {
    // Templates read the product as a job input: built once, not once per rule.
    let member = JobInput::from(product);
    rules
        .iter()
        .map(|rule| Verdict {
            rule,
            outcome: fire(rule, product, &member, now),
        })
        .collect()
}

fn fire(
    rule: &Rule,
    product: &ProductDiscovered,
    member: &JobInput,
    now: DateTime<Utc>,
) -> Result<Firing, Mismatch> {
    rule.check(product, now)?;
    check_parameters(rule, member)?;
    let Some(gathering) = &rule.gathering else {
        return Ok(Firing::Alone);
    };
    let input = rule.input_of(product, now)?;
    let template = input
        .and_then(|input| input.key.as_ref())
        .or(gathering.key.as_ref());
    let tiles = match &gathering.tiles {
        Some(tiles) => tiles.covering(product)?.into_iter().map(Some).collect(),
        None => vec![None],
    };
    let target = |tile: Option<String>| {
        let extras: BTreeMap<&str, String> = tile.iter().map(|tile| (TILE, tile.clone())).collect();
        let key = match template {
            Some(template) => template
                .render(member, &extras)
                .map_err(|error| Mismatch::Key {
                    template: template.to_string(),
                    reason: error.to_string(),
                })?,
            None => String::new(),
        };
        Ok(GroupTarget {
            key,
            input: input.map(|input| input.name.clone()),
            period: period_of(gathering, product),
            tile,
        })
    };
    let targets = tiles.into_iter().map(target).collect::<Result<_, _>>()?;
    Ok(Firing::Gather(targets))
}

fn period_of(gathering: &Gathering, product: &ProductDiscovered) -> Option<PeriodSpan> {
    match gathering.kind {
        GatheringKind::Periodic { period, .. } => Some(period.span(product.sensing_start)),
        GatheringKind::Join { .. } => None,
    }
}

/// What `product` makes, rule by rule in file order: the job requests of plain rules (stamped
/// with the registry's processor version, their ids depending only on rule, processor, version
/// and product) and the groups it joins.
pub fn evaluate<'r>(
    product: &ProductDiscovered,
    rules: &'r Rules,
    registry: &ProcessorRegistry,
    now: DateTime<Utc>,
) -> Result<Vec<Action<'r>>, Error> {
    let member = JobInput::from(product);
    let mut actions = Vec::new();
    for verdict in explain(product, rules, now) {
        match verdict.outcome {
            Ok(Firing::Alone) => {
                actions.push(Action::Request(request_alone(
                    verdict.rule,
                    registry,
                    &member,
                )?));
            }
            Ok(Firing::Gather(targets)) => {
                actions.extend(targets.into_iter().map(|target| Action::Gather {
                    rule: verdict.rule,
                    target,
                    member: Box::new(member.clone()),
                }));
            }
            Err(_) => {}
        }
    }
    Ok(actions)
}

#[cfg(test)]
mod tests;
