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

    /// Puts off the redelivery an endpoint's `Retry-After` asked for to no sooner than
    /// `scheduled`: short waits were already spent in the quick attempts, and an endpoint that
    /// always answers `Retry-After: 1` must not use up an event's deliveries in seconds.
    pub fn no_sooner_than(self, scheduled: Duration) -> Self {
        match self {
            Self::Undelivered {
                unreached,
                retry_after: Some(asked),
            } => Self::Undelivered {
                unreached,
                retry_after: Some(asked.max(scheduled)),
            },
            other => other,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn undelivered(retry_after: Option<u64>) -> Error {
        Error::Undelivered {
            unreached: vec![Unreached {
                endpoint: "a".into(),
                reason: "HTTP 503 Service Unavailable".into(),
                retry_after: retry_after.map(Duration::from_secs),
            }],
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn a_retry_after_lengthens_the_schedule_but_never_shortens_it() {
        let minute = Duration::from_secs(60);
        let longer = undelivered(Some(120)).no_sooner_than(minute);
        assert_eq!(
            HandlerError::retry_after(&longer),
            Some(Duration::from_secs(120))
        );
        let shorter = undelivered(Some(1)).no_sooner_than(minute);
        assert_eq!(HandlerError::retry_after(&shorter), Some(minute));
        // Without a Retry-After the runner's own schedule applies unchanged.
        let unasked = undelivered(None).no_sooner_than(minute);
        assert_eq!(HandlerError::retry_after(&unasked), None);
    }

    #[test]
    fn names_each_unreached_webhook_and_why() {
        let error = Error::Undelivered {
            unreached: vec![
                Unreached {
                    endpoint: "a".into(),
                    reason: "HTTP 503 Service Unavailable".into(),
                    retry_after: None,
                },
                Unreached {
                    endpoint: "b".into(),
                    reason: "no answer within 15s".into(),
                    retry_after: None,
                },
            ],
            retry_after: None,
        };
        assert_eq!(
            error.to_string(),
            "webhook a not reached: HTTP 503 Service Unavailable; webhook b not reached: no answer within 15s"
        );
        assert!(error.is_transient());
    }
}
