//! Reading an object notification whatever carried it: S3 directly (`Records`), S3 through SQS
//! (`Records[].body`, the notification as a JSON string) or SNS (`Records[].Sns.Message`),
//! EventBridge (`detail-type` and `detail`), and MinIO in its current form (`EventName`, `Key`,
//! `Records`) and its older ones (`EventType`, `userDefined`, logrus fields beside the records).
//!
//! The body is read as loose JSON rather than into one struct: each carrier nests the same facts
//! differently, and a missing field is reported by its path (`Records[0].s3.object.key`) so an
//! operator can see which sender is at fault.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Written: a put, a copy, a completed multipart upload.
    Created,
    /// Deleted, a delete marker, or expired by a lifecycle rule.
    Removed,
    /// Anything else S3 reports (restores, tagging, ACLs): the object itself did not change.
    Other,
}

impl ChangeKind {
    /// What a notification's event name says: AWS writes `ObjectCreated:Put`, MinIO prefixes
    /// `s3:`, and lifecycle expirations (`LifecycleExpiration:Delete`) remove the object too.
    pub fn of_event_name(event_name: &str) -> Self {
        let action = event_name.trim_start_matches("s3:");
        if action.starts_with("ObjectCreated:") {
            Self::Created
        } else if action.starts_with("ObjectRemoved:") || action.starts_with("LifecycleExpiration:")
        {
            Self::Removed
        } else {
            Self::Other
        }
    }
}

/// One change to one object, in the terms every carrier shares.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectChange {
    pub kind: ChangeKind,
    /// The event as its sender named it (`s3:ObjectCreated:Put`, `Object Deleted`), for logs.
    pub event_name: String,
    pub bucket: String,
    /// The key as stored: decoded from the form encoding notifications use.
    pub key: String,
    pub size: Option<u64>,
    pub etag: Option<String>,
    /// Orders events for the same key: a greater hex value is later.
    pub sequencer: Option<String>,
    /// When the storage processed the request; `None` when the sender gave no time.
    pub event_time: Option<DateTime<Utc>>,
}

/// Why a notification body cannot be read: the field at fault and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct NotificationError {
    /// The path of the field, e.g. `Records[0].s3.object.key`, or `body` for the whole.
    pub field: String,
    pub problem: String,
}

/// The object changes a notification body reports, oldest first as the sender listed them.
///
/// A body with nothing to act on (the `s3:TestEvent` S3 sends when notifications are configured,
/// or an empty `Records`) reads as no changes; a body that is none of the known forms is an error.
pub fn read_object_changes(body: &[u8]) -> Result<Vec<ObjectChange>, NotificationError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| NotificationError {
        field: "body".into(),
        problem: format!("is not JSON ({error})"),
    })?;
    let mut changes = Vec::new();
    read_value(&value, "", &mut changes)?;
    Ok(changes)
}

fn read_value(
    value: &Value,
    path: &str,
    changes: &mut Vec<ObjectChange>,
) -> Result<(), NotificationError> {
    let at = |field: &str| join(path, field);
    let Some(body) = value.as_object() else {
        return Err(problem(or_body(path), "is not a JSON object"));
    };
    if body.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(());
    }
    if let Some(detail) = body.get("detail") {
        return read_eventbridge(body, detail, path).map(|change| changes.extend(change));
    }
    let Some(records) = body.get("Records") else {
        return Err(problem(
            or_body(path),
            "has neither `Records` (S3, SQS, SNS, MinIO) nor `detail` (EventBridge), \
             and is no s3:TestEvent",
        ));
    };
    let records = records
        .as_array()
        .ok_or_else(|| problem(at("Records"), "is not an array"))?;
    for (index, record) in records.iter().enumerate() {
        let path = at(&format!("Records[{index}]"));
        let fields = record
            .as_object()
            .ok_or_else(|| problem(path.clone(), "is not a JSON object"))?;
        if let Some(wrapped) = wrapped_notification(fields, &path)? {
            let (field, text) = wrapped;
            let inner: Value = serde_json::from_str(text)
                .map_err(|error| problem(field.clone(), format!("is not JSON ({error})")))?;
            read_value(&inner, &field, changes)?;
        } else {
            changes.push(read_record(fields, &path)?);
        }
    }
    Ok(())
}

/// The notification an SQS or SNS record carries as a string, with the path it sits at.
fn wrapped_notification<'a>(
    record: &'a Map<String, Value>,
    path: &str,
) -> Result<Option<(String, &'a str)>, NotificationError> {
    if record.contains_key("s3") {
        return Ok(None);
    }
    let (field, text) = match (record.get("body"), record.get("Sns")) {
        (Some(body), _) => (join(path, "body"), body),
        (None, Some(sns)) => (join(path, "Sns.Message"), sns.get("Message").unwrap_or(sns)),
        (None, None) => return Ok(None),
    };
    let text = text
        .as_str()
        .ok_or_else(|| problem(field.clone(), "is not a string holding a notification"))?;
    Ok(Some((field, text)))
}

