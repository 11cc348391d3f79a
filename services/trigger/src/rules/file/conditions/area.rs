//! A `[rules.area]` table: the area of interest, inline or in a GeoJSON file.

use std::path::Path;

use geojson::GeoJson;
use serde::Deserialize;

use super::super::{Invalid, invalid};
use crate::rules::AreaOfInterest;

/// A `[rules.area]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AreaEntry {
    geometry: Option<toml::Value>,
    file: Option<String>,
    min_overlap: Option<f64>,
}

pub(super) fn read(
    field: &str,
    entry: AreaEntry,
    base_dir: &Path,
) -> Result<AreaOfInterest, Invalid> {
    let min_overlap = match entry.min_overlap {
        Some(fraction) if !(fraction > 0.0 && fraction <= 1.0) => {
            return Err(invalid(
                format!("{field}.min_overlap"),
                format!(
                    "{fraction} is not a fraction above 0 and at most 1 (0.3: 30% of the footprint)"
                ),
            ));
        }
        min_overlap => min_overlap,
    };
    let (key, name, geojson) = match (entry.geometry, entry.file) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                format!("{field}.file"),
                "the area is given twice: write either `file` or `geometry`",
            ));
        }
        (None, None) => {
            return Err(invalid(
                field,
                "needs `file`, a GeoJSON file, or `geometry`, an inline GeoJSON geometry",
            ));
        }
        (Some(geometry), None) => {
            let geojson = inline_geojson(geometry)
                .map_err(|reason| invalid(format!("{field}.geometry"), reason))?;
            ("geometry", "inline".to_owned(), geojson)
        }
        (None, Some(file)) => {
            let geojson = geojson_file(base_dir, &file)
                .map_err(|reason| invalid(format!("{field}.file"), reason))?;
            ("file", file, geojson)
        }
    };
    AreaOfInterest::new(name, &geojson, min_overlap)
        .map_err(|reason| invalid(format!("{field}.{key}"), reason))
}

fn inline_geojson(geometry: toml::Value) -> Result<GeoJson, String> {
    let json = serde_json::to_value(&geometry).map_err(|error| error.to_string())?;
    serde_json::from_value(json).map_err(|error| format!("is not GeoJSON: {error}"))
}

/// `file` relative to `base_dir`, the rules file's directory.
pub(in crate::rules::file) fn geojson_file(base_dir: &Path, file: &str) -> Result<GeoJson, String> {
    if file.trim().is_empty() {
        return Err("must not be empty".into());
    }
    let path = base_dir.join(file);
    let text = std::fs::read_to_string(&path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    text.parse()
        .map_err(|error| format!("{} is not GeoJSON: {error}", path.display()))
}
