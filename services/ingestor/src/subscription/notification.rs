//! A CDSE subscription notification → the fact it reports. A notification names a product and
//! what happened to it (`SubscriptionEvent`: `created`, `modified` or `deleted`) and usually
//! carries the product's OData entity (`value`, or `Value`). One that carries only the id (a
//! pull notification kept past CDSE's three days) is completed from the catalogue. The entity is
//! read by the OData mapping, so a product is the same event however the ingestor learned of it.

use std::sync::Arc;

use serde::de::Error as _;
use serde_json::{Value, json, value::RawValue};
use url::Url;

use crate::{
    Error,
    feed::{Discovery, EntryError},
    handler::Rejected,
    http::{HttpClient, HttpRequest},
    odata::{OdataSource, deletions, mapping, product_url},
};

/// The notifications of a body: a JSON array of them, or one notification object (what CDSE
/// POSTs for a single product). Each is kept byte for byte, to be dead-lettered as it came.
pub fn split_body(body: &[u8]) -> Result<Vec<Box<RawValue>>, serde_json::Error> {
    let raw: Box<RawValue> = serde_json::from_slice(body)?;
    match raw.get().as_bytes().first() {
        Some(b'[') => serde_json::from_str(raw.get()),
        Some(b'{') => Ok(vec![raw]),
        _ => Err(serde_json::Error::custom(
            "expected a notification object or an array of notifications",
        )),
    }
}

/// Reads a feed's notifications, asking the catalogue for the entities they lack.
pub struct NotificationReader {
    feed: String,
    catalogue: OdataSource,
    client: Arc<HttpClient>,
}

/// What a batch of notifications means for the mesh.
#[derive(Debug, Default)]
pub struct Batch {
    pub discovered: Vec<Discovery>,
    pub rejected: Vec<Rejected>,
    /// The `AckId` of the last notification that has one: acknowledging it acknowledges every
    /// notification before it too.
    pub last_ack_id: Option<String>,
}

/// What a notification says, before any entity was fetched.
#[derive(Debug, PartialEq)]
enum Reading {
    Fact(Discovery),
    /// A `created` or `modified` notification without its entity: the catalogue has it.
    Fetch {
        product_id: String,
        label: String,
    },
}

impl NotificationReader {
    /// Reads `feed`'s notifications, mapping products as a feed of `catalogue` would and fetching
    /// them from it through `client`.
    pub fn new(feed: &str, catalogue: &OdataSource, client: Arc<HttpClient>) -> Self {
        Self {
            feed: feed.to_owned(),
            catalogue: catalogue.clone(),
            client,
        }
    }

    /// Splits `notifications` into facts and rejects. `Err` only when the catalogue could not
    /// be asked for an entity: then nothing of the batch may be acknowledged yet.
    pub async fn read(&self, notifications: &[Box<RawValue>]) -> Result<Batch, Error> {
        let mut batch = Batch::default();
        for (position, raw) in notifications.iter().enumerate() {
            // RawValue is valid JSON; Null only stands in for what serde_json cannot hold.
            let notification: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            if let Some(ack_id) = notification.get("AckId").and_then(Value::as_str) {
                batch.last_ack_id = Some(ack_id.to_owned());
            }
            let fact = match self.reading(&notification, position) {
                Ok(Reading::Fact(fact)) => Ok(fact),
                Ok(Reading::Fetch { product_id, label }) => {
                    self.fetched(&product_id, &label, position).await?
                }
                Err(error) => Err(error),
            };
            match fact {
                Ok(fact) => batch.discovered.push(fact),
                Err(error) => batch.rejected.push(Rejected {
                    entity: raw.get().to_owned(),
                    error,
                }),
            }
        }
        Ok(batch)
    }

