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
