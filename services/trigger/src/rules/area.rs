//! Areas of interest: building one from GeoJSON, and measuring how much of a footprint it covers.

use geo::{
    BooleanOps, BoundingRect, Intersects, MultiPolygon, Polygon, Rect, Translate, Validation,
    coord, unary_union,
};
use geojson::{Feature, GeoJson};
use nrt_events::ProductDiscovered;

use super::{AreaOfInterest, Mismatch, geometry};

/// The overlay snaps coordinates to a grid, so a footprint wholly inside an area may measure a
/// hair (some 1e-8) less than 100%.
const TOLERANCE: f64 = 1e-6;

impl AreaOfInterest {
    /// The area of `geojson`: a Polygon or MultiPolygon geometry, or a Feature or
    /// FeatureCollection of them. The reason for a refusal is a sentence part naming the
    /// polygon at fault: `polygon 2 is invalid: exterior ring has a self-intersection`.
    pub(super) fn new(
        name: String,
        geojson: &GeoJson,
        min_overlap: Option<f64>,
    ) -> Result<Self, String> {
        let labelled = match geojson {
            GeoJson::Geometry(geometry) => labelled(None, geometry::polygons(&geometry.value)?),
            GeoJson::Feature(feature) => feature_polygons(None, feature)?,
            GeoJson::FeatureCollection(collection) => {
                let mut all = Vec::new();
                for (index, feature) in collection.features.iter().enumerate() {
                    all.extend(feature_polygons(Some(index), feature)?);
                }
                all
            }
        };
        if labelled.is_empty() {
            return Err("holds no polygon".into());
        }
        let mut pieces = Vec::new();
        for (label, polygon) in &labelled {
            check_positions(label, polygon)?;
            let polygon = if geometry::crosses_antimeridian(polygon) {
                geometry::unwrapped(polygon)
            } else {
                polygon.clone()
            };
            polygon
                .check_validation()
                .map_err(|problem| format!("{label} is invalid: {problem}"))?;
            pieces.extend(within_one_turn(&polygon));
        }
        let canonical = unary_union(&pieces);
        if geometry::area(&canonical) <= 0.0 {
            return Err("has no area".into());
        }
        let shifted = canonical.translate(360.0, 0.0);
        Ok(Self {
            name,
            min_overlap,
            polygons: MultiPolygon(canonical.0.into_iter().chain(shifted.0).collect()),
        })
    }

    /// The fraction of `footprint`'s area inside the area, 0 to 1.
    pub(super) fn overlap(&self, footprint: &MultiPolygon) -> f64 {
        let Some(bounds) = footprint.bounding_rect() else {
            return 0.0;
        };
        // Only the parts near the footprint: fewer to overlay, and a finer grid for them.
        let near = MultiPolygon(
            self.polygons
                .iter()
                .filter(|part| {
                    part.bounding_rect()
                        .is_some_and(|part| part.intersects(&bounds))
                })
                .cloned()
                .collect(),
        );
        let inside = footprint.intersection(&near);
        (geometry::area(&inside) / geometry::area(footprint)).min(1.0)
    }

    pub(super) fn check(&self, product: &ProductDiscovered) -> Result<(), Mismatch> {
        let footprint = geometry::footprint(product, || format!("the area {}", self.name))?;
        let overlap = self.overlap(&footprint);
        let is_enough = match self.min_overlap {
            None => overlap > 0.0,
            Some(min_overlap) => overlap + TOLERANCE >= min_overlap,
        };
        if is_enough {
            Ok(())
        } else {
            Err(Mismatch::Area {
                area: self.name.clone(),
                overlap,
                min_overlap: self.min_overlap,
            })
        }
    }
}

/// Each polygon with the words naming it in a reason: `the polygon`, `polygon 2`,
/// `features[3] polygon 2`.
fn labelled(feature: Option<usize>, polygons: Vec<Polygon>) -> Vec<(String, Polygon)> {
    let count = polygons.len();
    polygons
        .into_iter()
        .enumerate()
        .map(|(index, polygon)| {
            let label = match (feature, count) {
                (None, 1) => "the polygon".to_owned(),
                (None, _) => format!("polygon {}", index + 1),
                (Some(feature), 1) => format!("features[{feature}]"),
                (Some(feature), _) => format!("features[{feature}] polygon {}", index + 1),
            };
            (label, polygon)
        })
        .collect()
}

fn feature_polygons(
    index: Option<usize>,
    feature: &Feature,
) -> Result<Vec<(String, Polygon)>, String> {
    let name = index.map_or_else(
        || "the feature".to_owned(),
        |index| format!("features[{index}]"),
    );
    let Some(geometry) = &feature.geometry else {
        return Err(format!("{name} has no geometry"));
    };
    let polygons =
        geometry::polygons(&geometry.value).map_err(|reason| format!("{name} {reason}"))?;
    Ok(labelled(index, polygons))
}

/// Longitudes may reach 360 for an area drawn whole across the antimeridian.
fn check_positions(label: &str, polygon: &Polygon) -> Result<(), String> {
    let rings = std::iter::once(polygon.exterior()).chain(polygon.interiors());
    let outside = rings
        .flat_map(|ring| ring.coords())
        .find(|coord| !(-180.0..=360.0).contains(&coord.x) || !(-90.0..=90.0).contains(&coord.y));
    match outside {
        None => Ok(()),
        Some(coord) => Err(format!(
            "{label} has the position [{}, {}]: longitudes run from -180 to 180 (to 360 across \
             the antimeridian), latitudes from -90 to 90",
            coord.x, coord.y
        )),
    }
}

/// `polygon`, drawn within -180..360, as pieces within -180..180.
fn within_one_turn(polygon: &Polygon) -> Vec<Polygon> {
    let west = Rect::new(coord! { x: -180.0, y: -90.0 }, coord! { x: 180.0, y: 90.0 });
    let east = Rect::new(coord! { x: 180.0, y: -90.0 }, coord! { x: 540.0, y: 90.0 });
    let mut pieces = polygon.intersection(&west.to_polygon()).0;
    pieces.extend(
        polygon
            .intersection(&east.to_polygon())
            .translate(-360.0, 0.0),
    );
    pieces
}

#[cfg(test)]
mod tests;
