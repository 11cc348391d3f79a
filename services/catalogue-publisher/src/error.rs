use nrt_events::DecodeError;
use nrt_nats::{ConsumerError, HandlerError, MeshError, PublishError, TopologyError};
use nrt_runtime::config::ConfigError;
use nrt_s3::S3Error;

/// Everything that can go wrong while publishing a job's outputs to the catalogue.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("message is not a job-succeeded event")]
    Decode(#[from] DecodeError),
    #[error("message is not a product-retracted event")]
    DecodeRetraction(#[source] DecodeError),
    #[error("job {job_id} cannot be catalogued: {reason}")]
    InvalidJob { job_id: String, reason: String },
    #[error(transparent)]
    Storage(#[from] S3Error),
    #[error("{uri} is not a valid STAC {kind}; fix or remove it, then replay the dead letter")]
    CorruptDocument {
        uri: String,
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{uri} was written but reads back {found}")]
    ReadBack { uri: String, found: &'static str },
    #[error("{method} {url} for {about} answered {status}: {detail}")]
    StacApi {
        about: String,
        method: reqwest::Method,
        url: String,
        status: u16,
        detail: String,
    },
    #[error("{method} {url} for {about} got no answer")]
    StacApiUnreachable {
        about: String,
        method: reqwest::Method,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "item {item} of collection {collection} reads back from {url} with {field} changed or missing"
    )]
    ItemMismatch {
        item: String,
        collection: String,
        url: String,
        field: String,
    },
    #[error(
        "item {item} of collection {collection} derives from a retracted input but {location} has no such item yet; its publication may still be under way"
    )]
    RetractedItemMissing {
        item: String,
        collection: String,
        location: String,
    },
    #[error("could not {operation} entry {key} of key-value bucket {bucket}: {reason}")]
    KeyValue {
        bucket: &'static str,
        key: String,
        operation: &'static str,
        reason: String,
    },
    #[error("{uri} changed under {attempts} attempts to update it; other replicas are busy there")]
    Contention { uri: String, attempts: u32 },
    #[error(
        "S3 at {endpoint} ignores conditional writes (If-Match / If-None-Match), so replicas would overwrite each other's catalogue updates"
    )]
    ConditionalWritesUnsupported { endpoint: String },
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("invalid configuration")]
    Config(#[from] ConfigError),
    #[error("could not start the health server")]
    Health(#[source] std::io::Error),
    #[error(transparent)]
    Mesh(#[from] MeshError),
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
}

impl Error {
    /// Worth redelivering: the same event may succeed later.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Storage(error) => error.is_transient(),
            Self::Publish(error) => error.is_transient(),
            // A concurrent writer or a lagging replica of the store: the next attempt sees it settled.
            Self::ReadBack { .. } | Self::ItemMismatch { .. } | Self::Contention { .. } => true,
            // A publication racing the retraction writes the item soon.
            Self::RetractedItemMissing { .. } | Self::KeyValue { .. } => true,
            Self::StacApiUnreachable { .. } => true,
            // 404 and 409 are state another writer is changing; 408 and 429 ask to come back.
            Self::StacApi { status, .. } => matches!(status, 404 | 408 | 409 | 429 | 500..),
            _ => false,
        }
    }

    pub(crate) fn invalid_job(job_id: &str, reason: impl Into<String>) -> Self {
        Self::InvalidJob {
            job_id: job_id.to_owned(),
            reason: reason.into(),
        }
    }
}

impl HandlerError for Error {
    fn is_transient(&self) -> bool {
        Error::is_transient(self)
    }
}
