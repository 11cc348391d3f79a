//! Rules: which processor runs on which products.
//!
//! A rules file is TOML holding one `[[rules]]` table per rule (see `rules.example.toml`):
//!
//! ```toml
//! [[rules]]
//! name = "s2-l1c-footprint"      # required, unique, letters, digits, '-' or '_'
//! processor = "footprint"        # required, a processor of the registry
//! description = "..."            # optional, for people
//! collections = ["SENTINEL-2"]   # optional: the product's collection is one of these
//! product_types = ["S2MSI1C"]    # optional: the product's type is one of these
//!
//! [[rules.where]]                # optional, repeatable: every comparison must hold
//! attribute = "cloudCover"       # a feed attribute of the product
//! op = "le"                      # eq, ne, lt, le, gt or ge
//! value = 80                     # a number, a string or a boolean
//!
//! [rules.parameters]             # optional, copied unchanged into each job request
//! resolution = 20
//! ```
//!
//! A product fires a rule when it satisfies every condition of the rule; a condition left out
//! accepts anything, so a rule with none fires for every product. Each rule a product fires gives
//! one job request. Conditions are checked in the order above, and the first that fails is the
//! reason given by [`explain`](crate::explain).
//!
//! Comparisons with feed attributes:
//! - a product without the attribute does not match, whatever the op (`ne` included);
//! - numbers compare as numbers whatever their JSON form: `95.1 le 80` is false, `45 eq 45.0`
//!   is true;
//! - strings compare exactly and case-sensitively, with `eq` and `ne` only: ordering strings
//!   (`"10" lt "9"`) surprises more than it helps, so the file is refused at load;
//! - booleans take `eq` and `ne` only;
//! - an attribute of another type than the value (a string where the rule has a number, a
//!   null) does not match, and the verdict says so.
//!
//! Everything is checked at load, and each error names the rule and the field: unknown fields,
//! duplicate names, unknown ops, an ordering op with a string or boolean, values that are not a
//! number, string or boolean, a processor missing from the registry, a file without rules.

mod file;
mod matching;

use std::{collections::BTreeMap, fmt, path::Path};

use nrt_events::ProductDiscovered;
use nrt_registry::ProcessorRegistry;
use serde::Deserialize;

pub use matching::Mismatch;

use crate::Error;

/// The validated rules of one rules file, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// Reads and validates a rules file; every processor named must be in `registry`.
    pub fn load(path: &Path, registry: &ProcessorRegistry) -> Result<Self, Error> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadRules {
            file: file.clone(),
            source,
        })?;
        file::parse(&text, &file, registry)
    }

    /// Validates rules given as TOML text, as [`Rules::load`] does a file.
    pub fn parse(text: &str, registry: &ProcessorRegistry) -> Result<Self, Error> {
        file::parse(text, "<inline>", registry)
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

/// One rule: run `processor` on every product satisfying all `conditions`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub processor: String,
    pub description: Option<String>,
    /// All must hold; the first that fails is the reason the rule did not fire.
    pub conditions: Vec<Condition>,
    /// Copied into every job request of this rule.
    pub parameters: BTreeMap<String, serde_json::Value>,
}

impl Rule {
    /// `Ok` when `product` fires this rule, else the first condition it fails.
    pub fn check(&self, product: &ProductDiscovered) -> Result<(), Mismatch> {
        self.conditions
            .iter()
            .try_for_each(|condition| condition.check(product))
    }
}

/// One thing a product must satisfy. Areas of interest and sensing-time windows join this enum.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The product's collection is one of these.
    Collection { any_of: Vec<String> },
    /// The product's type is one of these.
    ProductType { any_of: Vec<String> },
    /// A feed attribute compares with a value.
    Attribute(Comparison),
}

/// `attribute op value`, e.g. `cloudCover le 80`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub attribute: String,
    pub op: Op,
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
}

impl Op {
    /// Whether the op orders its operands, which only numbers support.
    pub fn is_ordering(self) -> bool {
        !matches!(self, Self::Eq | Self::Ne)
    }

    fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Self::Eq => ordering == Equal,
            Self::Ne => ordering != Equal,
            Self::Lt => ordering == Less,
            Self::Le => ordering != Greater,
            Self::Gt => ordering == Greater,
            Self::Ge => ordering != Less,
        }
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
}

impl Operand {
    /// With its type, for messages: `the string "ASCENDING"`.
    fn described(&self) -> String {
        let kind = match self {
            Self::Number(_) => "number",
            Self::Text(_) => "string",
            Self::Bool(_) => "boolean",
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
        }
    }
}
