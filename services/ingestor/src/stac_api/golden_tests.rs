//! Golden products of `testdata/products-stac`: the recorded CDSE STAC items as the ingestor maps
//! them, for other crates' tests (the trigger's conditions run on their real footprints).
//! `UPDATE_GOLDEN=1 cargo nextest run -p ingestor golden` rewrites the files.

use std::path::{Path, PathBuf};

use nrt_events::ProductDiscovered;
use serde_json::Value;
use url::Url;

use super::{StacSource, mapping::discovered};

const ITEMS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/fixtures/cdse-stac"
);
const PRODUCTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/products-stac");

/// The recorded item, its collection, and the golden file it maps to.
const GOLDEN: [(&str, &str, &str); 3] = [
    (
        "item_sentinel-2-l2a_S2A_MSIL2A_20220217T183431_N0510_R027_T13VEK_20240516T022440.json",
        "sentinel-2-l2a",
        "S2A_MSIL2A_20220217T183431_N0510_R027_T13VEK_20240516T022440.json",
    ),
    (
        "item_sentinel-2-l1c_S2A_MSIL1C_20240116T000741_N0510_R130_T51CVP_20240116T010505.json",
        "sentinel-2-l1c",
        "S2A_MSIL1C_20240116T000741_N0510_R130_T51CVP_20240116T010505.json",
    ),
    (
        "item_sentinel-1-grd_S1A_IW_GRDH_1SDV_20240607T000653_20240607T000718_054210_0697DA_6EE4_COG.json",
        "sentinel-1-grd",
        "S1A_IW_GRDH_1SDV_20240607T000653_20240607T000718_054210_0697DA_6EE4_COG.json",
    ),
];

fn mapped(item: &str, collection: &str) -> ProductDiscovered {
    let item: Value =
        serde_json::from_slice(&std::fs::read(Path::new(ITEMS).join(item)).unwrap()).unwrap();
    let source = StacSource::new(
        Url::parse("https://stac.dataspace.copernicus.eu/v1").unwrap(),
        vec![collection.into()],
    );
    discovered(&item, 0, "cdse-stac", &source).unwrap()
}

#[test]
fn the_golden_stac_products_are_what_the_mapping_makes_of_the_recorded_items() {
    let is_updating = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (item, collection, golden) in GOLDEN {
        let product = mapped(item, collection);
        // Compared as text: without serde_json's float_roundtrip feature, which the workspace
        // build may or may not unify in, reading a coordinate back can land one ULP off.
        let text = serde_json::to_string_pretty(&product).unwrap() + "\n";
        let path: PathBuf = Path::new(PRODUCTS).join(golden);
        if is_updating {
            std::fs::create_dir_all(PRODUCTS).unwrap();
            std::fs::write(&path, &text).unwrap();
        }
        let recorded = std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!("{}: {error}; run with UPDATE_GOLDEN=1", path.display())
        });
        assert!(
            recorded == text,
            "{golden} differs from what the mapping makes; run with UPDATE_GOLDEN=1"
        );
        let _: ProductDiscovered = serde_json::from_str(&recorded).unwrap();
    }
}
