use geo::BoundingRect;
use nrt_events::JobSucceeded;
use serde_json::{Value, json};
use url::Url;

use super::*;
use crate::testing::{
    S1C_SLICE_1, S1C_SLICE_2, S2_T54PXA, assert_valid_item, config, job, output, product,
};

pub(super) fn build(job: &JobSucceeded) -> Result<Item, String> {
    let config = config();
    let collection = config.collection_for(&job.processor);
    let layout = crate::handler::layout_of(&config);
    build_item(
        job,
        &ItemContext {
            collection: &collection,
            layout: &layout,
            sidecar_path: &config.sidecar_path,
        },
    )
}

pub(super) fn json_of(item: &Item) -> Value {
    let value = serde_json::to_value(item).unwrap();
    assert_valid_item(&value);
    value
}

/// The union snaps coordinates to a fine grid: they move by less than 1e-7 degrees (1 cm).
pub(super) fn assert_bbox_near(bbox: stac::Bbox, footprints: &[&geo::Geometry<f64>]) {
    let bbox: Vec<f64> = bbox.into();
    let rects: Vec<geo::Rect<f64>> = footprints
        .iter()
        .map(|f| f.bounding_rect().unwrap())
        .collect();
    let expected = [
        rects.iter().map(|r| r.min().x).fold(f64::MAX, f64::min),
        rects.iter().map(|r| r.min().y).fold(f64::MAX, f64::min),
        rects.iter().map(|r| r.max().x).fold(f64::MIN, f64::max),
        rects.iter().map(|r| r.max().y).fold(f64::MIN, f64::max),
    ];
    for (found, wanted) in bbox.iter().zip(expected) {
        assert!(
            (found - wanted).abs() < 1e-7,
            "{bbox:?} is not {expected:?}"
        );
    }
}

pub(super) fn area(geometry: &geojson::Geometry) -> geo::Geometry<f64> {
    geo::Geometry::try_from(geometry).unwrap()
}

#[test]
fn a_single_input_gives_its_footprint_sensing_time_and_key() {
    let job = job(&[S2_T54PXA]);
    let item = build(&job).unwrap();
    let value = json_of(&item);

    assert_eq!(item.id, format!("footprint-{S2_T54PXA}"));
    assert_eq!(item.collection.as_deref(), Some("footprint"));
    let input = product(S2_T54PXA);
    assert_eq!(item.geometry, input.footprint);
    let bbox: Vec<f64> = item.bbox.unwrap().into();
    let expected = area(input.footprint.as_ref().unwrap())
        .bounding_rect()
        .unwrap();
    assert_eq!(
        bbox,
        [
            expected.min().x,
            expected.min().y,
            expected.max().x,
            expected.max().y
        ]
    );
    // The S2 product's sensing window has no length: one instant.
    assert_eq!(value["properties"]["datetime"], "2020-08-08T01:03:11.024Z");
    assert!(value["properties"].get("start_datetime").is_none());
    assert_eq!(
        value["stac_extensions"],
        json!([FILE_EXTENSION, PROCESSING_EXTENSION])
    );
}

#[test]
fn every_output_is_an_asset_with_size_checksum_and_role() {
    let job = job(&[S2_T54PXA]);
    let value = json_of(&build(&job).unwrap());
    let assets = value["assets"].as_object().unwrap();
    assert_eq!(
        assets.keys().collect::<Vec<_>>(),
        ["footprint.geojson", "metadata.json"]
    );
    let data = &assets["footprint.geojson"];
    assert_eq!(data["href"], format!("s3://outputs/{}", job.outputs[0].key));
    assert_eq!(data["type"], "application/geo+json");
    assert_eq!(data["roles"], json!(["data"]));
    assert_eq!(data["file:size"], 2_417);
    assert_eq!(
        data["file:checksum"],
        format!("1220{}", job.outputs[0].sha256)
    );
    assert_eq!(assets["metadata.json"]["roles"], json!(["metadata"]));
}

#[test]
fn processing_metadata_names_software_lineage_job_and_rule() {
    let job = job(&[S2_T54PXA]);
    let value = json_of(&build(&job).unwrap());
    let properties = &value["properties"];
    assert_eq!(
        properties["processing:software"],
        json!({"footprint": "1.2.0"})
    );
    let lineage = properties["processing:lineage"].as_str().unwrap();
    assert!(lineage.contains("footprint 1.2.0"), "{lineage}");
    assert!(lineage.contains(&product(S2_T54PXA).name), "{lineage}");
    assert_eq!(
        properties["processing:datetime"],
        "2026-01-01T02:00:07.250Z"
    );
    assert_eq!(properties["nrt:job_id"], job.job_id.as_str());
    assert_eq!(properties["nrt:rule"], "s2-footprints");
    assert!(properties.get("processing:level").is_none());
}

