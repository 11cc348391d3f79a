use std::time::Duration;

use nrt_nats::{MeshError, PublishError, TopologyError, async_nats};
use nrt_runtime::config::ConfigError;

/// What can go wrong in the ingestor. Feed faults name the URL; the feed's name is added by the
/// poller's log and alert.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not start the health server")]
    Health(#[source] std::io::Error),
    #[error(transparent)]
    Mesh(#[from] MeshError),
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error("could not build the HTTP client")]
    HttpClient(#[source] reqwest::Error),
    #[error("could not listen on {address} for feed {feed}")]
    Listen {
        feed: String,
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },

    #[error("no answer from {url} within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("request to {url} failed")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered {status}: {detail}")]
    Status {
        url: String,
        status: u16,
        /// The server's `Retry-After`, honoured before the next attempt.
        retry_after: Option<Duration>,
        detail: String,
        /// A 401 on a feed with an account: the token was dropped, a new login may succeed.
        retry_with_new_token: bool,
    },
    #[error("could not log in to {url} as {username}: {detail}")]
    Login {
        url: String,
        username: String,
        detail: String,
    },
    #[error("{url} answered more than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("{url} answered a body that is not {expected}")]
    Malformed {
        url: String,
        /// What the body should have been: `an OData page`, `a STAC ItemCollection`, ...
        expected: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "subscription {subscription} does not exist at {url} (cancelled, or owned by another \
         account): {detail}"
    )]
    SubscriptionNotFound {
        subscription: String,
        url: String,
        detail: String,
    },
    #[error("{url} answered JSON without a `value` array")]
    NoValue { url: String },
    #[error("{url} answered an @odata.nextLink that is not a URL: {link:?}")]
    NextLink { url: String, link: String },
    #[error("{url} answered a STAC next link that cannot be followed: {problem}")]
    UnfollowableLink { url: String, problem: String },

    #[error("could not list s3://{bucket}/{prefix}")]
    Listing {
        bucket: String,
        prefix: String,
        /// Boxed: the S3 error is large, and feeds return this error on every path.
        #[source]
        source: Box<nrt_s3::S3Error>,
    },

    #[error("could not publish {key}")]
    Publish {
        key: String,
        #[source]
        source: PublishError,
    },
    #[error("could not dead-letter an entry of {url}")]
    DeadLetter {
        url: String,
        #[source]
        source: PublishError,
    },
    #[error("could not read the cursor of feed {feed}")]
    CursorRead {
        feed: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("the stored cursor of feed {feed} is not valid")]
    CursorDecode {
        feed: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("could not commit the cursor of feed {feed}")]
    CursorWrite {
        feed: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("the cursor of feed {feed} kept changing under this replica")]
    CursorContended { feed: String },
}

impl Error {
    /// Worth asking the feed again soon: the same request may succeed. A 4xx other than 429
    /// will not (the query or the URL is wrong), nor will a body that is too large.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout { .. }
            | Self::Request { .. }
            | Self::Malformed { .. }
            | Self::NoValue { .. } => true,
            Self::Status {
                status,
                retry_with_new_token,
                ..
            } => *status == 429 || *status >= 500 || *retry_with_new_token,
            Self::Listing { source, .. } => source.is_transient(),
            // The identity server may be restarting; a wrong password fails every attempt alike,
            // which the retry bound keeps short.
            Self::Login { .. } => true,
            _ => false,
        }
    }

    /// The delay the feed asked for before the next request.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
