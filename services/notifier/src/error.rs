use std::time::Duration;

use nrt_nats::{ConsumerError, HandlerError, MeshError, PublishError, TopologyError};
use nrt_runtime::config::ConfigError;

use crate::{
    channel::SendersError, disabled::StoreError, notification::NotificationError,
    watchdog::WatchdogError,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Notification(#[from] NotificationError),
    #[error("subscription {subscription}: {channel} not reached: {reason}")]
    Undelivered {
        subscription: String,
        channel: &'static str,
        reason: String,
        /// The redelivery delay: the schedule's, or longer when the endpoint asked.
        retry_after: Duration,
    },
    #[error("subscription {subscription} is disabled; the event waits until it is enabled again")]
    Disabled {
        subscription: String,
        retry_after: Duration,
    },
    #[error("subscription {subscription}: could not dead-letter the event")]
    DeadLetter {
        subscription: String,
        #[source]
        source: PublishError,
    },
    #[error("subscription {subscription}: could not raise the endpoint-gone alert")]
    Alert {
        subscription: String,
        #[source]
        source: PublishError,
    },
    #[error("subscription {subscription}: could not record it as disabled")]
    Disabling {
        subscription: String,
        #[source]
        source: StoreError,
    },
    #[error("could not read the disabled subscriptions")]
    DisabledBucket(#[source] StoreError),
    #[error("subscription {subscription}: could not declare its consumer on stream {stream}")]
    Declare {
        subscription: String,
        stream: &'static str,
        #[source]
        source: nrt_nats::async_nats::Error,
    },
    #[error("subscription {subscription}: could not pull from stream {stream}")]
    Pull {
        subscription: String,
        stream: &'static str,
        #[source]
        source: nrt_nats::async_nats::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Senders(#[from] SendersError),
    #[error("could not start the health server")]
    Health(#[source] std::io::Error),
    #[error(transparent)]
    Mesh(#[from] MeshError),
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
    #[error("the timeliness watchdog stopped")]
    Watchdog(#[from] WatchdogError),
}

impl Error {
    /// Worth redelivering: an endpoint or a store may be back later; a bad event never improves.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Undelivered { .. }
                | Self::Disabled { .. }
                | Self::DeadLetter { .. }
                | Self::Alert { .. }
                | Self::Disabling { .. }
        )
    }
}

impl HandlerError for Error {
    fn is_transient(&self) -> bool {
        Error::is_transient(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Undelivered { retry_after, .. } | Self::Disabled { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }
}
