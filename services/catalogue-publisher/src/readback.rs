//! Whether a STAC API serves back the item it was sent, allowing for what a server may
//! legitimately change: the links it adds (its own `self`, `parent`, `collection`, `root`),
//! fields it adds, fields sent as `null` that it drops (pgstac strips nulls, `datetime: null`
//! included: stac-utils/pgstac#158), the formatting of date-times (`.25Z` served as
//! `.250000Z`), the order of keys, and how a number is written (`2417` as `2417.0`).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The first field of `sent` that `served` lacks or holds differently, as a JSON pointer
/// (`/properties/datetime`); `None` when the API stored the item as sent.
pub fn first_difference(sent: &Value, served: &Value) -> Option<String> {
    let (Value::Object(sent), Value::Object(served)) = (sent, served) else {
        return Some("/".to_owned());
    };
    let mut fields = sent.clone();
    let links = fields.remove("links");
    object_difference("", &fields, served).or_else(|| {
        let index = missing_link(links.as_ref()?, served.get("links").unwrap_or(&Value::Null))?;
        Some(format!("/links/{index}"))
    })
}

/// The index of the first sent link the server does not serve (same `rel` and `href`, and the
/// same value of every other field sent).
fn missing_link(sent: &Value, served: &Value) -> Option<usize> {
    let sent = sent.as_array()?;
    let served = served.as_array().map(Vec::as_slice).unwrap_or_default();
    sent.iter().position(|link| {
        !served
            .iter()
            .any(|candidate| difference_at("", link, candidate).is_none())
    })
}

/// Objects: every sent field, by value (extra served fields are fine, and a `null` may be
/// absent); arrays: same length and
/// elements; numbers by value; strings that are both RFC 3339 date-times as instants.
fn difference_at(path: &str, sent: &Value, served: &Value) -> Option<String> {
    match (sent, served) {
        (Value::Object(sent), Value::Object(served)) => object_difference(path, sent, served),
        (Value::Array(sent), Value::Array(served)) if sent.len() == served.len() => sent
            .iter()
            .zip(served)
            .enumerate()
            .find_map(|(index, (sent, served))| {
                difference_at(&format!("{path}/{index}"), sent, served)
            }),
        (Value::Number(sent), Value::Number(served)) if sent.as_f64() == served.as_f64() => None,
        (Value::String(sent), Value::String(served)) if same_text(sent, served) => None,
        (sent, served) if sent == served => None,
        _ => Some(path.to_owned()),
    }
}

fn object_difference(
    path: &str,
    sent: &Map<String, Value>,
    served: &Map<String, Value>,
) -> Option<String> {
    sent.iter().find_map(|(key, value)| {
        let path = format!("{path}/{}", escape(key));
        match served.get(key) {
            None if value.is_null() => None,
            None => Some(path),
            Some(found) => difference_at(&path, value, found),
        }
    })
}

fn same_text(sent: &str, served: &str) -> bool {
    sent == served
        || matches!(
            (instant(sent), instant(served)),
            (Some(sent), Some(served)) if sent == served
        )
}

fn instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// JSON pointer escaping (RFC 6901): asset keys such as `footprint.geojson` stay readable.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
#[path = "readback_tests.rs"]
mod tests;
