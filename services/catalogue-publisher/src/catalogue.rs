//! The shared documents of the static catalogue, the root catalog and one collection per
//! processor, created on first use and changed only by compare-and-swap (see [`crate::store`]),
//! so replicas publishing into the same collection never lose each other's links.

use std::time::Duration;

use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};
use stac::{Catalog, Collection, Item, Link};

use crate::{
    Error,
    config::CollectionSettings,
    extent,
    layout::{self, Layout},
    store::{ObjectStore, Precondition, Written},
};

/// Id of the root catalog.
pub const CATALOG_ID: &str = "nrt-mesh";
const CATALOG_TITLE: &str = "nrt-mesh products";
const CATALOG_DESCRIPTION: &str =
    "Products made by the nrt-mesh processors, published as soon as each job succeeds.";

/// Compare-and-swap attempts before giving up for now; the event is redelivered later.
const MAX_ATTEMPTS: u32 = 20;

/// The root catalog, created (without children) if it does not exist yet.
pub async fn ensure_catalog<S: ObjectStore>(store: &S, layout: &Layout) -> Result<Catalog, Error> {
    update(
        store,
        layout,
        &layout.catalog_key(),
        "catalog",
        || new_catalog(layout),
        |_| false,
    )
    .await
}

/// Whether the root catalog already has `collection` as a child.
pub fn links_collection(catalog: &Catalog, collection: &str) -> bool {
    let href = layout::catalog_to_collection(collection);
    catalog
        .links
        .iter()
        .any(|link| link.is_child() && link.href == href)
}

/// Adds `collection` as a child of the root catalog unless it is one already.
pub async fn link_collection<S: ObjectStore>(
    store: &S,
    layout: &Layout,
    collection: &CollectionSettings,
) -> Result<(), Error> {
    let child = Link::child(layout::catalog_to_collection(&collection.id))
        .json()
        .title(
            collection
                .title
                .clone()
                .or_else(|| Some(collection.id.clone())),
        );
    let key = layout.catalog_key();
    update(
        store,
        layout,
        &key,
        "catalog",
        || new_catalog(layout),
        |catalog: &mut Catalog| {
            if links_collection(catalog, &collection.id) {
                return false;
            }
            catalog.links.push(child.clone());
            true
        },
    )
    .await
    .map(drop)
}

/// Links `item` from its collection (creating the collection on first use) and grows the
/// collection's extent to cover it. Adding an item twice changes nothing.
pub async fn add_item<S: ObjectStore>(
    store: &S,
    layout: &Layout,
    collection: &CollectionSettings,
    item: &Item,
) -> Result<(), Error> {
    let key = layout.collection_key(&collection.id);
    update(
        store,
        layout,
        &key,
        "collection",
        || new_collection(layout, collection),
        |document: &mut Collection| include_item(document, item),
    )
    .await
    .map(drop)
}

fn new_catalog(layout: &Layout) -> Catalog {
    let mut catalog = Catalog::new(CATALOG_ID, CATALOG_DESCRIPTION);
    catalog.title = Some(CATALOG_TITLE.to_owned());
    catalog.links = vec![
        Link::self_(layout.catalogue_href(&layout.catalog_key())).json(),
        Link::root(layout::CATALOG_TO_CATALOG).json(),
    ];
    catalog
}

/// The collection `settings` describe as a STAC API receives it on first use: the static
/// catalogue's document with its first item's extent and without links, which the API makes.
pub fn api_collection(settings: &CollectionSettings, first_item: &Item) -> Collection {
    let mut collection = unlinked_collection(settings);
    collection.extent = extent::of_item(first_item);
    collection
}

fn unlinked_collection(settings: &CollectionSettings) -> Collection {
    let mut collection = Collection::new(&settings.id, &settings.description);
    collection.title = settings.title.clone();
    collection.license = settings.license.clone();
    collection
}

fn new_collection(layout: &Layout, settings: &CollectionSettings) -> Collection {
    let mut collection = unlinked_collection(settings);
    collection.links = vec![
        Link::self_(layout.catalogue_href(&layout.collection_key(&settings.id))).json(),
        Link::root(layout::COLLECTION_TO_CATALOG).json(),
        Link::parent(layout::COLLECTION_TO_CATALOG).json(),
    ];
    collection
}

/// Adds the item link and grows the extent; `false` when the collection already had both.
fn include_item(collection: &mut Collection, item: &Item) -> bool {
    let href = layout::collection_to_item(&item.id);
    let is_first = !collection.links.iter().any(Link::is_item);
    let is_linked = collection
        .links
        .iter()
        .any(|link| link.is_item() && link.href == href);
    let grown = if is_first {
        // A new collection's extent is its first item's, not the whole world.
        let first = extent::of_item(item);
        let changed = collection.extent != first;
        collection.extent = first;
        changed
    } else {
        extent::grow(&mut collection.extent, item)
    };
    if !is_linked {
        collection.links.push(Link::item(href).geojson());
    }
    !is_linked || grown
}

/// Read, change, write back only if nobody wrote in between; otherwise read again and redo.
/// A document `change` leaves as it was is not written.
async fn update<S, T>(
    store: &S,
    layout: &Layout,
    key: &str,
    kind: &'static str,
    create: impl Fn() -> T,
    change: impl Fn(&mut T) -> bool,
) -> Result<T, Error>
where
    S: ObjectStore,
    T: Serialize + DeserializeOwned,
{
    let uri = || format!("s3://{}/{key}", layout.bucket());
    for attempt in 1..=MAX_ATTEMPTS {
        let (mut document, precondition) = match store.get_versioned(key).await? {
            Some(current) => {
                let document = serde_json::from_slice(&current.body).map_err(|source| {
                    Error::CorruptDocument {
                        uri: uri(),
                        kind,
                        source,
                    }
                })?;
                (document, Precondition::Unchanged(current.etag))
            }
            None => (create(), Precondition::Absent),
        };
        let is_new = precondition == Precondition::Absent;
        if !change(&mut document) && !is_new {
            return Ok(document);
        }
        let body =
            Bytes::from(serde_json::to_vec_pretty(&document).expect("STAC documents serialise"));
        match store
            .put_if(key, body, "application/json", precondition)
            .await?
        {
            Written::Yes => return Ok(document),
            Written::PreconditionFailed => {
                tracing::debug!(
                    key,
                    attempt,
                    "Catalogue document changed meanwhile; retrying."
                );
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
    }
    Err(Error::Contention {
        uri: uri(),
        attempts: MAX_ATTEMPTS,
    })
}

/// A short, growing pause with jitter, so racing replicas stop colliding in lockstep.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |now| now.subsec_nanos() % 20_000_000);
    Duration::from_millis(10 * u64::from(attempt.min(10))) + Duration::from_nanos(u64::from(jitter))
}

#[cfg(test)]
#[path = "catalogue_tests.rs"]
mod tests;
