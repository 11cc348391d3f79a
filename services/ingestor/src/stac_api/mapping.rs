//! A STAC item → `ProductDiscovered`. An item that lacks what the mesh needs is an
//! [`EntryError`] naming the item and the field.
//!
//! The product's identity across feeds is its ESA name without packaging, which catalogues keep
//! in different places (see the recorded items in `testdata/fixtures`):
//! - Earth Search names items after the tile (`S2B_20EPT_20250731_0_L2A`) and keeps the product
//!   name in `s2:product_uri` (`S2B_MSIL2A_…_20250731T143919.SAFE`) or `s1:product_identifier`
//!   (its Sentinel-1 item ids also drop the name's last field, the `_0C44` checksum). Its
//!   `sentinel-2-l2a` and `sentinel-2-c1-l2a` items of one ESA product are thus one product.
//! - CDSE names items after the product (`S2A_MSIL1C_…_20240116T010505`), and its `enclosure`
//!   link ends in the packaged name (`….SAFE`). A `_COG` suffix is kept: CDSE catalogues the
//!   cloud-optimised conversion of a GRD as a product of its own (`…_COG.SAFE`), so the OData
//!   feed, whose key is its `Name` without packaging, agrees.
//!
//! Mission collection, product type, platform and sensing times come from the item, then from
//! what the product name says (`s3::naming`); the feed's `collection` and `product_type`, when
//! set, replace what the items say.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use nrt_events::{ProductDiscovered, product_key};
use serde_json::{Map, Value};
use url::Url;

use crate::{feed::EntryError, s3::naming::named_facts, stac_api::StacSource};

/// Properties holding the ESA product name, most specific first: Earth Search's Sentinel-2 and
/// Sentinel-1 extensions, then the older `sentinel2:` extension of stactools items.
const NAME_PROPERTIES: [&str; 3] = [
    "s2:product_uri",
    "s1:product_identifier",
    "sentinel2:product_uri",
];

/// Properties holding the product type as ESA and CDSE spell it (`S2MSI2A`, `IW_GRDH_1S`).
/// Not `sar:product_type`: it says `GRD`, not which GRD.
const TYPE_PROPERTIES: [&str; 3] = ["product:type", "s2:product_type", "sentinel2:product_type"];

/// The item's identity within the feed: ids are unique per collection only.
pub fn identity(item: &Value) -> Option<String> {
    let id = item.get("id")?.as_str()?;
    Some(match item.get("collection").and_then(Value::as_str) {
        Some(collection) => format!("{collection}/{id}"),
        None => id.to_owned(),
    })
}

/// The item's `time_property`, where the cursor places it.
pub fn published_at(item: &Value, time_property: &str) -> Option<DateTime<Utc>> {
    item.get("properties")?
        .get(time_property)?
        .as_str()?
        .parse()
        .ok()
}

