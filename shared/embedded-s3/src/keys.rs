//! Object keys become file paths in s3s-fs, so a key is checked before anything touches the disk:
//! `a/../../other-bucket/x` would otherwise reach another bucket or s3s-fs's own metadata files.

use nrt_s3::{KeyError, validate_key};
use s3s::{S3Error, S3ErrorCode, S3Result, dto::CopySource};

/// Refuses an unsafe key with a client error whose message names the key and the reason.
pub(crate) fn refuse_unsafe_key(key: &str) -> S3Result<()> {
    validate_key(key).map_err(|reason| key_error(&reason))
}

/// The same check for the source of a copy, which s3s-fs reads as a path too.
pub(crate) fn refuse_unsafe_copy_source(source: &CopySource) -> S3Result<()> {
    match source {
        CopySource::Bucket { key, .. } => refuse_unsafe_key(key),
        // s3s-fs answers NotImplemented for access points and outposts.
        CopySource::AccessPoint { .. } | CopySource::Outpost { .. } => Ok(()),
    }
}

/// What s3s-fs is about to keep metadata for: an object, or an upload in progress (whose metadata
/// file name also carries the upload id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    Object,
    Upload,
}

/// s3s-fs keeps each object's metadata in one file named
/// `.bucket-<base64 bucket>.object-<base64 key>[.upload-<uuid>].metadata.json`, so a key is bounded
/// by the 255-byte file-name limit rather than S3's 1024 bytes. Refusing it up front with
/// `KeyTooLongError` is what a client can act on; the write would otherwise fail midway with a bare
/// `InternalError`.
pub(crate) fn refuse_unstorable_key(bucket: &str, key: &str, stored: Stored) -> S3Result<()> {
    let longest = longest_storable_key(bucket, stored);
    if key.len() <= longest {
        return Ok(());
    }
    Err(S3Error::with_message(
        S3ErrorCode::KeyTooLongError,
        format!(
            "refused: object key {key:?} is {} bytes; the embedded S3 stores keys of at most {longest} bytes in bucket {bucket:?} (a limit of its file-system backend; real S3 servers take 1024)",
            key.len()
        ),
    ))
}

fn longest_storable_key(bucket: &str, stored: Stored) -> usize {
    const NAME_MAX: usize = 255;
    const UPLOAD_SUFFIX: usize = ".upload-".len() + 36;
    let base64_len = |bytes: usize| (bytes * 4).div_ceil(3);
    let fixed = ".bucket-".len()
        + base64_len(bucket.len())
        + ".object-".len()
        + ".metadata.json".len()
        + if stored == Stored::Upload {
            UPLOAD_SUFFIX
        } else {
            0
        };
    let characters = NAME_MAX.saturating_sub(fixed);
    // Unpadded base64: 4 characters carry 3 bytes; 2 or 3 left-over characters carry 1 or 2.
    characters / 4 * 3 + (characters % 4).saturating_sub(1)
}

pub(crate) fn key_error(reason: &KeyError) -> S3Error {
    let code = match reason {
        KeyError::TooLong(_) => S3ErrorCode::KeyTooLongError,
        _ => S3ErrorCode::InvalidArgument,
    };
    // KeyError prints the key with Debug escapes, so control characters stay readable in XML.
    S3Error::with_message(code, format!("refused: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_keys_are_refused_naming_key_and_reason() {
        let error = refuse_unsafe_key("a/../../b").unwrap_err();
        assert_eq!(*error.code(), S3ErrorCode::InvalidArgument);
        let message = error.message().unwrap();
        assert!(
            message.contains("a/../../b") && message.contains("`..`"),
            "{message}"
        );

        let error = refuse_unsafe_key("a\0b").unwrap_err();
        assert!(error.message().unwrap().contains(r"a\0b"), "{error:?}");
    }

    #[test]
    fn long_keys_get_the_s3_code_for_it() {
        let error = refuse_unsafe_key(&"k".repeat(1025)).unwrap_err();
        assert_eq!(*error.code(), S3ErrorCode::KeyTooLongError);
    }

    #[test]
    fn the_longest_storable_key_just_fits_the_file_name_limit() {
        for bucket in ["b", "nrt-catalogue", &"x".repeat(63)] {
            for stored in [Stored::Object, Stored::Upload] {
                let longest = longest_storable_key(bucket, stored);
                let name = |key_len: usize| {
                    let encode = |bytes: usize| (bytes * 4).div_ceil(3);
                    let upload = if stored == Stored::Upload { 44 } else { 0 };
                    8 + encode(bucket.len()) + 8 + encode(key_len) + upload + 14
                };
                assert!(name(longest) <= 255, "{bucket} {stored:?}");
                assert!(name(longest + 1) > 255, "{bucket} {stored:?}");
            }
        }
        assert_eq!(longest_storable_key("nrt-catalogue", Stored::Object), 155);
    }

    #[test]
    fn a_key_too_long_for_the_backend_is_refused_naming_the_limit() {
        let key = "k".repeat(156);
        assert!(refuse_unstorable_key("nrt-catalogue", &key[..155], Stored::Object).is_ok());
        let error = refuse_unstorable_key("nrt-catalogue", &key, Stored::Object).unwrap_err();
        assert_eq!(*error.code(), S3ErrorCode::KeyTooLongError);
        assert!(
            error.message().unwrap().contains("at most 155 bytes"),
            "{error:?}"
        );
        assert!(refuse_unstorable_key("nrt-catalogue", &key[..155], Stored::Upload).is_err());
    }

    #[test]
    fn copy_sources_are_checked_like_keys() {
        let source = CopySource::Bucket {
            bucket: "outputs".into(),
            key: "../.bucket-secret".into(),
            version_id: None,
        };
        assert!(refuse_unsafe_copy_source(&source).is_err());
        let safe = CopySource::Bucket {
            bucket: "outputs".into(),
            key: "jobs/a.json".into(),
            version_id: None,
        };
        assert!(refuse_unsafe_copy_source(&safe).is_ok());
    }
}
