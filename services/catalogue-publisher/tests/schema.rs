//! The offline STAC validator against real, recorded STAC documents.

use std::path::{Path, PathBuf};

use catalogue_publisher::schema::{SchemaError, StacValidator};
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fixtures")
}

fn validator() -> StacValidator {
    StacValidator::offline(&fixtures().join("stac-schema")).unwrap()
}

fn read(relative: &str) -> Value {
    let path = fixtures().join(relative);
    serde_json::from_slice(&std::fs::read(&path).unwrap())
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn files(folder: &str, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures().join(folder))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with(prefix) && name.ends_with(".json"))
        .map(|name| format!("{folder}/{name}"))
        .collect();
    names.sort();
    names
}

#[test]
fn both_stac_versions_are_loaded() {
    assert_eq!(
        validator().item_versions().collect::<Vec<_>>(),
        ["1.0.0", "1.1.0"]
    );
}

#[test]
fn every_recorded_earth_search_item_validates_against_stac_1_0_0() {
    let validator = validator();
    let mut checked = 0;
    for file in files("stac", "") {
        let document = read(&file);
        let items: Vec<Value> = match document["type"].as_str() {
            Some("FeatureCollection") => document["features"].as_array().unwrap().clone(),
            Some("Feature") => vec![document],
            _ => continue,
        };
        for item in items {
            assert_eq!(item["stac_version"], "1.0.0");
            if let Err(errors) = validator.validate_item(&item) {
                panic!("{file} {}: {errors:#?}", item["id"]);
            }
            checked += 1;
        }
    }
    // 10 + 1 + 2 search results and the pystac example.
    assert_eq!(checked, 14);
}

#[test]
fn every_recorded_earth_search_collection_validates() {
    let validator = validator();
    let collections = read("stac/earth-search-v1_collections.json");
    let collections = collections["collections"].as_array().unwrap();
    assert_eq!(collections.len(), 9);
    for collection in collections {
        if let Err(errors) = validator.validate_collection(collection) {
            panic!("{}: {errors:#?}", collection["id"]);
        }
    }
}

#[test]
fn every_cdse_collection_validates_against_stac_1_1_0() {
    let validator = validator();
    let files = files("cdse-stac", "collection_");
    assert_eq!(files.len(), 3);
    for file in files {
        let collection = read(&file);
        assert_eq!(collection["stac_version"], "1.1.0");
        if let Err(errors) = validator.validate_collection(&collection) {
            panic!("{file}: {errors:#?}");
        }
    }
}

/// SOURCES.md: the generated CDSE items name a collection but carry no `collection` link (the
/// STAC API adds it when serving), which the 1.1.0 item schema forbids.
#[test]
fn cdse_items_fail_only_for_their_missing_collection_link() {
    let validator = validator();
    let files = files("cdse-stac", "item_");
    assert_eq!(files.len(), 3);
    for file in files {
        let mut item = read(&file);
        let errors = validator.validate_item(&item).unwrap_err();
        // The 1.1.0 schema: without a `collection` link, the `collection` field is not allowed.
        assert!(
            errors
                .iter()
                .all(|error| error.starts_with("/collection: ") || error.starts_with("/links")),
            "{file}: {errors:#?}"
        );
        let collection = item["collection"].as_str().unwrap().to_owned();
        item["links"].as_array_mut().unwrap().push(json!({
            "rel": "collection",
            "href": format!("https://stac.dataspace.copernicus.eu/v1/collections/{collection}"),
            "type": "application/json",
        }));
        if let Err(errors) = validator.validate_item(&item) {
            panic!("{file} with a collection link: {errors:#?}");
        }
    }
}

#[test]
fn a_broken_item_is_rejected_with_paths_and_reasons() {
    let validator = validator();
    let mut item = read(
        "cdse-stac/item_sentinel-2-l1c_S2A_MSIL1C_20240116T000741_N0510_R130_T51CVP_20240116T010505.json",
    );
    item.as_object_mut().unwrap().remove("collection");
    assert_eq!(validator.validate_item(&item), Ok(()));

    item.as_object_mut().unwrap().remove("id");
    item["properties"]["datetime"] = json!("16 January 2024");
    item["bbox"] = json!([1.0, 2.0]);
    let errors = validator.validate_item(&item).unwrap_err();
    let find = |path: &str, words: &str| {
        errors
            .iter()
            .any(|error| error.starts_with(path) && error.contains(words))
    };
    assert!(find("/: ", "\"id\" is a required property"), "{errors:#?}");
    assert!(find("/properties/datetime: ", "date-time"), "{errors:#?}");
    assert!(find("/bbox: ", "[1.0,2.0]"), "{errors:#?}");
}

#[test]
fn a_null_geometry_needs_no_bbox_but_a_geometry_needs_one() {
    let validator = validator();
    let mut item = read(
        "cdse-stac/item_sentinel-2-l1c_S2A_MSIL1C_20240116T000741_N0510_R130_T51CVP_20240116T010505.json",
    );
    item.as_object_mut().unwrap().remove("collection");
    item.as_object_mut().unwrap().remove("bbox");
    assert!(
        validator.validate_item(&item).is_err(),
        "geometry without bbox"
    );
    item["geometry"] = Value::Null;
    assert_eq!(validator.validate_item(&item), Ok(()));
}

#[test]
fn an_unknown_stac_version_is_named() {
    let errors = validator()
        .validate_item(&json!({"type": "Feature", "stac_version": "0.9.0"}))
        .unwrap_err();
    assert_eq!(
        errors,
        ["/stac_version: no offline schema for STAC 0.9.0 items (have 1.0.0, 1.1.0)"]
    );
}

#[test]
fn a_schema_folder_missing_a_referenced_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let item_dir = dir
        .path()
        .join("schemas.stacspec.org/v1.1.0/item-spec/json-schema");
    std::fs::create_dir_all(&item_dir).unwrap();
    let item_schema =
        fixtures().join("stac-schema/schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json");
    std::fs::copy(item_schema, item_dir.join("item.json")).unwrap();
    // No geojson.org schemas and no common.json: nothing may be fetched to fill the gap.
    let error = StacValidator::offline(dir.path()).err().expect("refused");
    assert!(
        matches!(
            error,
            SchemaError::Compile { .. } | SchemaError::Registry { .. }
        ),
        "{error}"
    );
}

#[test]
fn a_missing_schema_folder_is_named() {
    let error = StacValidator::offline(Path::new("/no/such/stac-schema"))
        .err()
        .expect("refused");
    assert!(
        error.to_string().contains("/no/such/stac-schema"),
        "{error}"
    );
}
