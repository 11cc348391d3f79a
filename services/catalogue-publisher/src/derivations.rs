//! Per input product, the items derived from it and its retraction once known, in the
//! `catalogue-derivations` bucket: what a retraction must mark, found without searching the
//! catalogue. Every change is a compare-and-set on the product's one entry, so a publication and
//! a retraction are ordered: either the retraction finds the item (and marks it), or the
//! publication finds the retraction (and writes the item marked).

use bytes::Bytes;
use chrono::{DateTime, Utc};
use nrt_events::{ProductRetracted, stable_hash, streams::KV_CATALOGUE_DERIVATIONS};
use nrt_nats::async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use serde::{Deserialize, Serialize};

use crate::Error;

/// Compare-and-set attempts on one entry before giving up for now.
const ATTEMPTS: u32 = 10;

/// An item in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRef {
    pub collection: String,
    pub item_id: String,
}

/// A product's retraction, as derived items record it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retraction {
    /// The retracted product's name.
    pub input: String,
    pub retracted_at: DateTime<Utc>,
    pub cause: Option<String>,
}

impl Retraction {
    pub fn of(retracted: &ProductRetracted) -> Self {
        Self {
            input: retracted.name.clone(),
            retracted_at: retracted.retracted_at,
            cause: retracted.cause.clone(),
        }
    }
}

/// The entry of one input product.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Derived {
    /// The product's key, as in `JobInput.key`.
    pub product: String,
    pub items: Vec<ItemRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retraction: Option<Retraction>,
}

impl Derived {
    /// Adds `item` once; `false` when it was there.
    pub fn add(&mut self, item: &ItemRef) -> bool {
        if self.items.contains(item) {
            return false;
        }
        self.items.push(item.clone());
        true
    }

    /// Records the product's retraction; the first one stays, so `false` when there was one.
    pub fn retract(&mut self, retraction: &Retraction) -> bool {
        if self.retraction.is_some() {
            return false;
        }
        self.retraction = Some(retraction.clone());
        true
    }
}

/// The `catalogue-derivations` bucket.
#[derive(Debug, Clone)]
pub struct Derivations {
    store: kv::Store,
}

impl Derivations {
    pub fn new(store: kv::Store) -> Self {
        Self { store }
    }

    /// Records `item` as derived from each of `products`; returns the first of their
    /// retractions known so far.
    pub async fn record(
        &self,
        products: &[&str],
        item: &ItemRef,
    ) -> Result<Option<Retraction>, Error> {
        let mut first = None;
        for product in products {
            let entry = self.change(product, |entry| entry.add(item)).await?;
            first = first.or(entry.retraction);
        }
        Ok(first)
    }

    /// Records the retraction of `product` when something derives from it, and returns what
    /// does; a product nothing derives from gets no entry.
    pub async fn retract(
        &self,
        product: &str,
        retraction: &Retraction,
    ) -> Result<Vec<ItemRef>, Error> {
        let entry = self
            .change(product, |entry| {
                !entry.items.is_empty() && entry.retract(retraction)
            })
            .await?;
        Ok(entry.items)
    }

    /// Applies `edit` to the entry of `product` (an empty one when it has none) by
    /// compare-and-set, and returns the entry as it then stands; an entry `edit` leaves as it
    /// was is not written.
    async fn change(
        &self,
        product: &str,
        edit: impl Fn(&mut Derived) -> bool,
    ) -> Result<Derived, Error> {
        // Product keys may hold characters KV keys may not.
        let key = stable_hash([product]);
        for _ in 0..ATTEMPTS {
            let (mut entry, revision) = match self.read(&key).await? {
                Some((entry, revision)) => (entry, Some(revision)),
                None => (
                    Derived {
                        product: product.to_owned(),
                        ..Derived::default()
                    },
                    None,
                ),
            };
            if !edit(&mut entry) || self.write(&key, &entry, revision).await? {
                return Ok(entry);
            }
        }
        Err(Error::Contention {
            uri: format!("kv://{KV_CATALOGUE_DERIVATIONS}/{key}"),
            attempts: ATTEMPTS,
        })
    }

    async fn read(&self, key: &str) -> Result<Option<(Derived, u64)>, Error> {
        let entry = self
            .store
            .entry(key)
            .await
            .map_err(|error| failed(key, "read", error))?;
        let Some(entry) = entry.filter(|entry| entry.operation == Operation::Put) else {
            return Ok(None);
        };
        let derived =
            serde_json::from_slice(&entry.value).map_err(|source| Error::CorruptDocument {
                uri: format!("kv://{KV_CATALOGUE_DERIVATIONS}/{key}"),
                kind: "derivations entry",
                source,
            })?;
        Ok(Some((derived, entry.revision)))
    }

    /// Creates (`revision` `None`) or compares and sets; `false` when another writer was first.
    async fn write(
        &self,
        key: &str,
        entry: &Derived,
        revision: Option<u64>,
    ) -> Result<bool, Error> {
        let value = Bytes::from(serde_json::to_vec(entry).expect("entries serialise"));
        match revision {
            None => match self.store.create(key, value).await {
                Ok(_) => Ok(true),
                Err(error) if error.kind() == CreateErrorKind::AlreadyExists => Ok(false),
                Err(error) => Err(failed(key, "create", error)),
            },
            Some(revision) => match self.store.update(key, value, revision).await {
                Ok(_) => Ok(true),
                Err(error) if error.kind() == UpdateErrorKind::WrongLastRevision => Ok(false),
                Err(error) => Err(failed(key, "update", error)),
            },
        }
    }
}

fn failed(key: &str, operation: &'static str, error: impl ToString) -> Error {
    Error::KeyValue {
        bucket: KV_CATALOGUE_DERIVATIONS,
        key: key.to_owned(),
        operation,
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str) -> ItemRef {
        ItemRef {
            collection: "footprint".into(),
            item_id: id.into(),
        }
    }

    fn retraction(cause: &str) -> Retraction {
        Retraction {
            input: "S2A_MSIL1C_X.SAFE".into(),
            retracted_at: "2026-02-01T10:00:00Z".parse().unwrap(),
            cause: Some(cause.into()),
        }
    }

    #[test]
    fn an_item_is_recorded_once() {
        let mut entry = Derived::default();
        assert!(entry.add(&item("a")));
        assert!(entry.add(&item("b")));
        assert!(!entry.add(&item("a")));
        assert_eq!(entry.items, [item("a"), item("b")]);
    }

    #[test]
    fn the_first_retraction_stays() {
        let mut entry = Derived::default();
        assert!(entry.retract(&retraction("Duplicated product")));
        assert!(!entry.retract(&retraction("Corrupted product")));
        assert_eq!(entry.retraction, Some(retraction("Duplicated product")));
    }

    #[test]
    fn an_entry_without_retraction_reads_back_from_its_json() {
        let entry = Derived {
            product: "S2A_X".into(),
            items: vec![item("a")],
            retraction: None,
        };
        let json = serde_json::to_string(&entry).unwrap();
        assert!(!json.contains("retraction"), "{json}");
        assert_eq!(serde_json::from_str::<Derived>(&json).unwrap(), entry);
    }
}
