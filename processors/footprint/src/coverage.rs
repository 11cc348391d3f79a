//! The coverage numbers: per input its geodesic area, bounding box and centroid; for the job the
//! union of the footprints and the sensing period.

use chrono::{DateTime, Utc};
use geo::{
    BoundingRect, Centroid, GeodesicArea, Geometry, MultiPolygon, Orient, Polygon, Rect,
    orient::Direction, unary_union,
};
use nrt_events::JobInput;
use serde::Serialize;

/// The whole report, as written to `coverage.json`.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageReport {
    pub job_id: String,
    pub input_count: usize,
    pub inputs: Vec<InputCoverage>,
    /// Keys of the inputs that came without a footprint (auxiliary products have none).
    pub inputs_without_footprint: Vec<String>,
    /// The union of every footprint; absent when no input has one.
    pub union: Option<Extent>,
    pub sensing_start: Option<DateTime<Utc>>,
    pub sensing_end: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InputCoverage {
    pub key: String,
    pub name: String,
    pub collection: String,
    pub product_type: String,
    pub sensing_start: DateTime<Utc>,
    pub sensing_end: DateTime<Utc>,
    pub footprint: Option<Extent>,
}

/// Where a footprint lies and how large it is.
#[derive(Debug, Clone, Serialize)]
pub struct Extent {
    /// Geodesic area on the WGS 84 ellipsoid (Karney), in km².
    pub area_km2: f64,
    /// `[west, south, east, north]` in degrees.
    pub bbox: Option<[f64; 4]>,
    /// `[lon, lat]`, the planar centroid in degrees: fine for footprints of a few hundred km.
    pub centroid: Option<[f64; 2]>,
    /// The geometry itself; only the union carries it, the inputs' are in `footprint.geojson`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geometry: Option<geojson::Geometry>,
}

/// Computes the report for `inputs`.
pub fn report(job_id: &str, inputs: &[JobInput]) -> CoverageReport {
    let mut polygons = Vec::new();
    let mut covered = Vec::new();
    let mut without = Vec::new();
    for input in inputs {
        let geometry = input.footprint.as_ref().and_then(to_geo).map(oriented);
        if geometry.is_none() {
            without.push(input.key.clone());
        }
        let footprint = geometry.map(|geometry| {
            polygons.extend(polygons_of(&geometry));
            extent_of(&geometry, false)
        });
        covered.push(InputCoverage {
            key: input.key.clone(),
            name: input.name.clone(),
            collection: input.collection.clone(),
            product_type: input.product_type.clone(),
            sensing_start: input.sensing_start,
            sensing_end: input.sensing_end,
            footprint,
        });
    }
    let union = (!polygons.is_empty()).then(|| {
        let merged = unary_union(&polygons);
        let geometry = match merged.0.as_slice() {
            [single] => Geometry::Polygon(single.clone()),
            _ => Geometry::MultiPolygon(merged),
        };
        extent_of(&geometry, true)
    });
    CoverageReport {
        job_id: job_id.to_owned(),
        input_count: inputs.len(),
        inputs: covered,
        inputs_without_footprint: without,
        union,
        sensing_start: inputs.iter().map(|input| input.sensing_start).min(),
        sensing_end: inputs.iter().map(|input| input.sensing_end).max(),
    }
}

/// The footprint as a `geo` geometry; `None` when it has none or it cannot be read.
pub fn to_geo(footprint: &geojson::Geometry) -> Option<Geometry<f64>> {
    Geometry::try_from(footprint).ok()
}

/// Exterior rings counter-clockwise, as the geodesic area and the union's fill rule expect:
/// feeds do not agree on a winding, and a clockwise ring would measure as the rest of the Earth.
fn oriented(geometry: Geometry<f64>) -> Geometry<f64> {
    match geometry {
        Geometry::Polygon(polygon) => Geometry::Polygon(polygon.orient(Direction::Default)),
        Geometry::MultiPolygon(polygons) => {
            Geometry::MultiPolygon(polygons.orient(Direction::Default))
        }
        Geometry::GeometryCollection(collection) => {
            Geometry::GeometryCollection(collection.into_iter().map(oriented).collect())
        }
        other => other,
    }
}

/// The areal parts of a geometry: what the union is made of.
fn polygons_of(geometry: &Geometry<f64>) -> Vec<Polygon<f64>> {
    match geometry {
        Geometry::Polygon(polygon) => vec![polygon.clone()],
        Geometry::MultiPolygon(MultiPolygon(polygons)) => polygons.clone(),
        Geometry::GeometryCollection(collection) => {
            collection.iter().flat_map(polygons_of).collect()
        }
        _ => Vec::new(),
    }
}

fn extent_of(geometry: &Geometry<f64>, with_geometry: bool) -> Extent {
    Extent {
        area_km2: round3(geometry.geodesic_area_unsigned() / 1e6),
        bbox: geometry.bounding_rect().map(bbox_of),
        centroid: geometry.centroid().map(|point| [point.x(), point.y()]),
        geometry: with_geometry
            .then(|| geojson::Geometry::new(geojson::GeometryValue::from(geometry))),
    }
}

