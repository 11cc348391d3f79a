use std::fmt;

use nrt_events::streams::{JOBS, KV_JOBS};
use processor_launcher::{JobState, store::StoreError};

/// Why an operator's command on a job did not happen.
#[derive(Debug)]
pub enum JobsError {
    NotFound {
        job_id: String,
    },
    /// The bucket could not be read or written, or holds a record that does not decode.
    Store(StoreError),
    Keys(async_nats::Error),
    NotCancellable {
        job_id: String,
        state: JobState,
    },
    NotRetriable {
        job_id: String,
        state: JobState,
    },
    /// The request message owning the job is no longer in the stream: nothing to publish again.
    RequestGone {
        job_id: String,
        sequence: u64,
        state: JobState,
    },
    RequestUnreadable {
        job_id: String,
        sequence: u64,
        source: async_nats::Error,
    },
    /// The message at the record's sequence is something else than this job's request.
    NotTheRequest {
        job_id: String,
        sequence: u64,
        subject: String,
    },
    Republish {
        job_id: String,
        subject: String,
        /// The record was moved back to `requested` before the publish failed.
        relaunched: bool,
        source: async_nats::Error,
    },
}

impl JobsError {
    pub(super) fn keys(source: impl Into<async_nats::Error>) -> Self {
        Self::Keys(source.into())
    }
}

impl From<StoreError> for JobsError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl fmt::Display for JobsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stream = JOBS.name;
        match self {
            Self::NotFound { job_id } => write!(f, "no job {job_id} in bucket {KV_JOBS}"),
            Self::Store(error) => fmt::Display::fmt(error, f),
            Self::Keys(_) => write!(f, "could not list the keys of bucket {KV_JOBS}"),
            Self::NotCancellable { job_id, state } => write!(
                f,
                "job {job_id} is {state}: a finished job cannot be cancelled"
            ),
            Self::NotRetriable { job_id, state } => write!(
                f,
                "job {job_id} is {state}, not dead: only a dead job can be retried"
            ),
            Self::RequestGone {
                job_id,
                sequence,
                state,
            } => write!(
                f,
                "the request of job {job_id} is gone from stream {stream} (sequence {sequence}, \
                 past the stream's retention or deleted): the job stays {state}"
            ),
            Self::RequestUnreadable {
                job_id, sequence, ..
            } => write!(
                f,
                "could not read the request of job {job_id} at stream {stream} sequence {sequence}"
            ),
            Self::NotTheRequest {
                job_id,
                sequence,
                subject,
            } => write!(
                f,
                "stream {stream} sequence {sequence} holds {subject}, not the request of job {job_id}"
            ),
            Self::Republish {
                job_id,
                subject,
                relaunched: true,
                ..
            } => write!(
                f,
                "job {job_id} is requested again but its request could not be published on \
                 {subject}: run `nrtmesh retry {job_id}` again to publish it"
            ),
            Self::Republish {
                job_id, subject, ..
            } => write!(
                f,
                "could not publish the request of job {job_id} on {subject} again"
            ),
        }
    }
}

impl std::error::Error for JobsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Transparent: the store's message is this error's message.
            Self::Store(error) => error.source(),
            Self::Keys(source)
            | Self::RequestUnreadable { source, .. }
            | Self::Republish { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}
