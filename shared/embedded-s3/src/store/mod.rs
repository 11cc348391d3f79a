//! The S3 operations the mesh uses, delegated to `s3s_fs::FileSystem` with two additions: unsafe
//! keys are refused before the file system sees them, and every write is announced on JetStream
//! before it is answered.

mod key_locks;
mod writes;

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, sync::Mutex};

use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, dto::*};
use s3s_fs::FileSystem;

use crate::{
    announce::Announcer,
    keys::{
        Stored, key_error, refuse_unsafe_copy_source, refuse_unsafe_key, refuse_unstorable_key,
    },
    notification::EventKind,
};
use key_locks::KeyLocks;
use writes::with_request_id;

/// The client's address, put into each request's extensions by the server for `sourceIPAddress`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub SocketAddr);

/// An S3 service over a directory that refuses unsafe object keys and publishes an S3 object
/// event after each successful put, copy, multipart completion and delete (see
/// [`EmbeddedS3`](crate::EmbeddedS3) for the delivery guarantee).
pub(crate) struct NotifyingFileSystem {
    fs: FileSystem,
    root: PathBuf,
    announcer: Announcer,
    /// Serialises the requests on one key (see [`key_locks`] for why s3s-fs needs it).
    key_locks: KeyLocks,
    /// Uploads completed whose event could not be published, by upload id: s3s-fs forgets the id
    /// on completion, so the client's retry is answered from here and announced then.
    unannounced_uploads: Mutex<HashMap<String, (String, String)>>,
}

impl NotifyingFileSystem {
    pub(crate) fn new(fs: FileSystem, root: PathBuf, announcer: Announcer) -> Self {
        Self {
            fs,
            root,
            announcer,
            key_locks: KeyLocks::new(),
            unannounced_uploads: Mutex::default(),
        }
    }
}

#[async_trait::async_trait]
impl S3 for NotifyingFileSystem {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.fs.create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    /// Refused while the bucket holds anything: s3s-fs would remove the objects without events.
    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let path = self.root.join(&req.input.bucket);
        if let Ok(mut entries) = tokio::fs::read_dir(&path).await
            && entries.next_entry().await.ok().flatten().is_some()
        {
            return Err(S3Error::with_message(
                S3ErrorCode::BucketNotEmpty,
                format!("bucket {} is not empty", req.input.bucket),
            ));
        }
        self.fs.delete_bucket(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.fs.list_buckets(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.fs.get_bucket_location(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.fs.list_objects(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        refuse_unsafe_key(&req.input.key)?;
        let _key = self.key_locks.lock(&req.input.bucket, &req.input.key).await;
        self.fs.get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        refuse_unsafe_key(&req.input.key)?;
        let _key = self.key_locks.lock(&req.input.bucket, &req.input.key).await;
        self.fs.head_object(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        refuse_unsafe_key(&req.input.key)?;
        refuse_unstorable_key(&req.input.bucket, &req.input.key, Stored::Object)?;
        let write = self.begin(&req);
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        // Held until the event is out, so a key's events leave in the order of its writes.
        let _key = self.key_locks.lock(&bucket, &key).await;
        let response = self.fs.put_object(req).await?;
        self.announce_created(&write, EventKind::Put, &bucket, &key)
            .await?;
        Ok(with_request_id(response, &write))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        refuse_unsafe_key(&req.input.key)?;
        refuse_unstorable_key(&req.input.bucket, &req.input.key, Stored::Object)?;
        refuse_unsafe_copy_source(&req.input.copy_source)?;
        let write = self.begin(&req);
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let _key = self.key_locks.lock(&bucket, &key).await;
        let response = self.fs.copy_object(req).await?;
        self.announce_created(&write, EventKind::Copy, &bucket, &key)
            .await?;
        Ok(with_request_id(response, &write))
    }

    /// Removal is announced even when the key did not exist: a delete retried after a 503 finds
    /// nothing to remove, and its event must still go out.
    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        refuse_unsafe_key(&req.input.key)?;
        let write = self.begin(&req);
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let _key = self.key_locks.lock(&bucket, &key).await;
        let response = self.fs.delete_object(req).await?;
        self.announce(&write, EventKind::Delete, &bucket, &key, None)
            .await?;
        Ok(with_request_id(response, &write))
    }

    /// Unsafe keys are reported as per-key errors while the others are deleted; each deleted key
    /// is announced as in `delete_object`.
    async fn delete_objects(
        &self,
        mut req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let write = self.begin(&req);
        let bucket = req.input.bucket.clone();
        let requested = std::mem::take(&mut req.input.delete.objects);
        let mut refused = Vec::new();
        for object in requested {
            match nrt_s3::validate_key(&object.key) {
                Ok(()) => req.input.delete.objects.push(object),
                Err(reason) => {
                    let error = key_error(&reason);
                    refused.push(Error {
                        code: Some(error.code().as_str().to_owned()),
                        message: error.message().map(str::to_owned),
                        key: Some(object.key),
                        version_id: object.version_id,
                    });
                }
            }
        }
        let _keys = self
            .key_locks
            .lock_all(
                &bucket,
                req.input.delete.objects.iter().map(|o| o.key.as_str()),
            )
            .await;
        let mut response = self.fs.delete_objects(req).await?;
        for deleted in response.output.deleted.iter().flatten() {
            if let Some(key) = &deleted.key {
                self.announce(&write, EventKind::Delete, &bucket, key, None)
                    .await?;
            }
        }
        if !refused.is_empty() {
            response
                .output
                .errors
                .get_or_insert_default()
                .extend(refused);
        }
        Ok(with_request_id(response, &write))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        refuse_unsafe_key(&req.input.key)?;
        refuse_unstorable_key(&req.input.bucket, &req.input.key, Stored::Upload)?;
        self.fs.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        refuse_unsafe_key(&req.input.key)?;
        self.fs.upload_part(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        refuse_unsafe_key(&req.input.key)?;
        self.fs.list_parts(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        refuse_unsafe_key(&req.input.key)?;
        self.fs.abort_multipart_upload(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        refuse_unsafe_key(&req.input.key)?;
        let write = self.begin(&req);
        let input = &req.input;
        let (bucket, key, upload_id) = (
            input.bucket.clone(),
            input.key.clone(),
            input.upload_id.clone(),
        );
        let _key = self.key_locks.lock(&bucket, &key).await;
        if !self.is_unannounced_upload(&upload_id, &bucket, &key) {
            let response = self.fs.complete_multipart_upload(req).await?;
            // s3s-fs finishes the work before answering; its future only hands over the output.
            if let Some(future) = response.output.future {
                future.await?;
            }
        }
        let object = self
            .announce_completed_upload(&write, &upload_id, &bucket, &key)
            .await?;
        let output = CompleteMultipartUploadOutput {
            bucket: Some(bucket),
            key: Some(key),
            e_tag: Some(ETag::Strong(object.e_tag)),
            ..Default::default()
        };
        Ok(with_request_id(S3Response::new(output), &write))
    }
}
