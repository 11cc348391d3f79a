//! Geometry and time of items: from the inputs, merged, or from the sidecar.

use geo::{Area, BoundingRect, Contains};
use serde_json::{Value, json};

use super::tests::{area, assert_bbox_near, build, json_of};
use crate::testing::{S1_AUX_POEORB, S1C_SLICE_1, S1C_SLICE_2, S2_T54PXA, S2_T55PBR, job, product};

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
