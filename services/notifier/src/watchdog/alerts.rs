//! The alerts the watchdog raises, worded for the operator who reads them. Each is about one job,
//! product or feed, so its event id (service, kind, about) makes a repeat a duplicate.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use nrt_events::{Alert, Severity};

use super::state::{Discovered, FeedWatch, JobWatch, ProductWatch, Publication, Stage};
use crate::SERVICE;

pub const PRODUCT_OVERDUE: &str = "product-overdue";
pub const PRODUCT_OVERDUE_CLEARED: &str = "product-overdue-cleared";
pub const FEED_SILENT: &str = "feed-silent";
pub const FEED_SILENT_CLEARED: &str = "feed-silent-cleared";

/// Products named in full before the rest are counted: a gathering may have hundreds.
const PRODUCTS_NAMED: usize = 3;

pub fn job_overdue(
    job: &JobWatch,
    deadline: DateTime<Utc>,
    stage: Stage,
    now: DateTime<Utc>,
) -> Alert {
    let detail = match (&job.dead, &job.failure) {
        (Some(dead), _) if stage == Stage::Dead => {
            format!(
                " It gave up after {} attempt(s): {}.",
                dead.attempts, dead.reason
            )
        }
        (_, Some(failure)) if matches!(stage, Stage::Dead | Stage::FailedRetrying) => {
            format!(" Attempt {} failed: {}.", failure.attempt, failure.reason)
        }
        _ => String::new(),
    };
    let message = format!(
        "{} is {} past its deadline {} and not published: {stage}.{detail}",
        describe_job(job),
        human(now - deadline),
        time(deadline),
    );
    alert(
        Severity::Warning,
        PRODUCT_OVERDUE,
        &job.job_id,
        message,
        now,
    )
}

pub fn job_cleared(
    job: &JobWatch,
    deadline: DateTime<Utc>,
    publication: &Publication,
    now: DateTime<Utc>,
) -> Alert {
    let message = format!(
        "{} is published as item {}, {}.",
        describe_job(job),
        publication.item_id,
        lateness(publication.seen_at, deadline),
    );
    alert(
        Severity::Info,
        PRODUCT_OVERDUE_CLEARED,
        &job.job_id,
        message,
        now,
    )
}

pub fn product_overdue(
    product: &ProductWatch,
    discovered: &Discovered,
    now: DateTime<Utc>,
) -> Alert {
    let message = format!(
        "Product {} of {} from feed {}, published in the feed at {}, is {} past its deadline {}: \
         {}; no rule selected it.",
        product.key,
        discovered.collection,
        discovered.feed,
        time(discovered.published_at),
        human(now - discovered.deadline),
        time(discovered.deadline),
        Stage::DiscoveredNotTriggered,
    );
    alert(
        Severity::Warning,
        PRODUCT_OVERDUE,
        &product.key,
        message,
        now,
    )
}

pub fn product_cleared(
    product: &ProductWatch,
    published: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Alert {
    let message = match &product.discovered {
        Some(discovered) => format!(
            "Product {} is published, {}.",
            product.key,
            lateness(published, discovered.deadline)
        ),
        None => format!("Product {} is published.", product.key),
    };
    alert(
        Severity::Info,
        PRODUCT_OVERDUE_CLEARED,
        &product.key,
        message,
        now,
    )
}

pub fn feed_silent(
    feed: &FeedWatch,
    heard_at: DateTime<Utc>,
    cadence: TimeDelta,
    now: DateTime<Utc>,
) -> Alert {
    let last = match &feed.last_product {
        Some(last) => format!(
            "the last, {}, was seen at {} (published in the feed at {})",
            last.key,
            time(last.seen_at),
            time(last.published_at)
        ),
        None => format!(
            "none was seen since watching began at {}",
            time(feed.watching_since)
        ),
    };
    let message = format!(
        "Feed {} delivered no product for {} (expected one every {}); {last}.",
        feed.feed,
        human(now - heard_at),
        human(cadence),
    );
    alert(Severity::Warning, FEED_SILENT, &feed.feed, message, now)
}

pub fn feed_heard_again(feed: &FeedWatch, now: DateTime<Utc>) -> Alert {
    let message = match &feed.last_product {
        Some(last) => format!(
            "Feed {} delivers again: {} seen at {}.",
            feed.feed,
            last.key,
            time(last.seen_at)
        ),
        None => format!("Feed {} is no longer expected to be silent.", feed.feed),
    };
    alert(
        Severity::Info,
        FEED_SILENT_CLEARED,
        &feed.feed,
        message,
        now,
    )
}

fn alert(
    severity: Severity,
    kind: &str,
    about: &str,
    message: String,
    now: DateTime<Utc>,
) -> Alert {
    Alert {
        severity,
        kind: kind.into(),
        service: SERVICE.into(),
        message,
        about: about.into(),
        raised_at: now,
    }
}

/// `Job <id> on <products> (rule <r>, processor <p>)`.
fn describe_job(job: &JobWatch) -> String {
    let Some(request) = &job.request else {
        return format!("Job {}", job.job_id);
    };
    let mut products = request
        .products
        .iter()
        .take(PRODUCTS_NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if request.products.len() > PRODUCTS_NAMED {
        products += &format!(" and {} more", request.products.len() - PRODUCTS_NAMED);
    }
    format!(
        "Job {} on {products} (rule {}, processor {})",
        job.job_id, request.rule, request.processor
    )
}

fn lateness(at: DateTime<Utc>, deadline: DateTime<Utc>) -> String {
    if at > deadline {
        format!(
            "{} after its deadline {}",
            human(at - deadline),
            time(deadline)
        )
    } else {
        format!("within its deadline {}", time(deadline))
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `2d 3h`, `1h 5m`, `4m 10s`, `45s`: the two largest units, as an operator reads a delay.
pub fn human(delta: TimeDelta) -> String {
    let secs = delta.num_seconds().max(0);
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
    ];
    let Some(first) = parts.iter().position(|(count, _)| *count > 0) else {
        return "0s".into();
    };
    parts[first..]
        .iter()
        .take(2)
        .filter(|(count, _)| *count > 0)
        .map(|(count, unit)| format!("{count}{unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests;
