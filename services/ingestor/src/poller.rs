//! One feed's polling loop: fetch the pages published since the cursor, publish each new product
//! and await its PubAck, dead-letter what cannot be mapped, and only then move the cursor.
//! Failures leave the cursor where it was, and a streak of them raises an alert.

use std::{future::Future, time::Duration};

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use nrt_events::{Alert, ProductDiscovered, Severity};
use nrt_nats::describe_error;
use nrt_runtime::Shutdown;

use crate::{
    Error, SERVICE,
    config::FeedConfig,
    cursor::{self, CasOutcome, Cursor, CursorStore, StoredCursor},
    handler::{PageOutcome, handle_page},
    http::FeedSource,
    odata::{is_beyond_skip_limit, products_url},
};

/// PubAcks awaited at once while publishing a page.
const PUBLISH_CONCURRENCY: usize = 32;
/// After shutdown is requested, how long a page being published may take to finish; past it the
/// page is abandoned uncommitted, to be re-polled (and deduplicated) after the restart.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// Where products, rejects and alerts go: JetStream in production, memory in unit tests.
pub trait ProductSink: Send + Sync {
    /// Publishes and awaits the PubAck; `true` when new, `false` when JetStream dropped a repeat.
    fn publish(
        &self,
        product: ProductDiscovered,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Copies a feed entry that cannot be mapped to the dead-letter queue, with the reason.
    fn dead_letter(
        &self,
        origin: &str,
        entity: &[u8],
        reason: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    fn alert(&self, alert: Alert) -> impl Future<Output = Result<(), Error>> + Send;
}

/// What one poll did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollReport {
    pub pages: usize,
    pub discovered: usize,
    pub rejected: usize,
    /// Where the cursor stands after the poll.
    pub cursor: Cursor,
}

/// Polls one feed until shutdown.
pub struct FeedPoller<F, S, C> {
    pub feed: FeedConfig,
    pub source: F,
    pub sink: S,
    pub cursors: C,
}

impl<F: FeedSource, S: ProductSink, C: CursorStore> FeedPoller<F, S, C> {
    pub async fn run(&self, shutdown: Shutdown) {
        let feed = &self.feed.name;
        tracing::info!(feed, url = %self.feed.url, "Polling feed.");
        let mut failures = 0u32;
        let mut newest: Option<DateTime<Utc>> = None;
        while !shutdown.is_requested() {
            match self.poll(&shutdown).await {
                Ok(report) => {
                    if failures >= self.feed.alert_after_failures {
                        tracing::info!(feed, failures, "Feed recovered.");
                    }
                    failures = 0;
                    newest = Some(report.cursor.published_at);
                    if report.discovered + report.rejected > 0 {
                        tracing::info!(
                            feed,
                            discovered = report.discovered,
                            rejected = report.rejected,
                            pages = report.pages,
                            cursor = %report.cursor.published_at,
                            "Feed polled."
                        );
                    }
                }
                Err(error) => {
                    failures += 1;
                    metrics::counter!("nrt_ingestor_poll_failures_total", "feed" => feed.clone())
                        .increment(1);
                    let reason = describe_error(&error);
                    tracing::error!(
                        feed,
                        error = %reason,
                        consecutive_failures = failures,
                        "Feed poll failed; its cursor stays where it was."
                    );
                    if failures == self.feed.alert_after_failures {
                        self.raise_alert(failures, &reason).await;
                    }
                }
            }
            if let Some(newest) = newest {
                let age = (Utc::now() - newest).as_seconds_f64();
                metrics::gauge!("nrt_ingestor_feed_freshness_seconds", "feed" => feed.clone())
                    .set(age);
            }
            tokio::select! {
                _ = shutdown.requested() => {}
                _ = tokio::time::sleep(self.feed.poll_interval) => {}
            }
        }
        tracing::info!(feed, "Stopped polling feed.");
    }

