use std::path::Path;

use geojson::{GeoJson, Geometry};
use nrt_events::ProductDiscovered;
use serde_json::json;

use super::*;
use crate::golden::{
    S1_AUX_INS, S1_GRD_ASCENDING, S2_L1C_51CVP, S2_L1C_54PXA, S2_L1C_55PBR, S2_L2A_13VEK, product,
};

/// The area of `testdata/areas/<file>`.
fn area(file: &str, min_overlap: Option<f64>) -> AreaOfInterest {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/areas")
        .join(file);
    let geojson: GeoJson = std::fs::read_to_string(path).unwrap().parse().unwrap();
    AreaOfInterest::new(file.into(), &geojson, min_overlap).unwrap()
}

fn inline(geometry: serde_json::Value) -> AreaOfInterest {
    AreaOfInterest::new(
        "inline".into(),
        &serde_json::from_value(geometry).unwrap(),
        None,
    )
    .unwrap()
}

/// `Ok` or the mismatch as an operator reads it.
fn verdict(area: &AreaOfInterest, product: &ProductDiscovered) -> Result<(), String> {
    area.check(product).map_err(|mismatch| mismatch.to_string())
}

fn overlap(area: &AreaOfInterest, product: &ProductDiscovered) -> f64 {
    let footprint = geometry::footprint(product, String::new).unwrap();
    area.overlap(&footprint)
}

fn with_footprint(stem: &str, footprint: serde_json::Value) -> ProductDiscovered {
    let mut product = product(stem);
    product.footprint = Some(serde_json::from_value::<Geometry>(footprint).unwrap());
    product
}

/// Made up, for no recorded product crosses the antimeridian: tile 54PXA moved over Fiji, an
/// S2 tile's shape (about 110 km square, slightly skewed) drawn as one ring jumping across 180°.
fn across_antimeridian() -> ProductDiscovered {
    with_footprint(
        S2_L1C_54PXA,
        json!({ "type": "Polygon", "coordinates": [[
            [179.40, -16.29], [-179.57, -16.30], [-179.58, -17.29], [179.39, -17.28], [179.40, -16.29]
        ]]}),
    )
}

/// The same footprint split at the antimeridian, as RFC 7946 asks.
fn split_at_antimeridian() -> ProductDiscovered {
    with_footprint(
        S2_L1C_54PXA,
        json!({ "type": "MultiPolygon", "coordinates": [
            [[[179.40, -16.29], [180.0, -16.2958], [180.0, -17.2858], [179.39, -17.28], [179.40, -16.29]]],
            [[[-180.0, -16.2958], [-179.57, -16.30], [-179.58, -17.29], [-180.0, -17.2858], [-180.0, -16.2958]]]
        ]}),
    )
}

#[test]
fn the_overlap_is_the_fraction_of_the_footprint_inside_the_area() {
    // The area covers tile 54PXA west of 142.65°E: 43.6% of it by a separate computation.
    let half = area("guam-west.geojson", Some(0.3));
    let s2 = product(S2_L1C_54PXA);
    assert!(
        (overlap(&half, &s2) - 0.436).abs() < 0.002,
        "{}",
        overlap(&half, &s2)
    );
    assert_eq!(verdict(&half, &s2), Ok(()));
    let most = area("guam-west.geojson", Some(0.9));
    assert_eq!(
        verdict(&most, &s2).unwrap_err(),
        "footprint overlaps the area guam-west.geojson by 43.6%, less than the 90% required"
    );
    let any = area("guam-west.geojson", None);
    assert_eq!(verdict(&any, &s2), Ok(()));
}

#[test]
fn a_footprint_wholly_inside_meets_an_overlap_of_one() {
    let mariana = area("mariana.geojson", Some(1.0));
    for stem in [S2_L1C_54PXA, S2_L1C_55PBR] {
        let s2 = product(stem);
        assert!(
            (overlap(&mariana, &s2) - 1.0).abs() < 1e-6,
            "{stem} {}",
            overlap(&mariana, &s2)
        );
        assert_eq!(verdict(&mariana, &s2), Ok(()), "{stem}");
    }
}

#[test]
fn a_footprint_elsewhere_does_not_intersect() {
    let alps = area("alps.geojson", None);
    for stem in [S2_L1C_54PXA, S1_GRD_ASCENDING, S2_L2A_13VEK] {
        assert_eq!(
            verdict(&alps, &product(stem)).unwrap_err(),
            "footprint does not intersect the area alps.geojson",
            "{stem}"
        );
    }
    let required = area("alps.geojson", Some(0.5));
    assert_eq!(
        verdict(&required, &product(S2_L1C_54PXA)).unwrap_err(),
        "footprint does not intersect the area alps.geojson"
    );
}

#[test]
fn a_product_without_footprint_never_meets_an_area() {
    let aux = product(S1_AUX_INS);
    assert_eq!(aux.footprint, None);
    assert_eq!(
        verdict(&area("alps.geojson", None), &aux).unwrap_err(),
        "product has no footprint, which the area alps.geojson needs"
    );
}

