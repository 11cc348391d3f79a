//! The conditions of a rule (or of one input of a join) as written in the rules file.

use std::path::Path;

use serde::Deserialize;

pub(super) mod area;
mod sensing;

use super::{Invalid, invalid, required};
use crate::rules::{Comparison, Condition, Op, Operand, Pattern};

/// The keys of a rule's table that state conditions; [`read`] takes them out of the table.
pub(super) const KEYS: [&str; 6] = [
    "collections",
    "product_types",
    "platforms",
    "where",
    "sensing",
    "area",
];

/// The condition keys of one table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionsEntry {
    collections: Option<Vec<String>>,
    product_types: Option<Vec<String>>,
    platforms: Option<Vec<String>>,
    #[serde(default, rename = "where")]
    comparisons: Vec<ComparisonEntry>,
    sensing: Option<sensing::SensingEntry>,
    area: Option<area::AreaEntry>,
}

/// Takes the condition keys out of `table` and reads them, in the order conditions are checked:
/// the cheap first, the area last. `prefix` names the table in errors (`""` for a rule,
/// `"join.inputs[1]."` for an input); area files are read relative to `base_dir`.
pub(super) fn read(
    table: &mut toml::Table,
    prefix: &str,
    base_dir: &Path,
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
    if let Some(any_of) = entry.platforms {
        conditions.push(Condition::Platform {
            any_of: non_empty_names(&format!("{prefix}platforms"), any_of)?,
        });
    }
    for (index, comparison) in entry.comparisons.into_iter().enumerate() {
        conditions.push(Condition::Attribute(read_comparison(
            &format!("{prefix}where[{index}]"),
            comparison,
        )?));
    }
    if let Some(sensing) = entry.sensing {
        conditions.extend(sensing::read(&format!("{prefix}sensing"), sensing)?);
    }
    if let Some(area) = entry.area {
        conditions.push(Condition::Area(area::read(
            &format!("{prefix}area"),
            area,
            base_dir,
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
/// compare as a string: refuse them first, in lists too.
fn refuse_date_time_values(entry: &toml::Value, prefix: &str) -> Result<(), Invalid> {
    let comparisons = entry.get("where").and_then(toml::Value::as_array);
    for (index, comparison) in comparisons.into_iter().flatten().enumerate() {
        let field = format!("{prefix}where[{index}].value");
        match comparison.get("value") {
            Some(value @ toml::Value::Datetime(_)) => return Err(not_an_operand(&field, value)),
            Some(toml::Value::Array(items)) => {
                let date_time = items
                    .iter()
                    .enumerate()
                    .find(|(_, item)| item.is_datetime());
                if let Some((position, item)) = date_time {
                    return Err(not_a_list_item(&format!("{field}[{position}]"), item));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// What a value is, for messages: `the float NaN`, `the date-time 2024-01-01`, `an array`.
fn described(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => format!("the string {text:?}"),
        toml::Value::Integer(number) => format!("the integer {number}"),
        toml::Value::Float(number) => format!("the float {number}"),
        toml::Value::Boolean(flag) => format!("the boolean {flag}"),
        toml::Value::Datetime(datetime) => format!("the date-time {datetime}"),
        toml::Value::Array(_) => "an array".to_owned(),
        toml::Value::Table(_) => "a table".to_owned(),
    }
}

fn not_an_operand(field: &str, value: &toml::Value) -> Invalid {
    let hint = if value.is_array() {
        " (a list takes op = \"in\")"
    } else {
        ""
    };
    invalid(
        field,
        format!(
            "must be a finite number, a string or a boolean, not {}{hint}",
            described(value)
        ),
    )
}

fn not_a_list_item(field: &str, value: &toml::Value) -> Invalid {
    invalid(
        field,
        format!(
            "must be a finite number or a string, not {}",
            described(value)
        ),
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
    let value_field = format!("{field}.value");
    let written = required(&value_field, entry.value)?;
    let value = match op {
        Op::In => read_list(&value_field, written)?,
        Op::Matches => read_pattern(&value_field, written)?,
        _ => scalar(written).map_err(|written| not_an_operand(&value_field, &written))?,
    };
    if op.is_ordering() && !matches!(value, Operand::Number(_)) {
        return Err(invalid(
            format!("{field}.op"),
            format!(
                "{op} orders numbers only, and the value is {}; strings take eq, ne, in or \
                 matches, booleans eq or ne",
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

/// A finite number, a string or a boolean; anything else is handed back.
fn scalar(value: toml::Value) -> Result<Operand, toml::Value> {
    match value {
        toml::Value::Integer(number) => Ok(Operand::Number(number as f64)),
        toml::Value::Float(number) if number.is_finite() => Ok(Operand::Number(number)),
        toml::Value::String(text) => Ok(Operand::Text(text)),
        toml::Value::Boolean(flag) => Ok(Operand::Bool(flag)),
        other => Err(other),
    }
}

/// The value of `in`: numbers only or strings only.
fn read_list(field: &str, value: toml::Value) -> Result<Operand, Invalid> {
    let toml::Value::Array(items) = value else {
        return Err(invalid(
            field,
            format!(
                "in takes a list of numbers or of strings, like [45, 130], not {}",
                described(&value)
            ),
        ));
    };
    if items.is_empty() {
        return Err(invalid(
            field,
            "is an empty list, which no product satisfies",
        ));
    }
    let mut operands = Vec::with_capacity(items.len());
    for (position, item) in items.into_iter().enumerate() {
        let item_field = format!("{field}[{position}]");
        match scalar(item) {
            Ok(Operand::Bool(flag)) => {
                return Err(not_a_list_item(&item_field, &toml::Value::Boolean(flag)));
            }
            Ok(operand) => operands.push(operand),
            Err(item) => return Err(not_a_list_item(&item_field, &item)),
        }
    }
    let is_text = |item: &Operand| matches!(item, Operand::Text(_));
    if operands.iter().any(is_text) && !operands.iter().all(is_text) {
        return Err(invalid(
            field,
            "mixes numbers and strings: a list holds numbers only or strings only",
        ));
    }
    Ok(Operand::List(operands.into()))
}

/// The value of `matches`: a regular expression, compiled now so that a bad one is refused.
fn read_pattern(field: &str, value: toml::Value) -> Result<Operand, Invalid> {
    let toml::Value::String(source) = value else {
        return Err(invalid(
            field,
            format!(
                "matches takes a regular expression as a string, like \"5[45]P..\", not {}",
                described(&value)
            ),
        ));
    };
    let pattern = Pattern::new(&source).map_err(|error| {
        // The parser's message spans lines to draw a caret; its last line says what is wrong.
        let message = error.to_string();
        let problem = message
            .lines()
            .find_map(|line| line.strip_prefix("error: "))
            .unwrap_or(&message)
            .to_owned();
        invalid(
            field,
            format!("{source:?} is not a regular expression: {problem}"),
        )
    })?;
    Ok(Operand::Pattern(pattern))
}