    fn reading(&self, notification: &Value, position: usize) -> Result<Reading, EntryError> {
        let text = |field: &str| notification.get(field).and_then(Value::as_str);
        let label = match (text("ProductName"), text("ProductId")) {
            (Some(name), _) if !name.is_empty() => format!("notification for product {name}"),
            (_, Some(id)) if !id.is_empty() => format!("notification for product id {id}"),
            _ => format!("notification [{position}]"),
        };
        let fail = |field: &str, problem| EntryError {
            product: label.clone(),
            field: field.to_owned(),
            problem,
        };
        let object = notification
            .as_object()
            .ok_or_else(|| fail("notification", "is not a JSON object"))?;
        let product_id = match object.get("ProductId") {
            None | Some(Value::Null) => return Err(fail("ProductId", "is missing")),
            Some(Value::String(id)) if is_product_id(id) => id.clone(),
            Some(_) => return Err(fail("ProductId", "is not a CDSE product id (a UUID)")),
        };
        // CDSE documents `value`; `Value` is read too, as CDSE capitalises OData properties.
        let entity = match object.get("value").or_else(|| object.get("Value")) {
            None | Some(Value::Null) => None,
            Some(entity @ Value::Object(_)) => Some(entity),
            Some(_) => return Err(fail("value", "is not a product entity (a JSON object)")),
        };
        match (
            object.get("SubscriptionEvent").and_then(Value::as_str),
            entity,
        ) {
            (Some("created" | "modified"), Some(entity)) => {
                self.discovered(entity, position).map(Reading::Fact)
            }
            (Some("created" | "modified"), None) => Ok(Reading::Fetch { product_id, label }),
            (Some("deleted"), Some(entity)) => self.retracted(entity, position).map(Reading::Fact),
            // A retraction must get through even when thin: the notification names the product
            // and dates it, which is all a retraction needs.
            (Some("deleted"), None) => self
                .retracted(
                    &json!({
                        "Id": product_id,
                        "Name": object.get("ProductName"),
                        "DeletionDate": object.get("NotificationDate"),
                    }),
                    position,
                )
                .map(Reading::Fact),
            (None, _) => Err(fail("SubscriptionEvent", "is missing or not a string")),
            (Some(_), _) => Err(fail(
                "SubscriptionEvent",
                "is not one of created, modified, deleted",
            )),
        }
    }

    fn discovered(&self, entity: &Value, position: usize) -> Result<Discovery, EntryError> {
        let product = mapping::discovered(entity, position, &self.feed, &self.catalogue)?;
        Ok(Discovery::Discovered(Box::new(product)))
    }

    fn retracted(&self, entity: &Value, position: usize) -> Result<Discovery, EntryError> {
        let product = deletions::retracted(entity, position, &self.feed, &self.catalogue)?;
        Ok(Discovery::Retracted(Box::new(product)))
    }

    /// The product `product_id` as the catalogue has it now. A product the catalogue no longer
    /// has is a reject (to the dead-letter queue), not a fault: asking again will not bring it.
    async fn fetched(
        &self,
        product_id: &str,
        label: &str,
        position: usize,
    ) -> Result<Result<Discovery, EntryError>, Error> {
        let request = HttpRequest::get(product_url(&self.catalogue, product_id));
        let entity = match self.client.send(&request, parse_entity).await {
            Ok(entity) => entity,
            Err(Error::Status { status: 404, .. }) => {
                return Ok(Err(EntryError {
                    product: label.to_owned(),
                    field: "ProductId".into(),
                    problem: "names a product the catalogue does not have",
                }));
            }
            Err(error) => return Err(error),
        };
        Ok(self.discovered(&entity, position))
    }
}

/// A product entity answered by `GET Products(<id>)`.
fn parse_entity(url: &Url, body: &[u8]) -> Result<Value, Error> {
    match serde_json::from_slice(body) {
        Ok(entity @ Value::Object(_)) => Ok(entity),
        Ok(_) => Err(Error::Malformed {
            url: url.to_string(),
            expected: "an OData product entity",
            source: serde_json::Error::custom("the body is not a JSON object"),
        }),
        Err(source) => Err(Error::Malformed {
            url: url.to_string(),
            expected: "an OData product entity",
            source,
        }),
    }
}

/// CDSE product ids are UUIDs; anything else must not reach a catalogue URL.
fn is_product_id(id: &str) -> bool {
    id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

#[cfg(test)]
#[path = "notification_tests.rs"]
mod tests;
