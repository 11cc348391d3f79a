//! The CDSE OData catalogue as the ingestor reads it: `/Products` published since the cursor,
//! filtered as configured, and, when asked, `/DeletedProducts` as retractions.

mod config;
pub mod deletions;
pub mod mapping;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, value::RawValue};
use url::Url;

pub(crate) use config::credentials;
pub use config::{
    AttributeFilter, AttributeValue, CDSE_CLIENT_ID, CDSE_TOKEN_URL, Comparison, MAX_PAGE_SIZE,
    OdataSource,
};
pub use deletions::OdataDeletions;

use crate::{
    Error,
    config::FeedConfig,
    feed::{Discovery, FeedEntry, FeedPage, PolledFeed},
    http::{HttpClient, HttpRequest},
};

/// The largest `$skip` CDSE serves; deeper pages must be asked for from a newer cursor.
pub const MAX_SKIP: u64 = 10_000;

/// A feed's products, polled from `/Products`.
pub struct OdataFeed {
    pub(crate) feed: String,
    pub(crate) source: OdataSource,
    client: HttpClient,
}

impl OdataFeed {
    pub fn new(feed: &FeedConfig, source: &OdataSource) -> Result<Self, Error> {
        Ok(Self {
            feed: feed.name.clone(),
            source: source.clone(),
            client: HttpClient::new(feed, source.credentials.as_ref())?,
        })
    }
}

impl PolledFeed for OdataFeed {
    type Request = HttpRequest;

    fn first_request(&self, since: DateTime<Utc>) -> HttpRequest {
        HttpRequest::get(products_url(&self.source, since))
    }

    async fn fetch(&self, request: &HttpRequest) -> Result<FeedPage<HttpRequest>, Error> {
        self.client.send(request, parse_page).await
    }

    fn read_entry(&self, entry: &RawValue, position: usize) -> FeedEntry {
        read_entity(entry, "PublicationDate", |entity| {
            mapping::discovered(entity, position, &self.feed, &self.source)
                .map(|product| Discovery::Discovered(Box::new(product)))
        })
    }

    fn restarts_from_cursor(&self, next: &HttpRequest) -> bool {
        is_beyond_skip_limit(&next.url)
    }
}

/// An OData entity's id and time (`time_field`), and what `read` makes of it.
fn read_entity(
    entry: &RawValue,
    time_field: &str,
    read: impl FnOnce(&Value) -> Result<Discovery, crate::feed::EntryError>,
) -> FeedEntry {
    // RawValue is valid JSON; Null only stands in for what serde_json cannot hold.
    let entity: Value = serde_json::from_str(entry.get()).unwrap_or(Value::Null);
    FeedEntry {
        identity: entity.get("Id").and_then(Value::as_str).map(str::to_owned),
        published_at: entity
            .get(time_field)
            .and_then(Value::as_str)
            .and_then(|text| text.parse().ok()),
        outcome: read(&entity),
    }
}

/// `{url}/Products?$filter=PublicationDate ge <since> and <the feed's filters>
/// &$orderby=PublicationDate asc&$top=N&$expand=Attributes`.
///
/// `ge`, not `gt`: products published at exactly the cursor time but not yet seen must come back;
/// the cursor's ids tell which ones were seen.
pub fn products_url(source: &OdataSource, since: DateTime<Utc>) -> Url {
    let mut clauses = vec![format!("PublicationDate ge {}", timestamp(since))];
    clauses.extend(product_filters(source));
    entity_set_url(source, "Products", &clauses, "PublicationDate")
}

/// The clauses that select a feed's products, shared by `/Products` and `/DeletedProducts`.
fn product_filters(source: &OdataSource) -> Vec<String> {
    let mut clauses = Vec::new();
    if let Some(collection) = &source.collection {
        clauses.push(format!("Collection/Name eq {}", literal(collection)));
    }
    if let Some(product_type) = &source.product_type {
        clauses.push(attribute_clause(
            "productType",
            &AttributeFilter {
                operator: Comparison::Eq,
                value: AttributeValue::String(product_type.clone()),
            },
        ));
    }
    for (name, filter) in &source.attributes {
        clauses.push(attribute_clause(name, filter));
    }
    if let Some(area) = &source.area {
        clauses.push(format!(
            "OData.CSC.Intersects(area=geography'SRID=4326;{}')",
            area.trim()
        ));
    }
    clauses
}

/// `Attributes/OData.CSC.<Type>Attribute/any(att:att/Name eq '<name>' and
/// att/OData.CSC.<Type>Attribute/Value <op> <value>)`, as CDSE documents attribute queries.
fn attribute_clause(name: &str, filter: &AttributeFilter) -> String {
    let (kind, value) = match &filter.value {
        AttributeValue::String(text) => ("String", literal(text)),
        AttributeValue::Integer(integer) => ("Integer", integer.to_string()),
        AttributeValue::Double(double) => ("Double", format!("{double:?}")),
    };
    format!(
        "Attributes/OData.CSC.{kind}Attribute/any(att:att/Name eq {} and \
         att/OData.CSC.{kind}Attribute/Value {} {value})",
        literal(name),
        filter.operator.odata()
    )
}

