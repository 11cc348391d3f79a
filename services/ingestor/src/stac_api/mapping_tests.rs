use std::collections::BTreeSet;

use serde_json::json;

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/fixtures");

fn recorded(path: &str) -> Value {
    serde_json::from_slice(&std::fs::read(format!("{FIXTURES}/{path}")).unwrap()).unwrap()
}

/// The items of a recorded search response.
fn features(path: &str) -> Vec<Value> {
    recorded(path)["features"].as_array().unwrap().clone()
}

fn source() -> StacSource {
    StacSource::new(
        Url::parse("https://stac.example/v1").unwrap(),
        vec!["sentinel-2-l1c".into()],
    )
}

fn map(item: &Value) -> Result<ProductDiscovered, EntryError> {
    discovered(item, 0, "stac", &source())
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

const MIXED: &str =
    "stac/earth-search-v1_search_cql2-filter-cloud-cover_mixed-s1-grd_s2-l1c_s2-l2a_s2-c1-l2a.json";

#[test]
fn a_cdse_item_is_its_product_named_by_its_enclosure() {
    let item = recorded(
        "cdse-stac/item_sentinel-2-l1c_S2A_MSIL1C_20240116T000741_N0510_R130_T51CVP_20240116T010505.json",
    );
    let product = map(&item).unwrap();
    let name = "S2A_MSIL1C_20240116T000741_N0510_R130_T51CVP_20240116T010505";
    assert_eq!(product.key, name);
    assert_eq!(product.name, format!("{name}.SAFE"));
    assert_eq!(product.feed_id, name);
    assert_eq!(
        (
            product.collection.as_str(),
            product.product_type.as_str(),
            product.platform.as_deref()
        ),
        ("SENTINEL-2", "S2MSI1C", Some("SENTINEL-2A"))
    );
    assert_eq!(product.sensing_start, at("2024-01-16T00:07:41.024Z"));
    assert_eq!(product.sensing_end, at("2024-01-16T00:07:41.024Z"));
    assert_eq!(product.published_at, at("2024-03-12T08:17:32.805455Z"));
    assert_eq!(
        product.s3_uri.as_deref(),
        Some(format!("s3://eodata/Sentinel-2/MSI/L1C/2024/01/16/{name}.SAFE").as_str())
    );
    // Generated items have no self link; the API serves them at its standard address.
    assert_eq!(
        product.href.as_deref(),
        Some(format!("https://stac.example/v1/collections/sentinel-2-l1c/items/{name}").as_str())
    );
    assert_eq!(
        serde_json::to_value(product.footprint.unwrap()).unwrap(),
        item["geometry"]
    );
    assert_eq!(product.attributes["sat:orbit_state"], "descending");
    assert_eq!(
        product.attributes.len(),
        item["properties"].as_object().unwrap().len()
    );
    assert_eq!((product.size, product.checksums.len()), (None, 0));
    assert_eq!(product.feed, "stac");
}

#[test]
fn a_cdse_cog_item_keeps_its_cog_suffix_as_the_odata_feed_does() {
    let item = recorded(
        "cdse-stac/item_sentinel-1-grd_S1A_IW_GRDH_1SDV_20240607T000653_20240607T000718_054210_0697DA_6EE4_COG.json",
    );
    let product = map(&item).unwrap();
    let name = "S1A_IW_GRDH_1SDV_20240607T000653_20240607T000718_054210_0697DA_6EE4_COG";
    assert_eq!(product.key, name);
    // What the CDSE OData feed keys the same product by: its Name without packaging.
    assert_eq!(product.key, product_key(&format!("{name}.SAFE")));
    assert_eq!(product.name, format!("{name}.SAFE"));
    assert_eq!(
        (product.collection.as_str(), product.product_type.as_str()),
        ("SENTINEL-1", "IW_GRDH_1S")
    );
    assert_eq!(product.sensing_start, at("2024-06-07T00:06:53.347125Z"));
    assert_eq!(product.sensing_end, at("2024-06-07T00:07:18.346181Z"));
}

#[test]
fn every_recorded_cdse_item_maps_with_its_id_as_key() {
    for name in [
        "item_sentinel-1-grd_S1A_IW_GRDH_1SDV_20240607T000653_20240607T000718_054210_0697DA_6EE4_COG.json",
        "item_sentinel-2-l1c_S2A_MSIL1C_20240116T000741_N0510_R130_T51CVP_20240116T010505.json",
        "item_sentinel-2-l2a_S2A_MSIL2A_20220217T183431_N0510_R027_T13VEK_20240516T022440.json",
    ] {
        let item = recorded(&format!("cdse-stac/{name}"));
        let product = map(&item).unwrap();
        assert_eq!(product.key, item["id"].as_str().unwrap(), "{name}");
        assert_eq!(
            Some(product.product_type.as_str()),
            item["properties"]["product:type"].as_str()
        );
    }
}

#[test]
fn earth_search_items_are_keyed_by_the_esa_product_they_show() {
    let products: Vec<ProductDiscovered> = features(MIXED)
        .iter()
        .map(|item| map(item).unwrap())
        .collect();
    assert_eq!(products.len(), 10);

    let s1 = &products[0];
    // The item id drops the name's checksum; s1:product_identifier keeps the whole name.
    assert_eq!(
        s1.feed_id,
        "S1A_IW_GRDH_1SSH_20250731T135702_20250731T135722_060328_077F7E"
    );
    assert_eq!(
        s1.key,
        "S1A_IW_GRDH_1SSH_20250731T135702_20250731T135722_060328_077F7E_0C44"
    );
    // `sar:product_type` says only GRD: the type comes from the name, as CDSE spells it.
    assert_eq!(
        (s1.collection.as_str(), s1.product_type.as_str()),
        ("SENTINEL-1", "IW_GRDH_1S")
    );
    assert_eq!(s1.platform.as_deref(), Some("SENTINEL-1A"));
    assert_eq!(s1.sensing_start, at("2025-07-31T13:57:02.256207Z"));
    assert_eq!(s1.sensing_end, at("2025-07-31T13:57:22.145414Z"));
    assert_eq!(s1.published_at, at("2025-07-31T15:04:13.811Z"));
    assert_eq!(
        s1.href.as_deref(),
        Some(
            "https://earth-search.aws.element84.com/v1/collections/sentinel-1-grd/items/\
             S1A_IW_GRDH_1SSH_20250731T135702_20250731T135722_060328_077F7E"
        )
    );
    assert_eq!(s1.s3_uri, None);

    // The sentinel-2-l2a and sentinel-2-c1-l2a items of one ESA product are one product.
    let of_tile = |tile: &str| -> BTreeSet<(&str, &str)> {
        products
            .iter()
            .filter(|product| product.feed_id.contains(tile))
            .map(|product| (product.key.as_str(), product.product_type.as_str()))
            .collect()
    };
    assert_eq!(
        of_tile("20EPT"),
        BTreeSet::from([
            (
                "S2B_MSIL1C_20250731T131909_N0511_R095_T20EPT_20250731T143530",
                "S2MSI1C"
            ),
            (
                "S2B_MSIL2A_20250731T131909_N0511_R095_T20EPT_20250731T143919",
                "S2MSI2A"
            ),
        ])
    );
    let keys: BTreeSet<&str> = products.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys.len(), 8);
    for product in &products[3..] {
        assert_eq!(product.collection, "SENTINEL-2");
        assert_eq!(product.name, format!("{}.SAFE", product.key));
        assert!(product.footprint.is_some());
    }
}

