//! A job's outputs as a processor left them in S3: every object under its output prefix, named
//! relative to it, digested from its content and typed by its extension.

use std::path::Path;

use aws_sdk_s3::Client;
use nrt_events::JobOutput;

use crate::{KeyError, S3Error, content_digest, get_bytes, list_objects, validate_key};

/// Why the objects under a prefix cannot be taken as a job's outputs.
#[derive(Debug, thiserror::Error)]
pub enum OutputsError {
    #[error("output {name:?} has a name that cannot be staged")]
    UnsafeName {
        name: String,
        #[source]
        source: KeyError,
    },
    #[error("the metadata sidecar s3://{bucket}/{key} is not valid JSON")]
    Sidecar {
        bucket: String,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Storage(#[from] S3Error),
}

impl OutputsError {
    /// Worth trying again later: S3 was unreachable, slow or overloaded.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Storage(error) if error.is_transient())
    }
}

/// The outputs a processor wrote under `output_prefix` itself, in key order: each object's name
/// (relative to the prefix) checked as an object key, its size and SHA-256 computed from its
/// content as a stream (a processor's own claim is not trusted, and outputs may be gigabytes);
/// the sidecar at relative path `sidecar`, if one is there, parsed.
pub async fn collect_stored_outputs(
    client: &Client,
    bucket: &str,
    output_prefix: &str,
    sidecar: &str,
) -> Result<(Vec<JobOutput>, Option<serde_json::Value>), OutputsError> {
    let mut outputs = Vec::new();
    let mut metadata = None;
    for object in list_objects(client, bucket, output_prefix).await? {
        let relative = object.key[output_prefix.len()..].to_owned();
        validate_key(&relative).map_err(|source| OutputsError::UnsafeName {
            name: relative.clone(),
            source,
        })?;
        if relative == sidecar {
            let content = get_bytes(client, bucket, &object.key)
                .await?
                .unwrap_or_default();
            let parsed =
                serde_json::from_slice(&content).map_err(|source| OutputsError::Sidecar {
                    bucket: bucket.to_owned(),
                    key: object.key.clone(),
                    source,
                })?;
            metadata = Some(parsed);
        }
        let (size, sha256) = content_digest(client, bucket, &object.key).await?;
        outputs.push(JobOutput {
            media_type: Some(media_type(&relative).to_owned()),
            path: relative,
            bucket: bucket.to_owned(),
            key: object.key,
            size,
            sha256,
        });
    }
    Ok((outputs, metadata))
}

/// The media type of an output, from its extension; the formats Earth-observation processors
/// write, else `application/octet-stream`.
pub fn media_type(name: &str) -> &'static str {
    let extension = Path::new(name)
        .extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match extension.as_str() {
        "geojson" => "application/geo+json",
        "json" => "application/json",
        "tif" | "tiff" => "image/tiff; application=geotiff",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "nc" => "application/x-netcdf",
        "h5" | "hdf5" => "application/x-hdf5",
        "zip" => "application/zip",
        "xml" => "application/xml",
        "csv" => "text/csv",
        "txt" | "log" => "text/plain",
        "html" => "text/html",
        "parquet" => "application/vnd.apache.parquet",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_follow_the_extension() {
        assert_eq!(media_type("footprint.geojson"), "application/geo+json");
        assert_eq!(
            media_type("a/b/SNOW.TIF"),
            "image/tiff; application=geotiff"
        );
        assert_eq!(media_type("coverage.json"), "application/json");
        assert_eq!(media_type("README"), "application/octet-stream");
    }
}
