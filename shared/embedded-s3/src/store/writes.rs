//! What follows a successful write: reading the object back as HEAD shows it, and announcing it
//! before the write is answered.

use chrono::Utc;
use http::HeaderValue;
use s3s::{
    S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result,
    dto::{ETag, HeadObjectInput},
};

use super::{ClientAddr, NotifyingFileSystem};
use crate::notification::{EventKind, ObjectEvent, ObjectState};

/// Who wrote, from where, and the id the answer and the event share.
pub(super) struct Write {
    principal: String,
    source_ip: Option<String>,
    request_id: String,
}

impl NotifyingFileSystem {
    pub(super) fn begin<T>(&self, request: &S3Request<T>) -> Write {
        Write {
            principal: request
                .credentials
                .as_ref()
                .map(|credentials| credentials.access_key.clone())
                .unwrap_or_default(),
            source_ip: request
                .extensions
                .get::<ClientAddr>()
                .map(|addr| addr.0.ip().to_string()),
            request_id: self.announcer.next_sequencer(),
        }
    }

    /// Announces a created object and returns it as described in the event.
    pub(super) async fn announce_created(
        &self,
        write: &Write,
        kind: EventKind,
        bucket: &str,
        key: &str,
    ) -> S3Result<ObjectState> {
        let object = self.describe(bucket, key).await?;
        self.announce(write, kind, bucket, key, Some(object.clone()))
            .await?;
        Ok(object)
    }

    pub(super) async fn announce(
        &self,
        write: &Write,
        kind: EventKind,
        bucket: &str,
        key: &str,
        object: Option<ObjectState>,
    ) -> S3Result<()> {
        let event = ObjectEvent {
            kind,
            bucket: bucket.into(),
            key: key.into(),
            object,
            principal: write.principal.clone(),
            source_ip: write.source_ip.clone(),
            request_id: write.request_id.clone(),
            sequencer: self.announcer.next_sequencer(),
            time: Utc::now(),
        };
        self.announcer.announce(&event).await.map_err(|mut error| {
            error.set_request_id(write.request_id.clone());
            error
        })
    }

    /// The object as HEAD shows it, so the event's size and ETag are what readers will see.
    async fn describe(&self, bucket: &str, key: &str) -> S3Result<ObjectState> {
        if key.ends_with('/') {
            // s3s-fs stores a folder marker as a directory and cannot HEAD it; it is empty.
            return Ok(ObjectState {
                size: 0,
                e_tag: EMPTY_MD5.into(),
                content_type: None,
                user_metadata: Default::default(),
            });
        }
        let input = HeadObjectInput::builder()
            .bucket(bucket.into())
            .key(key.into())
            .build()
            .map_err(S3Error::internal_error)?;
        let head = self
            .fs
            .head_object(internal_request(input))
            .await
            .map_err(|error| {
                let mut unavailable = S3Error::with_message(
                    S3ErrorCode::ServiceUnavailable,
                    format!(
                        "s3://{bucket}/{key} was written but could not be read back for its event; retry the request"
                    ),
                );
                unavailable.set_source(Box::new(error));
                unavailable
            })?
            .output;
        Ok(ObjectState {
            size: head
                .content_length
                .and_then(|length| u64::try_from(length).ok())
                .unwrap_or(0),
            e_tag: head.e_tag.map(ETag::into_value).unwrap_or_default(),
            content_type: head.content_type,
            user_metadata: head.metadata.unwrap_or_default().into_iter().collect(),
        })
    }

    pub(super) async fn announce_completed_upload(
        &self,
        write: &Write,
        upload_id: &str,
        bucket: &str,
        key: &str,
    ) -> S3Result<ObjectState> {
        let announced = self
            .announce_created(write, EventKind::CompleteMultipartUpload, bucket, key)
            .await;
        let mut unannounced = self.unannounced_uploads.lock().expect("upload map lock");
        match announced {
            Ok(object) => {
                unannounced.remove(upload_id);
                Ok(object)
            }
            Err(error) => {
                unannounced.insert(upload_id.into(), (bucket.into(), key.into()));
                Err(error)
            }
        }
    }

    pub(super) fn is_unannounced_upload(&self, upload_id: &str, bucket: &str, key: &str) -> bool {
        self.unannounced_uploads
            .lock()
            .expect("upload map lock")
            .get(upload_id)
            .is_some_and(|(b, k)| b == bucket && k == key)
    }
}

/// The MD5 of nothing: the ETag of an empty object.
const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// A request the store makes to the file system itself (to read back what it wrote).
fn internal_request<T>(input: T) -> S3Request<T> {
    S3Request {
        input,
        method: http::Method::HEAD,
        uri: http::Uri::from_static("/"),
        headers: Default::default(),
        extensions: Default::default(),
        credentials: None,
        region: None,
        service: None,
        trailing_headers: None,
    }
}

/// Tags the answer with the id the event's `x-amz-request-id` carries.
pub(super) fn with_request_id<T>(mut response: S3Response<T>, write: &Write) -> S3Response<T> {
    let value = HeaderValue::from_str(&write.request_id).expect("a hex id is a valid header");
    response.headers.insert("x-amz-request-id", value);
    response
}
