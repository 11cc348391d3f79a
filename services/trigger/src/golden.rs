//! The recorded CDSE products of `testdata/products` and a processor registry, for unit tests.

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

pub fn product(stem: &str) -> ProductDiscovered {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/products")
        .join(format!("{stem}.json"));
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
