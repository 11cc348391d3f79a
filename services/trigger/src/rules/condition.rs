//! The conditions a product must satisfy to fire a rule, as read from the rules file.

use std::fmt;

use serde::Deserialize;

/// One thing a product must satisfy.
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

    pub(super) fn holds(self, ordering: std::cmp::Ordering) -> bool {
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
    pub(super) fn described(&self) -> String {
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
