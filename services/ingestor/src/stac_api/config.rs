//! The keys of a `kind = "stac-api"` feed: which API, which of its items, which item property
//! the cursor follows, and what the mesh calls the products when the items do not say.

use chrono::{DateTime, Utc};
use nrt_runtime::config::ConfigError;
use serde::Deserialize;
use serde_json::{Map, Value};
use stac::Geometry;
use url::Url;

use crate::config::{check_http_base, raw::Keys};

/// The largest `limit` the STAC API item-search specification lets a client ask for.
pub const MAX_PAGE_SIZE: usize = 10_000;

/// The item property a feed follows unless told otherwise: it changes when an item is
/// (re)published, as CDSE and Earth Search set it.
pub const DEFAULT_TIME_PROPERTY: &str = "updated";

/// What to ask a STAC API for.
#[derive(Debug, Clone, PartialEq)]
pub struct StacSource {
    /// The API's landing page; searches go to `<url>/search`.
    pub url: Url,
    /// STAC collection ids to search, e.g. `sentinel-2-l2a` (`collections`).
    pub collections: Vec<String>,
    /// Where the items must be (`bbox` or `intersects`).
    pub area: Option<SearchArea>,
    /// The `datetime` search parameter as written: an instant or an interval (`a/b`, `..`
    /// open), applied as well as the cursor.
    pub datetime: Option<String>,
    /// A CQL2-JSON expression the items must match, `and`-ed with the cursor's clause.
    pub filter: Option<Map<String, Value>>,
    /// `limit`, 1 to 10 000.
    pub page_size: usize,
    /// The item property the cursor follows and the results are sorted by (`time_property`);
    /// also the product's publication time.
    pub time_property: String,
    pub method: SearchMethod,
    /// The mesh collection of every product (`collection`, e.g. `SENTINEL-2`), instead of the
    /// item's `constellation` or what the product name says.
    pub collection: Option<String>,
    /// The product type of every product (`product_type`, e.g. `S2MSI2A`), instead of the
    /// item's `product:type` or `s2:product_type` or what the product name says.
    pub product_type: Option<String>,
}

/// The spatial constraint of a search: STAC API takes one or the other.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchArea {
    /// West, south, east, north in WGS 84; west > east crosses the antimeridian.
    Bbox([f64; 4]),
    /// A GeoJSON geometry the items must intersect.
    Intersects(Geometry),
}

/// How the search is sent: `POST /search` with a JSON body, or `GET /search` with the same
/// parameters in the query (the filter then as CQL2 text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMethod {
    #[default]
    Post,
    Get,
}

impl StacSource {
    /// Every item of `collections` at the API `url`, 100 per page, by `updated`, over POST.
    pub fn new(url: Url, collections: Vec<String>) -> Self {
        Self {
            url,
            collections,
            area: None,
            datetime: None,
            filter: None,
            page_size: 100,
            time_property: DEFAULT_TIME_PROPERTY.to_owned(),
            method: SearchMethod::Post,
            collection: None,
            product_type: None,
        }
    }

    pub(crate) fn parse(keys: Map<String, Value>, at: &Keys) -> Result<Self, ConfigError> {
        // The structured keys stay loose here so that a wrong shape is reported with its key.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            url: Option<String>,
            collections: Option<Value>,
            bbox: Option<Value>,
            intersects: Option<Value>,
            datetime: Option<String>,
            filter: Option<Value>,
            page_size: Option<i64>,
            time_property: Option<String>,
            method: Option<String>,
            collection: Option<String>,
            product_type: Option<String>,
        }
        let raw: Raw = at.kind_keys(keys, "stac-api")?;
        let url = at.url(&at.required(raw.url, "url")?, "url")?;
        let collections = collections(&at.required(raw.collections, "collections")?)
            .map_err(|problem| ConfigError::invalid(at.key("collections"), problem))?;
        let mut source = Self::new(url, collections);
        source.area = match (raw.bbox, raw.intersects) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    at.key("intersects"),
                    "cannot be combined with bbox: a STAC search takes one or the other",
                ));
            }
            (Some(bbox), None) => {
                Some(SearchArea::Bbox(numbers(&bbox).map_err(|problem| {
                    ConfigError::invalid(at.key("bbox"), problem)
                })?))
            }
            (None, Some(geometry)) => Some(SearchArea::Intersects(
                serde_json::from_value(geometry).map_err(|error| {
                    ConfigError::invalid(
                        at.key("intersects"),
                        format!("is not a GeoJSON geometry: {error}"),
                    )
                })?,
            )),
            (None, None) => None,
        };
        source.datetime = raw.datetime;
        source.filter = raw
            .filter
            .map(|filter| {
                cql2_object(filter)
                    .map_err(|problem| ConfigError::invalid(at.key("filter"), problem))
            })
            .transpose()?;
        source.page_size = at.count(raw.page_size, "page_size", source.page_size)?;
        if let Some(property) = raw.time_property {
            source.time_property = property;
        }
        if let Some(method) = raw.method {
            source.method = match method.to_ascii_uppercase().as_str() {
                "POST" => SearchMethod::Post,
                "GET" => SearchMethod::Get,
                _ => {
                    return Err(ConfigError::invalid(
                        at.key("method"),
                        format!("{method:?} is not POST or GET"),
                    ));
                }
            };
        }
        source.collection = raw.collection;
        source.product_type = raw.product_type;
        Ok(source)
    }

    pub(crate) fn validate(&self, key: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
        check_http_base(&self.url, key("url"), "STAC API")?;
        if self.collections.is_empty() {
            return Err(ConfigError::invalid(
                key("collections"),
                "needs at least one collection id",
            ));
        }
        if let Some(bad) = self
            .collections
            .iter()
            .find(|id| id.trim().is_empty() || id.contains(','))
        {
            return Err(ConfigError::invalid(
                key("collections"),
                format!("{bad:?} is not a collection id"),
            ));
        }
        if let Some(SearchArea::Bbox(bbox)) = &self.area {
            check_bbox(bbox).map_err(|problem| ConfigError::invalid(key("bbox"), problem))?;
        }
        if let Some(datetime) = &self.datetime {
            check_interval(datetime)
                .map_err(|problem| ConfigError::invalid(key("datetime"), problem))?;
        }
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(ConfigError::invalid(
                key("page_size"),
                format!("{} is not from 1 to {MAX_PAGE_SIZE}", self.page_size),
            ));
        }
        check_property(&self.time_property)
            .map_err(|problem| ConfigError::invalid(key("time_property"), problem))?;
        for (field, value) in [
            ("collection", &self.collection),
            ("product_type", &self.product_type),
        ] {
            if value
                .as_deref()
                .is_some_and(|value| value.trim().is_empty())
            {
                return Err(ConfigError::invalid(
                    key(field),
                    "must not be empty; leave it out to read it from each item",
                ));
            }
        }
        // Every search this feed will send, built once now: a filter the CQL2 library cannot
        // read (or, over GET, cannot write as text) fails here rather than at each poll.
        super::search_request(self, DateTime::<Utc>::UNIX_EPOCH)
            .map_err(|problem| ConfigError::invalid(key("filter"), problem))?;
        Ok(())
    }
}

