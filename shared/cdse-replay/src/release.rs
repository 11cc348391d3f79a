//! When recorded products become visible: all at once, or one by one to show near-real-time
//! arrival, or when a test says so.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

/// How the replay releases its products, always in publication order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReleaseSchedule {
    /// Every product is visible from the start.
    #[default]
    All,
    /// The first product is visible at start, then one more every interval.
    OneEvery(Duration),
    /// The first `visible` products are visible; `RunningReplay::release` shows more.
    Manual { visible: usize },
}

/// The schedule as it runs: how many products are visible now.
#[derive(Debug)]
pub(crate) struct Release {
    schedule: ReleaseSchedule,
    started: Instant,
    released_by_hand: AtomicUsize,
    total: usize,
}

impl Release {
    pub fn new(schedule: ReleaseSchedule, total: usize) -> Self {
        Self {
            schedule,
            started: Instant::now(),
            released_by_hand: AtomicUsize::new(0),
            total,
        }
    }

    pub fn visible(&self) -> usize {
        let scheduled = match self.schedule {
            ReleaseSchedule::All => self.total,
            ReleaseSchedule::OneEvery(interval) if interval.is_zero() => self.total,
            ReleaseSchedule::OneEvery(interval) => {
                let elapsed = self.started.elapsed().as_nanos() / interval.as_nanos();
                usize::try_from(elapsed)
                    .unwrap_or(usize::MAX)
                    .saturating_add(1)
            }
            ReleaseSchedule::Manual { visible } => visible,
        };
        scheduled
            .saturating_add(self.released_by_hand.load(Ordering::SeqCst))
            .min(self.total)
    }

    pub fn release(&self, count: usize) {
        self.released_by_hand.fetch_add(count, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_shows_everything_at_once() {
        assert_eq!(Release::new(ReleaseSchedule::All, 39).visible(), 39);
    }

    #[test]
    fn one_every_starts_with_one_product_and_never_exceeds_the_total() {
        let slow = Release::new(ReleaseSchedule::OneEvery(Duration::from_secs(3600)), 39);
        assert_eq!(slow.visible(), 1);
        let fast = Release::new(ReleaseSchedule::OneEvery(Duration::from_nanos(1)), 39);
        std::thread::sleep(Duration::from_millis(1));
        assert_eq!(fast.visible(), 39);
    }

    #[test]
    fn manual_release_adds_products_up_to_the_total() {
        let release = Release::new(ReleaseSchedule::Manual { visible: 2 }, 5);
        assert_eq!(release.visible(), 2);
        release.release(2);
        assert_eq!(release.visible(), 4);
        release.release(10);
        assert_eq!(release.visible(), 5);
    }
}
