//! An object in a bucket → the product it completes. Most objects are parts of a product (the
//! bands of a SAFE); only a marker (its manifest, or a single-file product) stands for it.

use chrono::{DateTime, Utc};
use nrt_events::{ProductDiscovered, product_key};
use serde::{Deserialize, Serialize};

use super::{config::BucketSource, naming::named_facts};
use crate::feed::EntryError;

/// Packaging directories whose name is the product's.
const PRODUCT_DIRECTORIES: [&str; 2] = [".SAFE", ".SEN3"];

/// An object as the bucket describes it, from an event or a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketObject {
    pub bucket: String,
    pub key: String,
    pub size: Option<u64>,
    pub etag: Option<String>,
    /// When it was written: the event time, or the listing's LastModified.
    pub modified: DateTime<Utc>,
}

impl BucketObject {
    /// Whether this object completes a product of `source`.
    pub fn is_marker(&self, source: &BucketSource) -> bool {
        self.key.starts_with(&source.prefix)
            && source
                .markers
                .iter()
                .any(|marker| self.key.ends_with(marker))
    }
}

/// The product a marker object completes. Its identity is its name without packaging, as for
/// every other source, so a product seen in the bucket and in the catalogue is one event.
pub fn product_of(
    object: &BucketObject,
    feed: &str,
    source: &BucketSource,
) -> Result<ProductDiscovered, EntryError> {
    let (name, root) = product_name(&object.key);
    let fail = |field: &str, problem| EntryError {
        product: format!("object s3://{}/{}", object.bucket, object.key),
        field: field.to_owned(),
        problem,
    };
    nrt_s3::validate_key(&object.key).map_err(|_| {
        fail(
            "key",
            "is not a safe object key (`..`, control characters, ...)",
        )
    })?;
    let facts = named_facts(name);
    let collection = facts
        .as_ref()
        .map(|facts| facts.collection.to_owned())
        .or_else(|| source.collection.clone())
        .ok_or_else(|| {
            fail(
                "key",
                "names no Sentinel product and the feed configures no collection",
            )
        })?;
    let product_type = facts
        .as_ref()
        .map(|facts| facts.product_type.clone())
        .or_else(|| source.product_type.clone())
        .ok_or_else(|| {
            fail(
                "key",
                "names no Sentinel product and the feed configures no product_type",
            )
        })?;
    // A product whose name carries no sensing time is dated by its arrival.
    let (sensing_start, sensing_end) = facts
        .as_ref()
        .map_or((object.modified, object.modified), |facts| {
            (facts.sensing_start, facts.sensing_end)
        });
    let is_single_file = root == object.key;
    Ok(ProductDiscovered {
        key: product_key(name),
        feed_id: format!("s3://{}/{root}", object.bucket),
        name: name.to_owned(),
        collection,
        product_type,
        platform: facts.map(|facts| facts.platform),
        sensing_start,
        sensing_end,
        published_at: object.modified,
        footprint: None,
        // A marker inside a directory is not the product: its size would mislead.
        size: object.size.filter(|_| is_single_file),
        checksums: Vec::new(),
        s3_uri: Some(format!("s3://{}/{root}", object.bucket)),
        href: None,
        attributes: Default::default(),
        feed: feed.to_owned(),
    })
}

/// The product's name and the key of its root: the packaging directory the key is in, or the
/// object itself.
fn product_name(key: &str) -> (&str, &str) {
    let mut end = 0;
    for segment in key.split('/') {
        end += segment.len();
        if PRODUCT_DIRECTORIES
            .iter()
            .any(|suffix| segment.ends_with(suffix))
        {
            return (segment, &key[..end]);
        }
        end += 1;
    }
    let name = key.rsplit('/').next().unwrap_or(key);
    (name, key)
}

#[cfg(test)]
mod tests {
    use nrt_s3::S3Config;

    use super::*;

    fn source() -> BucketSource {
        BucketSource::new("eodata", S3Config::local("http://127.0.0.1:1", "k", "s"))
    }

    fn object(key: &str) -> BucketObject {
        BucketObject {
            bucket: "eodata".into(),
            key: key.into(),
            size: Some(1234),
            etag: Some("abc".into()),
            modified: "2026-01-22T10:00:00Z".parse().unwrap(),
        }
    }

    const SAFE: &str = "Sentinel-1/SAR/IW_GRDH_1S/2026/01/01/\
        S1A_IW_GRDH_1SDV_20260101T012439_20260101T012508_062567_07D772_8DAD.SAFE";

    #[test]
    fn a_manifest_stands_for_its_safe_with_the_catalogue_identity() {
        let manifest = object(&format!("{SAFE}/manifest.safe"));
        assert!(manifest.is_marker(&source()));
        let product = product_of(&manifest, "bucket", &source()).unwrap();
        assert_eq!(
            product.key,
            "S1A_IW_GRDH_1SDV_20260101T012439_20260101T012508_062567_07D772_8DAD"
        );
        assert_eq!(
            product.s3_uri.as_deref(),
            Some(format!("s3://eodata/{SAFE}").as_str())
        );
        assert_eq!(
            (product.collection.as_str(), product.product_type.as_str()),
            ("SENTINEL-1", "IW_GRDH_1S")
        );
        assert_eq!(
            product.size, None,
            "the manifest's size is not the product's"
        );
        assert_eq!(
            product.sensing_start,
            "2026-01-01T01:24:39Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(product.published_at, manifest.modified);
    }

    #[test]
    fn parts_of_a_product_are_not_markers() {
        for key in [
            format!("{SAFE}/measurement/s1a-iw-grd-vv.tiff"),
            "other-prefix/x.zip".to_owned(),
        ] {
            let mut source = source();
            source.prefix = "Sentinel-1/".into();
            assert!(!object(&key).is_marker(&source), "{key}");
        }
    }

    #[test]
    fn a_single_file_product_outside_the_conventions_takes_the_configured_collection() {
        let mut source = source();
        let file = object("gaia/dr3/epoch_photometry_000123.zip");
        let error = product_of(&file, "bucket", &source).unwrap_err();
        assert_eq!(
            error.to_string(),
            "object s3://eodata/gaia/dr3/epoch_photometry_000123.zip: key names no Sentinel \
             product and the feed configures no collection"
        );
        source.collection = Some("GAIA-DR3".into());
        source.product_type = Some("EPOCH_PHOTOMETRY".into());
        let product = product_of(&file, "bucket", &source).unwrap();
        assert_eq!(product.key, "epoch_photometry_000123");
        assert_eq!(product.size, Some(1234));
        assert_eq!(product.sensing_start, file.modified);
    }

    #[test]
    fn unsafe_keys_are_refused_by_name() {
        for key in ["a/../b.zip", "a/b\u{7}.zip"] {
            let error = product_of(&object(key), "bucket", &source()).unwrap_err();
            assert_eq!(error.field, "key", "{key}");
            assert!(
                error.to_string().contains("is not a safe object key"),
                "{error}"
            );
        }
    }
}
