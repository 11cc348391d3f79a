//! A `[rules.sensing]` table: how long ago and at what hours a product was sensed.

use serde::Deserialize;

use super::super::{Invalid, duration, invalid};
use crate::rules::{Condition, HourClock, SensingHours};

/// A `[rules.sensing]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SensingEntry {
    max_age: Option<String>,
    utc_hours: Option<Vec<f64>>,
    local_solar_hours: Option<Vec<f64>>,
}

pub(super) fn read(field: &str, entry: SensingEntry) -> Result<Vec<Condition>, Invalid> {
    let mut conditions = Vec::new();
    if let Some(text) = entry.max_age {
        conditions.push(Condition::MaxAge(duration(
            &format!("{field}.max_age"),
            &text,
        )?));
    }
    let windows = [
        ("utc_hours", HourClock::Utc, entry.utc_hours),
        (
            "local_solar_hours",
            HourClock::LocalSolar,
            entry.local_solar_hours,
        ),
    ];
    for (key, clock, hours) in windows {
        if let Some(hours) = hours {
            let hours = read_hours(&format!("{field}.{key}"), clock, &hours)?;
            conditions.push(Condition::SensingHours(hours));
        }
    }
    if conditions.is_empty() {
        return Err(invalid(
            field,
            "states nothing: write max_age, utc_hours or local_solar_hours, or leave it out",
        ));
    }
    Ok(conditions)
}

fn read_hours(field: &str, clock: HourClock, hours: &[f64]) -> Result<SensingHours, Invalid> {
    let &[start, end] = hours else {
        return Err(invalid(
            field,
            format!(
                "must be [start, end], two hours like [6, 18]; this lists {}",
                hours.len()
            ),
        ));
    };
    if let Some(hour) = [start, end]
        .into_iter()
        .find(|hour| !(0.0..=24.0).contains(hour))
    {
        return Err(invalid(
            field,
            format!("{hour} is not an hour from 0 to 24"),
        ));
    }
    if start == end {
        return Err(invalid(
            field,
            "starts and ends at the same hour: [22, 4] wraps midnight, [0, 24] is the whole day",
        ));
    }
    Ok(SensingHours { clock, start, end })
}
