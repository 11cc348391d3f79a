//! What a Sentinel product's name says about it, for sources that see only the name (an object
//! key in a bucket): the mission collection, the product type as CDSE spells it, the platform and
//! the sensing times. The naming conventions are ESA's product format specifications; the tests
//! check them against the recorded CDSE entities, whose attributes say the same things.

use chrono::{DateTime, NaiveDateTime, Utc};

/// The facts a product name carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFacts {
    pub collection: &'static str,
    pub product_type: String,
    /// `SENTINEL-2A`, as the OData mapping builds it from platformShortName and serial.
    pub platform: String,
    pub sensing_start: DateTime<Utc>,
    pub sensing_end: DateTime<Utc>,
}

/// The facts of a Sentinel-1, -2, -3 or -5P product name (packaging suffix or not); `None` for
/// any other name, whose feed must then configure collection and product type.
pub fn named_facts(name: &str) -> Option<NamedFacts> {
    let name = name.split('.').next()?;
    if !name.is_ascii() {
        return None;
    }
    let unit = name.get(2..3)?;
    match name.get(..2)? {
        "S1" => sentinel_1(name, unit),
        "S2" => sentinel_2(name, unit),
        "S3" => sentinel_3(name, unit),
        "S5" if unit == "P" => sentinel_5p(name),
        _ => None,
    }
}

/// `S1A_IW_GRDH_1SDV_20260101T012439_20260101T012508_062567_07D772_8DAD`: mode, type with
/// resolution, level and class, start, stop. CDSE's productType is `IW_GRDH_1S`.
fn sentinel_1(name: &str, unit: &str) -> Option<NamedFacts> {
    let mode = name.get(4..6)?;
    let kind = name.get(7..11)?;
    let level_and_class = name.get(12..14)?;
    let known_kind = ["GRDH", "GRDM", "GRDF", "SLC_", "RAW_", "OCN_"].contains(&kind);
    if !known_kind || name.get(3..4)? != "_" || name.get(6..7)? != "_" {
        return None;
    }
    Some(NamedFacts {
        collection: "SENTINEL-1",
        product_type: format!("{mode}_{kind}_{level_and_class}"),
        platform: format!("SENTINEL-1{unit}"),
        sensing_start: compact_time(name.get(17..32)?)?,
        sensing_end: compact_time(name.get(33..48)?)?,
    })
}

/// `S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505`: level, then the datatake's
/// sensing start, which is also the stop CDSE reports.
fn sentinel_2(name: &str, unit: &str) -> Option<NamedFacts> {
    let product_type = match name.get(4..10)? {
        "MSIL1C" => "S2MSI1C",
        "MSIL2A" => "S2MSI2A",
        "MSIL1B" => "S2MSI1B",
        _ => return None,
    };
    let sensed = compact_time(name.get(11..26)?)?;
    Some(NamedFacts {
        collection: "SENTINEL-2",
        product_type: product_type.to_owned(),
        platform: format!("SENTINEL-2{unit}"),
        sensing_start: sensed,
        sensing_end: sensed,
    })
}

/// `S3A_OL_2_LFR____20231008T095353_20231008T095653_...`: an 11-character type, start, stop.
fn sentinel_3(name: &str, unit: &str) -> Option<NamedFacts> {
    let product_type = name.get(4..15)?;
    if !product_type
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return None;
    }
    Some(NamedFacts {
        collection: "SENTINEL-3",
        product_type: product_type.to_owned(),
        platform: format!("SENTINEL-3{unit}"),
        sensing_start: compact_time(name.get(16..31)?)?,
        sensing_end: compact_time(name.get(32..47)?)?,
    })
}

/// `S5P_OFFL_L2__NO2____20240101T001122_20240101T015252_...`: stream, a 10-character type,
/// start, stop.
fn sentinel_5p(name: &str) -> Option<NamedFacts> {
    Some(NamedFacts {
        collection: "SENTINEL-5P",
        product_type: name.get(9..19)?.to_owned(),
        platform: "SENTINEL-5P".to_owned(),
        sensing_start: compact_time(name.get(20..35)?)?,
        sensing_end: compact_time(name.get(36..51)?)?,
    })
}

/// `20260101T012439` as UTC.
fn compact_time(text: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%S")
        .ok()
        .map(|time| time.and_utc())
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// Every recorded CDSE data product: what its name says matches what its attributes say,
    /// to the second.
    #[test]
    fn recorded_data_products_name_what_their_attributes_say() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/fixtures/cdse-odata"
        );
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if !path.to_string_lossy().contains("_products_") {
                continue;
            }
            let page: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            for entity in page["value"].as_array().unwrap() {
                let name = entity["Name"].as_str().unwrap();
                let attribute = |wanted: &str| {
                    entity["Attributes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|a| a["Name"] == wanted)
                        .and_then(|a| a["Value"].as_str())
                        .map(str::to_owned)
                };
                let Some(facts) = named_facts(name) else {
                    // Auxiliary files follow other conventions and are not named products.
                    assert!(name.contains("_AUX_"), "{name} should be recognised");
                    continue;
                };
                assert_eq!(
                    Some(facts.collection.to_owned()),
                    attribute("platformShortName"),
                    "{name}"
                );
                assert_eq!(
                    Some(facts.product_type.clone()),
                    attribute("productType"),
                    "{name}"
                );
                assert_eq!(
                    Some(facts.platform.clone()),
                    attribute("platformShortName")
                        .zip(attribute("platformSerialIdentifier"))
                        .map(|(platform, serial)| format!("{platform}{serial}")),
                    "{name}"
                );
                let start: DateTime<Utc> = entity["ContentDate"]["Start"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(facts.sensing_start.timestamp(), start.timestamp(), "{name}");
                checked += 1;
            }
        }
        // 20 Sentinel-1 GRD and 2 Sentinel-2 L1C products; the other 17 are auxiliary files.
        assert_eq!(checked, 22);
    }

    #[test]
    fn sentinel_3_and_5p_names_are_read_too() {
        let olci = named_facts(
            "S3A_OL_2_LFR____20231008T095353_20231008T095653_20231009T140926_0179_104_136_2160_PS1_O_NT_002.SEN3",
        )
        .unwrap();
        assert_eq!(
            (
                olci.collection,
                olci.product_type.as_str(),
                olci.platform.as_str()
            ),
            ("SENTINEL-3", "OL_2_LFR___", "SENTINEL-3A")
        );
        assert_eq!(olci.sensing_end, at("2023-10-08T09:56:53Z"));
        let no2 = named_facts(
            "S5P_OFFL_L2__NO2____20240101T001122_20240101T015252_32258_03_020600_20240102T161120.nc",
        )
        .unwrap();
        assert_eq!(
            (no2.collection, no2.product_type.as_str()),
            ("SENTINEL-5P", "L2__NO2___")
        );
        assert_eq!(no2.sensing_start, at("2024-01-01T00:11:22Z"));
    }

    #[test]
    fn other_names_say_nothing() {
        for name in [
            "gaia_dr3_source_000123.fits",
            "S2A_MSIL9Z_20200808T010311_N0500_R045_T54PXA_20230413T212505.SAFE",
            "S1A_IW_GRDH_1SDV_2026XX01T012439_20260101T012508_062567_07D772_8DAD.SAFE",
            "S1",
            "S2Ä_MSIL1C_20200808T010311",
        ] {
            assert_eq!(named_facts(name), None, "{name}");
        }
    }
}
