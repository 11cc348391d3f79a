use geo::{Area, BoundingRect, Contains};
use nrt_events::JobSucceeded;
use serde_json::{Value, json};
use url::Url;

use super::*;
use crate::testing::{
    S1_AUX_POEORB, S1C_SLICE_1, S1C_SLICE_2, S2_T54PXA, S2_T55PBR, assert_valid_item, config, job,
    output, product,
};

fn build(job: &JobSucceeded) -> Result<Item, String> {
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

fn json_of(item: &Item) -> Value {
    let value = serde_json::to_value(item).unwrap();
    assert_valid_item(&value);
    value
}

/// The union snaps coordinates to a fine grid: they move by less than 1e-7 degrees (1 cm).
fn assert_bbox_near(bbox: stac::Bbox, footprints: &[&geo::Geometry<f64>]) {
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

fn area(geometry: &geojson::Geometry) -> geo::Geometry<f64> {
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
    let self_href = format!("s3://catalogue/footprint/{0}/{0}.json", item.id);
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
fn several_inputs_give_the_union_of_footprints_and_the_sensing_range() {
    let job = job(&[S1C_SLICE_1, S1C_SLICE_2]);
    let item = build(&job).unwrap();
    let value = json_of(&item);

    assert_eq!(item.id, format!("footprint-{}", job.job_id));
    let union = area(item.geometry.as_ref().unwrap());
    let first = area(job.inputs[0].footprint.as_ref().unwrap());
    let second = area(job.inputs[1].footprint.as_ref().unwrap());
    // Consecutive slices of one datatake meet along a seam a few metres wide without
    // overlapping: the union keeps both, and their areas add up.
    let geo::Geometry::MultiPolygon(parts) = &union else {
        panic!("expected a MultiPolygon, got {union:?}");
    };
    assert_eq!(parts.0.len(), 2);
    let (a, b, u) = (
        first.unsigned_area(),
        second.unsigned_area(),
        union.unsigned_area(),
    );
    assert!((u - (a + b)).abs() < 1e-4 * u, "{a} + {b} != {u}");
    for slice in [&first, &second] {
        let centre = slice.bounding_rect().unwrap().center();
        assert!(union.contains(&geo::Point::from(centre)));
    }
    assert_bbox_near(item.bbox.unwrap(), &[&first, &second]);

    assert_eq!(value["properties"]["datetime"], Value::Null);
    assert_eq!(
        value["properties"]["start_datetime"],
        "2026-01-01T00:10:22.776Z"
    );
    assert_eq!(
        value["properties"]["end_datetime"],
        "2026-01-01T00:11:17.073Z"
    );
}

#[test]
fn two_tiles_sensed_at_one_instant_keep_that_instant_and_both_areas() {
    let job = job(&[S2_T54PXA, S2_T55PBR]);
    let item = build(&job).unwrap();
    let value = json_of(&item);
    assert_eq!(value["properties"]["datetime"], "2020-08-08T01:03:11.024Z");
    // The recorded tiles' data footprints lie 1.3 degrees apart.
    let union = area(item.geometry.as_ref().unwrap());
    let geo::Geometry::MultiPolygon(parts) = &union else {
        panic!("expected a MultiPolygon, got {union:?}");
    };
    assert_eq!(parts.0.len(), 2);
    let west = area(job.inputs[0].footprint.as_ref().unwrap());
    let east = area(job.inputs[1].footprint.as_ref().unwrap());
    assert_bbox_near(item.bbox.unwrap(), &[&west, &east]);
}

#[test]
fn overlapping_footprints_merge_into_one_polygon() {
    use geo::Translate;
    let mut job = job(&[S1C_SLICE_1, S1C_SLICE_2]);
    // The second slice moved half a slice north, as a re-processed overlapping product would be.
    let first = area(job.inputs[0].footprint.as_ref().unwrap());
    let moved = first.translate(0.0, 0.7);
    job.inputs[1].footprint = Some(geojson::Geometry::new(geojson::GeometryValue::from(&moved)));
    let union = area(build(&job).unwrap().geometry.as_ref().unwrap());
    assert!(matches!(union, geo::Geometry::Polygon(_)), "{union:?}");
    let (single, merged) = (first.unsigned_area(), union.unsigned_area());
    assert!(
        merged > single && merged < 2.0 * single,
        "{single} {merged}"
    );
}

#[test]
fn inputs_without_a_footprint_are_skipped() {
    let job = job(&[S1C_SLICE_1, S1_AUX_POEORB]);
    let item = build(&job).unwrap();
    let value = json_of(&item);
    assert_eq!(item.geometry, product(S1C_SLICE_1).footprint);
    // The orbit file still counts for time: it was sensed in 2014.
    assert_eq!(
        value["properties"]["start_datetime"],
        "2014-04-11T22:59:44Z"
    );
    assert_eq!(
        value["properties"]["end_datetime"],
        "2026-01-01T00:10:52.073Z"
    );
}

#[test]
fn no_footprint_at_all_gives_a_null_geometry_and_no_bbox() {
    let item = build(&job(&[S1_AUX_POEORB])).unwrap();
    let value = json_of(&item);
    assert_eq!(value["geometry"], Value::Null);
    assert!(value.get("bbox").is_none());
}

#[test]
fn the_sidecar_overrides_geometry_and_datetime() {
    let mut job = job(&[S1C_SLICE_1, S1C_SLICE_2]);
    let snow_patch = json!({"type": "Polygon", "coordinates": [[
        [10.0, 46.0], [10.5, 46.0], [10.5, 46.4], [10.0, 46.4], [10.0, 46.0]
    ]]});
    job.metadata = Some(json!({
        "geometry": snow_patch,
        "datetime": "2026-01-01T00:11:00+01:00",
        "algorithm": "ndsi-threshold",
    }));
    let item = build(&job).unwrap();
    let value = json_of(&item);
    assert_eq!(value["geometry"], snow_patch);
    assert_eq!(value["bbox"], json!([10.0, 46.0, 10.5, 46.4]));
    assert_eq!(value["properties"]["datetime"], "2025-12-31T23:11:00Z");
    assert!(value["properties"].get("start_datetime").is_none());
}

#[test]
fn a_sidecar_time_range_replaces_the_inputs_window() {
    let mut job = job(&[S2_T54PXA]);
    job.metadata = Some(json!({
        "start_datetime": "2020-08-01T00:00:00Z",
        "end_datetime": "2020-08-31T23:59:59Z",
    }));
    let item = build(&job).unwrap();
    let value = json_of(&item);
    assert_eq!(item.geometry, product(S2_T54PXA).footprint);
    assert_eq!(value["properties"]["datetime"], Value::Null);
    assert_eq!(
        value["properties"]["start_datetime"],
        "2020-08-01T00:00:00Z"
    );
    assert_eq!(value["properties"]["end_datetime"], "2020-08-31T23:59:59Z");
}

#[test]
fn a_malformed_sidecar_is_refused_with_the_field_named() {
    let cases = [
        (json!({"geometry": {"type": "Polygon"}}), "`geometry`"),
        (json!({"datetime": "yesterday"}), "`datetime`"),
        (
            json!({"start_datetime": "2020-08-01T00:00:00Z"}),
            "only one of",
        ),
        (
            json!({"start_datetime": "2020-09-01T00:00:00Z", "end_datetime": "2020-08-01T00:00:00Z"}),
            "ends",
        ),
        (
            json!(["not", "an", "object"]),
            "an array, not a JSON object",
        ),
    ];
    for (sidecar, expected) in cases {
        let mut job = job(&[S2_T54PXA]);
        job.metadata = Some(sidecar.clone());
        let reason = build(&job).unwrap_err();
        assert!(reason.contains(expected), "{sidecar}: {reason}");
    }
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
            "https://data.example.eu/nrt/s2-footprints/{0}/{0}.json",
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
