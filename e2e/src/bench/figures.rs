//! The figures the mesh and the baseline are compared by, computed the same way for both from
//! the times each product reached three points of its way.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// When one product was discovered, its job launched and its item published, each stamped by
/// whoever got it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductTimes {
    pub discovered: DateTime<Utc>,
    pub launched: DateTime<Utc>,
    pub published: DateTime<Utc>,
}

/// Throughput and latency of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub products: usize,
    /// Products per second from the first discovery to the last publication.
    pub throughput: f64,
    /// Products per second from the first discovery to the last: how fast work entered.
    pub ingest_rate: f64,
    /// Products per second from the first discovery to the last launch: where the rate falls
    /// between ingest and throughput tells which half of the chain holds the run back.
    pub launch_rate: f64,
    /// Discovered → launched.
    pub to_launched: Percentiles,
    /// Discovered → published.
    pub to_published: Percentiles,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: Duration,
    pub p99: Duration,
}

impl Figures {
    /// The figures of a run in which every product of `times` made it to the end.
    pub fn of(times: &[ProductTimes]) -> anyhow::Result<Self> {
        let first_discovered = times.iter().map(|t| t.discovered).min();
        let last_discovered = times.iter().map(|t| t.discovered).max();
        let last_launched = times.iter().map(|t| t.launched).max();
        let last_published = times.iter().map(|t| t.published).max();
        let (
            Some(first_discovered),
            Some(last_discovered),
            Some(last_launched),
            Some(last_published),
        ) = (
            first_discovered,
            last_discovered,
            last_launched,
            last_published,
        )
        else {
            anyhow::bail!("no product made it through, so there is nothing to measure");
        };
        let per_second =
            |from, to| times.len() as f64 / between(from, to).as_secs_f64().max(f64::EPSILON);
        Ok(Self {
            products: times.len(),
            throughput: per_second(first_discovered, last_published),
            ingest_rate: per_second(first_discovered, last_discovered),
            launch_rate: per_second(first_discovered, last_launched),
            to_launched: Percentiles::of(times.iter().map(|t| between(t.discovered, t.launched))),
            to_published: Percentiles::of(times.iter().map(|t| between(t.discovered, t.published))),
        })
    }
}

impl Percentiles {
    /// Nearest-rank percentiles; zero for no samples.
    fn of(samples: impl Iterator<Item = Duration>) -> Self {
        let mut sorted: Vec<Duration> = samples.collect();
        sorted.sort_unstable();
        let rank = |fraction: f64| {
            let index = (fraction * sorted.len() as f64).ceil() as usize;
            sorted
                .get(index.saturating_sub(1))
                .copied()
                .unwrap_or_default()
        };
        Self {
            p50: rank(0.50),
            p99: rank(0.99),
        }
    }
}

/// The time from `from` to `to`; zero when the clocks say `to` came first.
fn between(from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
    (to - from).to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_767_225_600_000 + millis).unwrap()
    }

    #[test]
    fn throughput_runs_from_the_first_discovery_to_the_last_publication() {
        let times: Vec<ProductTimes> = (0..4)
            .map(|i| ProductTimes {
                discovered: at(i * 100),
                launched: at(i * 100 + 50),
                published: at(i * 100 + 1000),
            })
            .collect();
        let figures = Figures::of(&times).unwrap();
        // 4 products between 0 ms and 1300 ms; discovered between 0 ms and 300 ms.
        assert!((figures.throughput - 4.0 / 1.3).abs() < 1e-9);
        assert!((figures.ingest_rate - 4.0 / 0.3).abs() < 1e-9);
        assert!((figures.launch_rate - 4.0 / 0.35).abs() < 1e-9);
        assert_eq!(figures.to_launched.p50, Duration::from_millis(50));
        assert_eq!(figures.to_published.p99, Duration::from_millis(1000));
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let samples = (1..=200).map(Duration::from_millis);
        let percentiles = Percentiles::of(samples);
        assert_eq!(percentiles.p50, Duration::from_millis(100));
        assert_eq!(percentiles.p99, Duration::from_millis(198));
    }

    #[test]
    fn a_run_without_products_is_an_error_not_a_figure() {
        let error = Figures::of(&[]).unwrap_err().to_string();
        assert!(error.contains("no product"), "{error}");
    }
}
