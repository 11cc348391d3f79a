//! The body MinIO's NATS target sends after a write ("namespace" format: `EventName`, `Key` and
//! one AWS-style record), built from the shared `nrt_events::s3` types.

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicU64, Ordering},
};

use chrono::{DateTime, SecondsFormat, Utc};
use nrt_events::s3::{Principal, S3Bucket, S3Entity, S3Notification, S3Object, S3Record};

/// Which write the event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    Put,
    Copy,
    CompleteMultipartUpload,
    Delete,
}

impl EventKind {
    pub(crate) fn event_name(self) -> &'static str {
        match self {
            Self::Put => "s3:ObjectCreated:Put",
            Self::Copy => "s3:ObjectCreated:Copy",
            Self::CompleteMultipartUpload => "s3:ObjectCreated:CompleteMultipartUpload",
            Self::Delete => "s3:ObjectRemoved:Delete",
        }
    }
}

/// The stored object as HEAD reports it right after the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectState {
    pub size: u64,
    /// Without the quotes HTTP puts around it, as S3 events carry it.
    pub e_tag: String,
    pub content_type: Option<String>,
    /// `x-amz-meta-*` values by their lower-case name without the prefix, as s3s parses them.
    pub user_metadata: BTreeMap<String, String>,
}

/// One write to report: who did what to which object, and when.
#[derive(Debug, Clone)]
pub(crate) struct ObjectEvent {
    pub kind: EventKind,
    pub bucket: String,
    pub key: String,
    /// `None` for removals: S3 reports only the key of a deleted object.
    pub object: Option<ObjectState>,
    pub principal: String,
    pub source_ip: Option<String>,
    pub request_id: String,
    pub sequencer: String,
    pub time: DateTime<Utc>,
}

impl ObjectEvent {
    /// Unique per write, so JetStream keeps every write and drops only a re-sent copy of one.
    pub(crate) fn message_id(&self) -> String {
        format!(
            "s3:{}/{}:{}",
            self.bucket,
            S3Object::encode_key(&self.key),
            self.sequencer
        )
    }

    pub(crate) fn notification(&self, region: &str) -> S3Notification {
        let principal = || {
            Some(Principal {
                principal_id: self.principal.clone(),
            })
        };
        let mut request_parameters = BTreeMap::from([
            ("accessKey".to_owned(), self.principal.clone()),
            ("region".to_owned(), region.to_owned()),
        ]);
        if let Some(ip) = &self.source_ip {
            request_parameters.insert("sourceIPAddress".to_owned(), ip.clone());
        }
        let object = self.object.as_ref();
        let record = S3Record {
            event_version: "2.0".into(),
            event_source: "minio:s3".into(),
            aws_region: region.into(),
            event_time: self.time.to_rfc3339_opts(SecondsFormat::Millis, true),
            event_name: self.kind.event_name().into(),
            user_identity: principal(),
            request_parameters,
            response_elements: BTreeMap::from([(
                "x-amz-request-id".to_owned(),
                self.request_id.clone(),
            )]),
            s3: S3Entity {
                s3_schema_version: "1.0".into(),
                configuration_id: "nrt-embedded".into(),
                bucket: S3Bucket {
                    name: self.bucket.clone(),
                    owner_identity: principal(),
                    arn: format!("arn:aws:s3:::{}", self.bucket),
                },
                object: S3Object {
                    key: S3Object::encode_key(&self.key),
                    size: object.map(|o| o.size),
                    e_tag: object.map(|o| o.e_tag.clone()),
                    content_type: object.and_then(|o| o.content_type.clone()),
                    user_metadata: object.map(minio_user_metadata).unwrap_or_default(),
                    version_id: None,
                    sequencer: Some(self.sequencer.clone()),
                },
            },
        };
        S3Notification {
            event_name: Some(self.kind.event_name().into()),
            // MinIO's shorthand carries the key as stored, not URL-encoded.
            key: Some(format!("{}/{}", self.bucket, self.key)),
            records: vec![record],
        }
    }
}

/// MinIO's `userMetadata`: `content-type` plus each user value under its canonical header name
/// (`X-Amz-Meta-Sha256`).
fn minio_user_metadata(object: &ObjectState) -> BTreeMap<String, String> {
    let mut metadata: BTreeMap<String, String> = object
        .user_metadata
        .iter()
        .map(|(name, value)| {
            (
                canonical_header_name(&format!("x-amz-meta-{name}")),
                value.clone(),
            )
        })
        .collect();
    if let Some(content_type) = &object.content_type {
        metadata.insert("content-type".into(), content_type.clone());
    }
    metadata
}

