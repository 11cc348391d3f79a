//! Where the static catalogue's documents live:
//!
//! ```text
//! <prefix>/catalog.json
//! <prefix>/<collection>/collection.json
//! <prefix>/<collection>/items/<item id>.json
//! ```
//!
//! STAC's best practice puts each item in a folder of its own so its assets can sit beside it;
//! here the assets stay in the outputs bucket, so the folder would only double the key's length
//! (item ids carry whole product names, and some S3 backends limit keys well below 1024 bytes).
//!
//! Documents link to each other with relative hrefs, so the tree can be copied or served from
//! anywhere; `self` links and asset hrefs are absolute (`s3://…` or the public URL).

use url::Url;

/// File name of the root catalog.
pub const CATALOG_FILE: &str = "catalog.json";
/// File name of every collection document.
pub const COLLECTION_FILE: &str = "collection.json";

/// From an item to the root catalog.
pub const ITEM_TO_CATALOG: &str = "../../catalog.json";
/// From an item to its collection.
pub const ITEM_TO_COLLECTION: &str = "../collection.json";
/// From a collection to the root catalog.
pub const COLLECTION_TO_CATALOG: &str = "../catalog.json";
/// From the root catalog to itself.
pub const CATALOG_TO_CATALOG: &str = "./catalog.json";

/// From the root catalog to a collection.
pub fn catalog_to_collection(collection: &str) -> String {
    format!("./{collection}/{COLLECTION_FILE}")
}

/// From a collection to one of its items.
pub fn collection_to_item(item_id: &str) -> String {
    format!("./items/{item_id}.json")
}

/// The catalogue's place in S3 and how its objects are addressed from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    bucket: String,
    /// Without leading or trailing `/`; empty for the bucket's root.
    prefix: String,
    public_base_url: Option<Url>,
}

impl Layout {
    pub fn new(bucket: &str, prefix: &str, public_base_url: Option<Url>) -> Self {
        Self {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            public_base_url,
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn catalog_key(&self) -> String {
        self.key(CATALOG_FILE)
    }

    pub fn collection_key(&self, collection: &str) -> String {
        self.key(&format!("{collection}/{COLLECTION_FILE}"))
    }

    pub fn item_key(&self, collection: &str, item_id: &str) -> String {
        self.key(&format!("{collection}/items/{item_id}.json"))
    }

    /// A key next to the catalog, for objects that are not part of it (the write probe).
    pub fn private_key(&self, name: &str) -> String {
        self.key(name)
    }

    /// How the outside world reaches `key` of `bucket`: `<public_base_url>/<key>` when a public
    /// URL is configured, else `s3://<bucket>/<key>`.
    pub fn href(&self, bucket: &str, key: &str) -> String {
        match &self.public_base_url {
            Some(base) => {
                let mut url = base.clone();
                url.path_segments_mut()
                    .expect("http(s) URLs always have a path")
                    .pop_if_empty()
                    .extend(key.split('/'));
                url.to_string()
            }
            None => format!("s3://{bucket}/{key}"),
        }
    }

    /// [`Layout::href`] of a key of the catalogue's own bucket.
    pub fn catalogue_href(&self, key: &str) -> String {
        self.href(&self.bucket, key)
    }

    fn key(&self, relative: &str) -> String {
        if self.prefix.is_empty() {
            relative.to_owned()
        } else {
            format!("{}/{relative}", self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_flat_items_layout_under_the_prefix() {
        let layout = Layout::new("catalogue", "/stac/nrt/", None);
        assert_eq!(layout.catalog_key(), "stac/nrt/catalog.json");
        assert_eq!(
            layout.collection_key("footprint"),
            "stac/nrt/footprint/collection.json"
        );
        assert_eq!(
            layout.item_key("footprint", "footprint-S2A_X"),
            "stac/nrt/footprint/items/footprint-S2A_X.json"
        );
        let root = Layout::new("catalogue", "", None);
        assert_eq!(root.catalog_key(), "catalog.json");
    }

    #[test]
    fn hrefs_are_s3_uris_without_a_public_url() {
        let layout = Layout::new("catalogue", "", None);
        assert_eq!(
            layout.href("outputs", "jobs/abc/out.tif"),
            "s3://outputs/jobs/abc/out.tif"
        );
    }

    #[test]
    fn hrefs_under_a_public_url_keep_its_path_and_encode_each_segment() {
        let base = Url::parse("https://data.example.eu/nrt/").unwrap();
        let layout = Layout::new("catalogue", "", Some(base));
        assert_eq!(
            layout.href("outputs", "jobs/abc/snow map.tif"),
            "https://data.example.eu/nrt/jobs/abc/snow%20map.tif"
        );
        let without_slash = Url::parse("https://data.example.eu/nrt").unwrap();
        let layout = Layout::new("catalogue", "", Some(without_slash));
        assert_eq!(
            layout.catalogue_href("catalog.json"),
            "https://data.example.eu/nrt/catalog.json"
        );
    }

    #[test]
    fn relative_links_resolve_to_the_documents_keys() {
        let layout = Layout::new("catalogue", "stac", None);
        let base = |key: &str| Url::parse(&format!("s3://catalogue/{key}")).unwrap();
        let item = base(&layout.item_key("c", "i"));
        assert_eq!(
            item.join(ITEM_TO_CATALOG).unwrap(),
            base(&layout.catalog_key())
        );
        assert_eq!(
            item.join(ITEM_TO_COLLECTION).unwrap(),
            base(&layout.collection_key("c"))
        );
        let collection = base(&layout.collection_key("c"));
        assert_eq!(collection.join(&collection_to_item("i")).unwrap(), item);
        assert_eq!(
            collection.join(COLLECTION_TO_CATALOG).unwrap(),
            base(&layout.catalog_key())
        );
        let catalog = base(&layout.catalog_key());
        assert_eq!(
            catalog.join(&catalog_to_collection("c")).unwrap(),
            collection
        );
        assert_eq!(catalog.join(CATALOG_TO_CATALOG).unwrap(), catalog);
    }
}
