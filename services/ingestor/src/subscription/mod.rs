//! CDSE subscriptions: instead of polling the catalogue, the ingestor is told of each product
//! CDSE publishes (`created`), changes (`modified`) or withdraws (`deleted`). A push subscription
//! POSTs each notification to an endpoint the ingestor serves; a pull subscription queues them
//! on CDSE until the ingestor reads and acknowledges them. Either way a notification is settled
//! (its fact published with the PubAck awaited, or the notification dead-lettered) before CDSE is
//! told it was received, and a product is one event whether it arrived by push, pull or poll.

pub mod config;
pub mod notification;
pub mod pull;
pub mod push;

pub use config::{PullSource, PushSource};
pub use notification::NotificationReader;
pub use pull::SubscriptionPuller;
pub use push::PushEndpoint;

/// A recorded (or built) subscription payload of `testdata/fixtures/cdse-subscriptions`.
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> String {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/fixtures/cdse-subscriptions"
    );
    std::fs::read_to_string(format!("{dir}/{name}")).unwrap()
}
