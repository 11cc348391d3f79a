//! Reading a rules file: TOML into [`Rules`], refusing anything doubtful with the rule and field.

mod conditions;
mod gathering;

use std::{collections::BTreeMap, path::Path, time::Duration};

use nrt_registry::ProcessorRegistry;
use serde::Deserialize;

use super::{Parameter, Rule, Rules, Template, template::GATHERING_EXTRAS};
use crate::Error;

/// One `[[rules]]` table as written, once its conditions are taken out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    // Required fields are optional here so that a missing one is reported by name.
    name: Option<String>,
    processor: Option<String>,
    description: Option<String>,
    #[serde(default)]
    priority: i32,
    deadline: Option<String>,
    join: Option<toml::Table>,
    periodic: Option<toml::Table>,
    #[serde(default)]
    parameters: toml::Table,
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

pub(super) fn parse(
    text: &str,
    file: &str,
    base_dir: &Path,
    registry: &ProcessorRegistry,
) -> Result<Rules, Error> {
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
        let rule = read_rule(entry, base_dir, registry).map_err(|Invalid { field, reason }| {
            Error::InvalidRule {
                file: file.to_owned(),
                rule: label.clone(),
                field,
                reason,
            }
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

fn read_rule(
    entry: &toml::Value,
    base_dir: &Path,
    registry: &ProcessorRegistry,
) -> Result<Rule, Invalid> {
    let Some(table) = entry.as_table() else {
        return Err(invalid(
            "rules",
            format!("must be a [[rules]] table, found {}", entry.type_str()),
        ));
    };
    let mut table = table.clone();
    refuse_unknown_keys(&table, "", &RULE_KEYS)?;
    let conditions = conditions::read(&mut table, "", base_dir)?;
    let entry: RuleEntry = serde_path_to_error::deserialize(toml::Value::Table(table))
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
    let gathering = match (entry.join, entry.periodic) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "periodic",
                "a rule either joins or gathers a period, not both: write two rules",
            ));
        }
        (Some(join), None) => Some(gathering::read_join(join, base_dir)?),
        (None, Some(periodic)) => Some(gathering::read_periodic(periodic, base_dir)?),
        (None, None) => None,
    };
    let extras: &[&str] = match &gathering {
        None => &[],
        Some(gathering) if gathering.tiles.is_some() => &GATHERING_EXTRAS,
        Some(_) => &GATHERING_EXTRAS[..GATHERING_EXTRAS.len() - 1],
    };
    let parameters = entry
        .parameters
        .into_iter()
        .map(|(key, value)| {
            let parameter = read_parameter(&format!("parameters.{key}"), value, extras)?;
            Ok((key, parameter))
        })
        .collect::<Result<BTreeMap<_, _>, Invalid>>()?;

    Ok(Rule {
        name,
        processor,
        description: entry.description,
        conditions,
        parameters,
        priority: entry.priority,
        deadline: entry
            .deadline
            .map(|text| duration("deadline", &text))
            .transpose()?,
        gathering,
    })
}

/// The keys of a rule besides its conditions.
const RULE_KEYS: [&str; 8] = [
    "name",
    "processor",
    "description",
    "priority",
    "deadline",
    "join",
    "periodic",
    "parameters",
];

/// Refuses a key of `table` that is neither in `keys` nor a condition, listing all it may have:
/// conditions are read apart from the rest, so serde alone would list only half of them.
fn refuse_unknown_keys(table: &toml::Table, prefix: &str, keys: &[&str]) -> Result<(), Invalid> {
    let is_known = |key: &str| keys.contains(&key) || conditions::KEYS.contains(&key);
    match table.keys().find(|key| !is_known(key)) {
        None => Ok(()),
        Some(unknown) => {
            let expected: Vec<String> = keys
                .iter()
                .chain(conditions::KEYS.iter())
                .map(|key| format!("`{key}`"))
                .collect();
            Err(invalid(
                format!("{prefix}{unknown}"),
                format!(
                    "unknown field `{unknown}`, expected one of {}",
                    expected.join(", ")
                ),
            ))
        }
    }
}

/// A string parameter is a template (`"{attributes.tileId}"`); anything else is given unchanged.
fn read_parameter(field: &str, value: toml::Value, extras: &[&str]) -> Result<Parameter, Invalid> {
    if let toml::Value::String(text) = &value {
        let template = Template::parse(text, extras).map_err(|reason| invalid(field, reason))?;
        return Ok(match template.as_literal() {
            Some(text) => Parameter::Fixed(text.into()),
            None => Parameter::Template(template),
        });
    }
    Ok(Parameter::Fixed(json_of(field, value)?))
}

/// A duration as people write it: `90s`, `30m`, `12h`, `2d`, `1h 30m`.
fn duration(field: &str, text: &str) -> Result<Duration, Invalid> {
    let duration = humantime::parse_duration(text).map_err(|error| {
        invalid(
            field,
            format!("{text:?} is not a duration like \"30m\", \"12h\" or \"2d\": {error}"),
        )
    })?;
    if duration.is_zero() {
        return Err(invalid(field, "must be longer than zero"));
    }
    Ok(duration)
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
