//! A CDSE OData product entity → `ProductDiscovered`, as `testdata/products/generate.py` states
//! the mapping. An entity that lacks what the mesh needs is an [`EntryError`] naming the product
//! and the field.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use nrt_events::{Checksum, ProductDiscovered, product_key};
use serde_json::{Map, Value};

use crate::{
    feed::EntryError,
    odata::{OdataSource, download_href},
};

/// Maps the entity at `position` of a page of `feed`, read from `source`.
pub fn discovered(
    entity: &Value,
    position: usize,
    feed: &str,
    source: &OdataSource,
) -> Result<ProductDiscovered, EntryError> {
    let product = match entity.get("Name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => format!("product {name}"),
        _ => format!("entry value[{position}]"),
    };
    let fail = |field: &str, problem| EntryError {
        product: product.clone(),
        field: field.to_owned(),
        problem,
    };
    let object = entity
        .as_object()
        .ok_or_else(|| fail("entity", "is not a JSON object"))?;
    let id = required_text(object, "Id").map_err(|problem| fail("Id", problem))?;
    let name = required_text(object, "Name").map_err(|problem| fail("Name", problem))?;
    let attributes = attributes(object).map_err(|(field, problem)| fail(&field, problem))?;
    let attribute = |name: &str| attributes.get(name).and_then(Value::as_str);

    let product_type = attribute("productType")
        .ok_or_else(|| fail("Attributes.productType", "is missing or not a string"))?;
    let platform = attribute("platformShortName");
    let collection = platform.or(source.collection.as_deref()).ok_or_else(|| {
        fail(
            "Attributes.platformShortName",
            "is missing and the feed configures no collection",
        )
    })?;
    let content_date = object
        .get("ContentDate")
        .and_then(Value::as_object)
        .ok_or_else(|| fail("ContentDate", "is missing or not an object"))?;
    let sensing_start = required_time(content_date, "Start")
        .map_err(|problem| fail("ContentDate.Start", problem))?;
    let sensing_end =
        required_time(content_date, "End").map_err(|problem| fail("ContentDate.End", problem))?;
    let published_at = required_time(object, "PublicationDate")
        .map_err(|problem| fail("PublicationDate", problem))?;
    let footprint = match object.get("GeoFootprint") {
        None | Some(Value::Null) => None,
        Some(geometry) => Some(
            serde_json::from_value(geometry.clone())
                .map_err(|_| fail("GeoFootprint", "is not a GeoJSON geometry"))?,
        ),
    };
    let size = match object.get("ContentLength") {
        None | Some(Value::Null) => None,
        Some(length) => Some(
            length
                .as_u64()
                .ok_or_else(|| fail("ContentLength", "is not a non-negative integer"))?,
        ),
    };
    let checksums = checksums(object).map_err(|(field, problem)| fail(&field, problem))?;
    let s3_uri = match object.get("S3Path") {
        None | Some(Value::Null) => None,
        Some(Value::String(path)) if path.is_empty() => None,
        Some(Value::String(path)) => Some(format!("s3:/{path}")),
        Some(_) => return Err(fail("S3Path", "is not a string")),
    };
    let serial = attribute("platformSerialIdentifier");
    let platform = match (platform, serial) {
        (Some(platform), Some(serial)) if !platform.is_empty() && !serial.is_empty() => {
            Some(format!("{platform}{serial}"))
        }
        (platform, _) => platform.map(str::to_owned),
    };
    Ok(ProductDiscovered {
        key: product_key(&name),
        href: Some(download_href(source, &id)),
        feed_id: id,
        collection: collection.to_owned(),
        product_type: product_type.to_owned(),
        name,
        platform,
        sensing_start,
        sensing_end,
        published_at,
        footprint,
        size,
        checksums,
        s3_uri,
        feed: feed.to_owned(),
        attributes,
    })
}

fn required_text(object: &Map<String, Value>, field: &str) -> Result<String, &'static str> {
    match object.get(field) {
        None | Some(Value::Null) => Err("is missing"),
        Some(Value::String(text)) if text.is_empty() => Err("is empty"),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err("is not a string"),
    }
}

fn required_time(object: &Map<String, Value>, field: &str) -> Result<DateTime<Utc>, &'static str> {
    required_text(object, field)?
        .parse()
        .map_err(|_| "is not an ISO 8601 time")
}

/// `Attributes[].Name → Value`, as the feed typed each value; a later duplicate name wins.
fn attributes(
    object: &Map<String, Value>,
) -> Result<BTreeMap<String, Value>, (String, &'static str)> {
    let list = match object.get("Attributes") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(("Attributes".into(), "is not an array")),
    };
    list.iter()
        .enumerate()
        .map(|(index, attribute)| {
            let name = attribute
                .get("Name")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    (
                        format!("Attributes[{index}].Name"),
                        "is missing or not a string",
                    )
                })?;
            let value = attribute
                .get("Value")
                .ok_or_else(|| (format!("Attributes[{index}].Value"), "is missing"))?;
            Ok((name.to_owned(), value.clone()))
        })
        .collect()
}

fn checksums(object: &Map<String, Value>) -> Result<Vec<Checksum>, (String, &'static str)> {
    let list = match object.get("Checksum") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(("Checksum".into(), "is not an array")),
    };
    list.iter()
        .enumerate()
        .map(|(index, checksum)| {
            let text = |field: &str| {
                checksum
                    .get(field)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        (
                            format!("Checksum[{index}].{field}"),
                            "is missing or not a string",
                        )
                    })
            };
            Ok(Checksum {
                algorithm: text("Algorithm")?,
                value: text("Value")?,
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;
