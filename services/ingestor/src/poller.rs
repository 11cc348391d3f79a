//! One polled feed's loop: fetch the pages published since the cursor, publish each new fact and
//! await its PubAck, dead-letter what cannot be read, and only then move the cursor. Failures
//! leave the cursor where it was; a streak of them, or a feed gone silent, raises an alert.

use std::time::Duration;

use chrono::{DateTime, Utc};
use nrt_runtime::Shutdown;

use crate::{
    Error,
    config::FeedConfig,
    cursor::{self, CasOutcome, Cursor, CursorStore, StoredCursor},
    feed::{Discovery, PolledFeed},
    handler::{PageOutcome, Rejected, handle_page},
    sink::{self, ProductSink},
    watchdog::{self, FeedHealth},
};

/// After shutdown is requested, how long a page being published may take to finish; past it the
/// page is abandoned uncommitted, to be re-polled (and deduplicated) after the restart.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// What one poll did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollReport {
    pub pages: usize,
    pub discovered: usize,
    pub rejected: usize,
    /// Where the cursor stands after the poll.
    pub cursor: Cursor,
}

/// Told after each page of a poll is delivered and committed: the poll so far.
pub type PageHook = Box<dyn Fn(&PollReport) + Send + Sync>;

/// Polls one feed until shutdown.
pub struct FeedPoller<F, S, C> {
    pub feed: FeedConfig,
    /// The key of this poller's cursor in `ingest-cursors`: the feed's name, or a name derived
    /// from it when one feed has several (`<feed>.deletions`, a backfill's).
    pub cursor_key: String,
    pub source: F,
    pub sink: S,
    pub cursors: C,
    /// Entries published after this are left for later and end the poll: a backfill's end.
    pub until: Option<DateTime<Utc>>,
    pub on_page: Option<PageHook>,
}

impl<F: PolledFeed, S: ProductSink, C: CursorStore> FeedPoller<F, S, C> {
    /// A poller whose cursor is named after the feed.
    pub fn new(feed: FeedConfig, source: F, sink: S, cursors: C) -> Self {
        Self {
            cursor_key: feed.name.clone(),
            feed,
            source,
            sink,
            cursors,
            until: None,
            on_page: None,
        }
    }

    pub async fn run(&self, shutdown: Shutdown) {
        let feed = &self.cursor_key;
        tracing::info!(feed, "Polling feed.");
        let mut health = FeedHealth::new(&self.feed);
        let mut newest: Option<DateTime<Utc>> = None;
        while !shutdown.is_requested() {
            match self.poll(&shutdown).await {
                Ok(report) => {
                    health.succeeded(report.discovered);
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
                    let consequence = "Feed poll failed; its cursor stays where it was.";
                    watchdog::round_failed(&self.sink, &mut health, feed, &error, consequence)
                        .await;
                }
            }
            if let Some(alert) = health.stalled_alert() {
                tracing::warn!(feed, "Feed stalled.");
                self.raise(alert).await;
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
        let mut request = self.source.first_request(asked_from);
        let mut report = PollReport {
            pages: 0,
            discovered: 0,
            rejected: 0,
            cursor: stored.cursor.clone(),
        };
        loop {
            let mut page = tokio::select! {
                page = self.source.fetch(&request) => page?,
                _ = shutdown.requested() => return Ok(report),
            };
            let reached_until = self.cut_at_until(&mut page.entries);
            let PageOutcome {
                discovered,
                rejected,
                cursor: reached,
                ..
            } = handle_page(&self.source, &stored.cursor, &page.entries);
            let (discovered_count, rejected_count) = (discovered.len(), rejected.len());
            let origin = request.to_string();
            tokio::select! {
                delivered = self.deliver(&origin, discovered, &rejected) => delivered?,
                _ = after_grace(shutdown) => {
                    tracing::warn!(feed = %self.cursor_key, "Shutdown interrupted a page; it will be polled again.");
                    return Ok(report);
                }
            }
            // Only now, with every PubAck in, may the cursor pass these entries.
            if reached != stored.cursor {
                stored = cursor::commit(
                    &self.cursors,
                    &self.cursor_key,
                    reached,
                    Some(stored.revision),
                )
                .await?;
            }
            report.pages += 1;
            report.discovered += discovered_count;
            report.rejected += rejected_count;
            report.cursor = stored.cursor.clone();
            if let Some(on_page) = &self.on_page {
                on_page(&report);
            }
            request = match page.next {
                _ if shutdown.is_requested() || reached_until => return Ok(report),
                None => return Ok(report),
                // Deep backlogs outrun a feed's paging limit: ask again from the cursor reached,
                // unless it has not moved (then only paging on can make progress).
                Some(next)
                    if self.source.restarts_from_cursor(&next)
                        && stored.cursor.published_at > asked_from =>
                {
                    asked_from = stored.cursor.published_at;
                    self.source.first_request(asked_from)
                }
                Some(next) => next,
            };
        }
    }

    /// Drops the entries published after `until` (pages are in publication order); true when
    /// some were, which ends the poll.
    fn cut_at_until(&self, entries: &mut Vec<Box<serde_json::value::RawValue>>) -> bool {
        let Some(until) = self.until else {
            return false;
        };
        let beyond = entries.iter().enumerate().position(|(position, entry)| {
            self.source
                .read_entry(entry, position)
                .published_at
                .is_some_and(|time| time > until)
        });
        match beyond {
            Some(first) => {
                entries.truncate(first);
                true
            }
            None => false,
        }
    }

    /// The stored cursor, or a new one at `start_from` (else now), stored before any product so
    /// that a restart resumes from the same place.
    async fn current_cursor(&self) -> Result<StoredCursor, Error> {
        let key = &self.cursor_key;
        if let Some(stored) = self.cursors.load(key).await? {
            return Ok(stored);
        }
        let start = Cursor::starting_at(self.feed.start_from.unwrap_or_else(Utc::now));
        match self.cursors.compare_and_set(key, &start, None).await? {
            CasOutcome::Committed { revision } => {
                tracing::info!(feed = key, start = %start.published_at, "New feed cursor.");
                Ok(StoredCursor {
                    cursor: start,
                    revision,
                })
            }
            // Another replica created it first: its start is the one.
            CasOutcome::Conflict => cursor::commit(&self.cursors, key, start, None).await,
        }
    }

    async fn deliver(
        &self,
        origin: &str,
        discovered: Vec<Discovery>,
        rejected: &[Rejected],
    ) -> Result<(), Error> {
        sink::deliver(&self.sink, &self.cursor_key, origin, discovered, rejected)
            .await
            .map(drop)
    }

    async fn raise(&self, alert: nrt_events::Alert) {
        watchdog::raise(&self.sink, &self.cursor_key, alert).await
    }
}

/// Resolves `DRAIN_GRACE` after shutdown is requested.
pub(crate) async fn after_grace(shutdown: &Shutdown) {
    shutdown.requested().await;
    tokio::time::sleep(DRAIN_GRACE).await;
}

#[cfg(test)]
#[path = "poller_tests.rs"]
mod tests;
