use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};

/// An S3 operation failed on a named object.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("S3 {operation} of s3://{bucket}/{key} failed: {detail}")]
    Request {
        operation: &'static str,
        bucket: String,
        key: String,
        /// The server's error code and message, or the transport failure.
        detail: String,
        transient: bool,
    },
    #[error("could not read local file {path} for s3://{bucket}/{key}")]
    LocalFile {
        path: String,
        bucket: String,
        key: String,
        #[source]
        source: std::io::Error,
    },
}

impl S3Error {
    /// The error of an SDK call on `s3://bucket/key`: the server's code and message when it
    /// answered, and whether trying again can help.
    pub fn request<E>(
        operation: &'static str,
        bucket: &str,
        key: &str,
        error: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        use aws_sdk_s3::error::SdkError;
        let status = error
            .raw_response()
            .map(|response| response.status().as_u16());
        let transient = match &error {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => true,
            _ => matches!(status, Some(408 | 429 | 500..=599)),
        };
        let detail = match (error.code(), error.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => DisplayErrorContext(&error).to_string(),
        };
        Self::Request {
            operation,
            bucket: bucket.into(),
            key: key.into(),
            detail,
            transient,
        }
    }

    /// Worth trying again later: the server was unreachable, slow or overloaded.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Request { transient, .. } => *transient,
            Self::LocalFile { .. } => false,
        }
    }
}
