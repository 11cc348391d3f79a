//! Checking one condition against one product, and saying why it failed.

use std::fmt;

use chrono::{DateTime, Utc};
use nrt_events::ProductDiscovered;
use serde_json::Value;

use super::{Comparison, Condition, Op, Operand};

/// Why a product does not satisfy a condition, in words an operator reads in `rules test`.
#[derive(Debug, Clone, PartialEq)]
pub enum Mismatch {
    Collection {
        found: String,
        expected: Vec<String>,
    },
    ProductType {
        found: String,
        expected: Vec<String>,
    },
    AttributeMissing {
        attribute: String,
    },
    /// The attribute's JSON type cannot compare with the value (a string against a number, null).
    TypeMismatch {
        attribute: String,
        found: Value,
        value: Operand,
    },
    /// Comparable, but the comparison is false.
    ComparisonFalse {
        attribute: String,
        found: Value,
        op: Op,
        value: Operand,
    },
    /// The product fits none of a join's named inputs; why not, per input.
    NoInput {
        reasons: Vec<String>,
    },
    /// The product lacks a field the rule's gathering key is built from.
    Key {
        template: String,
        reason: String,
    },
    /// The product lacks a field a parameter template of the rule is filled from.
    Parameter {
        parameter: String,
        reason: String,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Collection { found, expected } => {
                write!(f, "collection {found} not in [{}]", expected.join(", "))
            }
            Self::ProductType { found, expected } => {
                write!(f, "product type {found} not in [{}]", expected.join(", "))
            }
            Self::AttributeMissing { attribute } => write!(f, "attribute {attribute} missing"),
            Self::TypeMismatch {
                attribute,
                found,
                value,
            } => write!(
                f,
                "{attribute} is {}, not comparable with {}",
                describe_json(found),
                value.described()
            ),
            Self::ComparisonFalse {
                attribute,
                found,
                op,
                value,
            } => write!(f, "{attribute} {found} is not {op} {value}"),
            Self::NoInput { reasons } => {
                write!(f, "fits no input of the join ({})", reasons.join("; "))
            }
            Self::Key { template, reason } => {
                write!(f, "cannot build the key {template}: {reason}")
            }
            Self::Parameter { parameter, reason } => {
                write!(f, "cannot fill parameter {parameter}: {reason}")
            }
        }
    }
}

impl Condition {
    pub(super) fn check(
        &self,
        product: &ProductDiscovered,
        _now: DateTime<Utc>,
    ) -> Result<(), Mismatch> {
        match self {
            Self::Collection { any_of } if !any_of.contains(&product.collection) => {
                Err(Mismatch::Collection {
                    found: product.collection.clone(),
                    expected: any_of.clone(),
                })
            }
            Self::ProductType { any_of } if !any_of.contains(&product.product_type) => {
                Err(Mismatch::ProductType {
                    found: product.product_type.clone(),
                    expected: any_of.clone(),
                })
            }
            Self::Attribute(comparison) => comparison.check(product),
            Self::Collection { .. } | Self::ProductType { .. } => Ok(()),
        }
    }
}

impl Comparison {
    fn check(&self, product: &ProductDiscovered) -> Result<(), Mismatch> {
        let Some(found) = product.attributes.get(&self.attribute) else {
            return Err(Mismatch::AttributeMissing {
                attribute: self.attribute.clone(),
            });
        };
        let ordering = match (found, &self.value) {
            (Value::Number(found), Operand::Number(value)) => {
                found.as_f64().and_then(|found| found.partial_cmp(value))
            }
            (Value::String(found), Operand::Text(value)) => Some(found.as_str().cmp(value)),
            (Value::Bool(found), Operand::Bool(value)) => Some(found.cmp(value)),
            _ => None,
        };
        match ordering {
            Some(ordering) if self.op.holds(ordering) => Ok(()),
            Some(_) => Err(Mismatch::ComparisonFalse {
                attribute: self.attribute.clone(),
                found: found.clone(),
                op: self.op,
                value: self.value.clone(),
            }),
            None => Err(Mismatch::TypeMismatch {
                attribute: self.attribute.clone(),
                found: found.clone(),
                value: self.value.clone(),
            }),
        }
    }
}

fn describe_json(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => format!("the boolean {flag}"),
        Value::Number(number) => format!("the number {number}"),
        Value::String(_) => format!("the string {value}"),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

#[cfg(test)]
mod tests;
