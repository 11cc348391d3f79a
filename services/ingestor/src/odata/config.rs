//! The keys of a `kind = "cdse-odata"` feed: where the catalogue is, which products to take, and
//! the account to log in with when one is configured.

use std::collections::BTreeMap;

use nrt_runtime::{Secret, config::ConfigError};
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use crate::{
    auth::Credentials,
    config::{check_http_base, raw::Keys},
};

/// The largest `$top` CDSE accepts.
pub const MAX_PAGE_SIZE: usize = 1000;

/// CDSE's token endpoint (Keycloak, realm CDSE).
pub const CDSE_TOKEN_URL: &str =
    "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token";
/// The public client CDSE documents for password logins.
pub const CDSE_CLIENT_ID: &str = "cdse-public";

/// What to ask a CDSE OData catalogue for.
#[derive(Debug, Clone, PartialEq)]
pub struct OdataSource {
    /// The OData base, e.g. `https://catalogue.dataspace.copernicus.eu/odata/v1`.
    pub url: Url,
    /// `Collection/Name` filter, e.g. `SENTINEL-2`; also the collection of products whose
    /// entity lacks `platformShortName`.
    pub collection: Option<String>,
    /// `productType` attribute filter, e.g. `S2MSI1C`.
    pub product_type: Option<String>,
    /// Other attributes the products must have (`[feeds.attributes]`), e.g.
    /// `orbitDirection = "DESCENDING"` or `cloudCover = { le = 30.0 }`.
    pub attributes: BTreeMap<String, AttributeFilter>,
    /// Area of interest as WKT in WGS 84 (`area`): products whose footprint intersects it.
    pub area: Option<String>,
    /// `$top`, 1 to 1000.
    pub page_size: usize,
    /// Also poll `/DeletedProducts`, turning each deletion into a `product-retracted` event.
    pub deletions: bool,
    /// Log in for a bearer token; the public catalogue needs none, subscriptions do.
    pub credentials: Option<Credentials>,
}

/// One attribute condition: the comparison, and a value whose type picks the OData attribute
/// type (a string: `StringAttribute`; an integer: `IntegerAttribute`; a number with a decimal
/// point: `DoubleAttribute`).
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeFilter {
    pub operator: Comparison,
    pub value: AttributeValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Comparison {
    pub fn odata(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Lt => "lt",
            Self::Le => "le",
            Self::Gt => "gt",
            Self::Ge => "ge",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    String(String),
    Integer(i64),
    Double(f64),
}

impl OdataSource {
    /// Every product of the catalogue at `url`, 100 per page, anonymously.
    pub fn new(url: Url) -> Self {
        Self {
            url,
            collection: None,
            product_type: None,
            attributes: BTreeMap::new(),
            area: None,
            page_size: 100,
            deletions: false,
            credentials: None,
        }
    }

    pub(crate) fn parse(keys: Map<String, Value>, at: &Keys) -> Result<Self, ConfigError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            url: Option<String>,
            collection: Option<String>,
            product_type: Option<String>,
            #[serde(default)]
            attributes: BTreeMap<String, Value>,
            area: Option<String>,
            page_size: Option<i64>,
            deletions: Option<bool>,
            username: Option<String>,
            password: Option<Secret>,
            token_url: Option<String>,
            client_id: Option<String>,
        }
        let raw: Raw = at.kind_keys(keys, "cdse-odata")?;
        let url = at.url(&at.required(raw.url, "url")?, "url")?;
        let mut source = Self::new(url);
        source.collection = raw.collection;
        source.product_type = raw.product_type;
        source.area = raw.area;
        source.page_size = at.count(raw.page_size, "page_size", source.page_size)?;
        source.deletions = raw.deletions.unwrap_or(false);
        source.attributes = raw
            .attributes
            .into_iter()
            .map(|(name, value)| {
                let filter = attribute_filter(&value).map_err(|problem| {
                    ConfigError::invalid(at.key(&format!("attributes.{name}")), problem)
                })?;
                Ok((name, filter))
            })
            .collect::<Result<_, ConfigError>>()?;
        source.credentials = credentials(
            at,
            ["username", "password"],
            (raw.username, raw.password),
            raw.token_url,
            raw.client_id,
        )?;
        Ok(source)
    }

    pub(crate) fn validate(&self, key: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
        check_http_base(&self.url, key("url"), "OData base")?;
        for (field, value) in [
            ("collection", &self.collection),
            ("product_type", &self.product_type),
            ("area", &self.area),
        ] {
            if value
                .as_deref()
                .is_some_and(|value| value.trim().is_empty())
            {
                return Err(ConfigError::invalid(
                    key(field),
                    "must not be empty; leave it out to take every value",
                ));
            }
        }
        if let Some(area) = &self.area {
            check_wkt(area).map_err(|problem| ConfigError::invalid(key("area"), problem))?;
        }
        for name in self.attributes.keys() {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ConfigError::invalid(
                    key(&format!("attributes.{name}")),
                    "an attribute name is letters, digits and `_`",
                ));
            }
        }
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(ConfigError::invalid(
                key("page_size"),
                format!("{} is not from 1 to {MAX_PAGE_SIZE}", self.page_size),
            ));
        }
        if let Some(credentials) = &self.credentials {
            check_http_base(&credentials.token_url, key("token_url"), "token endpoint")?;
            if credentials.username.is_empty() {
                return Err(ConfigError::invalid(key("username"), "must not be empty"));
            }
        }
        Ok(())
    }
}

