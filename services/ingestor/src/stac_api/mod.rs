//! Any STAC API as the ingestor reads it: `/search` over the feed's collections for the items
//! whose time property is at or after the cursor, sorted by it, following `next` links.

mod config;
pub mod mapping;

use chrono::{DateTime, SecondsFormat, Utc};
use nrt_runtime::config::ConfigError;
use reqwest::{
    Method,
    header::{HeaderMap, HeaderName, HeaderValue},
};
use serde::Deserialize;
use serde_json::{Map, Value, json, value::RawValue};
use stac::{
    Bbox, Link,
    api::{Filter, GetSearch, Search, Sortby},
};

pub use config::{DEFAULT_TIME_PROPERTY, MAX_PAGE_SIZE, SearchArea, SearchMethod, StacSource};

use crate::{
    Error,
    config::FeedConfig,
    feed::{Discovery, FeedEntry, FeedPage, PolledFeed},
    http::{HttpClient, HttpRequest},
};

/// The keys of our search that a `merge: false` next body may leave out, carried over so that
/// the next page answers the same search. Earth Search's recorded next link carries only its
/// `next` token: sent alone, page two would be the whole catalogue, unfiltered and unsorted.
const SEARCH_KEYS: [&str; 8] = [
    "collections",
    "bbox",
    "intersects",
    "datetime",
    "filter",
    "filter-lang",
    "sortby",
    "limit",
];

/// A feed's items, polled from `<url>/search`.
pub struct StacFeed {
    feed: String,
    source: StacSource,
    client: HttpClient,
}

impl StacFeed {
    /// Refuses a source whose search cannot be sent, as `Config::validate` does: polls then
    /// never fail on it.
    pub fn new(feed: &FeedConfig, source: &StacSource) -> Result<Self, Error> {
        search_request(source, DateTime::<Utc>::UNIX_EPOCH).map_err(|problem| {
            ConfigError::invalid(format!("filter of feed {}", feed.name), problem)
        })?;
        Ok(Self {
            feed: feed.name.clone(),
            source: source.clone(),
            client: HttpClient::new(feed, None)?,
        })
    }
}

impl PolledFeed for StacFeed {
    type Request = HttpRequest;

    fn first_request(&self, since: DateTime<Utc>) -> HttpRequest {
        search_request(&self.source, since)
            .expect("checked by StacFeed::new: this feed's search can be built")
    }

    async fn fetch(&self, request: &HttpRequest) -> Result<FeedPage<HttpRequest>, Error> {
        self.client
            .send(request, |_, body| parse_page(request, body))
            .await
    }

    fn read_entry(&self, entry: &RawValue, position: usize) -> FeedEntry {
        // RawValue is valid JSON; Null only stands in for what serde_json cannot hold.
        let item: Value = serde_json::from_str(entry.get()).unwrap_or(Value::Null);
        FeedEntry {
            identity: mapping::identity(&item),
            published_at: mapping::published_at(&item, &self.source.time_property),
            outcome: mapping::discovered(&item, position, &self.feed, &self.source)
                .map(|product| Discovery::Discovered(Box::new(product))),
        }
    }
}

/// The first page of every item of the feed whose time property is at or after `since`,
/// oldest first: a POST of the search as JSON, or a GET with it in the query. An error says
/// what in the feed's filter cannot be sent.
pub fn search_request(source: &StacSource, since: DateTime<Utc>) -> Result<HttpRequest, String> {
    let search = search(source, since);
    let mut url = source.url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|()| format!("{} cannot take a path", source.url))?
        .pop_if_empty()
        .push("search");
    match source.method {
        SearchMethod::Post => {
            let body = serde_json::to_value(&search).map_err(|error| error.to_string())?;
            Ok(HttpRequest::post(url, Some(body)))
        }
        SearchMethod::Get => {
            let mut search = search;
            // A GET carries the filter as CQL2 text, the Filter extension's default for a query
            // string: not every server reads CQL2-JSON there.
            search.items.filter = search
                .items
                .filter
                .map(Filter::into_cql2_text)
                .transpose()
                .map_err(|error| format!("cannot be written as CQL2 text for GET: {error}"))?;
            let query = GetSearch::try_from(search).map_err(|error| error.to_string())?;
            let Value::Object(parameters) =
                serde_json::to_value(query).map_err(|error| error.to_string())?
            else {
                return Err("the search is not a set of query parameters".into());
            };
            {
                let mut pairs = url.query_pairs_mut();
                for (name, value) in &parameters {
                    if let Value::String(value) = value {
                        pairs.append_pair(name, value);
                    }
                }
            }
            Ok(HttpRequest::get(url))
        }
    }
}

fn search(source: &StacSource, since: DateTime<Utc>) -> Search {
    let mut search = Search::new()
        .collections(source.collections.clone())
        .limit(source.page_size as u64)
        .sortby(vec![Sortby::asc(format!(
            "properties.{}",
            source.time_property
        ))]);
    match &source.area {
        Some(SearchArea::Bbox(bbox)) => search = search.bbox(Bbox::TwoDimensional(*bbox)),
        Some(SearchArea::Intersects(geometry)) => search = search.intersects(geometry.clone()),
        None => {}
    }
    search.items.datetime = source.datetime.clone();
    search.items.filter = Some(Filter::Cql2Json(cursor_filter(source, since)));
    search
}

