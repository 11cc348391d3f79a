//! Reading a rules file: TOML into [`Rules`], refusing anything doubtful with the rule and field.

use std::collections::BTreeMap;

use nrt_registry::ProcessorRegistry;
use serde::Deserialize;

use super::{Comparison, Condition, Op, Operand, Rule, Rules};
use crate::Error;

/// One `[[rules]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    // Required fields are optional here so that a missing one is reported by name.
    name: Option<String>,
    processor: Option<String>,
    description: Option<String>,
    collections: Option<Vec<String>>,
    product_types: Option<Vec<String>>,
    #[serde(default, rename = "where")]
    comparisons: Vec<ComparisonEntry>,
    #[serde(default)]
    parameters: toml::Table,
}

/// One `[[rules.where]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ComparisonEntry {
    attribute: Option<String>,
    op: Option<Op>,
    value: Option<toml::Value>,
}

/// A field of a rule and what is wrong with it.
struct Invalid {
    field: String,
    reason: String,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

pub(super) fn parse(text: &str, file: &str, registry: &ProcessorRegistry) -> Result<Rules, Error> {
    let file_error = |reason: String| Error::RulesFile {
        file: file.to_owned(),
        reason,
    };
    let document: toml::Table = toml::from_str(text).map_err(|source| Error::RulesSyntax {
        file: file.to_owned(),
        source,
    })?;
    if let Some(key) = document.keys().find(|key| *key != "rules") {
        return Err(file_error(format!(
            "unknown top-level key `{key}`: rules are written as [[rules]] tables"
        )));
    }
    let entries = match document.get("rules") {
        None => &Vec::new(),
        Some(toml::Value::Array(entries)) => entries,
        Some(other) => {
            return Err(file_error(format!(
                "`rules` must be [[rules]] tables, found {}",
                other.type_str()
            )));
        }
    };
    if entries.is_empty() {
        return Err(file_error(
            "defines no rules: write at least one [[rules]] table".into(),
        ));
    }

    let mut rules: Vec<Rule> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let label = rule_label(entry, index);
        let rule =
            read_rule(entry, registry).map_err(|Invalid { field, reason }| Error::InvalidRule {
                file: file.to_owned(),
                rule: label.clone(),
                field,
                reason,
            })?;
        if let Some(first) = rules.iter().position(|other| other.name == rule.name) {
            return Err(Error::InvalidRule {
                file: file.to_owned(),
                rule: label,
                field: "name".into(),
                reason: format!(
                    "rule #{} already has this name; names must be unique",
                    first + 1
                ),
            });
        }
        rules.push(rule);
    }
    Ok(Rules { rules })
}

/// The rule's name when it has a usable one, else its position (`#3`), for error messages.
fn rule_label(entry: &toml::Value, index: usize) -> String {
    entry
        .get("name")
        .and_then(toml::Value::as_str)
        .filter(|name| !name.trim().is_empty())
        .map_or_else(|| format!("#{}", index + 1), str::to_owned)
}

fn read_rule(entry: &toml::Value, registry: &ProcessorRegistry) -> Result<Rule, Invalid> {
    if !entry.is_table() {
        return Err(invalid(
            "rules",
            format!("must be a [[rules]] table, found {}", entry.type_str()),
        ));
    }
    refuse_date_time_values(entry)?;
    let entry: RuleEntry = serde_path_to_error::deserialize(entry.clone())
        .map_err(|error| invalid(error.path().to_string(), error.inner().message()))?;

    let name = required("name", entry.name)?;
    check_name(&name)?;
    let processor = required("processor", entry.processor)?;
    if registry.get(&processor).is_none() {
        let known: Vec<&str> = registry.processors().map(|p| p.name.as_str()).collect();
        return Err(invalid(
            "processor",
            format!(
                "the registry has no processor `{processor}` (it has: {})",
                known.join(", ")
            ),
        ));
    }

    let mut conditions = Vec::new();
    if let Some(any_of) = entry.collections {
        conditions.push(Condition::Collection {
            any_of: non_empty_names("collections", any_of)?,
        });
    }
    if let Some(any_of) = entry.product_types {
        conditions.push(Condition::ProductType {
            any_of: non_empty_names("product_types", any_of)?,
        });
    }
    for (index, comparison) in entry.comparisons.into_iter().enumerate() {
        conditions.push(Condition::Attribute(read_comparison(
            &format!("where[{index}]"),
            comparison,
        )?));
    }

    let parameters = entry
        .parameters
        .into_iter()
        .map(|(key, value)| {
            let json = json_of(&format!("parameters.{key}"), value)?;
            Ok((key, json))
        })
        .collect::<Result<BTreeMap<_, _>, Invalid>>()?;

    Ok(Rule {
        name,
        processor,
        description: entry.description,
        conditions,
        parameters,
    })
}

/// Deserialising hands TOML date-times over as text, which would make `value = 2024-01-01`
/// compare as a string: refuse them first.
fn refuse_date_time_values(entry: &toml::Value) -> Result<(), Invalid> {
    let comparisons = entry.get("where").and_then(toml::Value::as_array);
    for (index, comparison) in comparisons.into_iter().flatten().enumerate() {
        if let Some(value @ toml::Value::Datetime(_)) = comparison.get("value") {
            return Err(not_an_operand(&format!("where[{index}]"), value));
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

fn required<T>(field: &str, value: Option<T>) -> Result<T, Invalid> {
    value.ok_or_else(|| invalid(field, "is missing"))
}

fn check_name(name: &str) -> Result<(), Invalid> {
    let is_valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if is_valid {
        Ok(())
    } else {
        Err(invalid(
            "name",
            format!("{name:?} must be letters, digits, '-' or '_' (it names jobs and metrics)"),
        ))
    }
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

/// Parameters travel in JSON events; TOML date-times arrive here as their RFC 3339 text.
fn json_of(field: &str, value: toml::Value) -> Result<serde_json::Value, Invalid> {
    Ok(match value {
        toml::Value::String(text) => text.into(),
        toml::Value::Integer(number) => number.into(),
        toml::Value::Float(number) => serde_json::Number::from_f64(number)
            .ok_or_else(|| invalid(field, format!("{number} is not a finite number")))?
            .into(),
        toml::Value::Boolean(flag) => flag.into(),
        toml::Value::Datetime(datetime) => datetime.to_string().into(),
        toml::Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(index, item)| json_of(&format!("{field}[{index}]"), item))
            .collect::<Result<Vec<_>, _>>()?
            .into(),
        toml::Value::Table(table) => table
            .into_iter()
            .map(|(key, item)| Ok((key.clone(), json_of(&format!("{field}.{key}"), item)?)))
            .collect::<Result<serde_json::Map<_, _>, Invalid>>()?
            .into(),
    })
}

#[cfg(test)]
mod tests;
