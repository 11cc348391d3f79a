//! Walking a feed's history for a reprocessing campaign: every product published from `from` to
//! `until`, through the same publish-and-dedup path as live polling, with a cursor of its own so
//! that an interrupted walk resumes where it stopped.

use chrono::{DateTime, Utc};
use nrt_events::streams::KV_INGEST_CURSORS;
use nrt_nats::Mesh;
use nrt_runtime::{Readiness, Shutdown, config::ConfigError};

use crate::{
    Config, Error, FeedConfig, KvCursors, MeshSink, SERVICE, SourceConfig,
    cursor::CursorStore,
    feed::PolledFeed,
    odata::OdataFeed,
    poller::{FeedPoller, PageHook, PollReport},
    s3::listing::BucketListing,
    sink::ProductSink,
};

/// One campaign: which feed, and the publication window to walk.
#[derive(Debug, Clone, PartialEq)]
pub struct Backfill {
    pub feed: String,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl Backfill {
    /// The campaign's cursor in `ingest-cursors`, apart from the live feed's: the same window
    /// asked again resumes, another window starts afresh.
    pub fn cursor_key(&self) -> String {
        // KV keys take no `:`, and a `.` would split the window into subject tokens.
        let compact = |time: DateTime<Utc>| {
            time.format("%Y%m%dT%H%M%S%.3fZ")
                .to_string()
                .replace('.', "_")
        };
        format!(
            "backfill.{}.{}-{}",
            self.feed,
            compact(self.from),
            compact(self.until)
        )
    }

    /// The fraction of the window behind `cursor`, from 0 to 1.
    pub fn progress(&self, cursor: DateTime<Utc>) -> f64 {
        let window = (self.until - self.from).as_seconds_f64();
        if window <= 0.0 {
            return 1.0;
        }
        ((cursor - self.from).as_seconds_f64() / window).clamp(0.0, 1.0)
    }
}

/// Walks the campaign's window of the feed named in `config`, telling `on_page` after each page.
/// Returns at the window's end, or at a page boundary once `shutdown` is requested.
pub async fn run(
    config: &Config,
    campaign: &Backfill,
    on_page: PageHook,
    shutdown: Shutdown,
) -> Result<PollReport, Error> {
    if campaign.until <= campaign.from {
        return Err(ConfigError::invalid("--to", "must be after --from").into());
    }
    let feed = config
        .feeds
        .iter()
        .find(|feed| feed.name == campaign.feed)
        .ok_or_else(|| {
            let names: Vec<&str> = config.feeds.iter().map(|feed| feed.name.as_str()).collect();
            ConfigError::invalid(
                "--source",
                format!(
                    "no feed is named {:?}; the configured feeds are {}",
                    campaign.feed,
                    names.join(", ")
                ),
            )
        })?;
    let mesh = Mesh::connect(SERVICE, &config.nats, Readiness::default()).await?;
    let cursors = KvCursors::new(mesh.key_value(KV_INGEST_CURSORS).await?);
    let sink = MeshSink::new(&mesh);
    let report = match &feed.source {
        SourceConfig::CdseOdata(odata) => {
            let source = OdataFeed::new(feed, odata)?;
            walk(feed, source, sink, cursors, campaign, on_page, &shutdown).await
        }
        SourceConfig::S3Bucket(bucket) => {
            let source = BucketListing::new(&feed.name, bucket).await;
            walk(feed, source, sink, cursors, campaign, on_page, &shutdown).await
        }
        SourceConfig::StacApi(stac) => {
            let source = crate::stac_api::StacFeed::new(feed, stac)?;
            walk(feed, source, sink, cursors, campaign, on_page, &shutdown).await
        }
        // A subscription only tells of what happens from now on.
        SourceConfig::CdsePush(_) | SourceConfig::CdsePull(_) => Err(ConfigError::invalid(
            "--source",
            format!(
                "feed {} is a {} feed, which has no history to walk; backfill with a cdse-odata \
                 feed of the same catalogue",
                feed.name,
                feed.source.kind()
            ),
        )
        .into()),
    };
    mesh.client.drain().await.ok();
    report
}

async fn walk<F: PolledFeed>(
    feed: &FeedConfig,
    source: F,
    sink: impl ProductSink,
    cursors: impl CursorStore,
    campaign: &Backfill,
    on_page: PageHook,
    shutdown: &Shutdown,
) -> Result<PollReport, Error> {
    let mut feed = feed.clone();
    feed.start_from = Some(campaign.from);
    let mut poller = FeedPoller::new(feed, source, sink, cursors);
    poller.cursor_key = campaign.cursor_key();
    poller.until = Some(campaign.until);
    poller.on_page = Some(on_page);
    poller.poll(shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign() -> Backfill {
        Backfill {
            feed: "cdse-s2".into(),
            from: "2024-01-01T00:00:00Z".parse().unwrap(),
            until: "2024-01-11T00:00:00.5Z".parse().unwrap(),
        }
    }

    #[test]
    fn a_campaign_cursor_is_a_valid_kv_key_naming_its_window() {
        assert_eq!(
            campaign().cursor_key(),
            "backfill.cdse-s2.20240101T000000_000Z-20240111T000000_500Z"
        );
    }

    #[test]
    fn progress_is_the_share_of_the_window_behind_the_cursor() {
        let campaign = campaign();
        assert_eq!(campaign.progress(campaign.from), 0.0);
        assert_eq!(
            campaign.progress("2023-01-01T00:00:00Z".parse().unwrap()),
            0.0
        );
        assert!((campaign.progress("2024-01-06T00:00:00.25Z".parse().unwrap()) - 0.5).abs() < 1e-9);
        assert_eq!(
            campaign.progress("2025-01-01T00:00:00Z".parse().unwrap()),
            1.0
        );
    }
}
