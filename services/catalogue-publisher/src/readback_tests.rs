use serde_json::{Value, json};

use super::*;
use crate::{
    stac_api::api_item,
    testing::{S1C_SLICE_1, S2_T54PXA, item},
};

fn sent(products: &[&str]) -> Value {
    serde_json::to_value(api_item(&item(products))).unwrap()
}

/// What stac-fastapi-pgstac 7.2 serves for an item it was sent: its own links first, date-times
/// of the core properties with microseconds, null properties dropped, keys in another order (seen
/// on a real server).
fn as_pgstac_serves(sent: &Value) -> Value {
    let mut served = sent.clone();
    let id = sent["id"].as_str().unwrap();
    let api = "http://127.0.0.1:8080/collections/footprint";
    let mut links = vec![
        json!({"rel": "collection", "type": "application/json", "href": api}),
        json!({"rel": "parent", "type": "application/json", "href": api}),
        json!({"rel": "root", "type": "application/json", "href": "http://127.0.0.1:8080/"}),
        json!({"rel": "self", "type": "application/geo+json", "href": format!("{api}/items/{id}")}),
    ];
    links.extend(sent["links"].as_array().unwrap().iter().cloned());
    served["links"] = links.into();
    let properties = served["properties"].as_object_mut().unwrap();
    properties.retain(|_, value| !value.is_null());
    for key in ["datetime", "start_datetime", "end_datetime", "created"] {
        if let Some(Value::String(text)) = properties.get(key) {
            let time: chrono::DateTime<chrono::Utc> = text.parse().unwrap();
            let micros = time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
            properties.insert(key.into(), micros.into());
        }
    }
    served
}

#[test]
fn an_item_as_pgstac_serves_it_is_the_item_sent() {
    // An instant, and a range (`datetime: null`, which pgstac drops).
    for products in [&[S2_T54PXA][..], &[S1C_SLICE_1]] {
        let sent = sent(products);
        let served = as_pgstac_serves(&sent);
        assert_ne!(served, sent);
        assert_eq!(first_difference(&sent, &served), None);
    }
}

#[test]
fn numbers_compare_by_value_and_added_fields_are_allowed() {
    let sent = sent(&[S2_T54PXA]);
    let mut served = as_pgstac_serves(&sent);
    served["assets"]["footprint.geojson"]["file:size"] = json!(2417.0);
    served["properties"]["updated"] = json!("2026-01-01T03:00:00Z");
    assert_eq!(first_difference(&sent, &served), None);
}

#[test]
fn a_moved_vertex_is_named_by_its_path() {
    let sent = sent(&[S2_T54PXA]);
    let mut served = as_pgstac_serves(&sent);
    served["geometry"]["coordinates"][0][2][1] = json!(-12.5);
    assert_eq!(
        first_difference(&sent, &served).as_deref(),
        Some("/geometry/coordinates/0/2/1")
    );
}

#[test]
fn another_instant_is_a_difference_but_another_spelling_is_not() {
    let sent = sent(&[S2_T54PXA]);
    let mut served = as_pgstac_serves(&sent);
    served["properties"]["datetime"] = json!("2020-08-08T03:03:11.024+02:00");
    assert_eq!(first_difference(&sent, &served), None);
    served["properties"]["datetime"] = json!("2020-08-08T01:03:12Z");
    assert_eq!(
        first_difference(&sent, &served).as_deref(),
        Some("/properties/datetime")
    );
}

#[test]
fn a_dropped_property_asset_field_or_link_is_a_difference() {
    let sent = sent(&[S2_T54PXA]);
    let served = as_pgstac_serves(&sent);

    let mut without_job = served.clone();
    without_job["properties"]
        .as_object_mut()
        .unwrap()
        .remove("nrt:job_id");
    assert_eq!(
        first_difference(&sent, &without_job).as_deref(),
        Some("/properties/nrt:job_id")
    );

    let mut other_checksum = served.clone();
    other_checksum["assets"]["metadata.json"]["file:checksum"] = json!("1220");
    assert_eq!(
        first_difference(&sent, &other_checksum).as_deref(),
        Some("/assets/metadata.json/file:checksum")
    );

    let derived_from = sent["links"]
        .as_array()
        .unwrap()
        .iter()
        .position(|link| link["rel"] == "derived_from")
        .unwrap();
    let mut without_lineage = served.clone();
    without_lineage["links"]
        .as_array_mut()
        .unwrap()
        .retain(|link| link["rel"] != "derived_from");
    assert_eq!(
        first_difference(&sent, &without_lineage),
        Some(format!("/links/{derived_from}"))
    );
}

#[test]
fn only_a_null_may_be_dropped() {
    let sent = json!({"properties": {"datetime": null, "end_datetime": "2026-01-01T00:10:52Z"}});
    let served = json!({"properties": {}});
    assert_eq!(
        first_difference(&sent, &served).as_deref(),
        Some("/properties/end_datetime")
    );
}

#[test]
fn a_body_that_is_not_an_object_differs_at_the_root() {
    let sent = sent(&[S2_T54PXA]);
    assert_eq!(
        first_difference(&sent, &json!(["not", "an", "item"])).as_deref(),
        Some("/")
    );
}

#[test]
fn slashes_in_keys_are_escaped() {
    let sent = json!({"assets": {"a/b": {"href": "x"}}});
    let served = json!({"assets": {"a/b": {"href": "y"}}});
    assert_eq!(
        first_difference(&sent, &served).as_deref(),
        Some("/assets/a~1b/href")
    );
}
