//! Building a job request from a rule and its inputs.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use nrt_events::{JobInput, JobRequested, job_id};
use nrt_registry::ProcessorRegistry;

use crate::{
    Error,
    rules::{Mismatch, Parameter, Rule, template::GATHERING_EXTRAS},
};

/// The job `rule` makes of `inputs`, stamped with the registry's processor version.
///
/// Its id hashes the rule, processor, version and sorted input keys, so the same inputs never
/// make two jobs. Parameter templates are filled from the earliest-sensed input and `extras`
/// (`join_key`, `period`, ...). The deadline counts from `due_from`, or else from the latest
/// input's publication in its feed.
pub fn request_job(
    rule: &Rule,
    registry: &ProcessorRegistry,
    mut inputs: Vec<JobInput>,
    extras: &BTreeMap<&str, String>,
    due_from: Option<DateTime<Utc>>,
) -> Result<JobRequested, Error> {
    // Rules are checked against the registry at load; a different registry here is a wiring bug.
    let processor = registry
        .get(&rule.processor)
        .ok_or_else(|| Error::UnknownProcessor {
            rule: rule.name.clone(),
            processor: rule.processor.clone(),
        })?;
    inputs.sort_by(|a, b| (a.sensing_start, &a.key).cmp(&(b.sensing_start, &b.key)));
    let first = inputs.first().ok_or_else(|| Error::NoInputs {
        rule: rule.name.clone(),
    })?;
    let parameters = rule
        .parameters
        .iter()
        .map(|(name, parameter)| {
            let value = match parameter {
                Parameter::Fixed(value) => value.clone(),
                Parameter::Template(template) => template
                    .render(first, extras)
                    .map_err(|error| Error::Parameter {
                        rule: rule.name.clone(),
                        parameter: name.clone(),
                        reason: error.to_string(),
                    })?
                    .into(),
            };
            Ok((name.clone(), value))
        })
        .collect::<Result<BTreeMap<_, _>, Error>>()?;
    let deadline = rule.deadline.and_then(|deadline| {
        let from = due_from.or_else(|| inputs.iter().map(|input| input.published_at).max())?;
        Some(from + TimeDelta::from_std(deadline).ok()?)
    });
    Ok(JobRequested {
        job_id: job_id(
            &rule.name,
            &processor.name,
            &processor.version,
            inputs.iter().map(|input| input.key.as_str()),
        ),
        rule: rule.name.clone(),
        processor: processor.name.clone(),
        processor_version: processor.version.clone(),
        inputs,
        parameters,
        priority: rule.priority,
        deadline,
    })
}

/// The job a plain rule makes of one product.
pub fn request_alone(
    rule: &Rule,
    registry: &ProcessorRegistry,
    input: &JobInput,
) -> Result<JobRequested, Error> {
    request_job(rule, registry, vec![input.clone()], &BTreeMap::new(), None)
}

/// Whether the rule's parameter templates can be filled from `input`: checked when the rule
/// fires, so a product that cannot make a job is a mismatch with its reason, not a failed job.
pub fn check_parameters(rule: &Rule, input: &JobInput) -> Result<(), Mismatch> {
    // The extras are known only when a group closes; any text stands in for them here.
    let extras: BTreeMap<&str, String> = GATHERING_EXTRAS
        .iter()
        .map(|name| (*name, String::new()))
        .collect();
    for (name, parameter) in &rule.parameters {
        if let Parameter::Template(template) = parameter {
            template
                .render(input, &extras)
                .map_err(|error| Mismatch::Parameter {
                    parameter: name.clone(),
                    reason: error.to_string(),
                })?;
        }
    }
    Ok(())
}
