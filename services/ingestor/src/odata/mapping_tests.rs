use std::path::PathBuf;

use serde_json::json;
use url::Url;

use super::*;

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata");

/// The feed `generate.py` maps for: named `cdse`, at the real CDSE base URL.
fn cdse_source() -> OdataSource {
    OdataSource::new(Url::parse("https://catalogue.dataspace.copernicus.eu/odata/v1").unwrap())
}

fn recorded_entities() -> Vec<Value> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(format!("{TESTDATA}/fixtures/cdse-odata"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().contains("_products_"))
        .collect();
    pages.sort();
    pages
        .iter()
        .flat_map(|path| {
            let page: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            page["value"].as_array().unwrap().clone()
        })
        .collect()
}

fn s2_entity() -> Value {
    recorded_entities()
        .into_iter()
        .find(|entity| entity["Name"].as_str().unwrap().starts_with("S2A_MSIL1C"))
        .unwrap()
}

fn without(mut entity: Value, pointer: &str) -> Value {
    let (parent, field) = pointer.rsplit_once('/').unwrap();
    entity
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap()
        .remove(field);
    entity
}

#[test]
fn every_recorded_product_maps_to_its_golden_file() {
    let entities = recorded_entities();
    assert_eq!(entities.len(), 39);
    for (position, entity) in entities.iter().enumerate() {
        let product = discovered(entity, position, "cdse", &cdse_source()).unwrap();
        let golden_path = format!("{TESTDATA}/products/{}.json", product.key);
        let golden: ProductDiscovered =
            serde_json::from_slice(&std::fs::read(&golden_path).unwrap()).unwrap();
        assert_eq!(product, golden, "{golden_path}");
    }
}

#[test]
fn auxiliary_products_without_footprint_map_to_none() {
    let entity = recorded_entities()
        .into_iter()
        .find(|entity| entity["GeoFootprint"].is_null())
        .unwrap();
    assert_eq!(
        discovered(&entity, 0, "cdse", &cdse_source())
            .unwrap()
            .footprint,
        None
    );
}

#[test]
fn each_missing_required_field_is_named_with_the_product() {
    let name = "product S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505.SAFE";
    for (pointer, field) in [
        ("/Id", "Id"),
        ("/ContentDate", "ContentDate"),
        ("/ContentDate/Start", "ContentDate.Start"),
        ("/ContentDate/End", "ContentDate.End"),
        ("/PublicationDate", "PublicationDate"),
    ] {
        let error =
            discovered(&without(s2_entity(), pointer), 3, "cdse", &cdse_source()).unwrap_err();
        assert_eq!(
            (error.product.as_str(), error.field.as_str()),
            (name, field)
        );
        assert!(
            error
                .to_string()
                .starts_with(&format!("{name}: {field} is "))
        );
    }
}

#[test]
fn an_entity_without_name_is_named_by_its_position() {
    let error = discovered(&without(s2_entity(), "/Name"), 7, "cdse", &cdse_source()).unwrap_err();
    assert_eq!(error.to_string(), "entry value[7]: Name is missing");
}

#[test]
fn a_product_type_is_required() {
    let mut entity = s2_entity();
    entity["Attributes"]
        .as_array_mut()
        .unwrap()
        .retain(|attribute| attribute["Name"] != "productType");
    let error = discovered(&entity, 0, "cdse", &cdse_source()).unwrap_err();
    assert_eq!(error.field, "Attributes.productType");
}

#[test]
fn the_configured_collection_stands_in_for_a_missing_platform() {
    let mut entity = s2_entity();
    entity["Attributes"]
        .as_array_mut()
        .unwrap()
        .retain(|attribute| attribute["Name"] != "platformShortName");
    let error = discovered(&entity, 0, "cdse", &cdse_source()).unwrap_err();
    assert_eq!(error.field, "Attributes.platformShortName");

    let mut source = cdse_source();
    source.collection = Some("SENTINEL-2".into());
    let product = discovered(&entity, 0, "cdse", &source).unwrap();
    assert_eq!(product.collection, "SENTINEL-2");
    assert_eq!(product.platform, None);
}

#[test]
fn malformed_values_are_named_with_the_problem() {
    for (field, value, named) in [
        (
            "PublicationDate",
            json!("last tuesday"),
            "PublicationDate is not an ISO 8601 time",
        ),
        (
            "ContentLength",
            json!(-1),
            "ContentLength is not a non-negative integer",
        ),
        (
            "GeoFootprint",
            json!({"type": "Blob"}),
            "GeoFootprint is not a GeoJSON geometry",
        ),
        (
            "Checksum",
            json!([{"Value": "abc"}]),
            "Checksum[0].Algorithm is missing or not a string",
        ),
        (
            "Attributes",
            json!([{"Value": 1}]),
            "Attributes[0].Name is missing or not a string",
        ),
        ("Id", json!(42), "Id is not a string"),
    ] {
        let mut entity = s2_entity();
        entity[field] = value;
        let error = discovered(&entity, 0, "cdse", &cdse_source()).unwrap_err();
        assert!(error.to_string().ends_with(named), "{field}: {error}");
    }
}

#[test]
fn the_href_and_feed_follow_the_configured_feed() {
    let source = OdataSource::new(Url::parse("http://127.0.0.1:9000/odata/v1/").unwrap());
    let product = discovered(&s2_entity(), 0, "replay", &source).unwrap();
    assert_eq!(product.feed, "replay");
    assert_eq!(
        product.href.as_deref(),
        Some(
            "http://127.0.0.1:9000/odata/v1/Products(05edf2bb-d103-49f1-a677-9e474138d84f)/$value"
        )
    );
}