/// Maps the item at `position` of a page of `feed`, read from `source`.
pub fn discovered(
    item: &Value,
    position: usize,
    feed: &str,
    source: &StacSource,
) -> Result<ProductDiscovered, EntryError> {
    let label = match (identity(item), item.get("id").and_then(Value::as_str)) {
        (Some(identity), Some(id)) if !id.is_empty() => format!("item {identity}"),
        _ => format!("entry features[{position}]"),
    };
    let fail = |field: &str, problem| EntryError {
        product: label.clone(),
        field: field.to_owned(),
        problem,
    };
    let object = item
        .as_object()
        .ok_or_else(|| fail("item", "is not a JSON object"))?;
    let id = match object.get("id") {
        Some(Value::String(id)) if !id.is_empty() => id.as_str(),
        _ => return Err(fail("id", "is missing or not a non-empty string")),
    };
    let collection_id = match object.get("collection") {
        None | Some(Value::Null) => None,
        Some(Value::String(collection)) => Some(collection.as_str()),
        Some(_) => return Err(fail("collection", "is not a string")),
    };
    let properties = object
        .get("properties")
        .and_then(Value::as_object)
        .ok_or_else(|| fail("properties", "is missing or not an object"))?;
    let property = |name: &str| {
        optional_text(properties, name)
            .map_err(|problem| fail(&format!("properties.{name}"), problem))
    };

    let mut name = None;
    for field in NAME_PROPERTIES {
        if let Some(found) = property(field)? {
            name = Some(found.to_owned());
            break;
        }
    }
    let enclosure = link_href(object, "enclosure");
    let name = name
        .or_else(|| enclosure.and_then(|href| packaged_name(href, id)))
        .unwrap_or_else(|| id.to_owned());
    let facts = named_facts(&name);

    let collection = match &source.collection {
        Some(collection) => collection.clone(),
        None => property("constellation")?
            .map(str::to_uppercase)
            .or_else(|| facts.as_ref().map(|facts| facts.collection.to_owned()))
            .ok_or_else(|| {
                fail(
                    "properties.constellation",
                    "is missing, the product name is no Sentinel name, and the feed configures \
                     no collection",
                )
            })?,
    };
    let product_type = match &source.product_type {
        Some(product_type) => product_type.clone(),
        None => {
            let mut found = None;
            for field in TYPE_PROPERTIES {
                if let Some(product_type) = property(field)? {
                    found = Some(product_type.to_owned());
                    break;
                }
            }
            found
                .or_else(|| facts.as_ref().map(|facts| facts.product_type.clone()))
                .ok_or_else(|| {
                    fail(
                        "properties.product:type",
                        "is missing (so is s2:product_type), the product name is no Sentinel \
                         name, and the feed configures no product_type",
                    )
                })?
        }
    };
    let platform = property("platform")?
        .map(str::to_uppercase)
        .or_else(|| facts.as_ref().map(|facts| facts.platform.clone()));
    let (sensing_start, sensing_end) =
        sensing(properties).map_err(|(field, problem)| fail(&field, problem))?;
    let time_field = format!("properties.{}", source.time_property);
    let published_at = match properties.get(&source.time_property) {
        None | Some(Value::Null) => {
            return Err(fail(
                &time_field,
                "is missing: the feed's time_property must be on every item",
            ));
        }
        Some(value) => time(value).map_err(|problem| fail(&time_field, problem))?,
    };
    let footprint = match object.get("geometry") {
        None | Some(Value::Null) => None,
        Some(geometry) => Some(
            serde_json::from_value(geometry.clone())
                .map_err(|_| fail("geometry", "is not a GeoJSON geometry"))?,
        ),
    };
    // In STAC a product is read through its item's assets: the item is where to get it.
    let href = match link_href(object, "self") {
        Some(href) => Some(
            Url::parse(href)
                .or_else(|_| source.url.join(href))
                .map_err(|_| fail("links[rel=self].href", "is not a URL"))?
                .to_string(),
        ),
        None => collection_id.map(|collection| item_url(source, collection, id)),
    };
    // CDSE's enclosure names the SAFE directory with a trailing `/`; the OData feed's S3Path
    // has none, and the two feeds should agree.
    let s3_uri = enclosure
        .filter(|href| href.starts_with("s3://"))
        .map(|href| href.trim_end_matches('/').to_owned());
    Ok(ProductDiscovered {
        key: product_key(&name),
        feed_id: id.to_owned(),
        name,
        collection,
        product_type,
        platform,
        sensing_start,
        sensing_end,
        published_at,
        footprint,
        size: None,
        checksums: Vec::new(),
        s3_uri,
        href,
        attributes: properties
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect::<BTreeMap<_, _>>(),
        feed: feed.to_owned(),
    })
}

/// A property that may be absent or null, but is text when present.
fn optional_text<'a>(
    object: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, &'static str> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Err("is empty"),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err("is not a string"),
    }
}

fn time(value: &Value) -> Result<DateTime<Utc>, &'static str> {
    value
        .as_str()
        .ok_or("is not a string")?
        .parse()
        .map_err(|_| "is not an RFC 3339 time")
}

/// When a product was sensed: start and end.
type Sensing = (DateTime<Utc>, DateTime<Utc>);

/// `start_datetime`..`end_datetime` when the item has a range, else `datetime` for both, as the
/// STAC item specification lets an item say either.
fn sensing(properties: &Map<String, Value>) -> Result<Sensing, (String, &'static str)> {
    let get = |field: &str| match properties.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => time(value)
            .map(Some)
            .map_err(|problem| (format!("properties.{field}"), problem)),
    };
    match (
        get("start_datetime")?,
        get("end_datetime")?,
        get("datetime")?,
    ) {
        (Some(start), Some(end), _) => Ok((start, end)),
        (_, _, Some(instant)) => Ok((instant, instant)),
        _ => Err((
            "properties.datetime".into(),
            "is null and the item has no start_datetime and end_datetime",
        )),
    }
}

/// The `href` of the item's first link with relation `rel`.
fn link_href<'a>(item: &'a Map<String, Value>, rel: &str) -> Option<&'a str> {
    item.get("links")?
        .as_array()?
        .iter()
        .find(|link| link.get("rel").and_then(Value::as_str) == Some(rel))?
        .get("href")?
        .as_str()
}

/// The last path segment of `href` when it is the item's product packaged (`<id>.SAFE`).
fn packaged_name(href: &str, id: &str) -> Option<String> {
    let segment = href.trim_end_matches('/').rsplit('/').next()?;
    (segment != id && product_key(segment) == id).then(|| segment.to_owned())
}

/// The item's address in the API, for items served without a self link.
fn item_url(source: &StacSource, collection: &str, id: &str) -> String {
    let mut url = source.url.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut segments) = url.path_segments_mut() {
        segments
            .pop_if_empty()
            .extend(["collections", collection, "items", id]);
    }
    url.to_string()
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;
