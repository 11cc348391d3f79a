//! The conditions of a rule (or of one input of a join) as written in the rules file.

use std::path::Path;

use serde::Deserialize;

use super::{Invalid, invalid, required};
use crate::rules::{Comparison, Condition, Op, Operand};

/// The keys of a rule's table that state conditions; [`read`] takes them out of the table.
pub(super) const KEYS: [&str; 3] = ["collections", "product_types", "where"];

/// The condition keys of one table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionsEntry {
    collections: Option<Vec<String>>,
    product_types: Option<Vec<String>>,
    #[serde(default, rename = "where")]
    comparisons: Vec<ComparisonEntry>,
}

/// Takes the condition keys out of `table` and reads them, in the order conditions are checked.
/// `prefix` names the table in errors (`""` for a rule, `"join.inputs[1]."` for an input);
/// area files are read relative to `base_dir`.
pub(super) fn read(
    table: &mut toml::Table,
    prefix: &str,
    _base_dir: &Path,
) -> Result<Vec<Condition>, Invalid> {
    let mut written = toml::Table::new();
    for key in KEYS {
        if let Some(value) = table.remove(key) {
            written.insert(key.to_owned(), value);
        }
    }
    let written = toml::Value::Table(written);
    refuse_date_time_values(&written, prefix)?;
    let entry: ConditionsEntry = serde_path_to_error::deserialize(written)
        .map_err(|error| invalid(format!("{prefix}{}", error.path()), error.inner().message()))?;

    let mut conditions = Vec::new();
    if let Some(any_of) = entry.collections {
        conditions.push(Condition::Collection {
            any_of: non_empty_names(&format!("{prefix}collections"), any_of)?,
        });
    }
    if let Some(any_of) = entry.product_types {
        conditions.push(Condition::ProductType {
            any_of: non_empty_names(&format!("{prefix}product_types"), any_of)?,
        });
    }
    for (index, comparison) in entry.comparisons.into_iter().enumerate() {
        conditions.push(Condition::Attribute(read_comparison(
            &format!("{prefix}where[{index}]"),
            comparison,
        )?));
    }
    Ok(conditions)
}

/// One `[[rules.where]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ComparisonEntry {
    attribute: Option<String>,
    op: Option<Op>,
    value: Option<toml::Value>,
}

/// Deserialising hands TOML date-times over as text, which would make `value = 2024-01-01`
/// compare as a string: refuse them first.
fn refuse_date_time_values(entry: &toml::Value, prefix: &str) -> Result<(), Invalid> {
    let comparisons = entry.get("where").and_then(toml::Value::as_array);
    for (index, comparison) in comparisons.into_iter().flatten().enumerate() {
        if let Some(value @ toml::Value::Datetime(_)) = comparison.get("value") {
            return Err(not_an_operand(&format!("{prefix}where[{index}]"), value));
        }
    }
    Ok(())
}

fn not_an_operand(field: &str, value: &toml::Value) -> Invalid {
    let found = match value {
        toml::Value::Float(number) => format!("the float {number}"),
        toml::Value::Datetime(datetime) => format!("the date-time {datetime}"),
        toml::Value::Array(_) => "an array".to_owned(),
        other => format!("a {}", other.type_str()),
    };
    invalid(
        format!("{field}.value"),
        format!("must be a finite number, a string or a boolean, not {found}"),
    )
}

fn non_empty_names(field: &str, names: Vec<String>) -> Result<Vec<String>, Invalid> {
    if names.is_empty() {
        return Err(invalid(
            field,
            "is empty, which no product satisfies; leave it out to accept any",
        ));
    }
    if names.iter().any(|name| name.trim().is_empty()) {
        return Err(invalid(field, "contains an empty name"));
    }
    Ok(names)
}

fn read_comparison(field: &str, entry: ComparisonEntry) -> Result<Comparison, Invalid> {
    let attribute = required(&format!("{field}.attribute"), entry.attribute)?;
    if attribute.trim().is_empty() {
        return Err(invalid(format!("{field}.attribute"), "must not be empty"));
    }
    let op = required(&format!("{field}.op"), entry.op)?;
    let value = match required(&format!("{field}.value"), entry.value)? {
        toml::Value::Integer(number) => Operand::Number(number as f64),
        toml::Value::Float(number) if number.is_finite() => Operand::Number(number),
        toml::Value::String(text) => Operand::Text(text),
        toml::Value::Boolean(flag) => Operand::Bool(flag),
        other => return Err(not_an_operand(field, &other)),
    };
    if op.is_ordering() && !matches!(value, Operand::Number(_)) {
        return Err(invalid(
            format!("{field}.op"),
            format!(
                "{op} orders numbers only, and the value is {}; strings and booleans take eq or ne",
                value.described()
            ),
        ));
    }
    Ok(Comparison {
        attribute,
        op,
        value,
    })
}
