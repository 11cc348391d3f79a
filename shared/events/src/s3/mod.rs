//! S3 object events in the AWS event-notification format, as S3, MinIO's NATS target and the
//! embedded endpoint publish them on `objects.<bucket>`.
//!
//! These are not CloudEvents: the body is what the storage sends, so any S3 that can notify NATS
//! plugs in unchanged. [`S3Notification`] is the form the mesh writes; [`read_object_changes`]
//! reads every form senders use (SQS, SNS, EventBridge, older MinIO).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::subject_token;

mod read;

pub use read::{ChangeKind, NotificationError, ObjectChange, read_object_changes};

/// The subject an object event for `bucket` is published on.
pub fn object_subject(bucket: &str) -> String {
    format!("objects.{}", subject_token(bucket))
}

/// A notification body: AWS sends `Records` alone; MinIO adds `EventName` and `Key`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct S3Notification {
    #[serde(rename = "EventName", default, skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    /// `bucket/key`, MinIO's shorthand for the first record.
    #[serde(rename = "Key", default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Absent in `s3:TestEvent`, the message S3 sends when notifications are configured.
    #[serde(rename = "Records", default)]
    pub records: Vec<S3Record>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Record {
    #[serde(default)]
    pub event_version: String,
    #[serde(default)]
    pub event_source: String,
    #[serde(default)]
    pub aws_region: String,
    #[serde(default)]
    pub event_time: String,
    /// `s3:ObjectCreated:Put` (MinIO) or `ObjectCreated:Put` (AWS).
    pub event_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_identity: Option<Principal>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_parameters: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_elements: BTreeMap<String, String>,
    pub s3: S3Entity,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    #[serde(default)]
    pub principal_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Entity {
    #[serde(default)]
    pub s3_schema_version: String,
    #[serde(default)]
    pub configuration_id: String,
    pub bucket: S3Bucket,
    pub object: S3Object,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Bucket {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_identity: Option<Principal>,
    #[serde(default)]
    pub arn: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Object {
    /// URL-encoded as S3 sends it; see [`S3Object::decoded_key`].
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Orders events for the same key; unique per write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<String>,
}

impl S3Object {
    /// The key as stored: S3 form-encodes keys in notifications (`+` for a space, `%XX` escapes).
    pub fn decoded_key(&self) -> Result<String, std::str::Utf8Error> {
        decode_form_key(&self.key)
    }

    /// Encodes a stored key the way S3 does in notifications.
    pub fn encode_key(key: &str) -> String {
        const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'_')
            .remove(b'.')
            .remove(b'~')
            .remove(b'/')
            .remove(b' ');
        percent_encoding::utf8_percent_encode(key, KEEP)
            .to_string()
            .replace(' ', "+")
    }
}

impl S3Record {
    /// Whether the event says an object now exists (put, copy, multipart completion).
    pub fn is_created(&self) -> bool {
        ChangeKind::of_event_name(&self.event_name) == ChangeKind::Created
    }

    /// Whether the event says the object is gone (deleted, or expired by a lifecycle rule).
    pub fn is_removed(&self) -> bool {
        ChangeKind::of_event_name(&self.event_name) == ChangeKind::Removed
    }
}

/// A key from the form encoding notifications use: `+` for a space, `%XX` for other bytes.
fn decode_form_key(encoded: &str) -> Result<String, std::str::Utf8Error> {
    let plus_as_space = encoded.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8()
        .map(|key| key.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> Vec<u8> {
        let root = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/fixtures/s3-events/"
        );
        std::fs::read(format!("{root}{path}")).expect("fixture exists")
    }

    #[test]
    fn reads_the_aws_documentation_put_event() {
        let event: S3Notification =
            serde_json::from_slice(&fixture("aws/s3_event_ObjectCreated_Put.aws-docs.json"))
                .unwrap();
        let record = &event.records[0];
        assert!(record.is_created());
        assert_eq!(record.s3.bucket.name, "mybucket");
        assert_eq!(record.s3.object.size, Some(1024));
    }

    #[test]
    fn reads_minio_namespace_format() {
        let event: S3Notification =
            serde_json::from_slice(&fixture("minio/minio_kafka_ObjectCreated_Put_2019.json"))
                .unwrap();
        assert_eq!(event.key.as_deref(), Some("images/myphoto.jpg"));
        assert!(event.records[0].is_created());
        assert_eq!(
            event.records[0].s3.object.user_metadata["content-type"],
            "image/jpeg"
        );
    }

    #[test]
    fn the_test_event_has_no_records() {
        let event: S3Notification =
            serde_json::from_slice(&fixture("aws/s3_test_event.aws-docs.json")).unwrap();
        assert!(event.records.is_empty());
    }

    #[test]
    fn lambda_fixture_key_is_url_decoded() {
        let event: S3Notification =
            serde_json::from_slice(&fixture("lambda/aws_lambda_events_example-s3-event.json"))
                .unwrap();
        assert_eq!(
            event.records[0].s3.object.decoded_key().unwrap(),
            "Happy Face.jpg"
        );
    }

    #[test]
    fn key_encoding_round_trips() {
        for key in ["a b/c+d%e.json", "jobs/x/été.tif", "plain/key.json"] {
            let object = S3Object {
                key: S3Object::encode_key(key),
                size: None,
                e_tag: None,
                content_type: None,
                user_metadata: BTreeMap::new(),
                version_id: None,
                sequencer: None,
            };
            assert_eq!(object.decoded_key().unwrap(), key);
        }
    }
}
