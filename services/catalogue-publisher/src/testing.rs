//! Realistic jobs for unit tests: inputs are the golden products of `testdata/products/`.

use std::{path::PathBuf, sync::OnceLock};

use chrono::{DateTime, Utc};
use nrt_events::{JobInput, JobOutput, JobSucceeded, ProductDiscovered};

use crate::{config::Config, schema::StacValidator};

pub const S2_T54PXA: &str = "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505";
pub const S2_T55PBR: &str = "S2A_MSIL1C_20200808T010311_N0500_R045_T55PBR_20230413T212505";
pub const S1C_SLICE_1: &str = "S1C_IW_GRDH_1SDV_20260101T001022_20260101T001052_005702_00B654_2A4D";
pub const S1C_SLICE_2: &str = "S1C_IW_GRDH_1SDV_20260101T001052_20260101T001117_005702_00B654_ABF9";
pub const S1_AUX_POEORB: &str =
    "S1A_OPER_AUX_POEORB_OPOD_20210301T144249_V20140411T225944_20140413T005944.EOF";

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

pub fn product(name: &str) -> ProductDiscovered {
    let path = testdata().join("products").join(format!("{name}.json"));
    let text = std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

pub fn output(job_id: &str, path: &str, media_type: &str, size: u64) -> JobOutput {
    JobOutput {
        path: path.into(),
        bucket: "outputs".into(),
        key: format!("jobs/footprint/{job_id}/{path}"),
        size,
        // 64 hex digits, different per file: the bytes themselves never exist in unit tests.
        sha256: nrt_events::stable_hash([path]).repeat(2),
        media_type: Some(media_type.into()),
    }
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// A `footprint` job on the named golden products, with a GeoJSON output and a sidecar.
pub fn job(products: &[&str]) -> JobSucceeded {
    let inputs: Vec<JobInput> = products
        .iter()
        .map(|name| JobInput::from(&product(name)))
        .collect();
    let job_id = nrt_events::job_id(
        "s2-footprints",
        "footprint",
        "1.2.0",
        inputs.iter().map(|input| input.key.as_str()),
    );
    JobSucceeded {
        outputs: vec![
            output(&job_id, "footprint.geojson", "application/geo+json", 2_417),
            output(&job_id, "metadata.json", "application/json", 311),
        ],
        job_id,
        rule: "s2-footprints".into(),
        processor: "footprint".into(),
        processor_version: "1.2.0".into(),
        attempt: 1,
        inputs,
        metadata: None,
        started_at: at("2026-01-01T02:00:00Z"),
        finished_at: at("2026-01-01T02:00:07.250Z"),
    }
}

/// The item of [`job`] on `products`, as the default configuration builds it.
pub fn item(products: &[&str]) -> stac::Item {
    let config = config();
    let collection = config.collection_for("footprint");
    let layout = crate::handler::layout_of(&config);
    let context = crate::item::ItemContext {
        collection: &collection,
        layout: &layout,
        sidecar_path: &config.sidecar_path,
    };
    crate::item::build_item(&job(products), &context).expect("golden jobs make items")
}

pub fn config() -> Config {
    crate::config::load(None).expect("the defaults are valid")
}

/// The STAC core schemas of `testdata/fixtures/stac-schema/`, loaded once.
pub fn validator() -> &'static StacValidator {
    static VALIDATOR: OnceLock<StacValidator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        StacValidator::offline(&testdata().join("fixtures/stac-schema")).expect("schemas load")
    })
}

/// Panics with every schema error when `document` is not a valid STAC 1.1.0 item.
pub fn assert_valid_item(document: &serde_json::Value) {
    assert_eq!(document["stac_version"], "1.1.0");
    if let Err(errors) = validator().validate_item(document) {
        panic!(
            "item is not valid STAC:\n{}\n{document:#}",
            errors.join("\n")
        );
    }
}
