use nrt_nats::{ConsumerError, HandlerError, PublishError, TopologyError};
use nrt_runtime::config::ConfigError;

use super::events::WatchEventError;

#[derive(Debug, thiserror::Error)]
pub enum WatchdogError {
    #[error(transparent)]
    Event(#[from] WatchEventError),
    #[error("could not {operation} key {key} of bucket watchdog")]
    Store {
        key: String,
        operation: &'static str,
        #[source]
        source: nrt_nats::async_nats::Error,
    },
    #[error("key {key} of bucket watchdog holds no record this watchdog can read")]
    Unreadable {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("key {key} of bucket watchdog changed under each of {attempts} attempts to update it")]
    Contended { key: String, attempts: usize },
    #[error("could not raise alert {kind} about {about}")]
    Alert {
        kind: String,
        about: String,
        #[source]
        source: PublishError,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
}

impl HandlerError for WatchdogError {
    /// The bucket may be back later; an event or record that does not decode never will.
    fn is_transient(&self) -> bool {
        matches!(self, Self::Store { .. } | Self::Contended { .. })
    }
}
