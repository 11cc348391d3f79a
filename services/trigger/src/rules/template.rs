//! Text built from a product's fields: join keys (`{attributes.tileId}/{sensing_start:%Y-%m-%d}`)
//! and job parameters (`"{attributes.tileId}"`). Checked at load, so a typo in a field name is
//! an error naming the rule, not a job with a literal `{atributes.tileId}` in it.

use std::{collections::BTreeMap, fmt};

use chrono::{DateTime, Utc, format::StrftimeItems};
use nrt_events::JobInput;

/// A parsed template: literal text and fields, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Field(Field),
}

/// A field a template may name. Times take an optional chrono format: `{sensing_start:%Y-%m}`.
#[derive(Debug, Clone, PartialEq)]
enum Field {
    Key,
    Name,
    Collection,
    ProductType,
    Platform,
    SensingStart(Option<String>),
    SensingEnd(Option<String>),
    PublishedAt(Option<String>),
    Attribute(String),
    /// Known only where the job is made: `join_key`, `period`, `period_start`, `period_end`.
    Extra(String),
}

/// The names a template may use besides the product's fields, by where it is used.
/// `tile` last: only rules with tiles have it.
pub const GATHERING_EXTRAS: [&str; 5] = ["join_key", "period", "period_start", "period_end", TILE];
/// The name of the tile a product is gathered for, in key templates of rules with tiles.
pub const TILE: &str = "tile";

/// Why a template cannot render for one product.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    #[error("the product has no {0}")]
    Missing(String),
    #[error("attribute {attribute} is {found}, which cannot name a group")]
    NotText { attribute: String, found: String },
}

impl Template {
    /// Parses `source`; `extras` are the names besides product fields that may appear.
    pub fn parse(source: &str, extras: &[&str]) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = source.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut inner = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => inner.push(c),
                            None => return Err(format!("{source:?}: `{{{inner}` is never closed")),
                        }
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(parse_field(&inner, extras)?));
                }
                '}' => return Err(format!("{source:?}: a lone `}}` (write `}}}}` for one)")),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self {
            source: source.to_owned(),
            parts,
        })
    }

    /// The text of a template without any field (`{{` read as `{`), `None` when it has one.
    pub fn as_literal(&self) -> Option<String> {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Literal(literal) => Some(literal.as_str()),
                Part::Field(_) => None,
            })
            .collect()
    }

    /// Whether the template names the extra `name`.
    pub fn names(&self, name: &str) -> bool {
        self.parts
            .iter()
            .any(|part| matches!(part, Part::Field(Field::Extra(extra)) if extra == name))
    }

    /// The template with `input`'s fields and `extras` filled in.
    pub fn render(
        &self,
        input: &JobInput,
        extras: &BTreeMap<&str, String>,
    ) -> Result<String, RenderError> {
        let mut text = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(literal) => text.push_str(literal),
                Part::Field(field) => text.push_str(&field.render(input, extras)?),
            }
        }
        Ok(text)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn parse_field(inner: &str, extras: &[&str]) -> Result<Field, String> {
    let (name, format) = match inner.split_once(':') {
        Some((name, format)) => (name.trim(), Some(format.to_owned())),
        None => (inner.trim(), None),
    };
    if let Some(format) = &format {
        let is_valid = !format.is_empty()
            && StrftimeItems::new(format).all(|item| item != chrono::format::Item::Error);
        if !is_valid {
            return Err(format!(
                "{{{inner}}}: {format:?} is not a chrono time format"
            ));
        }
    }
    let field = match name {
        "sensing_start" => return Ok(Field::SensingStart(format)),
        "sensing_end" => return Ok(Field::SensingEnd(format)),
        "published_at" => return Ok(Field::PublishedAt(format)),
        "key" => Field::Key,
        "name" => Field::Name,
        "collection" => Field::Collection,
        "product_type" => Field::ProductType,
        "platform" => Field::Platform,
        extra if extras.contains(&extra) => Field::Extra(extra.to_owned()),
        attribute => match attribute.strip_prefix("attributes.") {
            Some(attribute) if !attribute.is_empty() => Field::Attribute(attribute.to_owned()),
            _ => {
                let mut known = vec![
                    "key",
                    "name",
                    "collection",
                    "product_type",
                    "platform",
                    "sensing_start",
                    "sensing_end",
                    "published_at",
                    "attributes.NAME",
                ];
                known.extend_from_slice(extras);
                return Err(format!(
                    "{{{inner}}} names no field (known: {})",
                    known.join(", ")
                ));
            }
        },
    };
    match format {
        Some(_) => Err(format!("{{{inner}}}: only times take a format")),
        None => Ok(field),
    }
}

