//! `/DeletedProducts`: products a test withdrew from the replay, served as CDSE serves deleted
//! products: the product entity with `DeletionDate` and `DeletionCause` added.

use chrono::{DateTime, Utc};
use serde_json::{Value, value::RawValue};

use crate::query::{Clause, ProductQuery};

#[derive(Debug, Clone)]
pub(crate) struct Deletion {
    pub id: String,
    pub deleted_at: DateTime<Utc>,
    pub collection: Option<String>,
    pub product_type: Option<String>,
    pub entity: Box<RawValue>,
}

impl Deletion {
    /// `entity` withdrawn at `deleted_at` for `cause`.
    pub fn new(
        id: String,
        entity: &RawValue,
        collection: Option<String>,
        product_type: Option<String>,
        deleted_at: DateTime<Utc>,
        cause: &str,
    ) -> Self {
        let mut value: serde_json::Map<String, Value> =
            serde_json::from_str(entity.get()).expect("served entities are objects");
        value.insert(
            "DeletionDate".into(),
            Value::String(deleted_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        value.insert("DeletionCause".into(), Value::String(cause.to_owned()));
        Self {
            id,
            deleted_at,
            collection,
            product_type,
            entity: serde_json::value::to_raw_value(&value).expect("an object serialises"),
        }
    }

    fn matches(&self, clause: &Clause) -> bool {
        match clause {
            Clause::Published(comparison, bound) => comparison.holds(self.deleted_at, *bound),
            Clause::Collection(name) => self.collection.as_deref() == Some(name),
            Clause::ProductType(name) => self.product_type.as_deref() == Some(name),
        }
    }
}

/// The deletions `query` selects, in deletion order: how many match, and the page.
pub(crate) fn select<'a>(
    deletions: &'a [Deletion],
    query: &ProductQuery,
) -> (usize, Vec<&'a Deletion>) {
    let mut matching: Vec<&Deletion> = deletions
        .iter()
        .filter(|deletion| query.clauses.iter().all(|clause| deletion.matches(clause)))
        .collect();
    matching.sort_by(|a, b| (a.deleted_at, &a.id).cmp(&(b.deleted_at, &b.id)));
    let page = matching
        .iter()
        .skip(query.skip)
        .take(query.top)
        .copied()
        .collect();
    (matching.len(), page)
}