fn read_record(record: &Map<String, Value>, path: &str) -> Result<ObjectChange, NotificationError> {
    let at = |field: &str| join(path, field);
    let event_name = required_str(record, "eventName", path)?;
    let s3 = record
        .get("s3")
        .and_then(Value::as_object)
        .ok_or_else(|| problem(at("s3"), "is missing"))?;
    let bucket = nested_str(s3, &["bucket", "name"], &at("s3"))?;
    let object = s3
        .get("object")
        .and_then(Value::as_object)
        .ok_or_else(|| problem(at("s3.object"), "is missing"))?;
    let key_path = at("s3.object.key");
    let key = decode_key(required_str(object, "key", &at("s3.object"))?, &key_path)?;
    let event_time = optional_time(record, "eventTime", path)?;
    Ok(ObjectChange {
        kind: ChangeKind::of_event_name(event_name),
        event_name: event_name.to_owned(),
        bucket: bucket.to_owned(),
        key,
        size: object.get("size").and_then(Value::as_u64),
        etag: optional_string(object, "eTag"),
        sequencer: optional_string(object, "sequencer"),
        event_time,
    })
}

fn read_eventbridge(
    envelope: &Map<String, Value>,
    detail: &Value,
    path: &str,
) -> Result<Option<ObjectChange>, NotificationError> {
    let at = |field: &str| join(path, field);
    let source = envelope.get("source").and_then(Value::as_str);
    if source != Some("aws.s3") {
        return Err(problem(
            at("source"),
            format!("is {source:?}; only aws.s3 EventBridge events carry object changes"),
        ));
    }
    let detail_type = required_str(envelope, "detail-type", path)?;
    let kind = match detail_type {
        "Object Created" => ChangeKind::Created,
        "Object Deleted" => ChangeKind::Removed,
        _ => ChangeKind::Other,
    };
    let detail = detail
        .as_object()
        .ok_or_else(|| problem(at("detail"), "is not a JSON object"))?;
    let bucket = nested_str(detail, &["bucket", "name"], &at("detail"))?;
    let object = detail
        .get("object")
        .and_then(Value::as_object)
        .ok_or_else(|| problem(at("detail.object"), "is missing"))?;
    // EventBridge keys are form-encoded like notification keys (AWS Powertools decodes both).
    let key = decode_key(
        required_str(object, "key", &at("detail.object"))?,
        &at("detail.object.key"),
    )?;
    Ok(Some(ObjectChange {
        kind,
        event_name: detail_type.to_owned(),
        bucket: bucket.to_owned(),
        key,
        size: object.get("size").and_then(Value::as_u64),
        etag: optional_string(object, "etag"),
        sequencer: optional_string(object, "sequencer"),
        event_time: optional_time(envelope, "time", path)?,
    }))
}

/// The stored key at `path`, which must decode and must not be empty.
fn decode_key(encoded: &str, path: &str) -> Result<String, NotificationError> {
    let key = super::decode_form_key(encoded)
        .map_err(|_| problem(path, format!("{encoded:?} does not decode to UTF-8")))?;
    if key.is_empty() {
        return Err(problem(path, "is empty"));
    }
    Ok(key)
}

fn required_str<'a>(
    fields: &'a Map<String, Value>,
    field: &str,
    path: &str,
) -> Result<&'a str, NotificationError> {
    match fields.get(field) {
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(problem(join(path, field), "is not a string")),
        None => Err(problem(join(path, field), "is missing")),
    }
}

fn nested_str<'a>(
    fields: &'a Map<String, Value>,
    route: &[&str],
    path: &str,
) -> Result<&'a str, NotificationError> {
    let (last, parents) = route.split_last().expect("a route names a field");
    let mut here = fields;
    let mut path = path.to_owned();
    for parent in parents {
        path = join(&path, parent);
        here = here
            .get(*parent)
            .and_then(Value::as_object)
            .ok_or_else(|| problem(path.clone(), "is missing"))?;
    }
    required_str(here, last, &path)
}

fn optional_string(fields: &Map<String, Value>, field: &str) -> Option<String> {
    fields
        .get(field)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// A time the sender gave, which must then be readable; absent is allowed (emulators omit it).
fn optional_time(
    fields: &Map<String, Value>,
    field: &str,
    path: &str,
) -> Result<Option<DateTime<Utc>>, NotificationError> {
    let Some(text) = optional_string(fields, field) else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(&text)
        .map(|time| Some(time.with_timezone(&Utc)))
        .map_err(|error| {
            problem(
                join(path, field),
                format!("{text:?} is not a time ({error})"),
            )
        })
}

fn problem(field: impl Into<String>, problem: impl Into<String>) -> NotificationError {
    NotificationError {
        field: field.into(),
        problem: problem.into(),
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

fn or_body(path: &str) -> String {
    if path.is_empty() { "body" } else { path }.to_owned()
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
