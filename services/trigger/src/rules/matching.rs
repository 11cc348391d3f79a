//! Checking one condition against one product, and saying why it failed.

use std::{cmp::Ordering, fmt, time::Duration};

use chrono::{DateTime, SecondsFormat, Utc};
use nrt_events::ProductDiscovered;
use serde_json::Value;

use super::{
    Comparison, Condition, Op, Operand, SensingHours,
    sensing::{self, clock_time, short_duration},
};

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
    /// `found` is `None` when the feed did not say.
    Platform {
        found: Option<String>,
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
    /// The product's sensing ended longer ago than the rule allows.
    TooOld {
        sensing_end: DateTime<Utc>,
        age: Duration,
        max_age: Duration,
    },
    /// The product was sensed at `hour` on the window's clock; `longitude` of the footprint's
    /// centroid for local solar time.
    OutsideHours {
        hours: SensingHours,
        hour: f64,
        longitude: Option<f64>,
    },
    /// The product has no footprint, which the condition `needed_by` needs.
    NoFootprint {
        needed_by: String,
    },
    /// The footprint overlaps none of a gathering rule's tiles.
    NoTile {
        tiles: String,
        min_coverage: Option<f64>,
    },
    /// The product's footprint is not a polygon with an area.
    Footprint {
        reason: String,
    },
    /// The footprint overlaps the area by the fraction `overlap`, less than `min_overlap`, or
    /// not at all.
    Area {
        area: String,
        overlap: f64,
        min_overlap: Option<f64>,
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
            Self::Platform {
                found: Some(found),
                expected,
            } => write!(f, "platform {found} not in [{}]", expected.join(", ")),
            Self::Platform {
                found: None,
                expected,
            } => write!(f, "platform unknown, so not in [{}]", expected.join(", ")),
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
                op: Op::Matches,
                value,
            } => write!(f, "{attribute} {found} does not match {value}"),
            Self::ComparisonFalse {
                attribute,
                found,
                op,
                value,
            } => write!(f, "{attribute} {found} is not {op} {value}"),
            Self::TooOld {
                sensing_end,
                age,
                max_age,
            } => write!(
                f,
                "sensing ended {} ago ({}), more than the {} allowed",
                short_duration(*age),
                sensing_end.to_rfc3339_opts(SecondsFormat::Secs, true),
                short_duration(*max_age)
            ),
            Self::OutsideHours {
                hours,
                hour,
                longitude: None,
            } => write!(
                f,
                "sensed at {} {}, outside {hours}",
                clock_time(*hour),
                hours.clock
            ),
            Self::OutsideHours {
                hours,
                hour,
                longitude: Some(longitude),
            } => write!(
                f,
                "sensed at {} {} (footprint centred at longitude {longitude:.1}), outside {hours}",
                clock_time(*hour),
                hours.clock
            ),
            Self::NoFootprint { needed_by } => {
                write!(f, "product has no footprint, which {needed_by} needs")
            }
            Self::Footprint { reason } => write!(f, "footprint {reason}"),
            Self::NoTile {
                tiles,
                min_coverage: None,
            } => write!(f, "footprint overlaps no tile of {tiles}"),
            Self::NoTile {
                tiles,
                min_coverage: Some(fraction),
            } => write!(
                f,
                "footprint covers no tile of {tiles} by the {}% required",
                fraction * 100.0
            ),
            Self::Area {
                area,
                overlap,
                min_overlap,
            } => match min_overlap {
                Some(min_overlap) if *overlap > 0.0 => write!(
                    f,
                    "footprint overlaps the area {area} by {}, less than the {} required",
                    percent(*overlap),
                    percent(*min_overlap)
                ),
                _ => write!(f, "footprint does not intersect the area {area}"),
            },
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
        now: DateTime<Utc>,
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
            Self::Platform { any_of }
                if !product
                    .platform
                    .as_ref()
                    .is_some_and(|platform| any_of.contains(platform)) =>
            {
                Err(Mismatch::Platform {
                    found: product.platform.clone(),
                    expected: any_of.clone(),
                })
            }
            Self::Attribute(comparison) => comparison.check(product),
            Self::MaxAge(max_age) => sensing::check_age(*max_age, product, now),
            Self::SensingHours(hours) => hours.check(product),
            Self::Area(area) => area.check(product),
            Self::Collection { .. } | Self::ProductType { .. } | Self::Platform { .. } => Ok(()),
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
        match holds(found, self.op, &self.value) {
            Some(true) => Ok(()),
            Some(false) => Err(Mismatch::ComparisonFalse {
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

/// Whether `found op value` holds; `None` when their types do not compare.
fn holds(found: &Value, op: Op, value: &Operand) -> Option<bool> {
    use Ordering::{Equal, Greater, Less};
    match (op, value) {
        (Op::In, Operand::List(items)) => items.iter().try_fold(false, |is_in, item| {
            Some(is_in || order(found, item)? == Equal)
        }),
        (Op::Matches, Operand::Pattern(pattern)) => {
            found.as_str().map(|text| pattern.is_match(text))
        }
        (Op::In | Op::Matches, _) => None,
        (Op::Eq, value) => Some(order(found, value)? == Equal),
        (Op::Ne, value) => Some(order(found, value)? != Equal),
        (Op::Lt, value) => Some(order(found, value)? == Less),
        (Op::Le, value) => Some(order(found, value)? != Greater),
        (Op::Gt, value) => Some(order(found, value)? == Greater),
        (Op::Ge, value) => Some(order(found, value)? != Less),
    }
}

/// How `found` orders against one number, string or boolean: numbers numerically, whatever
/// their JSON form; `None` across types.
fn order(found: &Value, value: &Operand) -> Option<Ordering> {
    match (found, value) {
        (Value::Number(found), Operand::Number(value)) => {
            found.as_f64().and_then(|found| found.partial_cmp(value))
        }
        (Value::String(found), Operand::Text(value)) => Some(found.as_str().cmp(value)),
        (Value::Bool(found), Operand::Bool(value)) => Some(found.cmp(value)),
        _ => None,
    }
}

/// `0.123` as `12.3%`, `0.3` as `30%`.
fn percent(fraction: f64) -> String {
    let text = format!("{:.1}", fraction * 100.0);
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text}%")
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