fn entity_set_url(source: &OdataSource, set: &str, clauses: &[String], order_by: &str) -> Url {
    let mut url = base(source);
    url.path_segments_mut()
        .expect("validated: an http(s) URL has path segments")
        .pop_if_empty()
        .push(set);
    url.query_pairs_mut()
        .append_pair("$filter", &clauses.join(" and "))
        .append_pair("$orderby", &format!("{order_by} asc"))
        .append_pair("$top", &source.page_size.to_string())
        .append_pair("$expand", "Attributes");
    url
}

fn base(source: &OdataSource) -> Url {
    let mut url = source.url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url
}

fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Where a product can be downloaded: `{feed url}/Products({Id})/$value`.
pub fn download_href(source: &OdataSource, id: &str) -> String {
    format!(
        "{}/Products({id})/$value",
        base(source).as_str().trim_end_matches('/')
    )
}

/// One product by its id, with its attributes: `{feed url}/Products({Id})?$expand=Attributes`.
pub fn product_url(source: &OdataSource, id: &str) -> Url {
    let mut url = base(source);
    url.path_segments_mut()
        .expect("validated: an http(s) URL has path segments")
        .pop_if_empty()
        .push(&format!("Products({id})"));
    url.query_pairs_mut().append_pair("$expand", "Attributes");
    url
}

/// Whether following `next_link` would ask for more than CDSE's `$skip` limit.
pub fn is_beyond_skip_limit(next_link: &Url) -> bool {
    next_link
        .query_pairs()
        .find(|(name, _)| name == "$skip")
        .and_then(|(_, skip)| skip.parse::<u64>().ok())
        .is_some_and(|skip| skip > MAX_SKIP)
}