fn bbox_of(rect: Rect<f64>) -> [f64; 4] {
    [rect.min().x, rect.min().y, rect.max().x, rect.max().y]
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use nrt_events::ProductDiscovered;

    use super::*;

    /// A golden product of the recorded CDSE feed, as the job input the trigger makes of it.
    pub(crate) fn golden(name: &str) -> JobInput {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/products")
            .join(format!("{name}.json"));
        let product: ProductDiscovered =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        JobInput::from(&product)
    }

    pub(crate) const S2_T54PXA: &str =
        "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505";
    pub(crate) const S2_T55PBR: &str =
        "S2A_MSIL1C_20200808T010311_N0500_R045_T55PBR_20230413T212505";
    const S1C_SLICE_1: &str = "S1C_IW_GRDH_1SDV_20260101T001022_20260101T001052_005702_00B654_2A4D";
    const S1C_SLICE_2: &str = "S1C_IW_GRDH_1SDV_20260101T001052_20260101T001117_005702_00B654_ABF9";
    pub(crate) const AUX: &str = "S1A_AUX_INS_V20140406T010000_G20140409T142540";

    fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
        (actual - expected).abs() <= expected * tolerance
    }

    #[test]
    fn an_s2_granule_footprint_has_its_geodesic_area_bbox_and_centroid() {
        let report = report("j", &[golden(S2_T54PXA)]);
        let footprint = report.inputs[0].footprint.clone().unwrap();
        // The same ring on the authalic sphere (computed apart, in Python): 4,370.8 km²; the
        // ellipsoid differs from the sphere by well under 1 % at 14° N.
        assert!(close(footprint.area_km2, 4_370.8, 0.01), "{footprint:?}");
        let [west, south, east, north] = footprint.bbox.unwrap();
        assert!((142.35..142.36).contains(&west), "{west}");
        assert!((142.94..142.95).contains(&east), "{east}");
        assert!(south > 13.0 && north < 14.3 && south < north);
        let [lon, lat] = footprint.centroid.unwrap();
        assert!(west < lon && lon < east && south < lat && lat < north);
    }

    #[test]
    fn abutting_slices_of_one_datatake_union_to_their_summed_area() {
        let inputs = [golden(S1C_SLICE_1), golden(S1C_SLICE_2)];
        let report = report("j", &inputs);
        let areas: Vec<f64> = report
            .inputs
            .iter()
            .map(|input| input.footprint.as_ref().unwrap().area_km2)
            .collect();
        for area in &areas {
            // An IW GRD slice covers roughly 250 km by 170-200 km.
            assert!((35_000.0..60_000.0).contains(area), "{areas:?}");
        }
        // Consecutive slices share an edge to within metres: no gap, no double counting.
        let union = report.union.unwrap();
        assert!(
            close(union.area_km2, areas[0] + areas[1], 0.001),
            "{}",
            union.area_km2
        );
        let [west, south, east, north] = union.bbox.unwrap();
        assert!(west < -76.2 && east > -70.5 && south < -56.2 && north > -52.3);
    }

    #[test]
    fn granules_of_different_tiles_stay_separate_parts_of_the_union() {
        let inputs = [golden(S2_T54PXA), golden(S2_T55PBR)];
        let report = report("j", &inputs);
        let sum: f64 = report
            .inputs
            .iter()
            .map(|input| input.footprint.as_ref().unwrap().area_km2)
            .sum();
        let union = report.union.unwrap();
        assert!(
            close(union.area_km2, sum, 0.0001),
            "{} vs {sum}",
            union.area_km2
        );
        assert_eq!(union.geometry.unwrap().value.type_name(), "MultiPolygon");
        let [west, _, east, _] = union.bbox.unwrap();
        assert!(west < 142.4 && east > 144.9);
    }

    #[test]
    fn clockwise_footprints_are_not_lost_from_the_union() {
        let mut reversed = golden(S2_T55PBR);
        if let Some(geojson::Geometry {
            value: geojson::GeometryValue::Polygon { coordinates },
            ..
        }) = reversed.footprint.as_mut()
        {
            coordinates[0].reverse();
        }
        let report = report("j", &[golden(S2_T54PXA), reversed]);
        let sum: f64 = report
            .inputs
            .iter()
            .map(|input| input.footprint.as_ref().unwrap().area_km2)
            .sum();
        let union = report.union.unwrap().area_km2;
        assert!(close(union, sum, 0.0001), "{union} vs {sum}");
    }

    #[test]
    fn inputs_without_footprint_are_reported_not_failed() {
        let report = report("j", &[golden(AUX), golden(S2_T54PXA)]);
        assert_eq!(report.input_count, 2);
        assert_eq!(report.inputs_without_footprint, vec![AUX.to_owned()]);
        assert!(report.inputs[0].footprint.is_none());
        assert!(report.union.is_some());

        let only_aux = super::report("j", &[golden(AUX)]);
        assert!(only_aux.union.is_none());
        assert_eq!(only_aux.sensing_start, Some(golden(AUX).sensing_start));
    }

    #[test]
    fn the_sensing_period_spans_every_input() {
        let report = report("j", &[golden(S1C_SLICE_2), golden(S1C_SLICE_1)]);
        assert_eq!(
            report.sensing_start,
            Some(golden(S1C_SLICE_1).sensing_start)
        );
        assert_eq!(report.sensing_end, Some(golden(S1C_SLICE_2).sensing_end));
    }
}
