//! The periodic pass: judge every record at one `now`, raise what is due, forget what is done.

use std::future::Future;

use chrono::{DateTime, Utc};
use nrt_events::Alert;
use nrt_nats::{Publisher, describe_error};

use super::{
    WatchdogConfig, WatchdogError,
    judge::{Verdict, judge},
    store::{self, Bucket},
};

/// Where the watchdog's alerts go.
pub trait AlertSink: Send + Sync {
    fn raise(&self, alert: Alert) -> impl Future<Output = Result<(), WatchdogError>> + Send;
}

impl AlertSink for Publisher {
    async fn raise(&self, alert: Alert) -> Result<(), WatchdogError> {
        let (kind, about) = (alert.kind.clone(), alert.about.clone());
        self.publish(alert)
            .await
            .map_err(|source| WatchdogError::Alert {
                kind,
                about,
                source,
            })?;
        Ok(())
    }
}

/// Judges every record at `now`, in key order. A record that cannot be handled is logged and
/// left to the next pass, so it holds up no other.
pub async fn check(
    bucket: &impl Bucket,
    alerts: &impl AlertSink,
    config: &WatchdogConfig,
    now: DateTime<Utc>,
) -> Result<(), WatchdogError> {
    let mut keys = bucket.keys().await?;
    keys.sort_unstable();
    for key in keys {
        if let Err(error) = check_one(bucket, alerts, config, &key, now).await {
            tracing::warn!(key, error = %describe_error(&error), "Could not check a watch; the next pass tries again.");
        }
    }
    Ok(())
}

async fn check_one(
    bucket: &impl Bucket,
    alerts: &impl AlertSink,
    config: &WatchdogConfig,
    key: &str,
    now: DateTime<Utc>,
) -> Result<(), WatchdogError> {
    let Some((watch, revision)) = store::read(bucket, key).await? else {
        return Ok(());
    };
    match judge(&watch, now, config) {
        None => {}
        Some(Verdict::Raise { alert, mark }) => {
            let (kind, about) = (alert.kind.clone(), alert.about.clone());
            // Raised before it is marked: a crash in between raises it again under the same
            // event id, which JetStream drops as a duplicate.
            alerts.raise(alert).await?;
            metrics::counter!("nrt_watchdog_alerts_total", "kind" => kind.clone()).increment(1);
            tracing::info!(%kind, %about, "Watchdog alert raised.");
            store::amend(bucket, key, |current| {
                current.map(|watch| mark.apply(watch))
            })
            .await?;
        }
        Some(Verdict::Forget) => {
            // A conflict means an event just changed the record: the next pass judges it anew.
            // Purged, not deleted: the history of a forgotten record is of no use to anyone.
            bucket.purge(key, revision).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