#[test]
fn the_identity_within_the_feed_is_collection_and_id() {
    let items = features(MIXED);
    assert_eq!(
        identity(&items[3]).as_deref(),
        Some("sentinel-2-c1-l2a/S2B_T20EPT_20250731T131905_L2A")
    );
    let local =
        recorded("stac/pystac_item_sentinel-2-l1c_S2A_MSIL1C_20210908T042701_R133_T46RER.json");
    assert_eq!(
        identity(&local).as_deref(),
        Some("S2A_MSIL1C_20210908T042701_R133_T46RER_20210908T070248")
    );
    assert_eq!(identity(&json!({"collection": "c"})), None);
}

#[test]
fn a_stactools_item_is_keyed_by_its_sentinel2_product_uri() {
    let item =
        recorded("stac/pystac_item_sentinel-2-l1c_S2A_MSIL1C_20210908T042701_R133_T46RER.json");
    let mut source = source();
    source.time_property = "datetime".into();
    let product = discovered(&item, 0, "stac", &source).unwrap();
    assert_eq!(
        product.key,
        "S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248"
    );
    assert_eq!(
        (product.collection.as_str(), product.product_type.as_str()),
        ("SENTINEL-2", "S2MSI1C")
    );
    assert_eq!(product.published_at, at("2021-09-08T04:27:01.024Z"));
}

#[test]
fn the_time_property_chosen_is_the_publication_time() {
    let item = &features(MIXED)[3];
    let mut source = source();
    source.time_property = "created".into();
    let product = discovered(item, 0, "stac", &source).unwrap();
    assert_eq!(product.published_at, at("2025-07-31T15:00:24.817Z"));
    assert_eq!(
        published_at(item, "created"),
        Some(at("2025-07-31T15:00:24.817Z"))
    );
    assert_eq!(published_at(item, "eopf:origin_datetime"), None);
}

