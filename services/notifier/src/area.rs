//! A subscription's area of interest, and whether an item's bounding box meets it.
//!
//! Boxes may cross the antimeridian the way STAC writes them (west greater than east); polygons
//! may not: their longitudes stay within -180..180.

use geo::{Intersects, MultiPolygon, Polygon, Rect, Validation, coord};
use serde::Deserialize;

/// `area_of_interest` as written: `[west, south, east, north]`, or a GeoJSON Polygon or
/// MultiPolygon geometry (an inline table in TOML).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum AreaConfig {
    Bbox(Vec<f64>),
    Geometry(geojson::Geometry),
}

/// An area of interest, checked and ready to match against.
#[derive(Debug, Clone, PartialEq)]
pub struct Area(MultiPolygon<f64>);

impl Area {
    /// The reason for a refusal is a sentence part: `has the position [200, 10]: …`.
    pub fn new(config: &AreaConfig) -> Result<Self, String> {
        let polygons = match config {
            AreaConfig::Bbox(bbox) => {
                if bbox.len() != 4 {
                    return Err(format!(
                        "is a list of {} numbers; a box is [west, south, east, north]",
                        bbox.len()
                    ));
                }
                let rects = rects(bbox[0], bbox[1], bbox[2], bbox[3])?;
                MultiPolygon(rects.into_iter().map(Rect::to_polygon).collect())
            }
            AreaConfig::Geometry(geometry) => polygons(geometry)?,
        };
        Ok(Self(polygons))
    }

    /// Whether an item's `[west, south, east, north]` or `[west, south, low, east, north, high]`
    /// box meets the area; a box of any other shape never does.
    pub fn meets_bbox(&self, bbox: &[f64]) -> bool {
        let (west, south, east, north) = match *bbox {
            [west, south, east, north] => (west, south, east, north),
            [west, south, _, east, north, _] => (west, south, east, north),
            _ => return false,
        };
        rects(west, south, east, north).is_ok_and(|rects| {
            rects
                .iter()
                .any(|rect| self.0.intersects(&rect.to_polygon()))
        })
    }
}

/// The box as one rectangle, or two when it crosses the antimeridian.
fn rects(west: f64, south: f64, east: f64, north: f64) -> Result<Vec<Rect<f64>>, String> {
    for (name, value, limit) in [
        ("west", west, 180.0),
        ("south", south, 90.0),
        ("east", east, 180.0),
        ("north", north, 90.0),
    ] {
        if !(-limit..=limit).contains(&value) {
            return Err(format!("has {name} = {value}, beyond ±{limit}"));
        }
    }
    if south > north {
        return Err(format!("has south ({south}) above north ({north})"));
    }
    let rect = |west, east| Rect::new(coord! { x: west, y: south }, coord! { x: east, y: north });
    Ok(if west <= east {
        vec![rect(west, east)]
    } else {
        vec![rect(west, 180.0), rect(-180.0, east)]
    })
}

fn polygons(geometry: &geojson::Geometry) -> Result<MultiPolygon<f64>, String> {
    let polygons = match geo::Geometry::<f64>::try_from(geometry).map_err(|e| e.to_string())? {
        geo::Geometry::Polygon(polygon) => MultiPolygon(vec![polygon]),
        geo::Geometry::MultiPolygon(polygons) => polygons,
        _ => {
            return Err(
                "is neither a box [west, south, east, north] nor a GeoJSON Polygon or MultiPolygon"
                    .into(),
            );
        }
    };
    for polygon in &polygons {
        check_positions(polygon)?;
    }
    polygons
        .check_validation()
        .map_err(|problem| format!("is not a valid polygon: {problem}"))?;
    Ok(polygons)
}

fn check_positions(polygon: &Polygon<f64>) -> Result<(), String> {
    let rings = std::iter::once(polygon.exterior()).chain(polygon.interiors());
    let outside = rings
        .flat_map(|ring| ring.coords())
        .find(|c| !(-180.0..=180.0).contains(&c.x) || !(-90.0..=90.0).contains(&c.y));
    match outside {
        None => Ok(()),
        Some(c) => Err(format!(
            "has the position [{}, {}]: longitudes run from -180 to 180, latitudes from -90 to 90 \
             (a polygon across the antimeridian is not supported; a box is)",
            c.x, c.y
        )),
    }
}

#[cfg(test)]
mod tests;