#[test]
fn a_footprint_that_is_not_a_polygon_never_meets_an_area() {
    let point = with_footprint(
        S2_L1C_54PXA,
        json!({ "type": "Point", "coordinates": [142.6, 13.8] }),
    );
    assert_eq!(
        verdict(&area("mariana.geojson", None), &point).unwrap_err(),
        "footprint is a Point, not a Polygon or MultiPolygon"
    );
}

#[test]
fn each_part_of_a_multipolygon_area_counts() {
    // Features of a collection: a polygon west of tile 13VEK, and a multipolygon east of tile
    // 55PBR and around tile 51CVP in Antarctica.
    let tiles = area("tiles.geojson", Some(0.3));
    let expected = [
        (S2_L2A_13VEK, 0.467),
        (S2_L1C_55PBR, 0.385),
        (S2_L1C_51CVP, 1.0),
    ];
    for (stem, fraction) in expected {
        let found = overlap(&tiles, &product(stem));
        assert!((found - fraction).abs() < 0.002, "{stem}: {found}");
        assert_eq!(verdict(&tiles, &product(stem)), Ok(()), "{stem}");
    }
    assert_eq!(
        verdict(&tiles, &product(S2_L1C_54PXA)).unwrap_err(),
        "footprint does not intersect the area tiles.geojson"
    );
}

#[test]
fn areas_are_measured_on_the_sphere_not_in_degrees() {
    // Made up: a footprint from the equator to 60°N, and an area over its northern half in
    // degrees. In degrees that is half; on the sphere (sin 60° - sin 30°) / sin 60° = 42.3%.
    let tall = with_footprint(
        S2_L1C_54PXA,
        json!({ "type": "Polygon", "coordinates": [[[10, 0], [11, 0], [11, 60], [10, 60], [10, 0]]] }),
    );
    let north = AreaOfInterest::new(
        "inline".into(),
        &serde_json::from_value(json!({ "type": "Polygon", "coordinates": [[
            [9, 30], [12, 30], [12, 61], [9, 61], [9, 30]
        ]]}))
        .unwrap(),
        Some(0.45),
    )
    .unwrap();
    assert!((overlap(&north, &tall) - 0.4226).abs() < 0.001);
    assert_eq!(
        verdict(&north, &tall).unwrap_err(),
        "footprint overlaps the area inline by 42.3%, less than the 45% required"
    );
}

#[test]
fn footprints_and_areas_across_the_antimeridian_meet_in_either_form() {
    let areas = [
        area("fiji-antimeridian.geojson", Some(1.0)),
        area("fiji-split.geojson", Some(1.0)),
    ];
    for product in [across_antimeridian(), split_at_antimeridian()] {
        for area in &areas {
            assert!(
                (overlap(area, &product) - 1.0).abs() < 1e-6,
                "{}",
                area.name
            );
            assert_eq!(verdict(area, &product), Ok(()), "{}", area.name);
        }
    }
}

#[test]
fn a_footprint_across_the_antimeridian_overlaps_each_side_by_its_share() {
    // 58.7% of the footprint lies west of 180°, 41.3% east, by a separate computation.
    let west = inline(json!({ "type": "Polygon", "coordinates": [[
        [179, -18], [180, -18], [180, -16], [179, -16], [179, -18]
    ]]}));
    let east = inline(json!({ "type": "Polygon", "coordinates": [[
        [-180, -18], [-179, -18], [-179, -16], [-180, -16], [-180, -18]
    ]]}));
    for product in [across_antimeridian(), split_at_antimeridian()] {
        let (west, east) = (overlap(&west, &product), overlap(&east, &product));
        assert!((west - 0.587).abs() < 0.002, "{west}");
        assert!((east - 0.413).abs() < 0.002, "{east}");
    }
    // Nowhere near the meridian of Greenwich, where a footprint spanning -180 to 180 would be.
    let greenwich = inline(json!({ "type": "Polygon", "coordinates": [[
        [-1, -18], [1, -18], [1, -16], [-1, -16], [-1, -18]
    ]]}));
    for product in [across_antimeridian(), split_at_antimeridian()] {
        assert_eq!(
            verdict(&greenwich, &product).unwrap_err(),
            "footprint does not intersect the area inline"
        );
    }
}

#[test]
fn a_box_around_the_whole_earth_is_not_taken_for_a_crossing() {
    let earth = inline(json!({ "type": "Polygon", "coordinates": [[
        [-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]
    ]]}));
    for product in [
        product(S2_L1C_54PXA),
        product(S1_GRD_ASCENDING),
        across_antimeridian(),
    ] {
        assert!(
            (overlap(&earth, &product) - 1.0).abs() < 1e-6,
            "{}",
            overlap(&earth, &product)
        );
    }
}
