use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{EventData, subject_token};

/// A product became available in a feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductDiscovered {
    /// The product's identity across feeds: its name without packaging suffix (see [`product_key`]).
    pub key: String,
    /// The feed's own id for the product (a CDSE UUID, a STAC item id).
    pub feed_id: String,
    /// The full product name, e.g. `S2A_MSIL1C_..._20230413T212505.SAFE`.
    pub name: String,
    /// The mission collection, e.g. `SENTINEL-2`.
    pub collection: String,
    pub product_type: String,
    pub platform: Option<String>,
    pub sensing_start: DateTime<Utc>,
    pub sensing_end: DateTime<Utc>,
    /// When the feed published the product: the start of the end-to-end latency.
    pub published_at: DateTime<Utc>,
    /// GeoJSON footprint (WGS 84); auxiliary products have none.
    pub footprint: Option<geojson::Geometry>,
    pub size: Option<u64>,
    pub checksums: Vec<Checksum>,
    /// Where the product can be read by S3, e.g. `s3://eodata/Sentinel-2/MSI/L1C/...`.
    pub s3_uri: Option<String>,
    /// Where the product can be downloaded over HTTP.
    pub href: Option<String>,
    /// Feed attributes by name (cloudCover, orbitDirection, tileId, ...), as the feed typed them.
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// The configured name of the feed that saw it.
    pub feed: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    /// As the feed names it: `MD5`, `BLAKE3`, `SHA256`, ...
    pub algorithm: String,
    pub value: String,
}

impl EventData for ProductDiscovered {
    const TYPE: &'static str = "eu.nrtmesh.product.discovered.v1";

    fn subject(&self) -> String {
        format!(
            "products.discovered.{}.{}",
            subject_token(&self.collection),
            subject_token(&self.product_type)
        )
    }

    fn event_id(&self) -> String {
        format!("product-discovered:{}", self.key)
    }

    fn about(&self) -> Option<String> {
        Some(self.name.clone())
    }
}

/// The identity of a product whatever feed reports it: its name without the packaging suffix,
/// since CDSE names a product `X.SAFE` while STAC catalogues call the same product `X`.
pub fn product_key(name: &str) -> String {
    const PACKAGING: [&str; 4] = [".SAFE", ".SEN3", ".zip", ".SAFE.zip"];
    let mut key = name;
    for suffix in PACKAGING.iter().rev() {
        if let Some(stem) = key.strip_suffix(suffix) {
            key = stem;
            break;
        }
    }
    key.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_key_drops_packaging_suffix_only() {
        assert_eq!(
            product_key("S2A_MSIL1C_20200808T010311.SAFE"),
            "S2A_MSIL1C_20200808T010311"
        );
        assert_eq!(product_key("S1A_IW_GRDH.SAFE.zip"), "S1A_IW_GRDH");
        assert_eq!(
            product_key("S1A_OPER_AUX_POEORB_V20140411.EOF"),
            "S1A_OPER_AUX_POEORB_V20140411.EOF"
        );
    }
}

#[cfg(test)]
mod golden_tests {
    use super::*;

    #[test]
    fn every_golden_product_decodes_and_survives_a_cloudevent_round_trip() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/products");
        let mut count = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            let product: ProductDiscovered = serde_json::from_slice(&std::fs::read(&path).unwrap())
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            assert_eq!(product.key, product_key(&product.name));
            let event = crate::Envelope::new("/test", product.clone());
            assert_eq!(
                crate::Envelope::<ProductDiscovered>::from_json(&event.to_json())
                    .unwrap()
                    .data,
                product
            );
            count += 1;
        }
        assert_eq!(count, 39);
    }
}
