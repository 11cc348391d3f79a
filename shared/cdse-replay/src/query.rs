//! The subset of OData query options on `/Products` the replay understands. Anything else is
//! refused with the offending clause or option named, as CDSE answers a query it cannot run.

use chrono::{DateTime, Utc};

/// Products per page when `$top` is absent, as on CDSE.
pub const DEFAULT_TOP: usize = 20;
/// The largest `$top` CDSE accepts.
pub const MAX_TOP: usize = 1000;

const PRODUCT_TYPE_PREFIX: &str = "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and att/OData.CSC.StringAttribute/Value eq ";
const COLLECTION_PREFIX: &str = "Collection/Name eq ";

/// The entity sets the replay serves, each ordered and filtered by its own date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntitySet {
    /// `/Products`, by `PublicationDate`.
    Products,
    /// `/DeletedProducts`, by `DeletionDate`.
    DeletedProducts,
}

impl EntitySet {
    pub fn name(self) -> &'static str {
        match self {
            Self::Products => "Products",
            Self::DeletedProducts => "DeletedProducts",
        }
    }

    pub fn date_field(self) -> &'static str {
        match self {
            Self::Products => "PublicationDate",
            Self::DeletedProducts => "DeletionDate",
        }
    }
}

/// A parsed `GET /Products` (or `/DeletedProducts`) query.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductQuery {
    /// `$filter` clauses, all of which a product must satisfy.
    pub clauses: Vec<Clause>,
    pub top: usize,
    pub skip: usize,
    /// `$count=true`: the answer carries `@odata.count`.
    pub count: bool,
    /// `$expand` values in request order (entities are served whole either way).
    pub expand: Vec<String>,
}

/// One `and`-joined clause of `$filter`.
#[derive(Debug, Clone, PartialEq)]
pub enum Clause {
    /// `PublicationDate <op> <time>` (`DeletionDate` on `/DeletedProducts`).
    Published(Comparison, DateTime<Utc>),
    /// `Collection/Name eq '<name>'`, matched against the `platformShortName` attribute.
    Collection(String),
    /// The `productType` string-attribute `any(...)` clause.
    ProductType(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Gt,
    Ge,
    Lt,
    Le,
}

impl Comparison {
    fn parse(operator: &str) -> Option<Self> {
        match operator {
            "gt" => Some(Self::Gt),
            "ge" => Some(Self::Ge),
            "lt" => Some(Self::Lt),
            "le" => Some(Self::Le),
            _ => None,
        }
    }

    /// Whether `value <op> bound` holds.
    pub fn holds(self, value: DateTime<Utc>, bound: DateTime<Utc>) -> bool {
        match self {
            Self::Gt => value > bound,
            Self::Ge => value >= bound,
            Self::Lt => value < bound,
            Self::Le => value <= bound,
        }
    }
}

/// Why a query was refused; the message names what was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("unsupported $filter clause `{0}`")]
    Clause(String),
    #[error("$filter `{0}` has unbalanced parentheses or quotes")]
    Unbalanced(String),
    #[error("unsupported $orderby `{0}`: only `{1} asc` is served")]
    OrderBy(String, &'static str),
    #[error("$top must be an integer from 0 to {MAX_TOP}, not `{0}`")]
    Top(String),
    #[error("$skip must be a non-negative integer, not `{0}`")]
    Skip(String),
    #[error("$count must be true or false, not `{0}`")]
    Count(String),
    #[error("unsupported $expand `{0}`: Attributes, Assets and Locations are served")]
    Expand(String),
    #[error("unsupported query option `{0}`")]
    Option(String),
}

impl Clause {
    fn parse(clause: &str, set: EntitySet) -> Result<Self, QueryError> {
        let refused = || QueryError::Clause(clause.to_owned());
        if let Some(rest) = clause
            .strip_prefix(set.date_field())
            .and_then(|rest| rest.strip_prefix(' '))
        {
            let (operator, value) = rest.split_once(' ').ok_or_else(refused)?;
            let comparison = Comparison::parse(operator).ok_or_else(refused)?;
            return Ok(Self::Published(
                comparison,
                parse_utc(value).ok_or_else(refused)?,
            ));
        }
        if let Some(rest) = clause.strip_prefix(COLLECTION_PREFIX) {
            return Ok(Self::Collection(string_literal(rest).ok_or_else(refused)?));
        }
        if let Some(rest) = clause
            .strip_prefix(PRODUCT_TYPE_PREFIX)
            .and_then(|rest| rest.strip_suffix(')'))
        {
            return Ok(Self::ProductType(string_literal(rest).ok_or_else(refused)?));
        }
        Err(refused())
    }
}

/// Parses the raw (percent-encoded) query string of a `/Products` request.
pub fn parse(raw_query: &str) -> Result<ProductQuery, QueryError> {
    parse_for(raw_query, EntitySet::Products)
}

/// Parses the raw query string of a request on `set`.
pub fn parse_for(raw_query: &str, set: EntitySet) -> Result<ProductQuery, QueryError> {
    let mut query = ProductQuery {
        clauses: Vec::new(),
        top: DEFAULT_TOP,
        skip: 0,
        count: false,
        expand: Vec::new(),
    };
    for (name, value) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        let value = value.trim();
        match name.as_ref() {
            "$filter" => {
                for clause in split_and(value)? {
                    query.clauses.push(Clause::parse(&clause, set)?);
                }
            }
            "$orderby" => {
                let order = normalise_spaces(value);
                let date = set.date_field();
                if order != format!("{date} asc") && order != date {
                    return Err(QueryError::OrderBy(value.to_owned(), date));
                }
            }
            "$top" => {
                query.top = value
                    .parse()
                    .ok()
                    .filter(|top| *top <= MAX_TOP)
                    .ok_or_else(|| QueryError::Top(value.to_owned()))?;
            }
            "$skip" => {
                query.skip = value
                    .parse()
                    .map_err(|_| QueryError::Skip(value.to_owned()))?;
            }
            "$count" => {
                query.count = value
                    .parse()
                    .map_err(|_| QueryError::Count(value.to_owned()))?;
            }
            "$expand" => {
                for expanded in value.split(',').map(str::trim) {
                    if !matches!(expanded, "Attributes" | "Assets" | "Locations") {
                        return Err(QueryError::Expand(expanded.to_owned()));
                    }
                    query.expand.push(expanded.to_owned());
                }
            }
            option if option.starts_with('$') => {
                return Err(QueryError::Option(option.to_owned()));
            }
            // Non-OData parameters (cache busters, tracing) are ignored, as on CDSE.
            _ => {}
        }
    }
    Ok(query)
}

