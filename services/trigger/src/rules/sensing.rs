//! When a product was sensed: how long ago, and at what hour of the day.

use std::{fmt, time::Duration};

use chrono::{DateTime, Timelike, Utc};
use nrt_events::ProductDiscovered;

use super::{HourClock, Mismatch, SensingHours, geometry};

/// `Ok` when the product's sensing ended at most `max_age` before `now`; a product sensed after
/// `now`, by a clock ahead of ours, is not old.
pub(super) fn check_age(
    max_age: Duration,
    product: &ProductDiscovered,
    now: DateTime<Utc>,
) -> Result<(), Mismatch> {
    let age = (now - product.sensing_end).to_std().unwrap_or_default();
    if age <= max_age {
        Ok(())
    } else {
        Err(Mismatch::TooOld {
            sensing_end: product.sensing_end,
            age,
            max_age,
        })
    }
}

impl SensingHours {
    /// The middle of the sensing is what counts: a long product starting just before the
    /// window mostly lies in it.
    pub(super) fn check(&self, product: &ProductDiscovered) -> Result<(), Mismatch> {
        let middle = product.sensing_start + (product.sensing_end - product.sensing_start) / 2;
        let utc = f64::from(middle.num_seconds_from_midnight()) / 3600.0;
        let (hour, longitude) = match self.clock {
            HourClock::Utc => (utc, None),
            HourClock::LocalSolar => {
                let footprint = geometry::footprint(product, || "local solar hours".to_owned())?;
                let longitude = geometry::centroid_longitude(&footprint).ok_or_else(|| {
                    Mismatch::Footprint {
                        reason: "has no centroid".into(),
                    }
                })?;
                ((utc + longitude / 15.0).rem_euclid(24.0), Some(longitude))
            }
        };
        if self.contains(hour) {
            Ok(())
        } else {
            Err(Mismatch::OutsideHours {
                hours: *self,
                hour,
                longitude,
            })
        }
    }

    fn contains(&self, hour: f64) -> bool {
        if self.start <= self.end {
            self.start <= hour && hour < self.end
        } else {
            self.start <= hour || hour < self.end
        }
    }
}

impl fmt::Display for SensingHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to {} {}",
            clock_time(self.start),
            clock_time(self.end),
            self.clock
        )
    }
}

impl fmt::Display for HourClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Utc => "UTC",
            Self::LocalSolar => "local solar time",
        })
    }
}

/// `18.5` as `18:30`.
pub(super) fn clock_time(hour: f64) -> String {
    let minutes = (hour * 60.0).floor() as u32;
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// The two largest units, as rules files write durations: `3h 12m`, `2d 4h`, `45s`.
pub(super) fn short_duration(duration: Duration) -> String {
    const UNITS: [(&str, u64); 4] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let mut rest = duration.as_secs();
    let mut parts = Vec::new();
    for (unit, seconds) in UNITS {
        if rest >= seconds && parts.len() < 2 {
            parts.push(format!("{}{unit}", rest / seconds));
            rest %= seconds;
        } else if !parts.is_empty() {
            // Two adjacent units at most: `2d 30s` would read as precise when it is not.
            break;
        }
    }
    if parts.is_empty() {
        "0s".to_owned()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests;
