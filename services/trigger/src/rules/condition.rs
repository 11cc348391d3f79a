//! The conditions a product must satisfy to fire a rule, as read from the rules file.

use std::{fmt, time::Duration};

use geo::MultiPolygon;
use regex::Regex;
use serde::Deserialize;

/// One thing a product must satisfy.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The product's collection is one of these.
    Collection { any_of: Vec<String> },
    /// The product's type is one of these.
    ProductType { any_of: Vec<String> },
    /// The product's platform (`SENTINEL-2A`) is one of these.
    Platform { any_of: Vec<String> },
    /// A feed attribute compares with a value.
    Attribute(Comparison),
    /// The product's sensing ended at most this long before the evaluation: late products that
    /// are no use any more do not fire.
    MaxAge(Duration),
    /// The middle of the product's sensing falls within hours of the day.
    SensingHours(SensingHours),
    /// The product's footprint overlaps an area.
    Area(AreaOfInterest),
}

/// `attribute op value`, e.g. `cloudCover le 80`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub attribute: String,
    pub op: Op,
    /// A number, string or boolean; a [`Operand::List`] for `in`, a [`Operand::Pattern`] for
    /// `matches`: the file is refused otherwise.
    pub value: Operand,
}

/// How an attribute compares with the value, written in lower case in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// Equals one of a list.
    In,
    /// A string attribute matches a regular expression, whole.
    Matches,
}

impl Op {
    /// Whether the op orders its operands, which only numbers support.
    pub fn is_ordering(self) -> bool {
        matches!(self, Self::Lt | Self::Le | Self::Gt | Self::Ge)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Lt => "lt",
            Self::Le => "le",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::In => "in",
            Self::Matches => "matches",
        })
    }
}

/// The value side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// Always finite: the file is refused otherwise.
    Number(f64),
    Text(String),
    Bool(bool),
    /// For `in`: numbers only or strings only, never empty. A slice, not a `Vec`, to keep an
    /// operand as small as a string.
    List(Box<[Operand]>),
    /// For `matches`.
    Pattern(Pattern),
}

impl Operand {
    /// With its type, for messages: `the string "ASCENDING"`.
    pub(super) fn described(&self) -> String {
        let kind = match self {
            Self::Number(_) => "number",
            Self::Text(_) => "string",
            Self::Bool(_) => "boolean",
            Self::List(items) if matches!(items.first(), Some(Self::Number(_))) => "numbers",
            Self::List(_) => "strings",
            Self::Pattern(_) => "pattern",
        };
        format!("the {kind} {self}")
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(number) => write!(f, "{number}"),
            Self::Text(text) => write!(f, "{}", serde_json::Value::from(text.as_str())),
            Self::Bool(flag) => write!(f, "{flag}"),
            Self::List(items) => {
                let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", items.join(", "))
            }
            Self::Pattern(pattern) => write!(f, "{pattern}"),
        }
    }
}

/// A regular expression that must match a whole string, not a part of it.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// `^(?:source)$`. Boxed, and the source not kept apart, to keep [`super::Mismatch`] small.
    anchored: Box<Regex>,
}

impl Pattern {
    const PREFIX: &str = "^(?:";
    const SUFFIX: &str = ")$";

    pub fn new(source: &str) -> Result<Self, regex::Error> {
        Ok(Self {
            anchored: Box::new(Regex::new(&format!(
                "{}{source}{}",
                Self::PREFIX,
                Self::SUFFIX
            ))?),
        })
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.anchored.is_match(text)
    }

    /// The pattern as the rule wrote it.
    pub fn source(&self) -> &str {
        let anchored = self.anchored.as_str();
        &anchored[Self::PREFIX.len()..anchored.len() - Self::SUFFIX.len()]
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.anchored.as_str() == other.anchored.as_str()
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", serde_json::Value::from(self.source()))
    }
}

/// Hours of the day on a clock, from `start` (included) to `end` (excluded); the window wraps
/// midnight when `start` is after `end` (`[22, 4]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SensingHours {
    pub clock: HourClock,
    /// 0 to 24, fractions allowed.
    pub start: f64,
    pub end: f64,
}

/// The clock a [`SensingHours`] window reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HourClock {
    Utc,
    /// Local mean solar time at the footprint's centroid: UTC + longitude / 15 hours, so that
    /// `[6, 18]` means daytime anywhere.
    LocalSolar,
}

/// Where on Earth a product's footprint must fall, and by how much.
#[derive(Debug, Clone, PartialEq)]
pub struct AreaOfInterest {
    /// The file as the rule names it, or `inline`, for messages.
    pub name: String,
    /// The fraction of the footprint's area that must lie inside, above 0 and at most 1;
    /// `None`: any overlap.
    pub min_overlap: Option<f64>,
    /// The area within longitudes -180 to 180, and again shifted by +360 so that a footprint
    /// drawn across the antimeridian (into 180 to 360) meets it too.
    pub(super) polygons: MultiPolygon,
}