/// Splits a filter on the `and`s outside parentheses and string literals; whitespace outside
/// literals is collapsed and a clause wrapped whole in parentheses is unwrapped.
fn split_and(filter: &str) -> Result<Vec<String>, QueryError> {
    let unbalanced = || QueryError::Unbalanced(filter.to_owned());
    let normalised = normalise_spaces(filter);
    let mut clauses = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let mut in_literal = false;
    let mut rest = normalised.as_str();
    while let Some(c) = rest.chars().next() {
        if !in_literal
            && depth == 0
            && let Some(after) = rest.strip_prefix(" and ")
        {
            clauses.push(unwrap_parentheses(current.trim()).to_owned());
            current.clear();
            rest = after;
            continue;
        }
        match c {
            // A doubled quote inside a literal toggles twice: the literal continues.
            '\'' => in_literal = !in_literal,
            '(' if !in_literal => depth += 1,
            ')' if !in_literal => depth = depth.checked_sub(1).ok_or_else(unbalanced)?,
            _ => {}
        }
        current.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if in_literal || depth != 0 {
        return Err(unbalanced());
    }
    if !current.trim().is_empty() {
        clauses.push(unwrap_parentheses(current.trim()).to_owned());
    }
    Ok(clauses)
}

/// `(a eq b)` → `a eq b`, but `(a) and (b)`-shaped text is left alone.
fn unwrap_parentheses(clause: &str) -> &str {
    let Some(inner) = clause
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
    else {
        return clause;
    };
    let mut depth = 0i32;
    for c in inner.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return clause;
        }
    }
    unwrap_parentheses(inner.trim())
}

/// Collapses runs of whitespace outside string literals into one space.
fn normalise_spaces(text: &str) -> String {
    let mut normalised = String::with_capacity(text.len());
    let mut in_literal = false;
    let mut after_space = false;
    for c in text.trim().chars() {
        if c == '\'' {
            in_literal = !in_literal;
        }
        if c.is_whitespace() && !in_literal {
            if !after_space {
                normalised.push(' ');
            }
            after_space = true;
        } else {
            normalised.push(c);
            after_space = false;
        }
    }
    normalised
}

/// `'it''s'` → `it's`; anything else is not a literal.
fn string_literal(text: &str) -> Option<String> {
    let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut value = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        // A lone quote would end the literal early: `'a' or 'b'`.
        if c == '\'' && chars.next() != Some('\'') {
            return None;
        }
        value.push(c);
    }
    Some(value)
}

