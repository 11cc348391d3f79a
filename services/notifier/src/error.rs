use std::time::Duration;

use nrt_nats::{ConsumerError, HandlerError, MeshError, TopologyError};
use nrt_runtime::config::ConfigError;

use crate::{handler::StoreError, notification::NotificationError};

/// An endpoint that did not take an event this time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreached {
    pub endpoint: String,
    pub reason: String,
    pub retry_after: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Notification(#[from] NotificationError),
    #[error("{}", describe_unreached(.unreached))]
    Undelivered {
        unreached: Vec<Unreached>,
        retry_after: Option<Duration>,
    },
    #[error("could not read the delivery record of webhook {endpoint}")]
    DeliveryLog {
        endpoint: String,
        #[source]
        source: StoreError,
    },
    #[error("could not raise the webhook-rejected alert for webhook {endpoint}")]
    Alert {
        endpoint: String,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not start the health server")]
    Health(#[source] std::io::Error),
    #[error(transparent)]
    Mesh(#[from] MeshError),
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error("could not declare key-value bucket {bucket}")]
    Bucket {
        bucket: &'static str,
        #[source]
        source: StoreError,
    },
    #[error("could not build the HTTP client")]
    HttpClient(#[source] reqwest::Error),
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
}

fn describe_unreached(unreached: &[Unreached]) -> String {
    let each: Vec<String> = unreached
        .iter()
        .map(|u| format!("webhook {} not reached: {}", u.endpoint, u.reason))
        .collect();
    each.join("; ")
}

impl Error {
    /// Worth redelivering: an endpoint or a store may be back later; a bad event never improves.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Undelivered { .. } | Self::DeliveryLog { .. } | Self::Alert { .. }
        )
    }
}

impl HandlerError for Error {
    fn is_transient(&self) -> bool {
        Error::is_transient(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Undelivered { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
