//! The `[rules.join]` and `[rules.periodic]` tables of a rule.

use std::{path::Path, time::Duration};

use serde::Deserialize;

use super::{
    Invalid, conditions, conditions::area::geojson_file, duration, invalid, refuse_unknown_keys,
    required,
};
use crate::rules::{
    Completion, Gathering, GatheringKind, NamedInput, OnTimeout, Period, Template, Tiles,
    template::TILE,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinEntry {
    key: Option<String>,
    tiles: Option<TilesEntry>,
    count: Option<i64>,
    #[serde(default)]
    inputs: Vec<toml::Table>,
    timeout: Option<String>,
    on_timeout: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputEntry {
    name: Option<String>,
    count: Option<i64>,
    key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodicEntry {
    every: Option<String>,
    grace: Option<String>,
    key: Option<String>,
    tiles: Option<TilesEntry>,
}

/// A `tiles` table: `{ file = "grid.geojson", name = "tile_id" }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TilesEntry {
    file: Option<String>,
    /// The feature property naming each tile; `name` unless said.
    name: Option<String>,
    min_coverage: Option<f64>,
}

pub(super) fn read_join(table: toml::Table, base_dir: &Path) -> Result<Gathering, Invalid> {
    let entry: JoinEntry = deserialize("join.", table)?;
    let tiles = read_tiles("join.tiles", entry.tiles, base_dir)?;
    let key = entry
        .key
        .map(|key| template("join.key", &key, tiles.is_some()))
        .transpose()?;
    let completion = match (entry.count, entry.inputs.is_empty()) {
        (Some(_), false) => {
            return Err(invalid(
                "join.count",
                "a join waits either for a count of products or for named inputs, not both",
            ));
        }
        (Some(count), true) => Completion::Count(count_of("join.count", count, 2)?),
        (None, false) => Completion::Inputs(read_inputs(entry.inputs, base_dir, tiles.is_some())?),
        (None, true) => {
            return Err(invalid(
                "join",
                "says neither `count` nor [[rules.join.inputs]]: what completes the join?",
            ));
        }
    };
    if key.is_none() {
        let every_input_has_a_key = matches!(&completion,
            Completion::Inputs(inputs) if inputs.iter().all(|input| input.key.is_some()));
        if !every_input_has_a_key {
            return Err(invalid(
                "join.key",
                "is missing: products gather by a key built from their fields, e.g. \
                 \"{attributes.tileId}/{sensing_start:%Y-%m-%d}\" (or give every input its own)",
            ));
        }
    }
    let timeout = duration("join.timeout", &required("join.timeout", entry.timeout)?)?;
    let on_timeout = match required("join.on_timeout", entry.on_timeout)?.as_str() {
        "partial" => OnTimeout::Partial,
        "alert" => OnTimeout::Alert,
        other => {
            return Err(invalid(
                "join.on_timeout",
                format!(
                    "{other:?} is neither \"partial\" (request the job with what came) nor \"alert\""
                ),
            ));
        }
    };
    if let Some(tiles) = &tiles {
        let keys = std::iter::once(key.as_ref()).chain(match &completion {
            Completion::Inputs(inputs) => inputs.iter().map(|input| input.key.as_ref()).collect(),
            Completion::Count(_) => Vec::new(),
        });
        check_tile_in_keys("join", keys, tiles)?;
    }
    Ok(Gathering {
        key,
        tiles,
        kind: GatheringKind::Join {
            completion,
            timeout,
            on_timeout,
        },
    })
}

fn read_inputs(
    tables: Vec<toml::Table>,
    base_dir: &Path,
    has_tiles: bool,
) -> Result<Vec<NamedInput>, Invalid> {
    let mut inputs: Vec<NamedInput> = Vec::with_capacity(tables.len());
    for (index, mut table) in tables.into_iter().enumerate() {
        let prefix = format!("join.inputs[{index}].");
        refuse_unknown_keys(&table, &prefix, &["name", "count", "key"])?;
        let conditions = conditions::read(&mut table, &prefix, base_dir)?;
        let entry: InputEntry = deserialize(&prefix, table)?;
        let name = required(&format!("{prefix}name"), entry.name)?;
        if name.trim().is_empty() {
            return Err(invalid(format!("{prefix}name"), "must not be empty"));
        }
        if inputs.iter().any(|input| input.name == name) {
            return Err(invalid(
                format!("{prefix}name"),
                format!("another input is already named {name:?}"),
            ));
        }
        if conditions.is_empty() {
            return Err(invalid(
                &prefix[..prefix.len() - 1],
                "states no condition, so every product would fill it: say what this input is \
                 (collections, product_types, where, ...)",
            ));
        }
        inputs.push(NamedInput {
            name,
            conditions,
            count: entry
                .count
                .map(|count| count_of(&format!("{prefix}count"), count, 1))
                .transpose()?
                .unwrap_or(1),
            key: entry
                .key
                .map(|key| template(&format!("{prefix}key"), &key, has_tiles))
                .transpose()?,
        });
    }
    Ok(inputs)
}

pub(super) fn read_periodic(table: toml::Table, base_dir: &Path) -> Result<Gathering, Invalid> {
    let entry: PeriodicEntry = deserialize("periodic.", table)?;
    let tiles = read_tiles("periodic.tiles", entry.tiles, base_dir)?;
    let every = required("periodic.every", entry.every)?;
    let period = Period::from_name(&every).ok_or_else(|| {
        invalid(
            "periodic.every",
            format!(
                "{every:?} is not a period (one of: {})",
                Period::names().collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    let grace = match entry.grace {
        Some(grace) => duration("periodic.grace", &grace)?,
        None => Duration::ZERO,
    };
    let key = entry
        .key
        .map(|key| template("periodic.key", &key, tiles.is_some()))
        .transpose()?;
    if let Some(tiles) = &tiles {
        check_tile_in_keys("periodic", [key.as_ref()].into_iter(), tiles)?;
    }
    Ok(Gathering {
        key,
        tiles,
        kind: GatheringKind::Periodic { period, grace },
    })
}

fn read_tiles(
    field: &str,
    entry: Option<TilesEntry>,
    base_dir: &Path,
) -> Result<Option<Tiles>, Invalid> {
    let Some(entry) = entry else {
        return Ok(None);
    };
    let file = required(&format!("{field}.file"), entry.file)?;
    let property = entry.name.unwrap_or_else(|| "name".into());
    if let Some(fraction) = entry.min_coverage
        && !(fraction > 0.0 && fraction <= 1.0)
    {
        return Err(invalid(
            format!("{field}.min_coverage"),
            format!("{fraction} is not a fraction above 0 and at most 1 (0.2: 20% of the tile)"),
        ));
    }
    let geojson =
        geojson_file(base_dir, &file).map_err(|reason| invalid(format!("{field}.file"), reason))?;
    Tiles::new(file, &geojson, &property, entry.min_coverage)
        .map(Some)
        .map_err(|reason| invalid(format!("{field}.file"), reason))
}

/// Tiles separate groups only through `{tile}` in the keys: refuse tiles no key names.
fn check_tile_in_keys<'a>(
    table: &str,
    mut keys: impl Iterator<Item = Option<&'a Template>>,
    tiles: &Tiles,
) -> Result<(), Invalid> {
    if keys.any(|key| key.is_some_and(|key| key.names(TILE))) {
        return Ok(());
    }
    Err(invalid(
        format!("{table}.key"),
        format!(
            "never names {{tile}}, so the tiles of {} would not separate the groups: \
             e.g. key = \"{{tile}}/{{sensing_start:%Y-%m-%d}}\"",
            tiles.file
        ),
    ))
}

fn deserialize<T: serde::de::DeserializeOwned>(
    prefix: &str,
    table: toml::Table,
) -> Result<T, Invalid> {
    serde_path_to_error::deserialize(toml::Value::Table(table))
        .map_err(|error| invalid(format!("{prefix}{}", error.path()), error.inner().message()))
}

/// A key template: product fields, and `{tile}` for rules with tiles.
fn template(field: &str, source: &str, has_tiles: bool) -> Result<Template, Invalid> {
    let extras: &[&str] = if has_tiles { &[TILE] } else { &[] };
    let template = Template::parse(source, extras).map_err(|reason| invalid(field, reason))?;
    if template.as_literal().is_some() {
        return Err(invalid(
            field,
            format!("{source:?} names no product field, so every product would have the same key"),
        ));
    }
    Ok(template)
}

fn count_of(field: &str, count: i64, least: usize) -> Result<usize, Invalid> {
    usize::try_from(count)
        .ok()
        .filter(|count| *count >= least)
        .ok_or_else(|| invalid(field, format!("{count} is not a count of at least {least}")))
}

#[cfg(test)]
#[path = "gathering_tests.rs"]
mod tests;