/// `x-amz-meta-sha256` → `X-Amz-Meta-Sha256`, as Go's `http.CanonicalHeaderKey` writes it.
fn canonical_header_name(name: &str) -> String {
    name.split('-')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => {
                    first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
                }
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Hands out S3-style sequencers: upper-case hex of the time in nanoseconds, strictly increasing
/// within the process. Starting from the clock rather than zero keeps a restarted process from
/// reusing a message id that JetStream still remembers, which would drop a new write's event.
#[derive(Debug, Default)]
pub(crate) struct Sequencer {
    last: AtomicU64,
}

impl Sequencer {
    pub(crate) fn next(&self) -> String {
        let now = u64::try_from(Utc::now().timestamp_nanos_opt().unwrap_or_default()).unwrap_or(0);
        let previous = self
            .last
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(now.max(last + 1))
            })
            .expect("the update always yields a value");
        format!("{:016X}", now.max(previous + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/fixtures/s3-events/minio/minio_kafka_ObjectCreated_Put_2019.json"
        );
        serde_json::from_slice(&std::fs::read(path).expect("fixture exists")).unwrap()
    }

    fn put_event() -> ObjectEvent {
        ObjectEvent {
            kind: EventKind::Put,
            bucket: "images".into(),
            key: "holiday photos/été+1.jpg".into(),
            object: Some(ObjectState {
                size: 6474,
                e_tag: "430f89010c77aa34fc8760696da62d08".into(),
                content_type: Some("image/jpeg".into()),
                user_metadata: BTreeMap::from([("sha256".into(), "ab12".into())]),
            }),
            principal: "nrt-dev".into(),
            source_ip: Some("127.0.0.1".into()),
            request_id: "15C3249451E12784".into(),
            sequencer: "15C32494527B46C5".into(),
            time: DateTime::parse_from_rfc3339("2019-09-10T17:41:54.5Z")
                .unwrap()
                .to_utc(),
        }
    }

    /// Every field path of a JSON value, e.g. `Records.0.s3.object.eTag`.
    fn field_paths(value: &serde_json::Value, prefix: &str, paths: &mut Vec<String>) {
        let mut visit = |name: String, child: &serde_json::Value| {
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}.{name}")
            };
            paths.push(path.clone());
            field_paths(child, &path, paths);
        };
        match value {
            serde_json::Value::Object(map) => map.iter().for_each(|(k, v)| visit(k.clone(), v)),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .for_each(|(i, v)| visit(i.to_string(), v)),
            _ => {}
        }
    }

    #[test]
    fn put_event_has_the_shape_of_minio_s_namespace_format() {
        let ours = serde_json::to_value(put_event().notification("us-east-1")).unwrap();
        let mut minio = Vec::new();
        field_paths(&fixture(), "", &mut minio);
        let mut built = Vec::new();
        field_paths(&ours, "", &mut built);
        // MinIO-only extras: its deployment, versioning and the client's user agent.
        let is_minio_only = |path: &str| {
            path.split('.').any(|segment| {
                segment == "versionId" || segment == "source" || segment.starts_with("x-minio-")
            })
        };
        for path in minio {
            if is_minio_only(&path) {
                continue;
            }
            assert!(built.contains(&path), "missing {path} in {ours:#}");
        }
    }

    #[test]
    fn put_event_carries_the_written_object() {
        let notification = put_event().notification("us-east-1");
        assert_eq!(
            notification.event_name.as_deref(),
            Some("s3:ObjectCreated:Put")
        );
        assert_eq!(
            notification.key.as_deref(),
            Some("images/holiday photos/été+1.jpg")
        );
        let record = &notification.records[0];
        assert_eq!(record.event_source, "minio:s3");
        assert_eq!(record.event_time, "2019-09-10T17:41:54.500Z");
        assert_eq!(record.s3.bucket.arn, "arn:aws:s3:::images");
        let object = &record.s3.object;
        assert_eq!(object.key, "holiday+photos/%C3%A9t%C3%A9%2B1.jpg");
        assert_eq!(object.decoded_key().unwrap(), "holiday photos/été+1.jpg");
        assert_eq!(object.size, Some(6474));
        assert_eq!(object.user_metadata["X-Amz-Meta-Sha256"], "ab12");
        assert_eq!(object.user_metadata["content-type"], "image/jpeg");
        assert_eq!(
            record.response_elements["x-amz-request-id"],
            "15C3249451E12784"
        );
        assert_eq!(record.request_parameters["sourceIPAddress"], "127.0.0.1");
    }

    #[test]
    fn removal_reports_only_the_key_and_sequencer() {
        let event = ObjectEvent {
            kind: EventKind::Delete,
            object: None,
            ..put_event()
        };
        let object = &event.notification("us-east-1").records[0].s3.object;
        assert_eq!(object.size, None);
        assert_eq!(object.e_tag, None);
        assert!(object.user_metadata.is_empty());
        assert_eq!(object.sequencer.as_deref(), Some("15C32494527B46C5"));
    }

    #[test]
    fn message_id_is_ascii_and_names_the_write() {
        assert_eq!(
            put_event().message_id(),
            "s3:images/holiday+photos/%C3%A9t%C3%A9%2B1.jpg:15C32494527B46C5"
        );
    }

    #[test]
    fn sequencers_strictly_increase_as_hex() {
        let sequencer = Sequencer::default();
        let issued: Vec<String> = (0..1000).map(|_| sequencer.next()).collect();
        for pair in issued.windows(2) {
            let (a, b) = (
                u64::from_str_radix(&pair[0], 16).unwrap(),
                u64::from_str_radix(&pair[1], 16).unwrap(),
            );
            assert!(a < b, "{} then {}", pair[0], pair[1]);
        }
        assert!(issued.iter().all(|s| {
            s.len() == 16
                && s.chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        }));
    }

    #[test]
    fn header_names_are_canonicalised_like_minio() {
        assert_eq!(
            canonical_header_name("x-amz-meta-sha256"),
            "X-Amz-Meta-Sha256"
        );
        assert_eq!(
            canonical_header_name("x-amz-meta-processing-LEVEL"),
            "X-Amz-Meta-Processing-Level"
        );
    }
}
