use bytes::Bytes;
use nrt_s3::S3Error;
use stac::{Catalog, Collection, Item};
use url::Url;

use super::*;
use crate::{
    store::{Precondition, Versioned, Written, memory::MemoryStore},
    testing::{S1C_SLICE_1, S1C_SLICE_2, S2_T54PXA, assert_valid_item, config, job, validator},
};

fn catalogue(store: &MemoryStore) -> Catalogue<MemoryStore> {
    Catalogue::new(store.clone(), &config())
}

fn read<T: serde::de::DeserializeOwned>(store: &MemoryStore, key: &str) -> T {
    let body = store
        .object(key)
        .unwrap_or_else(|| panic!("{key} was not written"));
    serde_json::from_slice(&body).unwrap()
}

/// Follows a relative href from the document at `key` to the key it names.
fn follow(key: &str, href: &str) -> String {
    let base = Url::parse(&format!("s3://catalogue/{key}")).unwrap();
    base.join(href)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned()
}

#[tokio::test]
async fn a_job_becomes_an_item_reachable_from_the_root_catalog() {
    let store = MemoryStore::default();
    let job = job(&[S2_T54PXA]);
    let published = catalogue(&store).publish(&job).await.unwrap();

    let catalog: Catalog = read(&store, "catalog.json");
    let child = catalog.links.iter().find(|link| link.is_child()).unwrap();
    let collection_key = follow("catalog.json", &child.href);
    let collection_json: serde_json::Value = read(&store, &collection_key);
    validator().validate_collection(&collection_json).unwrap();
    let collection: Collection = serde_json::from_value(collection_json).unwrap();
    assert_eq!(collection.id, "footprint");
    let item_link = collection.links.iter().find(|link| link.is_item()).unwrap();
    let item_key = follow(&collection_key, &item_link.href);
    let item_json: serde_json::Value = read(&store, &item_key);
    assert_valid_item(&item_json);
    let item: Item = serde_json::from_value(item_json).unwrap();
    assert_eq!(item.id, published.item_id);
    let up = item.links.iter().find(|link| link.is_root()).unwrap();
    assert_eq!(follow(&item_key, &up.href), "catalog.json");

    assert_eq!(published.collection, "footprint");
    assert_eq!(published.item_href, format!("s3://catalogue/{item_key}"));
    assert_eq!(published.job_id, job.job_id);
    assert_eq!(published.input_keys, [S2_T54PXA]);
    assert_eq!(published.datetime, item.properties.datetime);
    assert_eq!(published.bbox, item.bbox.map(Vec::from));
}

#[tokio::test]
async fn publishing_the_same_job_again_changes_nothing() {
    let store = MemoryStore::default();
    let catalogue = catalogue(&store);
    let job = job(&[S1C_SLICE_1, S1C_SLICE_2]);
    let first = catalogue.publish(&job).await.unwrap();
    let snapshot: Vec<(String, Bytes)> = store
        .keys()
        .into_iter()
        .map(|key| (key.clone(), store.object(&key).unwrap()))
        .collect();
    let again = catalogue.publish(&job).await.unwrap();
    assert_eq!(again.item_href, first.item_href);
    for (key, body) in snapshot {
        assert_eq!(store.object(&key).unwrap(), body, "{key} changed on replay");
    }
    let collection: Collection = read(&store, "footprint/collection.json");
    assert_eq!(
        collection
            .links
            .iter()
            .filter(|link| link.is_item())
            .count(),
        1
    );
}

#[tokio::test]
async fn items_of_one_processor_share_a_collection_linked_once() {
    let store = MemoryStore::default();
    let catalogue = catalogue(&store);
    catalogue.publish(&job(&[S2_T54PXA])).await.unwrap();
    catalogue.publish(&job(&[S1C_SLICE_1])).await.unwrap();
    let collection: Collection = read(&store, "footprint/collection.json");
    assert_eq!(
        collection
            .links
            .iter()
            .filter(|link| link.is_item())
            .count(),
        2
    );
    let catalog: Catalog = read(&store, "catalog.json");
    assert_eq!(
        catalog.links.iter().filter(|link| link.is_child()).count(),
        1
    );
}

#[tokio::test]
async fn a_job_that_cannot_be_catalogued_is_a_permanent_error_and_writes_nothing() {
    let store = MemoryStore::default();
    let mut job = job(&[S2_T54PXA]);
    job.outputs[1].sha256 = "not-a-digest".into();
    let error = catalogue(&store).publish(&job).await.unwrap_err();
    assert!(matches!(error, Error::InvalidJob { .. }), "{error}");
    assert!(!error.is_transient());
    assert!(error.to_string().contains(&job.job_id), "{error}");
    assert!(store.keys().is_empty());
}

#[tokio::test]
async fn a_processor_name_unusable_as_a_collection_id_is_refused() {
    let store = MemoryStore::default();
    let mut job = job(&[S2_T54PXA]);
    job.processor = "../escape".into();
    let error = catalogue(&store).publish(&job).await.unwrap_err();
    assert!(
        error.to_string().contains("collection id is unusable"),
        "{error}"
    );
    assert!(store.keys().is_empty());
}

/// A store whose reads return something other than what was written.
#[derive(Clone)]
struct Garbling(MemoryStore);

impl ObjectStore for Garbling {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, S3Error> {
        Ok(self.0.object(key).map(|body| body.slice(..body.len() / 2)))
    }

    async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>, S3Error> {
        self.0.get_versioned(key).await
    }

    async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<(), S3Error> {
        self.0.put(key, body, content_type).await
    }

    async fn put_if(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
        precondition: Precondition,
    ) -> Result<Written, S3Error> {
        self.0.put_if(key, body, content_type, precondition).await
    }
}

#[tokio::test]
async fn an_item_that_reads_back_differently_is_an_error_and_not_linked() {
    let memory = MemoryStore::default();
    let catalogue = Catalogue::new(Garbling(memory.clone()), &config());
    let error = catalogue.publish(&job(&[S2_T54PXA])).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::ReadBack {
                found: "different bytes",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.is_transient());
    assert!(memory.object("footprint/collection.json").is_none());
    assert!(memory.object("catalog.json").is_none());
}
