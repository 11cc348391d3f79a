use std::path::Path;

use aws_sdk_s3::{Client, primitives::ByteStream};
use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::S3Error;

/// What was written: enough for checksums in events and STAC assets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
}

/// Creates `bucket` unless it exists (owned by us already counts as existing).
pub async fn ensure_bucket(client: &Client, bucket: &str) -> Result<(), S3Error> {
    if client.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(());
    }
    match client.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(error) => {
            use aws_sdk_s3::error::ProvideErrorMetadata;
            // Another replica created it between our head and create.
            if matches!(
                error.code(),
                Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
            ) {
                return Ok(());
            }
            Err(S3Error::request("CreateBucket", bucket, "", error))
        }
    }
}

/// Uploads `bytes`, recording its SHA-256 as object metadata (`x-amz-meta-sha256`).
pub async fn put_bytes(
    client: &Client,
    bucket: &str,
    key: &str,
    bytes: Bytes,
    content_type: &str,
) -> Result<StoredObject, S3Error> {
    let size = bytes.len() as u64;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .metadata("sha256", &sha256)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(|error| S3Error::request("PutObject", bucket, key, error))?;
    Ok(StoredObject {
        bucket: bucket.into(),
        key: key.into(),
        size,
        sha256,
    })
}

/// Uploads a local file, streaming it; the checksum is computed in a first pass over the file.
pub async fn put_file(
    client: &Client,
    bucket: &str,
    key: &str,
    path: &Path,
    content_type: &str,
) -> Result<StoredObject, S3Error> {
    let local_error = |source| S3Error::LocalFile {
        path: path.display().to_string(),
        bucket: bucket.into(),
        key: key.into(),
        source,
    };
    let (size, sha256) = {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || hash_file(&path))
            .await
            .expect("hashing never panics")
            .map_err(local_error)?
    };
    let body = ByteStream::from_path(path)
        .await
        .map_err(|error| local_error(std::io::Error::other(error)))?;
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .metadata("sha256", &sha256)
        .body(body)
        .send()
        .await
        .map_err(|error| S3Error::request("PutObject", bucket, key, error))?;
    Ok(StoredObject {
        bucket: bucket.into(),
        key: key.into(),
        size,
        sha256,
    })
}

fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 64 * 1024];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok((size, hex::encode(hasher.finalize())));
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
}

/// The object's bytes, or `None` when there is no such key.
pub async fn get_bytes(client: &Client, bucket: &str, key: &str) -> Result<Option<Bytes>, S3Error> {
    let response = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(response) => response,
        Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
            return Ok(None);
        }
        Err(error) => return Err(S3Error::request("GetObject", bucket, key, error)),
    };
    let body = response
        .body
        .collect()
        .await
        .map_err(|error| S3Error::Request {
            operation: "GetObject",
            bucket: bucket.into(),
            key: key.into(),
            detail: format!("body interrupted: {error}"),
            transient: true,
        })?;
    Ok(Some(body.into_bytes()))
}

/// The size and lower-case hex SHA-256 of an object's content, read as a stream (outputs may be
/// gigabytes).
pub async fn content_digest(
    client: &Client,
    bucket: &str,
    key: &str,
) -> Result<(u64, String), S3Error> {
    let response = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|error| S3Error::request("GetObject", bucket, key, error))?;
    let mut body = response.body;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = body.try_next().await.map_err(|error| S3Error::Request {
        operation: "GetObject",
        bucket: bucket.into(),
        key: key.into(),
        detail: format!("body interrupted: {error}"),
        transient: true,
    })? {
        size += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// An object as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    pub key: String,
    pub size: Option<u64>,
    pub etag: Option<String>,
    pub last_modified: Option<chrono::DateTime<chrono::Utc>>,
}

/// Every key under `prefix`, following continuation tokens.
pub async fn list_keys(
    client: &Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, S3Error> {
    let objects = list_objects(client, bucket, prefix).await?;
    Ok(objects.into_iter().map(|object| object.key).collect())
}

/// Every object under `prefix`, in key order, following continuation tokens.
pub async fn list_objects(
    client: &Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<ListedObject>, S3Error> {
    let mut objects = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|error| S3Error::request("ListObjectsV2", bucket, prefix, error))?;
        objects.extend(page.contents().iter().filter_map(|object| {
            Some(ListedObject {
                key: object.key()?.to_owned(),
                size: object.size().and_then(|size| u64::try_from(size).ok()),
                etag: object.e_tag().map(|etag| etag.trim_matches('"').to_owned()),
                last_modified: object.last_modified().and_then(|time| {
                    chrono::DateTime::from_timestamp(time.secs(), time.subsec_nanos())
                }),
            })
        }));
    }
    Ok(objects)
}