    /// Reads every page published since the cursor, committing the cursor after each page.
    pub async fn poll(&self, shutdown: &Shutdown) -> Result<PollReport, Error> {
        let mut stored = self.current_cursor().await?;
        let mut asked_from = stored.cursor.published_at;
        let mut url = products_url(&self.feed, asked_from);
        let mut report = PollReport {
            pages: 0,
            discovered: 0,
            rejected: 0,
            cursor: stored.cursor.clone(),
        };
        loop {
            let page = tokio::select! {
                page = self.source.fetch(&url) => page?,
                _ = shutdown.requested() => return Ok(report),
            };
            let outcome = handle_page(&self.feed, &stored.cursor, &page.entries);
            tokio::select! {
                delivered = self.deliver(url.as_str(), &outcome) => delivered?,
                _ = after_grace(shutdown) => {
                    tracing::warn!(feed = %self.feed.name, "Shutdown interrupted a page; it will be polled again.");
                    return Ok(report);
                }
            }
            // Only now, with every PubAck in, may the cursor pass these entries.
            if outcome.cursor != stored.cursor {
                stored = cursor::commit(
                    &self.cursors,
                    &self.feed.name,
                    outcome.cursor,
                    Some(stored.revision),
                )
                .await?;
            }
            report.pages += 1;
            report.discovered += outcome.discovered.len();
            report.rejected += outcome.rejected.len();
            report.cursor = stored.cursor.clone();
            url = match page.next_link {
                _ if shutdown.is_requested() => return Ok(report),
                None => return Ok(report),
                // Deep backlogs outrun CDSE's $skip limit: ask again from the cursor reached,
                // unless it has not moved (then only paging on can make progress).
                Some(next)
                    if is_beyond_skip_limit(&next) && stored.cursor.published_at > asked_from =>
                {
                    asked_from = stored.cursor.published_at;
                    products_url(&self.feed, asked_from)
                }
                Some(next) => next,
            };
        }
    }

    /// The stored cursor, or a new one at `start_from` (else now), stored before any product so
    /// that a restart resumes from the same place.
    async fn current_cursor(&self) -> Result<StoredCursor, Error> {
        let feed = &self.feed.name;
        if let Some(stored) = self.cursors.load(feed).await? {
            return Ok(stored);
        }
        let start = Cursor::starting_at(self.feed.start_from.unwrap_or_else(Utc::now));
        match self.cursors.compare_and_set(feed, &start, None).await? {
            CasOutcome::Committed { revision } => {
                tracing::info!(feed, start = %start.published_at, "New feed cursor.");
                Ok(StoredCursor {
                    cursor: start,
                    revision,
                })
            }
            // Another replica created it first: its start is the one.
            CasOutcome::Conflict => cursor::commit(&self.cursors, feed, start, None).await,
        }
    }

    async fn deliver(&self, origin: &str, outcome: &PageOutcome) -> Result<(), Error> {
        let feed = &self.feed.name;
        let new = futures::stream::iter(outcome.discovered.iter().cloned())
            .map(|product| self.sink.publish(product))
            .buffered(PUBLISH_CONCURRENCY)
            .try_fold(
                0u64,
                |new, is_new| async move { Ok(new + u64::from(is_new)) },
            )
            .await?;
        metrics::counter!("nrt_ingestor_products_discovered_total", "feed" => feed.clone())
            .increment(new);
        for rejected in &outcome.rejected {
            let reason = rejected.error.to_string();
            self.sink
                .dead_letter(origin, rejected.entity.as_bytes(), &reason)
                .await?;
            metrics::counter!("nrt_ingestor_entries_rejected_total", "feed" => feed.clone())
                .increment(1);
        }
        Ok(())
    }

    async fn raise_alert(&self, failures: u32, reason: &str) {
        let alert = Alert {
            severity: Severity::Critical,
            kind: "feed-failing".into(),
            service: SERVICE.into(),
            message: format!(
                "feed {} failed {failures} polls in a row; last error: {reason}",
                self.feed.name
            ),
            about: self.feed.name.clone(),
            raised_at: Utc::now(),
        };
        if let Err(error) = self.sink.alert(alert).await {
            tracing::error!(feed = %self.feed.name, error = %describe_error(&error), "Could not raise the feed-failing alert.");
        }
    }
}

/// Resolves `DRAIN_GRACE` after shutdown is requested.
async fn after_grace(shutdown: &Shutdown) {
    shutdown.requested().await;
    tokio::time::sleep(DRAIN_GRACE).await;
}

#[cfg(test)]
#[path = "poller_tests.rs"]
mod tests;