/// A list of collection ids.
fn collections(value: &Value) -> Result<Vec<String>, String> {
    let Value::Array(list) = value else {
        return Err(format!(
            "{value} is not a list of collection ids, e.g. [\"sentinel-2-l2a\"]"
        ));
    };
    list.iter()
        .map(|id| match id {
            Value::String(id) => Ok(id.clone()),
            other => Err(format!("{other} is not a collection id (a string)")),
        })
        .collect()
}

/// Four numbers: west, south, east, north.
fn numbers(value: &Value) -> Result<[f64; 4], String> {
    let numbers: Option<Vec<f64>> = value
        .as_array()
        .map(|list| list.iter().map(Value::as_f64).collect())
        .unwrap_or(None);
    numbers
        .and_then(|numbers| <[f64; 4]>::try_from(numbers).ok())
        .ok_or_else(|| format!("{value} is not four numbers: west, south, east, north"))
}

fn check_bbox(&[west, south, east, north]: &[f64; 4]) -> Result<(), String> {
    let longitude = |x: f64| (-180.0..=180.0).contains(&x);
    let latitude = |y: f64| (-90.0..=90.0).contains(&y);
    if !(longitude(west) && longitude(east) && latitude(south) && latitude(north)) {
        return Err("is not in WGS 84 degrees: west, south, east, north".into());
    }
    if south > north {
        return Err(format!("has south {south} above north {north}"));
    }
    Ok(())
}

/// A CQL2-JSON expression: a table in the file, or a string holding the JSON as APIs
/// document it.
fn cql2_object(value: Value) -> Result<Map<String, Value>, String> {
    let value = match value {
        Value::String(text) => {
            serde_json::from_str(&text).map_err(|error| format!("is not CQL2-JSON: {error}"))?
        }
        value => value,
    };
    match value {
        Value::Object(object) if object.contains_key("op") => Ok(object),
        other => Err(format!(
            "{other} is not a CQL2-JSON expression: an object with `op` and `args`"
        )),
    }
}

/// An RFC 3339 instant, or an interval of two with `..` (or nothing) for an open end.
fn check_interval(text: &str) -> Result<(), String> {
    let instant = |part: &str| {
        DateTime::parse_from_rfc3339(part)
            .map(drop)
            .map_err(|error| format!("{part:?} is not an RFC 3339 time: {error}"))
    };
    match text.split_once('/') {
        None => instant(text),
        Some((start, end)) => {
            let open = |part: &str| part.is_empty() || part == "..";
            if open(start) && open(end) {
                return Err(format!("{text:?} is open at both ends; leave datetime out"));
            }
            for part in [start, end] {
                if !open(part) {
                    instant(part)?;
                }
            }
            Ok(())
        }
    }
}

/// An item property name as items carry it (`updated`, `created`, `datetime`,
/// `eopf:origin_datetime`).
fn check_property(name: &str) -> Result<(), String> {
    if let Some(bare) = name.strip_prefix("properties.") {
        return Err(format!(
            "{name:?}: name the item property itself, e.g. {bare:?}"
        ));
    }
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_:-.".contains(c));
    if !valid {
        return Err(format!(
            "{name:?} is not an item property name (letters, digits, `_`, `:`, `-`, `.`)"
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
