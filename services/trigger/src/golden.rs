//! The recorded CDSE products of `testdata/products` (from OData) and `testdata/products-stac`
//! (from STAC, as the ingestor maps them), and a processor registry, for unit tests.

use std::path::PathBuf;

use nrt_events::ProductDiscovered;
use nrt_registry::ProcessorRegistry;

/// Sentinel-2 L1C, tile 54PXA, cloudCover 95.136736479015.
pub const S2_L1C_54PXA: &str = "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505";
/// Sentinel-2 L1C, tile 55PBR, cloudCover 95.3695186848618.
pub const S2_L1C_55PBR: &str = "S2A_MSIL1C_20200808T010311_N0500_R045_T55PBR_20230413T212505";
/// Sentinel-1 GRD IW_GRDH_1S, ASCENDING, relative orbit 20, sliceProductFlag false,
/// completionTimeFromAscendingNode 505641.4.
pub const S1_GRD_ASCENDING: &str =
    "S1A_IW_GRDH_1SDV_20260101T012439_20260101T012508_062567_07D772_8DAD";
/// The next slice of the same datatake; completionTimeFromAscendingNode is an integer here.
pub const S1_GRD_NEXT_SLICE: &str =
    "S1A_IW_GRDH_1SDV_20260101T012508_20260101T012542_062567_07D772_7994";
/// Sentinel-1 AUX_INS: no footprint, no orbit or cloud attributes.
pub const S1_AUX_INS: &str = "S1A_AUX_INS_V20140406T010000_G20140409T142540";
/// Sentinel-2 L2A from STAC, tile 13VEK (northern Canada, longitudes -105 to -102.8), sensed at
/// 18:34:31 UTC, late morning there.
pub const S2_L2A_13VEK: &str = "S2A_MSIL2A_20220217T183431_N0510_R027_T13VEK_20240516T022440";
/// Sentinel-2 L1C from STAC, tile 51CVP (Antarctica, latitude -78).
pub const S2_L1C_51CVP: &str = "S2A_MSIL1C_20240116T000741_N0510_R130_T51CVP_20240116T010505";
/// Sentinel-1 GRD from STAC, a COG over Guatemala and Belize.
pub const S1_GRD_COG: &str =
    "S1A_IW_GRDH_1SDV_20240607T000653_20240607T000718_054210_0697DA_6EE4_COG";

/// The golden product named `stem`, from either directory.
pub fn product(stem: &str) -> ProductDiscovered {
    let testdata = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let path = ["products", "products-stac"]
        .iter()
        .map(|dir| testdata.join(dir).join(format!("{stem}.json")))
        .find(|path| path.exists())
        .unwrap_or_else(|| panic!("no golden product {stem} in {}", testdata.display()));
    let body = std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_slice(&body).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

pub fn registry() -> ProcessorRegistry {
    ProcessorRegistry::parse(
        r#"
        [processors.footprint]
        version = "1.0.0"
        command = ["nrt-footprint", "--manifest", "{manifest}"]

        [processors.sar-backscatter]
        version = "2.1.0"
        command = ["sar-backscatter", "{manifest}"]
        "#,
        PathBuf::new(),
    )
    .unwrap()
}

/// A Sentinel-1 slice over both recorded Sentinel-2 tiles on their day. No recorded slice
/// crosses them: this is the golden slice with its footprint and times moved there.
pub fn radar_over_both_tiles() -> ProductDiscovered {
    let mut radar = product(S1_GRD_ASCENDING);
    radar.footprint = Some(
        serde_json::from_value(serde_json::json!({
            "type": "Polygon",
            "coordinates": [[[142.5, 13.6], [144.8, 13.6], [144.8, 14.3], [142.5, 14.3], [142.5, 13.6]]],
        }))
        .unwrap(),
    );
    radar.sensing_start = "2020-08-08T08:40:00Z".parse().unwrap();
    radar.sensing_end = "2020-08-08T08:40:25Z".parse().unwrap();
    radar
}
