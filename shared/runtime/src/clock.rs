//! The time as services see it: the system clock in production, a clock a test moves by hand.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

/// Where a service reads the time, so tests can say when "now" is (a period closing, a timeout
/// passing) instead of waiting for it.
#[derive(Clone, Default)]
pub struct Clock {
    manual: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock standing at `now` until [`Clock::set`] or [`Clock::advance`] moves it; clones
    /// share the time.
    pub fn manual(now: DateTime<Utc>) -> Self {
        Self {
            manual: Some(Arc::new(Mutex::new(now))),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            Some(now) => *now.lock().expect("clock lock is never poisoned"),
            None => Utc::now(),
        }
    }

    /// Moves a manual clock to `now`.
    ///
    /// # Panics
    /// On the system clock, which no one may move.
    pub fn set(&self, now: DateTime<Utc>) {
        let manual = self
            .manual
            .as_ref()
            .expect("only a manual clock can be set");
        *manual.lock().expect("clock lock is never poisoned") = now;
    }

    /// Moves a manual clock forward by `by`.
    pub fn advance(&self, by: TimeDelta) {
        self.set(self.now() + by);
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.manual {
            Some(_) => write!(f, "Clock::manual({})", self.now()),
            None => f.write_str("Clock::system"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let start: DateTime<Utc> = "2026-01-31T23:00:00Z".parse().unwrap();
        let clock = Clock::manual(start);
        let shared = clock.clone();
        assert_eq!(clock.now(), start);
        shared.advance(TimeDelta::hours(2));
        assert_eq!(
            clock.now(),
            "2026-02-01T01:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn the_system_clock_follows_the_system_time() {
        let before = Utc::now();
        let now = Clock::system().now();
        assert!(now >= before && now <= Utc::now());
    }
}
