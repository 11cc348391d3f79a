//! A feed's health as operators see it: a streak of failures raises `feed-failing`, and a feed
//! that brings nothing new for longer than its expected cadence raises `feed-stalled`. Each alert
//! is raised once per episode, and the recovery is logged.

use std::time::Duration;

use chrono::Utc;
use nrt_events::{Alert, Severity};
use tokio::time::Instant;

use crate::{Error, SERVICE, config::FeedConfig, sink::ProductSink};

pub struct FeedHealth {
    feed: String,
    alert_after_failures: u32,
    stalled_after: Option<Duration>,
    failures: u32,
    last_new: Instant,
    stalled: bool,
}

impl FeedHealth {
    /// A feed that has just started: the stall clock starts now.
    pub fn new(feed: &FeedConfig) -> Self {
        Self {
            feed: feed.name.clone(),
            alert_after_failures: feed.alert_after_failures,
            stalled_after: feed.stalled_after,
            failures: 0,
            last_new: Instant::now(),
            stalled: false,
        }
    }

    /// A poll or delivery worked and brought `new` products.
    pub fn succeeded(&mut self, new: usize) {
        if self.failures >= self.alert_after_failures {
            tracing::info!(feed = %self.feed, failures = self.failures, "Feed recovered.");
        }
        self.failures = 0;
        if new > 0 {
            self.last_new = Instant::now();
            if self.stalled {
                tracing::info!(feed = %self.feed, "Feed resumed.");
                self.stalled = false;
            }
        }
    }

    /// A poll failed with `reason`; the alert to raise when the streak reaches the threshold.
    pub fn failed(&mut self, reason: &str) -> Option<Alert> {
        self.failures += 1;
        (self.failures == self.alert_after_failures).then(|| {
            self.alert(
                Severity::Critical,
                "feed-failing",
                format!(
                    "feed {} failed {} polls in a row; last error: {reason}",
                    self.feed, self.failures
                ),
            )
        })
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.failures
    }

    /// The `feed-stalled` alert, once, when nothing new came for longer than the cadence.
    pub fn stalled_alert(&mut self) -> Option<Alert> {
        let limit = self.stalled_after?;
        let silent = self.last_new.elapsed();
        if self.stalled || silent <= limit {
            return None;
        }
        self.stalled = true;
        Some(self.alert(
            Severity::Warning,
            "feed-stalled",
            format!(
                "feed {} brought no new product for {}s (expected within {}s)",
                self.feed,
                silent.as_secs(),
                limit.as_secs()
            ),
        ))
    }

    fn alert(&self, severity: Severity, kind: &str, message: String) -> Alert {
        Alert {
            severity,
            kind: kind.into(),
            service: SERVICE.into(),
            message,
            about: self.feed.clone(),
            raised_at: Utc::now(),
        }
    }
}

/// A failed round of `feed` (a poll, a subscription read): counted, logged with what it leaves
/// behind (`consequence`), and raised as `feed-failing` once the streak reaches the feed's limit.
pub async fn round_failed(
    sink: &impl ProductSink,
    health: &mut FeedHealth,
    feed: &str,
    error: &Error,
    consequence: &str,
) {
    metrics::counter!("nrt_ingestor_poll_failures_total", "feed" => feed.to_owned()).increment(1);
    let reason = nrt_nats::describe_error(error);
    let alert = health.failed(&reason);
    tracing::error!(
        feed,
        error = %reason,
        consecutive_failures = health.consecutive_failures(),
        "{consequence}"
    );
    if let Some(alert) = alert {
        raise(sink, feed, alert).await;
    }
}

/// Raises `alert` for `feed`; a failure to do so is logged, never fatal: the feed goes on.
pub async fn raise(sink: &impl ProductSink, feed: &str, alert: Alert) {
    let kind = alert.kind.clone();
    if let Err(error) = sink.alert(alert).await {
        tracing::error!(feed, kind, error = %nrt_nats::describe_error(&error), "Could not raise an alert.");
    }
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::*;

    fn health(stalled_after: Option<Duration>) -> FeedHealth {
        let mut feed = FeedConfig::cdse("cdse", Url::parse("http://feed/odata/v1").unwrap());
        feed.alert_after_failures = 2;
        feed.stalled_after = stalled_after;
        FeedHealth::new(&feed)
    }

    #[test]
    fn a_streak_of_failures_alerts_once_at_the_threshold() {
        let mut health = health(None);
        assert!(health.failed("503").is_none());
        let alert = health.failed("503").unwrap();
        assert_eq!(alert.kind, "feed-failing");
        assert_eq!(
            alert.message,
            "feed cdse failed 2 polls in a row; last error: 503"
        );
        assert!(health.failed("503").is_none());
        health.succeeded(0);
        assert_eq!(health.consecutive_failures(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_feed_alerts_once_until_it_brings_something_new() {
        let mut health = health(Some(Duration::from_secs(600)));
        tokio::time::advance(Duration::from_secs(599)).await;
        assert!(health.stalled_alert().is_none());
        tokio::time::advance(Duration::from_secs(2)).await;
        let alert = health.stalled_alert().unwrap();
        assert_eq!(
            (alert.kind.as_str(), alert.severity),
            ("feed-stalled", Severity::Warning)
        );
        assert_eq!(
            alert.message,
            "feed cdse brought no new product for 601s (expected within 600s)"
        );
        assert!(health.stalled_alert().is_none(), "one alert per episode");
        health.succeeded(0);
        assert!(
            health.stalled_alert().is_none(),
            "polls that bring nothing do not end it"
        );
        health.succeeded(3);
        tokio::time::advance(Duration::from_secs(601)).await;
        assert!(
            health.stalled_alert().is_some(),
            "a new episode alerts again"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_feed_without_cadence_never_stalls() {
        let mut health = health(None);
        tokio::time::advance(Duration::from_secs(86_400)).await;
        assert!(health.stalled_alert().is_none());
    }
}
