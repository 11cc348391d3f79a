//! Tiles: a grid an operator produces on (Sentinel-2 MGRS tiles, a national grid, catchments),
//! given as a GeoJSON FeatureCollection whose features are named by a property. A gathering rule
//! with tiles gathers each product into the group of every tile its footprint overlaps, as
//! `{tile}` in its key: a Sentinel-1 slice, which names no tile, joins the Sentinel-2 products of
//! the tiles it covers.

use geo::MultiPolygon;
use geojson::GeoJson;
use nrt_events::ProductDiscovered;

use super::{AreaOfInterest, Mismatch, geometry};

/// The tiles of one file, each an area named by the tile, with its area on the sphere.
#[derive(Debug, Clone, PartialEq)]
pub struct Tiles {
    /// The file as the rule names it, for messages.
    pub file: String,
    /// The fraction of a tile the footprint must cover for the product to join the tile's group,
    /// above 0 and at most 1; `None`: any overlap.
    pub min_coverage: Option<f64>,
    tiles: Vec<(AreaOfInterest, f64)>,
}

impl Tiles {
    /// The tiles of `geojson`, a FeatureCollection whose features name their tile in `property`
    /// (a string or a number). The reason for a refusal names the feature at fault.
    pub(super) fn new(
        file: String,
        geojson: &GeoJson,
        property: &str,
        min_coverage: Option<f64>,
    ) -> Result<Self, String> {
        let GeoJson::FeatureCollection(collection) = geojson else {
            return Err("must be a FeatureCollection, one feature per tile".into());
        };
        let mut tiles: Vec<(AreaOfInterest, f64)> = Vec::with_capacity(collection.features.len());
        for (index, feature) in collection.features.iter().enumerate() {
            let name = match feature.property(property) {
                Some(serde_json::Value::String(name)) if !name.trim().is_empty() => name.clone(),
                Some(serde_json::Value::Number(number)) => number.to_string(),
                _ => {
                    return Err(format!(
                        "features[{index}] has no property {property:?} naming its tile"
                    ));
                }
            };
            if tiles.iter().any(|(tile, _)| tile.name == name) {
                return Err(format!("features[{index}]: tile {name:?} is named twice"));
            }
            let area = AreaOfInterest::new(name, &GeoJson::Feature(feature.clone()), None)
                .map_err(|reason| format!("features[{index}]: {reason}"))?;
            // The area holds the tile twice, as drawn and shifted by a turn (see AreaOfInterest).
            let tile_area = geometry::area(&area.polygons) / 2.0;
            tiles.push((area, tile_area));
        }
        if tiles.is_empty() {
            return Err("holds no tile".into());
        }
        Ok(Self {
            file,
            min_coverage,
            tiles,
        })
    }

    /// The names of the tiles `product`'s footprint overlaps, in file order.
    pub fn covering(&self, product: &ProductDiscovered) -> Result<Vec<String>, Mismatch> {
        let footprint: MultiPolygon =
            geometry::footprint(product, || format!("the tiles of {}", self.file))?;
        let footprint_area = geometry::area(&footprint);
        let names: Vec<String> = self
            .tiles
            .iter()
            .filter(|(tile, tile_area)| {
                let inside = tile.overlap(&footprint) * footprint_area;
                match self.min_coverage {
                    None => inside > 0.0,
                    Some(min_coverage) => inside >= min_coverage * tile_area,
                }
            })
            .map(|(tile, _)| tile.name.clone())
            .collect();
        if names.is_empty() {
            return Err(Mismatch::NoTile {
                tiles: self.file.clone(),
                min_coverage: self.min_coverage,
            });
        }
        Ok(names)
    }
}
