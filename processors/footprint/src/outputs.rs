//! The three files this processor leaves in the output directory.

use std::path::Path;

use geojson::{Feature, FeatureCollection, JsonObject};
use nrt_events::JobInput;
use serde_json::{Value, json};

use crate::coverage::CoverageReport;

pub const FOOTPRINTS: &str = "footprint.geojson";
pub const COVERAGE: &str = "coverage.json";
/// The sidecar the launcher passes on in `JobSucceeded.metadata` and the catalogue reads.
pub const METADATA: &str = "metadata.json";

#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}")]
pub struct WriteError {
    path: String,
    #[source]
    source: std::io::Error,
}

/// Writes `footprint.geojson`, `coverage.json` and `metadata.json` into `output_dir`.
pub fn write_all(
    output_dir: &Path,
    inputs: &[JobInput],
    report: &CoverageReport,
) -> Result<(), WriteError> {
    let create = |source| WriteError {
        path: output_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(output_dir).map_err(create)?;
    write_json(output_dir, FOOTPRINTS, &footprints(inputs, report))?;
    write_json(
        output_dir,
        COVERAGE,
        &serde_json::to_value(report).expect("report serialises"),
    )?;
    write_json(output_dir, METADATA, &metadata(report))
}

fn write_json(dir: &Path, name: &str, value: &Value) -> Result<(), WriteError> {
    let path = dir.join(name);
    let body = serde_json::to_vec_pretty(value).expect("JSON values serialise");
    std::fs::write(&path, body).map_err(|source| WriteError {
        path: path.display().to_string(),
        source,
    })
}

/// One feature per input that has a footprint: its feed attributes plus what identifies it.
pub fn footprints(inputs: &[JobInput], report: &CoverageReport) -> Value {
    let features = inputs
        .iter()
        .zip(&report.inputs)
        .filter_map(|(input, coverage)| {
            let geometry = input.footprint.clone()?;
            let mut properties: JsonObject = input
                .attributes
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            // Ours last: a feed attribute of the same name never hides the product's identity.
            let ours = json!({
                "key": input.key,
                "name": input.name,
                "collection": input.collection,
                "product_type": input.product_type,
                "sensing_start": input.sensing_start,
                "sensing_end": input.sensing_end,
                "published_at": input.published_at,
                "area_km2": coverage.footprint.as_ref().map(|extent| extent.area_km2),
            });
            properties.extend(ours.as_object().expect("an object").clone());
            Some(Feature {
                geometry: Some(geometry),
                id: Some(geojson::feature::Id::String(input.key.clone())),
                properties: Some(properties),
                ..Feature::default()
            })
        })
        .collect();
    serde_json::to_value(FeatureCollection {
        bbox: report
            .union
            .as_ref()
            .and_then(|union| union.bbox)
            .map(Vec::from),
        features,
        foreign_members: None,
    })
    .expect("a feature collection serialises")
}

/// The sidecar: the union footprint as geometry, the sensing time as one instant or a period,
/// and the coverage numbers as properties.
pub fn metadata(report: &CoverageReport) -> Value {
    let mut sidecar = json!({
        "geometry": report.union.as_ref().and_then(|union| union.geometry.clone()),
        "properties": {
            "footprint:input_count": report.input_count,
            "footprint:inputs_without_footprint": report.inputs_without_footprint,
            "footprint:area_km2": report.union.as_ref().map(|union| union.area_km2),
            "processing:software": { "nrt-footprint": env!("CARGO_PKG_VERSION") },
        },
    });
    let object = sidecar.as_object_mut().expect("an object");
    match (report.sensing_start, report.sensing_end) {
        (Some(start), Some(end)) if start == end => {
            object.insert("datetime".into(), json!(start));
        }
        (Some(start), Some(end)) => {
            object.insert("start_datetime".into(), json!(start));
            object.insert("end_datetime".into(), json!(end));
        }
        _ => {}
    }
    sidecar
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coverage::{
        self,
        tests::{AUX, S2_T54PXA, S2_T55PBR, golden},
    };

    #[test]
    fn writes_the_three_files_with_real_footprints() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("output");
        let inputs = [golden(S2_T54PXA), golden(AUX), golden(S2_T55PBR)];
        let report = coverage::report("job-1", &inputs);
        write_all(&output, &inputs, &report).unwrap();

        let read = |name: &str| -> Value {
            serde_json::from_slice(&std::fs::read(output.join(name)).unwrap()).unwrap()
        };
        let collection: FeatureCollection = serde_json::from_value(read(FOOTPRINTS)).unwrap();
        assert_eq!(
            collection.features.len(),
            2,
            "the auxiliary product has no footprint"
        );
        let first = &collection.features[0];
        let properties = first.properties.as_ref().unwrap();
        assert_eq!(properties["key"], S2_T54PXA);
        assert_eq!(properties["tileId"], "54PXA", "feed attributes are kept");
        assert_eq!(properties["collection"], "SENTINEL-2");
        assert_eq!(first.geometry, golden(S2_T54PXA).footprint);

        let coverage = read(COVERAGE);
        assert_eq!(coverage["input_count"], 3);
        assert_eq!(coverage["inputs_without_footprint"], json!([AUX]));
        assert!(coverage["union"]["area_km2"].as_f64().unwrap() > 7_000.0);
        assert_eq!(coverage["inputs"][1]["footprint"], Value::Null);

        let sidecar = read(METADATA);
        assert_eq!(sidecar["geometry"]["type"], "MultiPolygon");
        assert_eq!(sidecar["properties"]["footprint:input_count"], 3);
        // The auxiliary product's validity began in 2014, the granules were sensed in 2020.
        assert_eq!(sidecar["start_datetime"], json!(golden(AUX).sensing_start));
        assert_eq!(
            sidecar["end_datetime"],
            json!(golden(S2_T54PXA).sensing_end)
        );
        assert!(sidecar.get("datetime").is_none());
    }

    #[test]
    fn one_sensing_instant_is_a_datetime() {
        let inputs = [golden(S2_T54PXA), golden(S2_T55PBR)];
        let sidecar = metadata(&coverage::report("job-1", &inputs));
        assert_eq!(sidecar["datetime"], json!(golden(S2_T54PXA).sensing_start));
        assert!(sidecar.get("start_datetime").is_none());
    }

    #[test]
    fn without_any_footprint_the_sidecar_geometry_is_null() {
        let sidecar = metadata(&coverage::report("job-1", &[golden(AUX)]));
        assert_eq!(sidecar["geometry"], Value::Null);
        assert_eq!(sidecar["properties"]["footprint:area_km2"], Value::Null);
    }

    #[test]
    fn an_unwritable_output_dir_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let blocked = dir.path().join("file");
        std::fs::write(&blocked, "").unwrap();
        let report = coverage::report("job-1", &[]);
        let error = write_all(&blocked.join("output"), &[], &report).unwrap_err();
        assert!(error.to_string().contains("file/output"), "{error}");
    }
}
