//! The quick attempts made while the notifier holds an event: exponential backoff with full
//! jitter, or what the endpoint's `Retry-After` asked for when that is short. Longer waits are the
//! consumer's job: the event goes back to JetStream and returns after its redelivery delay.

use std::{future::Future, time::Duration};

use backon::Retryable;

use super::Outcome;
use crate::config::DeliveryConfig;

#[derive(Debug, Clone)]
pub struct QuickRetries {
    attempts: usize,
    first_backoff: Duration,
    max_backoff: Duration,
}

impl QuickRetries {
    pub fn new(delivery: &DeliveryConfig) -> Self {
        Self {
            attempts: delivery.attempts.max(1),
            first_backoff: delivery.first_backoff,
            max_backoff: delivery.max_backoff,
        }
    }

    /// Runs `attempt` until it does not end `Unreachable`, or the attempts are used up, or the
    /// endpoint asks for a longer wait than these quick attempts make.
    pub async fn run<F, Fut>(&self, mut attempt: F) -> Outcome
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Outcome>,
    {
        let max_backoff = self.max_backoff;
        let outcome = (|| {
            let attempt = attempt();
            async move {
                match attempt.await {
                    unreachable @ Outcome::Unreachable { .. } => Err(unreachable),
                    settled => Ok(settled),
                }
            }
        })
        .retry(self.pauses())
        .sleep(tokio::time::sleep)
        .adjust(move |outcome, next| match (outcome, next) {
            (_, None) => None,
            (
                Outcome::Unreachable {
                    retry_after: Some(asked),
                    ..
                },
                Some(_),
            ) => (*asked <= max_backoff).then_some(*asked),
            (_, next) => next,
        })
        .notify(|outcome, pause| {
            tracing::debug!(?outcome, ?pause, "Attempt failed; retrying.");
        })
        .await;
        outcome.unwrap_or_else(|unreachable| unreachable)
    }

    fn pauses(&self) -> FullJitter {
        FullJitter {
            ceiling: self.first_backoff,
            max: self.max_backoff,
            remaining: self.attempts - 1,
        }
    }
}

/// Pauses drawn uniformly between zero and a ceiling that doubles each time, up to `max`: the
/// "full jitter" of AWS's backoff study, which spreads the retries of many events evenly.
struct FullJitter {
    ceiling: Duration,
    max: Duration,
    remaining: usize,
}

impl Iterator for FullJitter {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.remaining = self.remaining.checked_sub(1)?;
        let ceiling = self.ceiling.min(self.max);
        self.ceiling = self.ceiling.saturating_mul(2);
        Some(ceiling.mul_f64(fastrand::f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_stay_under_a_doubling_ceiling_capped_at_the_maximum() {
        let pauses: Vec<Duration> = FullJitter {
            ceiling: Duration::from_millis(100),
            max: Duration::from_millis(300),
            remaining: 5,
        }
        .collect();
        let ceilings = [100, 200, 300, 300, 300].map(Duration::from_millis);
        assert_eq!(pauses.len(), 5);
        for (pause, ceiling) in pauses.iter().zip(ceilings) {
            assert!(*pause <= ceiling, "{pause:?} > {ceiling:?}");
        }
    }

    #[test]
    fn jitter_spreads_the_pauses() {
        let pauses: std::collections::HashSet<Duration> = (0..20)
            .flat_map(|_| FullJitter {
                ceiling: Duration::from_secs(1),
                max: Duration::from_secs(1),
                remaining: 1,
            })
            .collect();
        assert!(pauses.len() > 1, "{pauses:?}");
    }
}
