//! Areas of interest from boxes and GeoJSON, and which item boxes meet them.

use super::*;

fn bbox(values: [f64; 4]) -> Area {
    Area::new(&AreaConfig::Bbox(values.to_vec())).unwrap()
}

fn geometry(json: &str) -> Result<Area, String> {
    Area::new(&AreaConfig::Geometry(json.parse().unwrap()))
}

/// The Alps, roughly: a triangle whose box is much larger than itself.
const TRIANGLE: &str =
    r#"{"type": "Polygon", "coordinates": [[[5, 44], [16, 44], [5, 48], [5, 44]]]}"#;

#[test]
fn a_box_meets_boxes_that_overlap_or_touch_it() {
    let alps = bbox([5.0, 44.0, 16.0, 48.0]);
    assert!(alps.meets_bbox(&[8.99, 45.04, 10.41, 46.05]), "inside");
    assert!(
        alps.meets_bbox(&[15.0, 47.0, 20.0, 50.0]),
        "overlapping a corner"
    );
    assert!(
        alps.meets_bbox(&[16.0, 40.0, 18.0, 44.0]),
        "touching a corner"
    );
    assert!(
        !alps.meets_bbox(&[142.35, 13.47, 142.94, 14.19]),
        "far away"
    );
}

#[test]
fn a_polygon_is_matched_by_its_shape_not_its_box() {
    let triangle = geometry(TRIANGLE).unwrap();
    assert!(triangle.meets_bbox(&[6.0, 44.5, 7.0, 45.5]));
    // Inside the triangle's box, beyond its slanted side.
    assert!(!triangle.meets_bbox(&[14.0, 47.0, 15.5, 47.9]));
}

#[test]
fn a_multipolygon_matches_any_of_its_parts() {
    let area = geometry(
        r#"{"type": "MultiPolygon", "coordinates": [
            [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]],
            [[[10, 10], [11, 10], [11, 11], [10, 11], [10, 10]]]]}"#,
    )
    .unwrap();
    assert!(area.meets_bbox(&[10.5, 10.5, 12.0, 12.0]));
    assert!(area.meets_bbox(&[-1.0, -1.0, 0.5, 0.5]));
    assert!(!area.meets_bbox(&[5.0, 5.0, 6.0, 6.0]));
}

#[test]
fn three_dimensional_item_boxes_are_read_by_their_horizontal_extent() {
    let alps = bbox([5.0, 44.0, 16.0, 48.0]);
    assert!(alps.meets_bbox(&[8.99, 45.04, 0.0, 10.41, 46.05, 4800.0]));
    assert!(!alps.meets_bbox(&[20.0, 45.04, 0.0, 21.0, 46.05, 10.0]));
    assert!(!alps.meets_bbox(&[8.99, 45.04]), "not a box");
}

#[test]
fn boxes_may_cross_the_antimeridian_as_stac_writes_them() {
    let pacific = bbox([170.0, -20.0, -170.0, 0.0]);
    assert!(pacific.meets_bbox(&[175.0, -10.0, 176.0, -9.0]));
    assert!(pacific.meets_bbox(&[-175.0, -10.0, -174.0, -9.0]));
    assert!(!pacific.meets_bbox(&[0.0, -10.0, 1.0, -9.0]));
    let fiji = [177.0, -19.0, -179.0, -16.0];
    assert!(pacific.meets_bbox(&fiji));
    assert!(bbox([-180.0, -20.0, -178.0, -15.0]).meets_bbox(&fiji));
}

#[test]
fn bad_boxes_are_named() {
    let error = Area::new(&AreaConfig::Bbox(vec![1.0, 2.0, 3.0])).unwrap_err();
    assert!(error.contains("3 numbers"), "{error}");
    let error = Area::new(&AreaConfig::Bbox(vec![0.0, 50.0, 10.0, 40.0])).unwrap_err();
    assert!(error.contains("south (50) above north (40)"), "{error}");
    let error = Area::new(&AreaConfig::Bbox(vec![0.0, 0.0, 190.0, 10.0])).unwrap_err();
    assert!(error.contains("east = 190"), "{error}");
}

#[test]
fn bad_geometries_are_named() {
    let point = geometry(r#"{"type": "Point", "coordinates": [5, 44]}"#).unwrap_err();
    assert!(point.contains("Polygon or MultiPolygon"), "{point}");
    let bow_tie = geometry(
        r#"{"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}"#,
    )
    .unwrap_err();
    assert!(bow_tie.contains("not a valid polygon"), "{bow_tie}");
    let across = geometry(
        r#"{"type": "Polygon", "coordinates": [[[170, 0], [190, 0], [190, 10], [170, 10], [170, 0]]]}"#,
    )
    .unwrap_err();
    assert!(across.contains("[190, 0]"), "{across}");
    assert!(across.contains("antimeridian"), "{across}");
}