/// An OData string literal: quoted, with quotes doubled.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Reads a page body; a relative `@odata.nextLink` is resolved against `url`.
pub fn parse_page(url: &Url, body: &[u8]) -> Result<FeedPage<HttpRequest>, Error> {
    #[derive(Deserialize)]
    struct Body {
        value: Option<Vec<Box<RawValue>>>,
        #[serde(rename = "@odata.nextLink")]
        next_link: Option<String>,
    }
    let body: Body = serde_json::from_slice(body).map_err(|source| Error::Malformed {
        url: url.to_string(),
        expected: "an OData page",
        source,
    })?;
    let entries = body.value.ok_or_else(|| Error::NoValue {
        url: url.to_string(),
    })?;
    let next = body
        .next_link
        .map(|link| {
            url.join(&link)
                .map(HttpRequest::get)
                .map_err(|_| Error::NextLink {
                    url: url.to_string(),
                    link,
                })
        })
        .transpose()?;
    Ok(FeedPage { entries, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> OdataSource {
        OdataSource::new(Url::parse("https://catalogue.dataspace.copernicus.eu/odata/v1").unwrap())
    }

    fn pairs(url: &Url) -> Vec<(String, String)> {
        url.query_pairs().into_owned().collect()
    }

    #[test]
    fn the_query_asks_for_everything_since_the_cursor_in_publication_order() {
        let mut source = source();
        source.page_size = 250;
        let url = products_url(&source, "2026-01-21T23:16:38.5Z".parse().unwrap());
        assert_eq!(
            url.as_str().split('?').next(),
            Some("https://catalogue.dataspace.copernicus.eu/odata/v1/Products")
        );
        assert_eq!(
            pairs(&url),
            [
                (
                    "$filter".into(),
                    "PublicationDate ge 2026-01-21T23:16:38.500000Z".into()
                ),
                ("$orderby".into(), "PublicationDate asc".into()),
                ("$top".into(), "250".into()),
                ("$expand".into(), "Attributes".into()),
            ]
        );
    }

    #[test]
    fn collection_and_product_type_filters_join_the_publication_clause() {
        let mut source = source();
        source.collection = Some("SENTINEL-2".into());
        source.product_type = Some("S2MSI1C".into());
        let url = products_url(&source, "2026-01-01T00:00:00Z".parse().unwrap());
        assert_eq!(
            pairs(&url)[0].1,
            "PublicationDate ge 2026-01-01T00:00:00.000000Z and Collection/Name eq 'SENTINEL-2' \
             and Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and \
             att/OData.CSC.StringAttribute/Value eq 'S2MSI1C')"
        );
    }

    #[test]
    fn attribute_and_area_filters_follow_cdse_attribute_syntax() {
        let mut source = source();
        source.attributes = [
            ("cloudCover", Comparison::Le, AttributeValue::Double(30.0)),
            (
                "orbitDirection",
                Comparison::Eq,
                AttributeValue::String("DESCENDING".into()),
            ),
            (
                "relativeOrbitNumber",
                Comparison::Ge,
                AttributeValue::Integer(15),
            ),
        ]
        .into_iter()
        .map(|(name, operator, value)| (name.to_owned(), AttributeFilter { operator, value }))
        .collect();
        source.area = Some(" POLYGON((10 50, 11 50, 11 51, 10 50)) ".into());
        let url = products_url(&source, "2026-01-01T00:00:00Z".parse().unwrap());
        assert_eq!(
            pairs(&url)[0].1,
            "PublicationDate ge 2026-01-01T00:00:00.000000Z \
             and Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' and \
             att/OData.CSC.DoubleAttribute/Value le 30.0) \
             and Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'orbitDirection' and \
             att/OData.CSC.StringAttribute/Value eq 'DESCENDING') \
             and Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'relativeOrbitNumber' \
             and att/OData.CSC.IntegerAttribute/Value ge 15) \
             and OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((10 50, 11 50, 11 51, 10 50))')"
        );
    }

    #[test]
    fn deletions_are_asked_in_deletion_order_with_the_same_filters() {
        let mut source = source();
        source.collection = Some("SENTINEL-1".into());
        let url = deletions::deleted_products_url(&source, "2026-01-01T00:00:00Z".parse().unwrap());
        assert_eq!(
            url.as_str().split('?').next(),
            Some("https://catalogue.dataspace.copernicus.eu/odata/v1/DeletedProducts")
        );
        assert_eq!(
            pairs(&url)[..2],
            [
                (
                    "$filter".into(),
                    "DeletionDate ge 2026-01-01T00:00:00.000000Z and Collection/Name eq 'SENTINEL-1'"
                        .into()
                ),
                ("$orderby".into(), "DeletionDate asc".into()),
            ]
        );
    }

    #[test]
    fn the_query_is_form_encoded_as_cdse_links_are() {
        let mut source = source();
        source.collection = Some("O'NEIL & CO".into());
        let url = products_url(&source, "2026-01-01T00:00:00Z".parse().unwrap());
        let query = url.query().unwrap();
        assert!(
            query.starts_with(
                "%24filter=PublicationDate+ge+2026-01-01T00%3A00%3A00.000000Z+and+Collection%2FName+eq+%27O%27%27NEIL+%26+CO%27"
            ),
            "{query}"
        );
        assert!(query.ends_with("&%24orderby=PublicationDate+asc&%24top=100&%24expand=Attributes"));
    }

    #[test]
    fn a_trailing_slash_or_query_on_the_base_url_does_not_leak_into_the_request() {
        let mut source = source();
        source.url = Url::parse("http://127.0.0.1:8080/odata/v1/?stale=1").unwrap();
        let url = products_url(&source, "2026-01-01T00:00:00Z".parse().unwrap());
        assert!(
            url.as_str()
                .starts_with("http://127.0.0.1:8080/odata/v1/Products?%24filter=")
        );
        assert_eq!(
            download_href(&source, "abc"),
            "http://127.0.0.1:8080/odata/v1/Products(abc)/$value"
        );
    }

    #[test]
    fn next_links_past_the_skip_limit_are_recognised() {
        let link = |skip: u64| {
            Url::parse(&format!(
                "http://replay/odata/v1/Products?%24top=1000&%24skip={skip}"
            ))
            .unwrap()
        };
        assert!(!is_beyond_skip_limit(&link(MAX_SKIP)));
        assert!(is_beyond_skip_limit(&link(MAX_SKIP + 1000)));
        assert!(!is_beyond_skip_limit(
            &Url::parse("http://replay/Products?page=2").unwrap()
        ));
    }

    #[test]
    fn a_page_keeps_its_entries_raw_and_resolves_the_next_link() {
        let url = Url::parse("http://replay/odata/v1/Products?$top=1").unwrap();
        let page = parse_page(
            &url,
            br#"{"value":[{"Id":"a", "Name" :"x"}],"@odata.nextLink":"Products?$top=1&$skip=1"}"#,
        )
        .unwrap();
        assert_eq!(page.entries[0].get(), r#"{"Id":"a", "Name" :"x"}"#);
        assert_eq!(
            page.next.unwrap().url.as_str(),
            "http://replay/odata/v1/Products?$top=1&$skip=1"
        );
    }

    #[test]
    fn bodies_that_are_not_pages_are_errors_naming_the_url() {
        let url = Url::parse("http://replay/odata/v1/Products").unwrap();
        let truncated = parse_page(&url, br#"{"value":[{"Id":"a""#).unwrap_err();
        assert!(matches!(truncated, Error::Malformed { .. }));
        assert!(
            truncated
                .to_string()
                .contains("http://replay/odata/v1/Products")
        );
        let html = parse_page(&url, b"<html>502</html>").unwrap_err();
        assert!(matches!(html, Error::Malformed { .. }));
        let no_value = parse_page(&url, br#"{"@odata.context":"$metadata#Products"}"#).unwrap_err();
        assert!(matches!(no_value, Error::NoValue { .. }));
        assert!(no_value.is_transient());
    }
}
