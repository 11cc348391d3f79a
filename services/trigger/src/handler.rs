//! Deciding what to run on a product: pure functions of the product, the rules and the registry.

use std::fmt;

use nrt_events::{JobInput, JobRequested, ProductDiscovered, job_id};
use nrt_registry::ProcessorRegistry;

use crate::{
    Error,
    rules::{Mismatch, Rule, Rules},
};

/// Whether one rule fires for one product, and if not, the first condition that failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict<'r> {
    pub rule: &'r Rule,
    pub mismatch: Option<Mismatch>,
}

impl Verdict<'_> {
    /// Whether the rule fires: every condition holds.
    pub fn is_match(&self) -> bool {
        self.mismatch.is_none()
    }
}

impl fmt::Display for Verdict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Rule {
            name, processor, ..
        } = self.rule;
        match &self.mismatch {
            None => write!(f, "{name} ({processor}): matches"),
            Some(mismatch) => write!(f, "{name} ({processor}): no match, {mismatch}"),
        }
    }
}

/// Every rule's verdict on `product`, in file order: what `nrtmesh rules test` prints.
pub fn explain<'r>(product: &ProductDiscovered, rules: &'r Rules) -> Vec<Verdict<'r>> {
    rules
        .iter()
        .map(|rule| Verdict {
            rule,
            mismatch: rule.check(product).err(),
        })
        .collect()
}

/// One job request per rule `product` fires, in file order, stamped with the registry's
/// processor version. The job id depends only on rule, processor, version and product, so
/// evaluating the same product again requests the same jobs.
pub fn evaluate(
    product: &ProductDiscovered,
    rules: &Rules,
    registry: &ProcessorRegistry,
) -> Result<Vec<JobRequested>, Error> {
    explain(product, rules)
        .into_iter()
        .filter(Verdict::is_match)
        .map(|verdict| request_job(product, verdict.rule, registry))
        .collect()
}

fn request_job(
    product: &ProductDiscovered,
    rule: &Rule,
    registry: &ProcessorRegistry,
) -> Result<JobRequested, Error> {
    // Rules are checked against the registry at load; a different registry here is a wiring bug.
    let processor = registry
        .get(&rule.processor)
        .ok_or_else(|| Error::UnknownProcessor {
            rule: rule.name.clone(),
            processor: rule.processor.clone(),
        })?;
    Ok(JobRequested {
        job_id: job_id(
            &rule.name,
            &processor.name,
            &processor.version,
            [product.key.as_str()],
        ),
        rule: rule.name.clone(),
        processor: processor.name.clone(),
        processor_version: processor.version.clone(),
        inputs: vec![JobInput::from(product)],
        parameters: rule.parameters.clone(),
    })
}

#[cfg(test)]
mod tests;
