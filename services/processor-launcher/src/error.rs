use std::time::Duration;

use nrt_nats::{ConsumerError, HandlerError, MeshError, PublishError, TopologyError};
use nrt_registry::RegistryError;
use nrt_s3::S3Error;

use crate::{record::IllegalTransition, store::StoreError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] nrt_runtime::config::ConfigError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("cannot create the work directory {path}")]
    WorkDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot prepare the outputs bucket {bucket}")]
    Bucket {
        bucket: String,
        #[source]
        source: S3Error,
    },
    #[error("cannot set up the {backend} backend, which processors of the registry use")]
    BackendSetup {
        backend: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("could not serve the health endpoints")]
    Health(#[source] std::io::Error),
    #[error(transparent)]
    Mesh(#[from] MeshError),
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error(transparent)]
    Consumer(#[from] ConsumerError),

    #[error("message is not a job.requested event this service reads")]
    Decode(#[from] nrt_events::DecodeError),
    #[error("job request is invalid: {reason}")]
    InvalidRequest { reason: String },
    #[error("job {job_id} asks for processor {processor}, which the registry does not have")]
    UnknownProcessor { job_id: String, processor: String },
    #[error(
        "job {job_id} asks for {processor} version {requested}, but the registry has version {registered}"
    )]
    VersionMismatch {
        job_id: String,
        processor: String,
        requested: String,
        registered: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    #[error("could not publish the {event} of job {job_id}")]
    Publish {
        event: &'static str,
        job_id: String,
        #[source]
        source: PublishError,
    },
    #[error("job {job_id} waits for {awaited}")]
    Held {
        job_id: String,
        /// The lease of another launcher, or the job's own retry time.
        awaited: String,
        retry_after: Duration,
    },
    #[error("job {job_id} failed attempt {attempt}; the next one follows in {retry_after:?}")]
    RetryScheduled {
        job_id: String,
        attempt: u32,
        retry_after: Duration,
    },
    #[error("the record of job {job_id} kept changing while this launcher decided")]
    Contended { job_id: String },
    #[error(
        "job {job_id} runs on the {backend} backend, which this launcher is not configured for"
    )]
    NoBackend {
        job_id: String,
        backend: &'static str,
    },
    #[error(transparent)]
    Backend(#[from] crate::backend::BackendError),
}

impl Error {
    /// Worth redelivering: the bucket or NATS may answer next time, a retry or a lease may be
    /// due. A request that does not decode, names no registered processor or version, or finds
    /// a record it cannot read will not do better.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Store(error) => error.is_transient(),
            Self::Publish { source, .. } => source.is_transient(),
            Self::Held { .. } | Self::RetryScheduled { .. } | Self::Contended { .. } => true,
            Self::Backend(error) => error.transient,
            _ => false,
        }
    }
}

impl HandlerError for Error {
    fn is_transient(&self) -> bool {
        Error::is_transient(self)
    }

    /// A failed attempt waits the registry's retry delay and a held job its lease, rather than
    /// the consumer's schedule.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Held { retry_after, .. } | Self::RetryScheduled { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_and_retries_are_redelivered_after_their_own_delay() {
        let held = Error::Held {
            job_id: "j".into(),
            awaited: "the lease of a#1".into(),
            retry_after: Duration::from_secs(31),
        };
        let retry = Error::RetryScheduled {
            job_id: "j".into(),
            attempt: 1,
            retry_after: Duration::from_secs(30),
        };
        for (error, delay) in [(held, 31), (retry, 30)] {
            assert!(HandlerError::is_transient(&error));
            assert_eq!(error.retry_after(), Some(Duration::from_secs(delay)));
        }
    }

    #[test]
    fn requests_that_can_never_run_are_permanent() {
        let errors = [
            Error::InvalidRequest {
                reason: "bad".into(),
            },
            Error::UnknownProcessor {
                job_id: "j".into(),
                processor: "p".into(),
            },
            Error::VersionMismatch {
                job_id: "j".into(),
                processor: "p".into(),
                requested: "2".into(),
                registered: "1".into(),
            },
        ];
        for error in errors {
            assert!(!error.is_transient(), "{error}");
            assert_eq!(error.retry_after(), None);
        }
    }
}
