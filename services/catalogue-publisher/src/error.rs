use nrt_events::DecodeError;
use nrt_nats::{ConsumerError, HandlerError, MeshError, PublishError, TopologyError};
use nrt_runtime::config::ConfigError;
use nrt_s3::S3Error;

/// Everything that can go wrong while publishing a job's outputs to the catalogue.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("message is not a job-succeeded event")]
    Decode(#[from] DecodeError),
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
            Self::ReadBack { .. } | Self::Contention { .. } => true,
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
