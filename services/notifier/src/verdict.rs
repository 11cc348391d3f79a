//! What becomes of an event after a subscription tried to deliver it: the one decision every
//! delivery mode shares, made without touching NATS.

use std::time::Duration;

use crate::{channel::Outcome, config::DeliveryConfig};

/// When a subscription's undelivered events come back, and when they stop coming back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Delay before the n-th redelivery (the last one repeats).
    pub redelivery_delays: Vec<Duration>,
    /// Deliveries of one event before it is dead-lettered.
    pub max_deliveries: u64,
}

impl Schedule {
    pub fn new(delivery: &DeliveryConfig) -> Self {
        Self {
            redelivery_delays: delivery.redelivery_delays.clone(),
            max_deliveries: u64::try_from(delivery.max_deliveries).unwrap_or(1),
        }
    }

    /// The delay after the `attempt`-th delivery (1 for the first).
    pub fn delay_after(&self, attempt: u64) -> Duration {
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        self.redelivery_delays
            .get(index)
            .or(self.redelivery_delays.last())
            .copied()
            .unwrap_or_default()
    }

    fn is_last(&self, attempt: u64) -> bool {
        attempt >= self.max_deliveries
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Acknowledge: the endpoint has it.
    Delivered,
    /// Hand the event back for redelivery after `after`.
    Retry { reason: String, after: Duration },
    /// Copy the event to `dlq.notifier` with the reason, then acknowledge it.
    DeadLetter { reason: String },
    /// The endpoint is gone: disable the subscription; the event waits, unacknowledged.
    Disable { reason: String },
}

/// The verdict on an event delivered for the `attempt`-th time whose delivery ended `outcome`.
pub fn verdict(outcome: Outcome, attempt: u64, schedule: &Schedule) -> Verdict {
    match outcome {
        Outcome::Delivered => Verdict::Delivered,
        Outcome::Gone { reason } => Verdict::Disable { reason },
        Outcome::Rejected { reason } => Verdict::DeadLetter {
            reason: format!("{reason}; not retried"),
        },
        Outcome::Unreachable { reason, .. } if schedule.is_last(attempt) => Verdict::DeadLetter {
            reason: format!("gave up after {attempt} deliveries: {reason}"),
        },
        Outcome::Unreachable {
            reason,
            retry_after,
        } => {
            let scheduled = schedule.delay_after(attempt);
            // A Retry-After lengthens the schedule but never shortens it: short waits were spent
            // in the quick attempts, and an endpoint that always answers `Retry-After: 1` must
            // not use up an event's deliveries in seconds.
            let after = retry_after.map_or(scheduled, |asked| asked.max(scheduled));
            Verdict::Retry { reason, after }
        }
    }
}

#[cfg(test)]
mod tests;