/// A CDSE account from a kind's keys: none, or both its username and password keys (named by
/// the kind: `username` and `password` on a catalogue feed), with CDSE's token endpoint and
/// client unless overridden. Every kind that logs in to CDSE reads its account here.
pub(crate) fn credentials(
    at: &Keys,
    [username_key, password_key]: [&str; 2],
    account: (Option<String>, Option<Secret>),
    token_url: Option<String>,
    client_id: Option<String>,
) -> Result<Option<Credentials>, ConfigError> {
    match account {
        (None, None) => Ok(None),
        (Some(username), Some(_)) if username.is_empty() => Err(ConfigError::invalid(
            at.key(username_key),
            "must not be empty",
        )),
        (Some(username), Some(password)) => Ok(Some(Credentials {
            token_url: at.url(token_url.as_deref().unwrap_or(CDSE_TOKEN_URL), "token_url")?,
            client_id: client_id.unwrap_or_else(|| CDSE_CLIENT_ID.to_owned()),
            username,
            password,
        })),
        (Some(_), None) => Err(ConfigError::invalid(
            at.key(password_key),
            format!("is required with {username_key}"),
        )),
        (None, Some(_)) => Err(ConfigError::invalid(
            at.key(username_key),
            format!("is required with {password_key}"),
        )),
    }
}

/// `"DESCENDING"`, `15`, `30.5`, or `{ le = 30.0 }` with one of eq, lt, le, gt, ge.
fn attribute_filter(value: &Value) -> Result<AttributeFilter, String> {
    let (operator, value) = match value {
        Value::Object(map) if map.len() == 1 => {
            let (operator, value) = map.iter().next().expect("one entry");
            let operator = match operator.as_str() {
                "eq" => Comparison::Eq,
                "lt" => Comparison::Lt,
                "le" => Comparison::Le,
                "gt" => Comparison::Gt,
                "ge" => Comparison::Ge,
                other => return Err(format!("{other:?} is not one of eq, lt, le, gt, ge")),
            };
            (operator, value)
        }
        Value::Object(_) => return Err("takes exactly one comparison, e.g. { le = 30.0 }".into()),
        value => (Comparison::Eq, value),
    };
    let value = match value {
        Value::String(text) => AttributeValue::String(text.clone()),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => AttributeValue::Integer(integer),
            None => AttributeValue::Double(number.as_f64().ok_or("is not a finite number")?),
        },
        other => return Err(format!("{other} is not a string or a number")),
    };
    if matches!(value, AttributeValue::String(_)) && operator != Comparison::Eq {
        return Err("strings can only be compared with eq".into());
    }
    Ok(AttributeFilter { operator, value })
}

/// A light check of WKT, enough to catch a coordinate pair pasted where a polygon belongs: a
/// geometry keyword and balanced parentheses of plain numbers. CDSE itself parses it fully.
fn check_wkt(area: &str) -> Result<(), String> {
    const KEYWORDS: [&str; 4] = ["POLYGON", "MULTIPOLYGON", "POINT", "LINESTRING"];
    let area = area.trim();
    let Some(open) = area.find('(') else {
        return Err(format!(
            "{area:?} is not WKT: no coordinates in parentheses"
        ));
    };
    let keyword = area[..open].trim().to_ascii_uppercase();
    if !KEYWORDS.contains(&keyword.as_str()) {
        return Err(format!("{keyword:?} is not one of {}", KEYWORDS.join(", ")));
    }
    let mut depth = 0i32;
    for c in area[open..].chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            c if c.is_ascii_digit() || " .,-+eE\t\n".contains(c) => {}
            other => return Err(format!("{other:?} does not belong in WKT coordinates")),
        }
        if depth < 0 {
            return Err("has a `)` without its `(`".into());
        }
    }
    if depth != 0 {
        return Err("has unbalanced parentheses".into());
    }
    Ok(())
}
