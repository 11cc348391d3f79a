//! `/DeletedProducts`: products CDSE withdrew (corrupted, duplicated, replaced by a reprocessed
//! version), polled in `DeletionDate` order with a cursor of their own, each becoming one
//! `product-retracted` event.

use chrono::{DateTime, Utc};
use nrt_events::{ProductRetracted, product_key};
use serde_json::{Value, value::RawValue};

use super::{OdataSource, entity_set_url, parse_page, product_filters, read_entity, timestamp};
use crate::{
    Error,
    config::FeedConfig,
    feed::{Discovery, EntryError, FeedEntry, FeedPage, PolledFeed},
    http::{HttpClient, HttpRequest},
    odata::is_beyond_skip_limit,
};

/// The cursor key of a feed's deletions beside its products' (`<feed>.deletions`).
pub fn deletions_cursor(feed: &str) -> String {
    format!("{feed}.deletions")
}

/// A feed's deleted products, polled from `/DeletedProducts`.
pub struct OdataDeletions {
    feed: String,
    source: OdataSource,
    client: HttpClient,
}

impl OdataDeletions {
    pub fn new(feed: &FeedConfig, source: &OdataSource) -> Result<Self, Error> {
        Ok(Self {
            feed: feed.name.clone(),
            source: source.clone(),
            client: HttpClient::new(feed, source.credentials.as_ref())?,
        })
    }
}

impl PolledFeed for OdataDeletions {
    type Request = HttpRequest;

    fn first_request(&self, since: DateTime<Utc>) -> HttpRequest {
        HttpRequest::get(deleted_products_url(&self.source, since))
    }

    async fn fetch(&self, request: &HttpRequest) -> Result<FeedPage<HttpRequest>, Error> {
        self.client.send(request, parse_page).await
    }

    fn read_entry(&self, entry: &RawValue, position: usize) -> FeedEntry {
        read_entity(entry, "DeletionDate", |entity| {
            retracted(entity, position, &self.feed, &self.source)
                .map(|product| Discovery::Retracted(Box::new(product)))
        })
    }

    fn restarts_from_cursor(&self, next: &HttpRequest) -> bool {
        is_beyond_skip_limit(&next.url)
    }
}

/// `{url}/DeletedProducts?$filter=DeletionDate ge <since> and <the feed's filters>
/// &$orderby=DeletionDate asc&$top=N&$expand=Attributes`.
pub fn deleted_products_url(source: &OdataSource, since: DateTime<Utc>) -> url::Url {
    let mut clauses = vec![format!("DeletionDate ge {}", timestamp(since))];
    clauses.extend(product_filters(source));
    entity_set_url(source, "DeletedProducts", &clauses, "DeletionDate")
}

/// A deleted-product entity → `ProductRetracted`. Only `Id`, `Name` and `DeletionDate` are
/// required: a retraction must get through even when the rest of the entity is thin.
pub fn retracted(
    entity: &Value,
    position: usize,
    feed: &str,
    source: &OdataSource,
) -> Result<ProductRetracted, EntryError> {
    let product = match entity.get("Name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => format!("deleted product {name}"),
        _ => format!("entry value[{position}]"),
    };
    let fail = |field: &str, problem| EntryError {
        product: product.clone(),
        field: field.to_owned(),
        problem,
    };
    let text = |field: &str| match entity.get(field) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
        Some(Value::String(_)) => Err(fail(field, "is empty")),
        None | Some(Value::Null) => Err(fail(field, "is missing")),
        Some(_) => Err(fail(field, "is not a string")),
    };
    let id = text("Id")?;
    let name = text("Name")?;
    let retracted_at = text("DeletionDate")?
        .parse()
        .map_err(|_| fail("DeletionDate", "is not an ISO 8601 time"))?;
    let attribute = |wanted: &str| {
        entity
            .get("Attributes")
            .and_then(Value::as_array)?
            .iter()
            .find(|attribute| attribute.get("Name").and_then(Value::as_str) == Some(wanted))?
            .get("Value")?
            .as_str()
            .map(str::to_owned)
    };
    Ok(ProductRetracted {
        key: product_key(&name),
        feed_id: id,
        collection: attribute("platformShortName").or_else(|| source.collection.clone()),
        product_type: attribute("productType").or_else(|| source.product_type.clone()),
        name,
        retracted_at,
        cause: entity
            .get("DeletionCause")
            .and_then(Value::as_str)
            .map(str::to_owned),
        feed: feed.to_owned(),
    })
}