#[test]
fn a_landsat_item_needs_the_feed_to_say_what_it_is() {
    let landsat =
        &features("stac/earth-search-v1_search_sentinel-2-l2a_and_landsat-c2-l2_page1.json")[1];
    let error = map(landsat).unwrap_err();
    assert_eq!(
        error.to_string(),
        "item landsat-c2-l2/LC08_L2SP_033032_20231008_02_T1: properties.constellation is \
         missing, the product name is no Sentinel name, and the feed configures no collection"
    );
    let mut source = source();
    source.collection = Some("LANDSAT-8".into());
    let error = discovered(landsat, 0, "stac", &source).unwrap_err();
    assert_eq!(error.field, "properties.product:type");
    source.product_type = Some("L2SP".into());
    let product = discovered(landsat, 0, "stac", &source).unwrap();
    assert_eq!(product.key, "LC08_L2SP_033032_20231008_02_T1");
    assert_eq!(
        (
            product.collection.as_str(),
            product.product_type.as_str(),
            product.platform.as_deref()
        ),
        ("LANDSAT-8", "L2SP", Some("LANDSAT-8"))
    );
}

#[test]
fn the_feeds_collection_and_product_type_replace_what_the_item_says() {
    let mut source = source();
    source.collection = Some("S2-NRT".into());
    source.product_type = Some("L2A-EARTH-SEARCH".into());
    let product = discovered(&features(MIXED)[3], 0, "stac", &source).unwrap();
    assert_eq!(
        (product.collection.as_str(), product.product_type.as_str()),
        ("S2-NRT", "L2A-EARTH-SEARCH")
    );
}

/// A recorded Earth Search S2 item, changed by `change`.
fn broken(change: impl FnOnce(&mut Value)) -> Result<ProductDiscovered, EntryError> {
    let mut item = features(MIXED)[5].clone();
    change(&mut item);
    map(&item)
}

#[test]
fn an_unreadable_item_is_an_error_naming_the_item_and_the_field() {
    let label = "item sentinel-2-l1c/S2B_20EPT_20250731_0_L1C";
    for (change, field, problem) in [
        (
            Box::new(|item: &mut Value| {
                item["properties"]
                    .as_object_mut()
                    .unwrap()
                    .remove("updated");
            }) as Box<dyn FnOnce(&mut Value)>,
            "properties.updated",
            "is missing: the feed's time_property must be on every item",
        ),
        (
            Box::new(|item: &mut Value| item["properties"]["updated"] = json!("yesterday")),
            "properties.updated",
            "is not an RFC 3339 time",
        ),
        (
            Box::new(|item: &mut Value| item["properties"]["datetime"] = json!(null)),
            "properties.datetime",
            "is null and the item has no start_datetime and end_datetime",
        ),
        (
            Box::new(|item: &mut Value| item["properties"]["datetime"] = json!(1722431962)),
            "properties.datetime",
            "is not a string",
        ),
        (
            Box::new(|item: &mut Value| item["properties"]["s2:product_uri"] = json!(["x"])),
            "properties.s2:product_uri",
            "is not a string",
        ),
        (
            Box::new(|item: &mut Value| item["geometry"] = json!({"type": "Polygon"})),
            "geometry",
            "is not a GeoJSON geometry",
        ),
        (
            Box::new(|item: &mut Value| item["properties"] = json!("none")),
            "properties",
            "is missing or not an object",
        ),
        (
            Box::new(|item: &mut Value| item["links"][0]["href"] = json!("http://[::1")),
            "links[rel=self].href",
            "is not a URL",
        ),
    ] {
        let error = broken(change).unwrap_err();
        assert_eq!(
            error,
            EntryError {
                product: label.into(),
                field: field.into(),
                problem,
            }
        );
    }
}

#[test]
fn an_item_without_an_id_is_named_by_its_place_in_the_page() {
    let mut item = features(MIXED)[5].clone();
    item.as_object_mut().unwrap().remove("id");
    let error = discovered(&item, 7, "stac", &source()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "entry features[7]: id is missing or not a non-empty string"
    );
    let error = discovered(&json!([1, 2]), 2, "stac", &source()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "entry features[2]: item is not a JSON object"
    );
}

#[test]
fn an_item_without_geometry_has_no_footprint() {
    let product = broken(|item| item["geometry"] = Value::Null).unwrap();
    assert_eq!(product.footprint, None);
}
