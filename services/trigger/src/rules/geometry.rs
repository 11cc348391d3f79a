//! Polygons on the sphere as GeoJSON gives them (longitude, latitude in degrees): drawn whole
//! across the antimeridian, with their areas in m².

use geo::{
    BoundingRect, Centroid, ChamberlainDuquetteArea, Coord, MapCoords, MultiPolygon, Polygon,
};
use geojson::GeometryValue;
use nrt_events::ProductDiscovered;

use super::Mismatch;

/// The polygons of a GeoJSON geometry, as written; anything but polygons is refused.
pub(super) fn polygons(geometry: &GeometryValue) -> Result<Vec<Polygon>, String> {
    let converted = match geometry {
        GeometryValue::Polygon { .. } => Polygon::try_from(geometry).map(|polygon| vec![polygon]),
        GeometryValue::MultiPolygon { .. } => MultiPolygon::try_from(geometry).map(|multi| multi.0),
        other => {
            return Err(format!(
                "is a {}, not a Polygon or MultiPolygon",
                other.type_name()
            ));
        }
    };
    converted.map_err(|error| error.to_string())
}

/// Whether a ring goes the short way across the antimeridian: consecutive vertices more than
/// 180° of longitude apart. An edge from -180 to 180 is not a crossing but the edge of a box
/// around the whole Earth.
pub(super) fn crosses_antimeridian(polygon: &Polygon) -> bool {
    let is_on_antimeridian = |x: f64| x.abs() == 180.0;
    std::iter::once(polygon.exterior())
        .chain(polygon.interiors())
        .flat_map(|ring| ring.lines())
        .any(|line| {
            (line.end.x - line.start.x).abs() > 180.0
                && !(is_on_antimeridian(line.start.x) && is_on_antimeridian(line.end.x))
        })
}

/// Longitudes below 0 moved by +360: a shape across the antimeridian drawn whole, within 0..360.
pub(super) fn unwrapped(polygon: &Polygon) -> Polygon {
    polygon.map_coords(|Coord { x, y }| Coord {
        x: if x < 0.0 { x + 360.0 } else { x },
        y,
    })
}

/// The area on the sphere in m², whatever the latitude.
pub(super) fn area(polygons: &MultiPolygon) -> f64 {
    polygons
        .iter()
        .map(ChamberlainDuquetteArea::chamberlain_duquette_unsigned_area)
        .sum()
}

/// The product's footprint; one across the antimeridian is drawn whole, within 0..360. It may
/// come as one ring jumping across it, or split there (RFC 7946) into parts that together span
/// more than 180°, far more than one scene does. `needed_by` names the condition, for the
/// mismatch of a product without footprint.
pub(super) fn footprint(
    product: &ProductDiscovered,
    needed_by: impl FnOnce() -> String,
) -> Result<MultiPolygon, Mismatch> {
    let Some(geometry) = &product.footprint else {
        return Err(Mismatch::NoFootprint {
            needed_by: needed_by(),
        });
    };
    let mut parts: Vec<Polygon> = polygons(&geometry.value)
        .map_err(|reason| Mismatch::Footprint { reason })?
        .into_iter()
        .map(|part| {
            if crosses_antimeridian(&part) {
                unwrapped(&part)
            } else {
                part
            }
        })
        .collect();
    let span = MultiPolygon(parts.clone())
        .bounding_rect()
        .map_or(0.0, |bounds| bounds.width());
    if parts.len() > 1 && span > 180.0 {
        for part in &mut parts {
            let is_western = part
                .bounding_rect()
                .is_some_and(|bounds| bounds.max().x <= 0.0);
            if is_western {
                *part = unwrapped(part);
            }
        }
    }
    let footprint = MultiPolygon(parts);
    if area(&footprint) <= 0.0 {
        return Err(Mismatch::Footprint {
            reason: "has no area".into(),
        });
    }
    Ok(footprint)
}

/// The longitude of the footprint's centroid, within -180..180.
pub(super) fn centroid_longitude(footprint: &MultiPolygon) -> Option<f64> {
    let centroid = footprint.centroid()?;
    Some((centroid.x() + 180.0).rem_euclid(360.0) - 180.0)
}