/// `<time_property> >= since`, `and`-ed with the feed's own filter.
///
/// A CQL2 comparison rather than the `datetime` parameter, even when the time property is
/// `datetime`: that parameter matches items whose *interval* overlaps the window, so an item
/// begun before the cursor would come back behind it at every poll, while a comparison on the
/// property the results are sorted by keeps the window and the order in step. The feed's own
/// `datetime` goes in the `datetime` parameter, which the API applies as well. `>=`, not `>`:
/// items at exactly the cursor time but not yet seen must come back; the cursor's ids tell which
/// ones were seen.
fn cursor_filter(source: &StacSource, since: DateTime<Utc>) -> Map<String, Value> {
    let mut at_or_after = Map::new();
    at_or_after.insert("op".into(), json!(">="));
    at_or_after.insert(
        "args".into(),
        json!([
            {"property": source.time_property},
            {"timestamp": since.to_rfc3339_opts(SecondsFormat::Micros, true)},
        ]),
    );
    match &source.filter {
        None => at_or_after,
        Some(filter) => {
            let mut both = Map::new();
            both.insert("op".into(), json!("and"));
            both.insert("args".into(), json!([at_or_after, filter]));
            both
        }
    }
}

/// Reads an ItemCollection answering `request`: its items untouched, and its `next` link as the
/// request for the next page.
pub fn parse_page(request: &HttpRequest, body: &[u8]) -> Result<FeedPage<HttpRequest>, Error> {
    #[derive(Deserialize)]
    struct Body {
        features: Vec<Box<RawValue>>,
        links: Option<Vec<Value>>,
    }
    let url = request.url.to_string();
    let body: Body = serde_json::from_slice(body).map_err(|source| Error::Malformed {
        url: url.clone(),
        expected: "a STAC ItemCollection",
        source,
    })?;
    let unfollowable = |problem: String| Error::UnfollowableLink {
        url: url.clone(),
        problem,
    };
    let next_link = body
        .links
        .iter()
        .flatten()
        .find(|link| link.get("rel").and_then(Value::as_str) == Some("next"));
    let next = match next_link {
        // An empty page ends the poll even if it links on: nothing can follow it in the sort
        // order, and following could loop.
        Some(_) if body.features.is_empty() => None,
        Some(link) => Some(next_request(request, link).map_err(unfollowable)?),
        None => None,
    };
    if next.as_ref() == Some(request) {
        return Err(unfollowable("it asks for the page it is on".into()));
    }
    Ok(FeedPage {
        entries: body.features,
        next,
    })
}

/// The request a `next` link describes, after `current`, as the STAC API paging rules say: a
/// GET of its href, or a POST of its body, merged into the current body when `merge` is true;
/// its headers added.
fn next_request(current: &HttpRequest, link: &Value) -> Result<HttpRequest, String> {
    let link: Link =
        serde_json::from_value(link.clone()).map_err(|error| format!("{link}: {error}"))?;
    let url = current
        .url
        .join(&link.href)
        .map_err(|error| format!("href {:?}: {error}", link.href))?;
    let merge = link.merge.unwrap_or(false);
    let mut next = match link.method.as_deref().unwrap_or("GET").to_ascii_uppercase() {
        method if method == Method::GET.as_str() => HttpRequest::get(url),
        method if method == Method::POST.as_str() => {
            let previous = match &current.body {
                Some(Value::Object(previous)) => previous.clone(),
                _ => Map::new(),
            };
            let mut body = if merge { previous.clone() } else { Map::new() };
            body.extend(link.body.unwrap_or_default());
            for key in SEARCH_KEYS {
                if let Some(value) = previous.get(key) {
                    body.entry(key).or_insert_with(|| value.clone());
                }
            }
            HttpRequest::post(url, Some(Value::Object(body)))
        }
        method => return Err(format!("method {method:?} is neither GET nor POST")),
    };
    if merge {
        next.headers = current.headers.clone();
    }
    add_headers(&mut next.headers, &link.headers.unwrap_or_default())?;
    Ok(next)
}

/// A link's `headers`: each name to a string or a list of strings.
fn add_headers(headers: &mut HeaderMap, from: &Map<String, Value>) -> Result<(), String> {
    for (name, values) in from {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("{name:?} is not a header name"))?;
        let values = match values {
            Value::String(value) => vec![value.as_str()],
            Value::Array(list) => list
                .iter()
                .map(Value::as_str)
                .collect::<Option<_>>()
                .ok_or_else(|| format!("header {name} is not a list of strings"))?,
            other => return Err(format!("header {name} is {other}, not a string")),
        };
        headers.remove(&name);
        for value in values {
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("header {name} has a value no header can carry"))?;
            headers.append(&name, value);
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;

#[cfg(test)]
mod golden_tests;