impl Field {
    fn render(
        &self,
        input: &JobInput,
        extras: &BTreeMap<&str, String>,
    ) -> Result<String, RenderError> {
        Ok(match self {
            Self::Key => input.key.clone(),
            Self::Name => input.name.clone(),
            Self::Collection => input.collection.clone(),
            Self::ProductType => input.product_type.clone(),
            Self::Platform => input
                .platform
                .clone()
                .ok_or_else(|| RenderError::Missing("platform".into()))?,
            Self::SensingStart(format) => time(input.sensing_start, format.as_deref()),
            Self::SensingEnd(format) => time(input.sensing_end, format.as_deref()),
            Self::PublishedAt(format) => time(input.published_at, format.as_deref()),
            Self::Attribute(attribute) => match input.attributes.get(attribute) {
                None | Some(serde_json::Value::Null) => {
                    return Err(RenderError::Missing(format!("attribute {attribute}")));
                }
                Some(serde_json::Value::String(text)) => text.clone(),
                Some(value @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                    value.to_string()
                }
                Some(other) => {
                    return Err(RenderError::NotText {
                        attribute: attribute.clone(),
                        found: other.to_string(),
                    });
                }
            },
            Self::Extra(name) => extras
                .get(name.as_str())
                .cloned()
                .ok_or_else(|| RenderError::Missing(name.clone()))?,
        })
    }
}

fn time(at: DateTime<Utc>, format: Option<&str>) -> String {
    match format {
        Some(format) => at.format(format).to_string(),
        None => at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::golden::{S1_GRD_ASCENDING, S2_L1C_54PXA, product};

    fn render(source: &str, stem: &str) -> Result<String, RenderError> {
        let template = Template::parse(source, &GATHERING_EXTRAS).unwrap();
        template.render(&JobInput::from(&product(stem)), &BTreeMap::new())
    }

    #[test]
    fn fields_attributes_and_formatted_times_fill_in() {
        assert_eq!(
            render("{attributes.tileId}/{sensing_start:%Y-%m-%d}", S2_L1C_54PXA).unwrap(),
            "54PXA/2020-08-08"
        );
        assert_eq!(
            render(
                "{collection}:{attributes.relativeOrbitNumber}",
                S1_GRD_ASCENDING
            )
            .unwrap(),
            "SENTINEL-1:20"
        );
        assert_eq!(render("{{literal}}", S2_L1C_54PXA).unwrap(), "{literal}");
    }

    #[test]
    fn a_missing_attribute_is_named() {
        assert_eq!(
            render("{attributes.tileId}", S1_GRD_ASCENDING).unwrap_err(),
            RenderError::Missing("attribute tileId".into())
        );
    }

    #[test]
    fn extras_fill_in_where_given() {
        let template = Template::parse("{join_key}-{period}", &GATHERING_EXTRAS).unwrap();
        let extras = BTreeMap::from([
            ("join_key", "54PXA".to_owned()),
            ("period", "2020-08".into()),
        ]);
        let input = JobInput::from(&product(S2_L1C_54PXA));
        assert_eq!(template.render(&input, &extras).unwrap(), "54PXA-2020-08");
    }

    #[test]
    fn bad_templates_are_refused_with_the_reason() {
        for (source, reason) in [
            ("{atributes.tileId}", "names no field"),
            ("{tileId", "is never closed"),
            ("a}b", "a lone `}`"),
            ("{name:%Y}", "only times take a format"),
            ("{sensing_start:%Q}", "is not a chrono time format"),
            ("{period}", "names no field"),
        ] {
            let extras: &[&str] = if source == "{period}" {
                &[]
            } else {
                &GATHERING_EXTRAS
            };
            let error = Template::parse(source, extras).unwrap_err();
            assert!(error.contains(reason), "{source}: {error}");
        }
    }
}
