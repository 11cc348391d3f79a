//! Events about a recorded CDSE product (its golden `ProductDiscovered` in `testdata/products`),
//! as the catalogue-publisher and processor-launcher would publish them.

use std::path::Path;

use chrono::Utc;
use geo::BoundingRect;
use nrt_events::{Alert, ItemPublished, JobDead, JobFailed, ProductDiscovered, Severity, job_id};

const PRODUCT: &str = "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505";
const PROCESSOR: &str = "snow-cover";
const RULE: &str = "snow-s2";

/// An orbit file: its key keeps the `.EOF` suffix, so ids made from it contain dots.
pub const ORBIT_PRODUCT: &str =
    "S1A_OPER_AUX_POEORB_OPOD_20210301T144249_V20140411T225944_20140413T005944.EOF";

pub fn product() -> ProductDiscovered {
    recorded(PRODUCT)
}

pub fn recorded(name: &str) -> ProductDiscovered {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/products")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn job() -> String {
    job_id(RULE, PROCESSOR, "1.2.0", [product().key.as_str()])
}

pub fn item(collection: &str) -> ItemPublished {
    item_about(product(), collection)
}

pub fn item_about(product: ProductDiscovered, collection: &str) -> ItemPublished {
    // The footprint's bounding box, as the catalogue-publisher writes it into the item.
    let bbox = product
        .footprint
        .as_ref()
        .and_then(|footprint| geo::Geometry::<f64>::try_from(footprint).ok())
        .and_then(|footprint| footprint.bounding_rect())
        .map(|rect| vec![rect.min().x, rect.min().y, rect.max().x, rect.max().y]);
    ItemPublished {
        item_id: product.key.clone(),
        collection: collection.into(),
        item_href: format!("s3://catalogue/{collection}/items/{}.json", product.key),
        job_id: job_id(RULE, PROCESSOR, "1.2.0", [product.key.as_str()]),
        processor: PROCESSOR.into(),
        input_keys: vec![product.key],
        datetime: Some(product.sensing_start),
        bbox,
        published_at: Utc::now(),
    }
}

pub fn job_failed() -> JobFailed {
    JobFailed {
        job_id: job(),
        rule: RULE.into(),
        processor: PROCESSOR.into(),
        processor_version: "1.2.0".into(),
        attempt: 2,
        input_keys: vec![product().key],
        reason: "exited with code 3".into(),
        exit_code: Some(3),
        log_tail: vec!["ERROR no cloud mask in product".into()],
        will_retry: true,
    }
}

pub fn job_dead() -> JobDead {
    JobDead {
        job_id: job(),
        rule: RULE.into(),
        processor: PROCESSOR.into(),
        processor_version: "1.2.0".into(),
        attempts: 3,
        input_keys: vec![product().key],
        reason: "used its 3 attempts".into(),
    }
}

pub fn alert(severity: Severity, kind: &str) -> Alert {
    Alert {
        severity,
        kind: kind.into(),
        service: "ingestor".into(),
        message: "Feed cdse-recorded has not answered for 10 minutes.".into(),
        about: "cdse-recorded".into(),
        raised_at: Utc::now(),
    }
}