#[test]
fn links_are_relative_inside_the_catalogue_and_derived_from_each_input() {
    let job = job(&[S1C_SLICE_1, S1C_SLICE_2]);
    let item = build(&job).unwrap();
    let rels: Vec<(&str, &str)> = item
        .links
        .iter()
        .map(|link| (link.rel.as_str(), link.href.as_str()))
        .collect();
    let self_href = format!("s3://catalogue/footprint/items/{}.json", item.id);
    let first = product(S1C_SLICE_1);
    let second = product(S1C_SLICE_2);
    assert_eq!(
        rels,
        [
            ("self", self_href.as_str()),
            ("root", "../../catalog.json"),
            ("parent", "../collection.json"),
            ("collection", "../collection.json"),
            ("derived_from", first.href.as_deref().unwrap()),
            ("derived_from", second.href.as_deref().unwrap()),
        ]
    );
    assert_eq!(item.links[4].title.as_deref(), Some(first.name.as_str()));
}

#[test]
fn malformed_outputs_are_refused_with_the_reason() {
    let mut bad_checksum = job(&[S2_T54PXA]);
    bad_checksum.outputs[0].sha256 = "d41d8cd98f00b204e9800998ecf8427e".into();
    assert!(
        build(&bad_checksum)
            .unwrap_err()
            .contains("not 64 hex digits")
    );

    let mut escaping_key = job(&[S2_T54PXA]);
    escaping_key.outputs[0].key = "jobs/../../etc/passwd".into();
    assert!(build(&escaping_key).unwrap_err().contains("`..`"));

    let mut no_outputs = job(&[S2_T54PXA]);
    no_outputs.outputs.clear();
    assert!(build(&no_outputs).unwrap_err().contains("no outputs"));

    let mut no_inputs = job(&[]);
    no_inputs.metadata = None;
    assert!(build(&no_inputs).unwrap_err().contains("no inputs"));
}

#[test]
fn outputs_sharing_a_file_name_keep_their_paths_as_keys() {
    let mut job = job(&[S2_T54PXA]);
    job.outputs = vec![
        output(
            &job.job_id,
            "ascending/snow.tif",
            "image/tiff; application=geotiff",
            10,
        ),
        output(
            &job.job_id,
            "descending/snow.tif",
            "image/tiff; application=geotiff",
            20,
        ),
    ];
    let value = json_of(&build(&job).unwrap());
    let keys: Vec<&String> = value["assets"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["snow.tif", "descending/snow.tif"]);
}

#[test]
fn a_configured_collection_public_url_and_level_are_used() {
    let mut config = config();
    config.public_base_url = Some(Url::parse("https://data.example.eu/nrt/").unwrap());
    config.collections.insert(
        "footprint".into(),
        crate::config::CollectionConfig {
            id: Some("s2-footprints".into()),
            processing_level: Some("L1C-derived".into()),
            ..Default::default()
        },
    );
    let job = job(&[S2_T54PXA]);
    let collection = config.collection_for("footprint");
    let layout = crate::handler::layout_of(&config);
    let context = ItemContext {
        collection: &collection,
        layout: &layout,
        sidecar_path: &config.sidecar_path,
    };
    let value = json_of(&build_item(&job, &context).unwrap());
    assert_eq!(value["collection"], "s2-footprints");
    assert_eq!(value["properties"]["processing:level"], "L1C-derived");
    assert_eq!(
        value["assets"]["footprint.geojson"]["href"],
        format!("https://data.example.eu/nrt/{}", job.outputs[0].key)
    );
    assert_eq!(
        value["links"][0]["href"],
        format!(
            "https://data.example.eu/nrt/s2-footprints/items/{0}.json",
            value["id"].as_str().unwrap()
        )
    );
}

#[test]
fn the_same_job_always_gives_the_same_item() {
    let job = job(&[S1C_SLICE_1, S1C_SLICE_2]);
    let first = serde_json::to_vec(&build(&job).unwrap()).unwrap();
    let second = serde_json::to_vec(&build(&job).unwrap()).unwrap();
    assert_eq!(first, second);
}
