//! Synthetic products for benchmarks: as many as asked, each shaped like a recorded Sentinel-2
//! L1C entity, with its own id, name, sensing and publication time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::{ReplayFeed, feed::RECORDED_PAGES};

impl ReplayFeed {
    /// `count` products like the recorded S2 L1C ones: product `i` is published at
    /// `first_published + i × spacing` (a zero spacing makes them all tie) and sensed `i` seconds
    /// after the template, which keeps names unique.
    pub fn synthetic(count: usize, first_published: DateTime<Utc>, spacing: Duration) -> Self {
        let template = s2_l1c_template();
        let spacing = chrono::Duration::from_std(spacing).expect("spacing fits chrono's range");
        let sensed: DateTime<Utc> = template["ContentDate"]["Start"]
            .as_str()
            .and_then(|text| text.parse().ok())
            .expect("the template has a sensing time");
        let entities = (0..count)
            .map(|index| {
                let offset = i32::try_from(index).expect("fewer than 2^31 synthetic products");
                synthetic_entity(
                    &template,
                    index,
                    sensed + chrono::Duration::seconds(i64::from(offset)),
                    first_published + spacing * offset,
                )
            })
            .collect();
        Self::from_products(entities).expect("synthetic products carry Id and PublicationDate")
    }
}

fn s2_l1c_template() -> Value {
    let (_, page) = RECORDED_PAGES
        .iter()
        .find(|(name, _)| name.starts_with("s2_l1c"))
        .expect("the S2 L1C page is recorded");
    let mut page: Value = serde_json::from_str(page).expect("the S2 L1C page parses");
    page["value"][0].take()
}

fn synthetic_entity(
    template: &Value,
    index: usize,
    sensed: DateTime<Utc>,
    published: DateTime<Utc>,
) -> Value {
    let time = |at: DateTime<Utc>| at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let name = format!(
        "S2A_MSIL1C_{}_N0500_R045_T54PXA_{}.SAFE",
        sensed.format("%Y%m%dT%H%M%S"),
        published.format("%Y%m%dT%H%M%S")
    );
    let mut entity = template.clone();
    entity["Id"] = json!(format!("5e7d0000-0000-4000-8000-{index:012x}"));
    entity["Name"] = json!(name);
    entity["PublicationDate"] = json!(time(published));
    entity["OriginDate"] = json!(time(published));
    entity["ModificationDate"] = json!(time(published));
    entity["ContentDate"] = json!({ "Start": time(sensed), "End": time(sensed) });
    entity["S3Path"] = json!(format!(
        "/eodata/Sentinel-2/MSI/L1C_N0500/{}/{name}",
        sensed.format("%Y/%m/%d")
    ));
    entity["Checksum"] = json!([
        { "Value": format!("{index:032x}"), "Algorithm": "MD5", "ChecksumDate": time(published) },
        { "Value": format!("{index:064x}"), "Algorithm": "BLAKE3", "ChecksumDate": time(published) },
    ]);
    if let Some(attributes) = entity["Attributes"].as_array_mut() {
        for attribute in attributes {
            if matches!(
                attribute["Name"].as_str(),
                Some("beginningDateTime" | "endingDateTime")
            ) {
                attribute["Value"] = json!(time(sensed));
            }
        }
    }
    entity
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn synthetic_products_are_distinct_and_published_in_order() {
        let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let feed = ReplayFeed::synthetic(500, start, Duration::from_millis(10));
        assert_eq!(feed.product_count(), 500);
        let entities: Vec<Value> = feed
            .entities()
            .map(|raw| serde_json::from_str(raw.get()).unwrap())
            .collect();
        let names: HashSet<&str> = entities
            .iter()
            .map(|e| e["Name"].as_str().unwrap())
            .collect();
        let published: HashSet<&str> = entities
            .iter()
            .map(|e| e["PublicationDate"].as_str().unwrap())
            .collect();
        assert_eq!((names.len(), published.len()), (500, 500));
        assert_eq!(
            entities[0]["PublicationDate"],
            "2026-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            entities[1]["PublicationDate"],
            "2026-01-01T00:00:00.010000Z"
        );
        let product_type = entities[7]["Attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["Name"] == "productType")
            .unwrap();
        assert_eq!(product_type["Value"], "S2MSI1C");
    }
}