/// An ISO 8601 UTC time as CDSE takes it: `2023-08-23T09:26:23.105Z`.
fn parse_utc(text: &str) -> Option<DateTime<Utc>> {
    text.ends_with('Z')
        .then(|| DateTime::parse_from_rfc3339(text).ok())
        .flatten()
        .map(|time| time.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn encoded(pairs: &[(&str, &str)]) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    }

    fn filter(text: &str) -> Result<Vec<Clause>, QueryError> {
        parse(&encoded(&[("$filter", text)])).map(|query| query.clauses)
    }

    #[test]
    fn publication_date_comparisons_parse_with_their_operator() {
        for (operator, comparison) in [
            ("gt", Comparison::Gt),
            ("ge", Comparison::Ge),
            ("lt", Comparison::Lt),
            ("le", Comparison::Le),
        ] {
            assert_eq!(
                filter(&format!(
                    "PublicationDate {operator} 2023-08-23T09:26:23.105134Z"
                )),
                Ok(vec![Clause::Published(
                    comparison,
                    utc("2023-08-23T09:26:23.105134Z")
                )])
            );
        }
    }

    #[test]
    fn collection_and_product_type_clauses_join_the_publication_clause() {
        let clauses = filter(
            "PublicationDate ge 2020-01-01T00:00:00.000Z and Collection/Name eq 'SENTINEL-2' and \
             Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and \
             att/OData.CSC.StringAttribute/Value eq 'S2MSI1C')",
        );
        assert_eq!(
            clauses,
            Ok(vec![
                Clause::Published(Comparison::Ge, utc("2020-01-01T00:00:00Z")),
                Clause::Collection("SENTINEL-2".into()),
                Clause::ProductType("S2MSI1C".into()),
            ])
        );
    }

    #[test]
    fn extra_whitespace_and_wrapping_parentheses_are_tolerated() {
        assert_eq!(
            filter(
                "( Collection/Name  eq 'SENTINEL-1' )  and PublicationDate gt 2020-01-01T00:00:00Z"
            ),
            Ok(vec![
                Clause::Collection("SENTINEL-1".into()),
                Clause::Published(Comparison::Gt, utc("2020-01-01T00:00:00Z")),
            ])
        );
    }

    #[test]
    fn doubled_quotes_in_a_literal_are_one_quote() {
        assert_eq!(
            filter("Collection/Name eq 'O''HARE and CO'"),
            Ok(vec![Clause::Collection("O'HARE and CO".into())])
        );
    }

    #[test]
    fn an_unknown_clause_is_refused_by_name() {
        let error = filter(
            "PublicationDate ge 2020-01-01T00:00:00Z and OData.CSC.Intersects(area=geography'SRID=4326;POINT(1 2)')",
        )
        .unwrap_err();
        assert_eq!(
            error,
            QueryError::Clause("OData.CSC.Intersects(area=geography'SRID=4326;POINT(1 2)')".into())
        );
        assert!(error.to_string().contains("OData.CSC.Intersects"));
    }

    #[test]
    fn refusals_name_the_clause() {
        for clause in [
            "PublicationDate eq 2020-01-01T00:00:00Z",
            "PublicationDate ge 2020-01-01T00:00:00+02:00",
            "PublicationDate ge yesterday",
            "ContentDate/Start gt 2020-01-01T00:00:00Z",
            "Collection/Name eq SENTINEL-2",
            "Collection/Name ne 'SENTINEL-2'",
            "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'tileId' and att/OData.CSC.StringAttribute/Value eq '54PXA')",
        ] {
            assert_eq!(
                filter(clause),
                Err(QueryError::Clause(clause.into())),
                "{clause}"
            );
        }
    }

    #[test]
    fn unbalanced_filters_are_refused() {
        for text in [
            "Collection/Name eq 'SENTINEL-2",
            "(Collection/Name eq 'SENTINEL-2'",
            "Collection/Name eq 'SENTINEL-2')",
        ] {
            assert_eq!(
                filter(text),
                Err(QueryError::Unbalanced(text.into())),
                "{text}"
            );
        }
    }

    #[test]
    fn paging_options_have_cdse_defaults() {
        let query = parse("").unwrap();
        assert_eq!(
            (query.top, query.skip, query.count, query.clauses.len()),
            (DEFAULT_TOP, 0, false, 0)
        );
        let query =
            parse("%24top=1000&%24skip=40&%24count=true&%24expand=Attributes&%24expand=Assets")
                .unwrap();
        assert_eq!((query.top, query.skip, query.count), (1000, 40, true));
        assert_eq!(query.expand, ["Attributes", "Assets"]);
    }

    #[test]
    fn paging_options_out_of_range_are_refused() {
        assert_eq!(parse("$top=1001"), Err(QueryError::Top("1001".into())));
        assert_eq!(parse("$top=-1"), Err(QueryError::Top("-1".into())));
        assert_eq!(parse("$skip=ten"), Err(QueryError::Skip("ten".into())));
        assert_eq!(parse("$count=yes"), Err(QueryError::Count("yes".into())));
        assert_eq!(
            parse("$expand=Quicklooks"),
            Err(QueryError::Expand("Quicklooks".into()))
        );
        assert_eq!(
            parse("$format=xml"),
            Err(QueryError::Option("$format".into()))
        );
    }

    #[test]
    fn only_ascending_publication_order_is_served() {
        assert!(parse(&encoded(&[("$orderby", "PublicationDate asc")])).is_ok());
        assert_eq!(
            parse(&encoded(&[("$orderby", "PublicationDate desc")])),
            Err(QueryError::OrderBy(
                "PublicationDate desc".into(),
                "PublicationDate"
            ))
        );
        assert_eq!(
            parse(&encoded(&[("$orderby", "ContentDate/Start asc")])),
            Err(QueryError::OrderBy(
                "ContentDate/Start asc".into(),
                "PublicationDate"
            ))
        );
    }
}
