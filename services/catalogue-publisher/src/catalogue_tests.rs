use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use super::*;
use crate::{
    config::CollectionSettings,
    item::{ItemContext, build_item},
    store::memory::MemoryStore,
    testing::{S1_AUX_POEORB, S1C_SLICE_1, S2_T54PXA, config, job},
};

fn settings() -> CollectionSettings {
    config().collection_for("footprint")
}

fn layout() -> Layout {
    Layout::new("catalogue", "stac", None)
}

fn item_of(products: &[&str]) -> Item {
    let settings = settings();
    let layout = layout();
    let context = ItemContext {
        collection: &settings,
        layout: &layout,
        sidecar_path: "metadata.json",
    };
    build_item(&job(products), &context).unwrap()
}

fn stored_collection(store: &MemoryStore) -> Collection {
    serde_json::from_slice(&store.object("stac/footprint/collection.json").unwrap()).unwrap()
}

fn item_links(collection: &Collection) -> Vec<&str> {
    collection
        .links
        .iter()
        .filter(|link| link.is_item())
        .map(|link| link.href.as_str())
        .collect()
}

#[tokio::test]
async fn a_new_collection_takes_its_first_items_extent_and_grows_with_the_next() {
    let store = MemoryStore::default();
    let s2 = item_of(&[S2_T54PXA]);
    let s1 = item_of(&[S1C_SLICE_1]);
    add_item(&store, &layout(), &settings(), &s2).await.unwrap();
    let first = stored_collection(&store);
    assert_eq!(first.extent.spatial.bbox, vec![s2.bbox.unwrap()]);
    let instant = s2.properties.datetime;
    assert_eq!(first.extent.temporal.interval, vec![[instant, instant]]);

    add_item(&store, &layout(), &settings(), &s1).await.unwrap();
    let grown = stored_collection(&store);
    let mut both = s2.bbox.unwrap();
    both.update(s1.bbox.unwrap());
    assert_eq!(grown.extent.spatial.bbox, vec![both]);
    assert_eq!(
        grown.extent.temporal.interval,
        vec![[instant, s1.properties.end_datetime]]
    );
    assert_eq!(
        item_links(&grown),
        [
            layout::collection_to_item(&s2.id),
            layout::collection_to_item(&s1.id)
        ]
    );
}

#[tokio::test]
async fn adding_an_item_again_writes_nothing() {
    let store = MemoryStore::default();
    let item = item_of(&[S2_T54PXA]);
    add_item(&store, &layout(), &settings(), &item)
        .await
        .unwrap();
    let before = store
        .get_versioned("stac/footprint/collection.json")
        .await
        .unwrap();
    add_item(&store, &layout(), &settings(), &item)
        .await
        .unwrap();
    let after = store
        .get_versioned("stac/footprint/collection.json")
        .await
        .unwrap();
    assert_eq!(before, after, "same bytes and same ETag: not rewritten");
}

#[tokio::test]
async fn an_item_without_geometry_leaves_the_spatial_extent_alone() {
    let store = MemoryStore::default();
    let located = item_of(&[S2_T54PXA]);
    add_item(&store, &layout(), &settings(), &located)
        .await
        .unwrap();
    add_item(&store, &layout(), &settings(), &item_of(&[S1_AUX_POEORB]))
        .await
        .unwrap();
    let collection = stored_collection(&store);
    assert_eq!(collection.extent.spatial.bbox, vec![located.bbox.unwrap()]);
    assert_eq!(item_links(&collection).len(), 2);
}

#[tokio::test]
async fn a_write_lost_to_another_replica_is_redone_on_the_new_version() {
    let store = MemoryStore::default();
    let ours = item_of(&[S2_T54PXA]);
    let theirs = item_of(&[S1C_SLICE_1]);
    add_item(&store, &layout(), &settings(), &theirs)
        .await
        .unwrap();
    let mut their_second_write = stored_collection(&store);
    their_second_write
        .links
        .push(Link::item("./someone-else/someone-else.json"));
    let interfered = Arc::new(AtomicBool::new(false));
    let hook_store = store.clone();
    let flag = interfered.clone();
    // Between our read and our write, another replica replaces the collection.
    store.before_conditional_write(move |key, objects| {
        if key.ends_with("collection.json") && !flag.swap(true, Ordering::SeqCst) {
            let body = serde_json::to_vec(&their_second_write).unwrap();
            let etag = hook_store.next_etag();
            objects.insert(
                key.to_owned(),
                crate::store::Versioned {
                    body: body.into(),
                    etag,
                },
            );
        }
    });
    add_item(&store, &layout(), &settings(), &ours)
        .await
        .unwrap();
    assert!(interfered.load(Ordering::SeqCst));
    let collection = stored_collection(&store);
    assert_eq!(
        item_links(&collection),
        [
            layout::collection_to_item(&theirs.id).as_str(),
            "./someone-else/someone-else.json",
            &layout::collection_to_item(&ours.id),
        ]
    );
}

#[tokio::test]
async fn endless_interference_gives_up_with_a_transient_error() {
    let store = MemoryStore::default();
    let hook_store = store.clone();
    store.before_conditional_write(move |key, objects| {
        let etag = hook_store.next_etag();
        objects.insert(
            key.to_owned(),
            crate::store::Versioned {
                body: serde_json::to_vec(&new_collection(&layout(), &settings()))
                    .unwrap()
                    .into(),
                etag,
            },
        );
    });
    let error = add_item(&store, &layout(), &settings(), &item_of(&[S2_T54PXA]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Contention {
                attempts: MAX_ATTEMPTS,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.is_transient());
}

#[tokio::test]
async fn a_corrupt_collection_document_is_reported_not_overwritten() {
    let store = MemoryStore::default();
    store.insert(
        "stac/footprint/collection.json",
        "{\"type\": \"Collection\", trunc",
    );
    let error = add_item(&store, &layout(), &settings(), &item_of(&[S2_T54PXA]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::CorruptDocument {
                kind: "collection",
                ..
            }
        ),
        "{error}"
    );
    assert!(!error.is_transient());
    assert!(
        error
            .to_string()
            .contains("s3://catalogue/stac/footprint/collection.json")
    );
    assert_eq!(
        store.object("stac/footprint/collection.json").unwrap(),
        "{\"type\": \"Collection\", trunc"
    );
}

#[tokio::test]
async fn the_root_catalog_links_each_collection_once() {
    let store = MemoryStore::default();
    let catalog = ensure_catalog(&store, &layout()).await.unwrap();
    assert!(!links_collection(&catalog, "footprint"));
    link_collection(&store, &layout(), &settings())
        .await
        .unwrap();
    link_collection(&store, &layout(), &settings())
        .await
        .unwrap();
    let catalog = ensure_catalog(&store, &layout()).await.unwrap();
    assert!(links_collection(&catalog, "footprint"));
    let children: Vec<&str> = catalog
        .links
        .iter()
        .filter(|link| link.is_child())
        .map(|link| link.href.as_str())
        .collect();
    assert_eq!(children, ["./footprint/collection.json"]);
}
