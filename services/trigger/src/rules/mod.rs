//! Rules: which processor runs on which products, alone or gathered with others.
//!
//! A rules file is TOML holding one `[[rules]]` table per rule; `rules.example.toml` documents
//! every field. A product fires a rule when it satisfies every condition of the rule (a condition
//! left out accepts anything). What a firing makes depends on the rule's kind:
//! - a plain rule requests one job per product;
//! - a `[rules.join]` rule gathers products under a key built from their fields until the join is
//!   complete (every named input present, or a number of products), then requests one job with
//!   all of them; on its timeout it requests the partial job or raises an alert, as the rule says;
//! - a `[rules.periodic]` rule gathers the products sensed in a calendar period (a day, a dekad,
//!   a month, ...) and requests one job once the period has closed and its grace delay passed.
//!
//! Everything is checked at load, and each error names the rule and the field (see
//! [`Error::InvalidRule`]); a file with any error is refused whole.

mod area;
mod condition;
mod file;
mod gathering;
mod geometry;
mod matching;
mod sensing;
pub(crate) mod template;
mod tiles;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use chrono::{DateTime, Utc};
use nrt_events::ProductDiscovered;
use nrt_registry::ProcessorRegistry;

pub use condition::{
    AreaOfInterest, Comparison, Condition, HourClock, Op, Operand, Pattern, SensingHours,
};
pub use gathering::{
    Completion, Gathering, GatheringKind, NamedInput, OnTimeout, Period, PeriodSpan,
};
pub use matching::Mismatch;
pub use template::{RenderError, Template};
pub use tiles::Tiles;

use crate::Error;

/// The validated rules of one rules file, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// Reads and validates a rules file; every processor named must be in `registry`, and area
    /// files are read relative to the rules file's directory.
    pub fn load(path: &Path, registry: &ProcessorRegistry) -> Result<Self, Error> {
        let text = read_text(path)?;
        file::parse(
            &text,
            &path.display().to_string(),
            &base_dir(path),
            registry,
        )
    }

    /// Validates rules given as TOML text; area files are read relative to `base_dir`.
    pub fn parse_in(
        text: &str,
        origin: &str,
        base_dir: &Path,
        registry: &ProcessorRegistry,
    ) -> Result<Self, Error> {
        file::parse(text, origin, base_dir, registry)
    }

    /// Validates rules given as TOML text, as [`Rules::load`] does a file; area files are read
    /// relative to the working directory.
    pub fn parse(text: &str, registry: &ProcessorRegistry) -> Result<Self, Error> {
        file::parse(text, "<inline>", &PathBuf::new(), registry)
    }

    /// The rules in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    /// The rule named `name`.
    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|rule| rule.name == name)
    }
}

/// The rules a trigger runs, with the registry they were checked against and where they came
/// from; replaced whole when a new, valid rules file arrives.
#[derive(Debug, Clone)]
pub struct ActiveRules {
    pub rules: Rules,
    pub registry: ProcessorRegistry,
    /// The file path, or the key-value revision, for logs and `rules` alerts.
    pub origin: String,
}

/// The text of the rules file at `path`; an error names the file.
pub fn read_text(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::ReadRules {
        file: path.display().to_string(),
        source,
    })
}

/// The directory the area and tile files named by the rules file at `path` are read from.
pub fn base_dir(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// One rule: run `processor` on the products satisfying all `conditions`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub processor: String,
    pub description: Option<String>,
    /// All must hold; the first that fails is the reason the rule did not fire.
    pub conditions: Vec<Condition>,
    /// Given to every job of this rule; templates are filled from the job's first input.
    pub parameters: BTreeMap<String, Parameter>,
    /// Higher runs first when jobs wait for a slot.
    pub priority: i32,
    /// How long after the latest input's publication in its feed the outputs are due.
    pub deadline: Option<Duration>,
    /// `None`: one job per product.
    pub gathering: Option<Gathering>,
}

impl Rule {
    /// `Ok` when `product` satisfies this rule's conditions at `now`, else the first it fails.
    /// A gathering rule's product must also fit one of its inputs: see [`Rule::input_of`].
    pub fn check(&self, product: &ProductDiscovered, now: DateTime<Utc>) -> Result<(), Mismatch> {
        self.conditions
            .iter()
            .try_for_each(|condition| condition.check(product, now))
    }
}

/// A job parameter as the rule gives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Parameter {
    /// Any JSON value, given unchanged.
    Fixed(serde_json::Value),
    /// A string naming product fields, filled in per job.
    Template(Template),
}
