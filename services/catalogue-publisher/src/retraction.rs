//! Items derived from a retracted input, as `retractions = "mark"` asks: each is marked in every
//! target (`nrt:retracted` with when, why and which input) and announced by an alert. Marking is
//! idempotent: an item already marked keeps its first marking, and the alert's id is the item's,
//! so a redelivered retraction changes nothing and JetStream drops the repeated alert.

use bytes::Bytes;
use chrono::Utc;
use nrt_events::{Alert, ProductRetracted, Severity};
use serde_json::{Map, Value};
use stac::Item;

use crate::{
    Error, SERVICE,
    config::{RetractionPolicy, Target},
    derivations::{Derivations, ItemRef, Retraction},
    handler::{Catalogue, GEOJSON},
    stac_api::StacApi,
    store::ObjectStore,
};

/// The kind of the alert raised for each marked item.
pub const ALERT_KIND: &str = "derived-item-retracted";

/// Marks the items derived from the retracted product; returns the alerts to raise, one per
/// item. Nothing derives from most retracted products: they were never processed.
pub async fn handle<S: ObjectStore>(
    retracted: &ProductRetracted,
    policy: RetractionPolicy,
    derivations: &Derivations,
    catalogue: &Catalogue<S>,
) -> Result<Vec<Alert>, Error> {
    if policy == RetractionPolicy::Ignore {
        tracing::debug!(product = %retracted.key, "Retraction ignored, as configured.");
        return Ok(Vec::new());
    }
    let retraction = Retraction::of(retracted);
    let items = derivations.retract(&retracted.key, &retraction).await?;
    if items.is_empty() {
        tracing::debug!(product = %retracted.key, "Nothing in the catalogue derives from the retracted product.");
        return Ok(Vec::new());
    }
    catalogue.mark_retracted(&items, &retraction).await
}

/// Marks item `properties` as derived from a retracted input; `false` when they were already.
pub fn mark(properties: &mut Map<String, Value>, retraction: &Retraction) -> bool {
    if properties.get("nrt:retracted") == Some(&Value::Bool(true)) {
        return false;
    }
    properties.insert("nrt:retracted".into(), true.into());
    properties.insert(
        "nrt:retracted_at".into(),
        retraction
            .retracted_at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            .into(),
    );
    if let Some(cause) = &retraction.cause {
        properties.insert("nrt:retraction_cause".into(), cause.clone().into());
    }
    properties.insert(
        "nrt:retracted_input".into(),
        retraction.input.clone().into(),
    );
    true
}

/// The warning that `item` derives from a retracted input.
pub fn alert(item: &ItemRef, retraction: &Retraction) -> Alert {
    let cause = retraction
        .cause
        .as_deref()
        .map(|cause| format!(" ({cause})"))
        .unwrap_or_default();
    Alert {
        severity: Severity::Warning,
        kind: ALERT_KIND.to_owned(),
        service: SERVICE.to_owned(),
        message: format!(
            "Item {} of collection {} derives from {}, which its feed retracted{cause}; the item is marked nrt:retracted.",
            item.item_id, item.collection, retraction.input
        ),
        about: item.item_id.clone(),
        raised_at: Utc::now(),
    }
}

impl<S: ObjectStore> Catalogue<S> {
    /// Marks each of `items` in every target; returns one alert per item.
    pub async fn mark_retracted(
        &self,
        items: &[ItemRef],
        retraction: &Retraction,
    ) -> Result<Vec<Alert>, Error> {
        for item in items {
            if self.config.publishes_to(Target::S3) {
                self.mark_static(item, retraction).await?;
            }
            if let Some(api) = &self.stac_api {
                mark_in_api(api, item, retraction).await?;
            }
            metrics::counter!("nrt_items_retracted_total", "collection" => item.collection.clone())
                .increment(1);
        }
        Ok(items.iter().map(|item| alert(item, retraction)).collect())
    }

    async fn mark_static(&self, item: &ItemRef, retraction: &Retraction) -> Result<(), Error> {
        let key = self.layout.item_key(&item.collection, &item.item_id);
        let uri = format!("s3://{}/{key}", self.layout.bucket());
        let Some(body) = self.store.get(&key).await? else {
            return Err(missing(item, uri));
        };
        let mut document: Item =
            serde_json::from_slice(&body).map_err(|source| Error::CorruptDocument {
                uri,
                kind: "item",
                source,
            })?;
        if !mark(&mut document.properties.additional_fields, retraction) {
            return Ok(());
        }
        let body = Bytes::from(serde_json::to_vec_pretty(&document).expect("STAC items serialise"));
        self.store.put(&key, body.clone(), GEOJSON).await?;
        self.verify(&key, &body).await
    }
}

async fn mark_in_api(api: &StacApi, item: &ItemRef, retraction: &Retraction) -> Result<(), Error> {
    let Some(mut document) = api.item(&item.collection, &item.item_id).await? else {
        let url = api.item_url(&item.collection, &item.item_id);
        return Err(missing(item, url.to_string()));
    };
    if !mark(&mut document.properties.additional_fields, retraction) {
        return Ok(());
    }
    api.replace_item(&item.collection, &document).await
}

fn missing(item: &ItemRef, location: String) -> Error {
    Error::RetractedItemMissing {
        item: item.item_id.clone(),
        collection: item.collection.clone(),
        location,
    }
}

#[cfg(test)]
#[path = "retraction_tests.rs"]
mod tests;
