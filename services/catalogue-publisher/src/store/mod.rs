//! The object store the catalogue lives in, behind a small trait so the publishing logic is tested
//! without a network; [`S3Store`] is the real one.
//!
//! Read-modify-write of shared documents (`collection.json`, `catalog.json`) is guarded by S3
//! conditional writes: a document is replaced only if its ETag is still the one read
//! (`If-Match`), and created only if absent (`If-None-Match: *`). The guard lives with the data,
//! so no lock can expire under a slow writer; AWS S3, MinIO, Ceph RGW and SeaweedFS (4.17 and
//! later) honour it, and [`verify_conditional_writes`] refuses to start on a server that does not.

use std::future::Future;

use bytes::Bytes;
use nrt_s3::{
    S3Error,
    aws_sdk_s3::{
        self, Client,
        error::{ProvideErrorMetadata, SdkError},
        primitives::ByteStream,
    },
};

use crate::{Error, layout::Layout};

/// A document's bytes with the ETag that identifies this version of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub body: Bytes,
    pub etag: String,
}

/// When a conditional write may happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Only if no object has the key (`If-None-Match: *`).
    Absent,
    /// Only if the object still has this ETag (`If-Match`).
    Unchanged(String),
}

/// The outcome of a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Yes,
    /// Another writer got there first; read again and redo the change.
    PreconditionFailed,
}

/// The catalogue bucket.
pub trait ObjectStore: Send + Sync + 'static {
    /// The object's bytes, or `None` when there is no such key.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Bytes>, S3Error>> + Send;

    /// The object's bytes and ETag, or `None` when there is no such key.
    fn get_versioned(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Versioned>, S3Error>> + Send;

    /// Writes unconditionally: for documents only this job writes.
    fn put(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> impl Future<Output = Result<(), S3Error>> + Send;

    fn put_if(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
        precondition: Precondition,
    ) -> impl Future<Output = Result<Written, S3Error>> + Send;
}

/// The catalogue bucket on a real S3 server.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
}

impl S3Store {
    pub fn new(client: Client, bucket: &str) -> Self {
        Self {
            client,
            bucket: bucket.to_owned(),
        }
    }

    fn error<E>(
        &self,
        operation: &'static str,
        key: &str,
        error: SdkError<E, HttpResponse>,
    ) -> S3Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        S3Error::request(operation, &self.bucket, key, error)
    }
}

type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

impl ObjectStore for S3Store {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, S3Error> {
        nrt_s3::get_bytes(&self.client, &self.bucket, key).await
    }

    async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>, S3Error> {
        let response = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(response) => response,
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(error) => return Err(self.error("GetObject", key, error)),
        };
        let failed = |detail: String| S3Error::Request {
            operation: "GetObject",
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            detail,
            transient: true,
        };
        let etag = response
            .e_tag()
            .map(str::to_owned)
            .ok_or_else(|| failed("the server sent no ETag".into()))?;
        let body = response
            .body
            .collect()
            .await
            .map_err(|error| failed(format!("body interrupted: {error}")))?;
        Ok(Some(Versioned {
            body: body.into_bytes(),
            etag,
        }))
    }

    async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<(), S3Error> {
        nrt_s3::put_bytes(&self.client, &self.bucket, key, body, content_type)
            .await
            .map(drop)
    }

    async fn put_if(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
        precondition: Precondition,
    ) -> Result<Written, S3Error> {
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body));
        let request = match precondition {
            Precondition::Absent => request.if_none_match("*"),
            Precondition::Unchanged(etag) => request.if_match(etag),
        };
        match request.send().await {
            Ok(_) => Ok(Written::Yes),
            Err(error) if lost_race(&error) => Ok(Written::PreconditionFailed),
            Err(error) => Err(self.error("PutObject", key, error)),
        }
    }
}

/// Whether a conditional write failed because another writer changed the object: 412 when the
/// condition failed, 409 when AWS saw a concurrent conditional write win, and 404 `NoSuchKey`
/// when AWS answers `If-Match` on a key deleted since it was read.
fn lost_race<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    match error
        .raw_response()
        .map(|response| response.status().as_u16())
    {
        Some(409 | 412) => true,
        Some(404) => error.code() == Some("NoSuchKey"),
        _ => false,
    }
}

/// Refuses a server that ignores conditional writes: on it, replicas would silently overwrite
/// each other's collection updates. Writes a small probe object next to the root catalog.
pub async fn verify_conditional_writes<S: ObjectStore>(
    store: &S,
    layout: &Layout,
    endpoint: &str,
) -> Result<(), Error> {
    let key = layout.private_key(".conditional-write-probe");
    let probe = || Bytes::from_static(b"nrt-mesh catalogue-publisher conditional write probe\n");
    store.put(&key, probe(), "text/plain").await?;
    let stale = Precondition::Unchanged("\"nrt-mesh-no-such-etag\"".into());
    let ignores_if_match = store.put_if(&key, probe(), "text/plain", stale).await? == Written::Yes;
    let ignores_if_none_match = store
        .put_if(&key, probe(), "text/plain", Precondition::Absent)
        .await?
        == Written::Yes;
    if ignores_if_match || ignores_if_none_match {
        return Err(Error::ConditionalWritesUnsupported {
            endpoint: endpoint.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod memory;
