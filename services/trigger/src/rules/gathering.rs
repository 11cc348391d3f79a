//! Rules that gather several products into one job: joins and periodic rules.

use std::time::Duration;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeZone, Utc};
use nrt_events::ProductDiscovered;
use serde::{Deserialize, Serialize};

use super::{Condition, Mismatch, Rule, Template, Tiles};

/// How a rule gathers products: under a key built from their fields, until complete.
#[derive(Debug, Clone, PartialEq)]
pub struct Gathering {
    /// Products whose keys render equal gather together; `None` gathers every product of the
    /// rule (one group per period for a periodic rule).
    pub key: Option<Template>,
    /// When set, a product joins one group per tile its footprint overlaps, `{tile}` in the key.
    pub tiles: Option<Tiles>,
    pub kind: GatheringKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GatheringKind {
    /// Complete when `completion` holds; after `timeout` from the first product, `on_timeout`.
    Join {
        completion: Completion,
        timeout: Duration,
        on_timeout: OnTimeout,
    },
    /// Complete when the period the products were sensed in has closed and `grace` has passed.
    Periodic { period: Period, grace: Duration },
}

/// When a join has all it waits for.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// Every named input has its count of products.
    Inputs(Vec<NamedInput>),
    /// This many products.
    Count(usize),
}

/// One input a join waits for, e.g. `s1` = one Sentinel-1 GRD.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedInput {
    pub name: String,
    /// Checked after the rule's own conditions.
    pub conditions: Vec<Condition>,
    /// Products this input needs; more are not added.
    pub count: usize,
    /// This input's own key template, when its products name the group otherwise (a Sentinel-1
    /// product has no tile id).
    pub key: Option<Template>,
}

/// What a join does when its timeout passes before it is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTimeout {
    /// Request the job with the inputs that came.
    Partial,
    /// Request nothing and raise an alert naming what is missing.
    Alert,
}

/// A calendar period in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    /// Monday to Sunday (ISO 8601 weeks).
    Week,
    /// Days 1–10, 11–20 and 21 to the month's end: the ten-day periods of agro-meteorology.
    Dekad,
    Month,
    Quarter,
    Year,
}

/// One period: `[start, end)` and its label (`2026-01`, `2026-W02`, `2026-01-d3`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodSpan {
    pub label: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Period {
    /// Each period with its name in rules files, shortest first.
    const NAMED: [(Self, &str); 6] = [
        (Self::Day, "day"),
        (Self::Week, "week"),
        (Self::Dekad, "dekad"),
        (Self::Month, "month"),
        (Self::Quarter, "quarter"),
        (Self::Year, "year"),
    ];

    /// The names rules files may give, shortest period first.
    pub fn names() -> impl Iterator<Item = &'static str> {
        Self::NAMED.into_iter().map(|(_, name)| name)
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMED
            .into_iter()
            .find_map(|(period, known)| (known == name).then_some(period))
    }

    /// The period `at` falls in.
    pub fn span(self, at: DateTime<Utc>) -> PeriodSpan {
        let date = at.date_naive();
        let (start, end, label) = match self {
            Self::Day => (
                date,
                date + Days::new(1),
                date.format("%Y-%m-%d").to_string(),
            ),
            Self::Week => {
                let start = date - Days::new(u64::from(date.weekday().num_days_from_monday()));
                let week = date.iso_week();
                let label = format!("{}-W{:02}", week.year(), week.week());
                (start, start + Days::new(7), label)
            }
            Self::Dekad => {
                let first = month_start(date);
                let dekad = ((date.day() - 1) / 10).min(2);
                let start = first + Days::new(u64::from(dekad * 10));
                let end = if dekad == 2 {
                    first + Months::new(1)
                } else {
                    start + Days::new(10)
                };
                let label = format!("{}-d{}", date.format("%Y-%m"), dekad + 1);
                (start, end, label)
            }
            Self::Month => {
                let start = month_start(date);
                (
                    start,
                    start + Months::new(1),
                    date.format("%Y-%m").to_string(),
                )
            }
            Self::Quarter => {
                let quarter = date.month0() / 3;
                let start = NaiveDate::from_ymd_opt(date.year(), quarter * 3 + 1, 1)
                    .expect("the first day of a quarter exists");
                let label = format!("{}-Q{}", date.year(), quarter + 1);
                (start, start + Months::new(3), label)
            }
            Self::Year => {
                let start = NaiveDate::from_ymd_opt(date.year(), 1, 1)
                    .expect("the first of January exists");
                (start, start + Months::new(12), date.year().to_string())
            }
        };
        PeriodSpan {
            label,
            start: midnight(start),
            end: midnight(end),
        }
    }
}

