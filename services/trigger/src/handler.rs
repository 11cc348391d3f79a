//! Deciding what to do with a product: pure functions of the product, the rules, the registry
//! and the time.

use std::fmt;

use chrono::{DateTime, Utc};
use nrt_events::{JobInput, JobRequested, ProductDiscovered};
use nrt_registry::ProcessorRegistry;

use crate::{
    Error,
    jobs::{check_parameters, request_job},
    rules::{Gathering, GatheringKind, Mismatch, PeriodSpan, Rule, Rules},
};

/// What a rule does with a product it fires for.
#[derive(Debug, Clone, PartialEq)]
pub enum Firing {
    /// A plain rule: one job with this product alone.
    Alone,
    /// A join or periodic rule: the product joins this group.
    Gather(GroupTarget),
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
            Ok(Firing::Gather(target)) => {
                write!(
                    f,
                    "{name} ({processor}): matches, joins group {:?}",
                    target.key
                )?;
                if let Some(input) = &target.input {
                    write!(f, " as input {input}")?;
                }
                if let Some(period) = &target.period {
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
    rules
        .iter()
        .map(|rule| Verdict {
            rule,
            outcome: fire(rule, product, now),
        })
        .collect()
}

fn fire(rule: &Rule, product: &ProductDiscovered, now: DateTime<Utc>) -> Result<Firing, Mismatch> {
    rule.check(product, now)?;
    check_parameters(rule, product)?;
    let Some(gathering) = &rule.gathering else {
        return Ok(Firing::Alone);
    };
    let input = rule.input_of(product, now)?;
    let template = input
        .and_then(|input| input.key.as_ref())
        .or(gathering.key.as_ref());
    let key = match template {
        Some(template) => template
            .render(&JobInput::from(product), &Default::default())
            .map_err(|error| Mismatch::Key {
                template: template.to_string(),
                reason: error.to_string(),
            })?,
        None => String::new(),
    };
    Ok(Firing::Gather(GroupTarget {
        key,
        input: input.map(|input| input.name.clone()),
        period: period_of(gathering, product),
    }))
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
    explain(product, rules, now)
        .into_iter()
        .filter_map(|verdict| Some((verdict.rule, verdict.outcome.ok()?)))
        .map(|(rule, firing)| match firing {
            Firing::Alone => Ok(Action::Request(request_job(
                rule,
                registry,
                vec![JobInput::from(product)],
                &Default::default(),
                None,
            )?)),
            Firing::Gather(target) => Ok(Action::Gather {
                rule,
                target,
                member: Box::new(JobInput::from(product)),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests;
