//! `nrtmesh backfill`: a reprocessing campaign over one feed's history, with a progress bar that
//! shows the share of the window walked, the products published, their rate and the time left.

use std::{path::Path, time::Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use ingestor::backfill::{self, Backfill};
use nrt_runtime::Shutdown;

/// The bar counts thousandths of the window, so its ETA follows the feed's own pace.
const STEPS: u64 = 1000;

/// Walks `campaign` with the feeds and NATS of the ingestor configuration `config_file`
/// (overridden by `nats_url`); an interrupted campaign resumes when run again.
pub async fn run(
    config_file: Option<&Path>,
    nats_url: Option<String>,
    campaign: Backfill,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let mut config =
        ingestor::config::load(config_file).context("reading the ingestor configuration")?;
    if let Some(url) = nats_url {
        config.nats.url = url;
    }
    let bar = ProgressBar::new(STEPS).with_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] [{wide_bar}] {percent:>3}% {msg} (ETA {eta})",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_message(format!("walking {} from {}", campaign.feed, campaign.from));
    let started = Instant::now();
    let report = backfill::run(
        &config,
        &campaign,
        Box::new({
            let bar = bar.clone();
            let campaign = campaign.clone();
            move |report| {
                let rate = report.discovered as f64 / started.elapsed().as_secs_f64().max(1e-3);
                bar.set_position(
                    (campaign.progress(report.cursor.published_at) * STEPS as f64) as u64,
                );
                bar.set_message(format!(
                    "{} products, {} rejected, {rate:.1}/s, at {}",
                    report.discovered,
                    report.rejected,
                    report.cursor.published_at.format("%Y-%m-%dT%H:%M:%SZ")
                ));
            }
        }),
        shutdown.clone(),
    )
    .await;
    bar.finish();
    let report = report?;
    let reached = report.cursor.published_at;
    println!(
        "{} products published (repeats JetStream dropped included), {} rejected to dlq.ingestor, {} pages.",
        report.discovered, report.rejected, report.pages
    );
    if shutdown.is_requested() && reached < campaign.until {
        println!(
            "Interrupted at {reached}; run the same command again to resume (cursor {}).",
            campaign.cursor_key()
        );
    }
    Ok(())
}

/// An RFC 3339 time, or a date alone as its midnight UTC: what `--from` and `--to` take.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|date| date.and_time(chrono::NaiveTime::MIN).and_utc())
        .map_err(|_| format!("{text:?} is neither an RFC 3339 time nor a YYYY-MM-DD date"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_dates_are_taken_and_anything_else_is_named() {
        assert_eq!(
            parse_time("2024-01-02").unwrap(),
            "2024-01-02T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            parse_time("2024-01-02T03:04:05+01:00").unwrap(),
            "2024-01-02T02:04:05Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            parse_time("yesterday").unwrap_err(),
            "\"yesterday\" is neither an RFC 3339 time nor a YYYY-MM-DD date"
        );
    }
}
