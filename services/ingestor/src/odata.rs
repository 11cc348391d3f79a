//! The CDSE OData protocol as the ingestor speaks it: the query that asks for everything
//! published since the cursor, and the page that comes back.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use url::Url;

use crate::{Error, config::FeedConfig};

/// One answer of `/Products`: its entities untouched, and where the next page is.
#[derive(Debug)]
pub struct Page {
    pub entries: Vec<Box<RawValue>>,
    pub next_link: Option<Url>,
}

/// The largest `$skip` CDSE serves; deeper pages must be asked for from a newer cursor.
pub const MAX_SKIP: u64 = 10_000;

/// `{url}/Products?$filter=PublicationDate ge <since>[ and Collection/Name eq 'X'][ and
/// <productType>]&$orderby=PublicationDate asc&$top=N&$expand=Attributes`.
///
/// `ge`, not `gt`: products published at exactly the cursor time but not yet seen must come back;
/// the cursor's ids tell which ones were seen.
pub fn products_url(feed: &FeedConfig, since: DateTime<Utc>) -> Url {
    let mut filter = format!(
        "PublicationDate ge {}",
        since.to_rfc3339_opts(SecondsFormat::Micros, true)
    );
    if let Some(collection) = &feed.collection {
        filter.push_str(&format!(" and Collection/Name eq {}", literal(collection)));
    }
    if let Some(product_type) = &feed.product_type {
        filter.push_str(&format!(
            " and Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and \
             att/OData.CSC.StringAttribute/Value eq {})",
            literal(product_type)
        ));
    }
    let mut url = feed.url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .expect("validated: an http(s) URL has path segments")
        .pop_if_empty()
        .push("Products");
    url.query_pairs_mut()
        .append_pair("$filter", &filter)
        .append_pair("$orderby", "PublicationDate asc")
        .append_pair("$top", &feed.page_size.to_string())
        .append_pair("$expand", "Attributes");
    url
}

/// Where a product can be downloaded: `{feed url}/Products({Id})/$value`.
pub fn download_href(feed: &FeedConfig, id: &str) -> String {
    let mut base = feed.url.clone();
    base.set_query(None);
    base.set_fragment(None);
    format!(
        "{}/Products({id})/$value",
        base.as_str().trim_end_matches('/')
    )
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
pub fn parse_page(url: &Url, body: &[u8]) -> Result<Page, Error> {
    #[derive(Deserialize)]
    struct Body {
        value: Option<Vec<Box<RawValue>>>,
        #[serde(rename = "@odata.nextLink")]
        next_link: Option<String>,
    }
    let body: Body = serde_json::from_slice(body).map_err(|source| Error::Malformed {
        url: url.to_string(),
        source,
    })?;
    let entries = body.value.ok_or_else(|| Error::NoValue {
        url: url.to_string(),
    })?;
    let next_link = body
        .next_link
        .map(|link| {
            url.join(&link).map_err(|_| Error::NextLink {
                url: url.to_string(),
                link,
            })
        })
        .transpose()?;
    Ok(Page { entries, next_link })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed() -> FeedConfig {
        FeedConfig::cdse(
            "cdse",
            Url::parse("https://catalogue.dataspace.copernicus.eu/odata/v1").unwrap(),
        )
    }

    fn pairs(url: &Url) -> Vec<(String, String)> {
        url.query_pairs().into_owned().collect()
    }

    #[test]
    fn the_query_asks_for_everything_since_the_cursor_in_publication_order() {
        let mut feed = feed();
        feed.page_size = 250;
        let url = products_url(&feed, "2026-01-21T23:16:38.5Z".parse().unwrap());
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
        let mut feed = feed();
        feed.collection = Some("SENTINEL-2".into());
        feed.product_type = Some("S2MSI1C".into());
        let url = products_url(&feed, "2026-01-01T00:00:00Z".parse().unwrap());
        assert_eq!(
            pairs(&url)[0].1,
            "PublicationDate ge 2026-01-01T00:00:00.000000Z and Collection/Name eq 'SENTINEL-2' \
             and Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and \
             att/OData.CSC.StringAttribute/Value eq 'S2MSI1C')"
        );
    }

    #[test]
    fn the_query_is_form_encoded_as_cdse_links_are() {
        let mut feed = feed();
        feed.collection = Some("O'NEIL & CO".into());
        let url = products_url(&feed, "2026-01-01T00:00:00Z".parse().unwrap());
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
        let mut feed = feed();
        feed.url = Url::parse("http://127.0.0.1:8080/odata/v1/?stale=1").unwrap();
        let url = products_url(&feed, "2026-01-01T00:00:00Z".parse().unwrap());
        assert!(
            url.as_str()
                .starts_with("http://127.0.0.1:8080/odata/v1/Products?%24filter=")
        );
        assert_eq!(
            download_href(&feed, "abc"),
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
            page.next_link.unwrap().as_str(),
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