fn month_start(date: NaiveDate) -> NaiveDate {
    date.with_day(1).expect("every month has a first day")
}

fn midnight(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN))
}

impl Rule {
    /// The input of this rule's join `product` fills: `Ok(None)` for rules that do not name
    /// inputs, else the first input whose conditions hold, else why none does.
    pub fn input_of(
        &self,
        product: &ProductDiscovered,
        now: DateTime<Utc>,
    ) -> Result<Option<&NamedInput>, Mismatch> {
        let Some(Gathering {
            kind:
                GatheringKind::Join {
                    completion: Completion::Inputs(inputs),
                    ..
                },
            ..
        }) = &self.gathering
        else {
            return Ok(None);
        };
        let mut reasons = Vec::with_capacity(inputs.len());
        for input in inputs {
            match input
                .conditions
                .iter()
                .try_for_each(|condition| condition.check(product, now))
            {
                Ok(()) => return Ok(Some(input)),
                Err(mismatch) => reasons.push(format!("{}: {mismatch}", input.name)),
            }
        }
        Err(Mismatch::NoInput { reasons })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(period: Period, at: &str) -> (String, String, String) {
        let span = period.span(at.parse().unwrap());
        (span.label, span.start.to_rfc3339(), span.end.to_rfc3339())
    }

    fn expect(label: &str, start: &str, end: &str) -> (String, String, String) {
        (
            label.into(),
            format!("{start}T00:00:00+00:00"),
            format!("{end}T00:00:00+00:00"),
        )
    }

    #[test]
    fn calendar_periods_start_and_end_at_utc_midnight() {
        let at = "2024-02-29T23:59:59Z";
        assert_eq!(
            span(Period::Day, at),
            expect("2024-02-29", "2024-02-29", "2024-03-01")
        );
        assert_eq!(
            span(Period::Week, at),
            expect("2024-W09", "2024-02-26", "2024-03-04")
        );
        assert_eq!(
            span(Period::Dekad, at),
            expect("2024-02-d3", "2024-02-21", "2024-03-01")
        );
        assert_eq!(
            span(Period::Month, at),
            expect("2024-02", "2024-02-01", "2024-03-01")
        );
        assert_eq!(
            span(Period::Quarter, at),
            expect("2024-Q1", "2024-01-01", "2024-04-01")
        );
        assert_eq!(
            span(Period::Year, at),
            expect("2024", "2024-01-01", "2025-01-01")
        );
    }

    #[test]
    fn dekads_split_a_month_at_the_10th_and_20th() {
        assert_eq!(
            span(Period::Dekad, "2026-01-10T12:00:00Z"),
            expect("2026-01-d1", "2026-01-01", "2026-01-11")
        );
        assert_eq!(
            span(Period::Dekad, "2026-01-11T00:00:00Z"),
            expect("2026-01-d2", "2026-01-11", "2026-01-21")
        );
        assert_eq!(
            span(Period::Dekad, "2026-01-31T00:00:00Z"),
            expect("2026-01-d3", "2026-01-21", "2026-02-01")
        );
    }

    #[test]
    fn an_iso_week_may_belong_to_the_previous_year() {
        assert_eq!(
            span(Period::Week, "2027-01-01T08:00:00Z"),
            expect("2026-W53", "2026-12-28", "2027-01-04")
        );
    }
}
