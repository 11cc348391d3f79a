//! A STAC API with the Transactions extension as a publishing target. A collection is created on
//! first use (the static catalogue's document, see [`catalogue::api_collection`]) and its extent
//! grown to cover each item; an item is created, or replaced when it exists (POST, then PUT on
//! 409, so a replay is an upsert), then read back and compared with what was sent: an item the
//! API serves differently was not published.
//!
//! Failures name the request and the API's own reason (`description` or `detail`). 4xx answers
//! other than 404 and 409 are permanent: the same request is refused again. 5xx answers and
//! requests without an answer are transient.

use bytes::Bytes;
use nrt_runtime::Secret;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use stac::{Collection, Item, Link};
use url::Url;

use crate::{
    Error,
    catalogue::{self, backoff},
    config::{CollectionSettings, StacApiConfig},
    extent, readback,
};

/// Link relations a STAC API makes itself when it serves a document: the static catalogue's
/// are not sent, and the API's are not sent back.
const API_RELS: [&str; 7] = [
    "self",
    "root",
    "parent",
    "child",
    "collection",
    "items",
    "http://www.opengis.net/def/rel/ogc/1.0/queryables",
];
/// Tries to grow a collection's extent while other writers keep replacing it.
const EXTENT_ATTEMPTS: u32 = 5;
/// How much of an error body goes into an error message.
const DETAIL_CHARS: usize = 300;

/// One STAC API.
#[derive(Debug, Clone)]
pub struct StacApi {
    client: reqwest::Client,
    base: Url,
    token: Option<Secret>,
}

/// The item as a STAC API receives it: without the static catalogue's structural links.
pub fn api_item(item: &Item) -> Item {
    let mut item = item.clone();
    item.links.retain(is_own_link);
    item
}

fn is_own_link(link: &Link) -> bool {
    !API_RELS.contains(&link.rel.as_str())
}

impl StacApi {
    pub fn new(url: &Url, config: &StacApiConfig) -> Self {
        let client = reqwest::Client::builder()
            .timeout(config.timeout())
            .build()
            .expect("an HTTP client with only a timeout set builds");
        Self {
            client,
            base: url.clone(),
            token: config.token.clone(),
        }
    }

    /// Where the API serves an item: `<url>/collections/<collection>/items/<item id>`.
    pub fn item_url(&self, collection: &str, item_id: &str) -> Url {
        self.url(&["collections", collection, "items", item_id])
    }

    /// Writes `item` into the collection `settings` describe (created on first use), verifies
    /// it reads back as sent, and grows the collection's extent to cover it.
    pub async fn publish(&self, settings: &CollectionSettings, item: &Item) -> Result<(), Error> {
        self.ensure_collection(settings, item).await?;
        let item = api_item(item);
        let body = to_json(&item);
        let about = format!("item {}", item.id);
        let items = self.url(&["collections", &settings.id, "items"]);
        let created = self.send(Method::POST, &items, Some(&body), &about).await?;
        if created.status == StatusCode::CONFLICT {
            // There already: replaced, so a replayed job updates rather than fails.
            let url = self.item_url(&settings.id, &item.id);
            self.send(Method::PUT, &url, Some(&body), &about)
                .await?
                .success()?;
        } else {
            created.success()?;
        }
        self.verify(&settings.id, &item, &body).await?;
        self.cover(&settings.id, &item).await
    }

    /// The item as the API serves it, or `None` when it has no such item.
    pub async fn item(&self, collection: &str, item_id: &str) -> Result<Option<Item>, Error> {
        let url = self.item_url(collection, item_id);
        let answer = self
            .send(Method::GET, &url, None, &format!("item {item_id}"))
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        answer.success()?.parse("item").map(Some)
    }

    /// Replaces an item the API has, and verifies it reads back as sent.
    pub async fn replace_item(&self, collection: &str, item: &Item) -> Result<(), Error> {
        let item = api_item(item);
        let body = to_json(&item);
        let url = self.item_url(collection, &item.id);
        let about = format!("item {}", item.id);
        self.send(Method::PUT, &url, Some(&body), &about)
            .await?
            .success()?;
        self.verify(collection, &item, &body).await
    }

    async fn ensure_collection(
        &self,
        settings: &CollectionSettings,
        first_item: &Item,
    ) -> Result<(), Error> {
        let about = format!("collection {}", settings.id);
        let url = self.url(&["collections", &settings.id]);
        let found = self.send(Method::GET, &url, None, &about).await?;
        if found.status != StatusCode::NOT_FOUND {
            return found.success().map(drop);
        }
        let collection = to_json(&catalogue::api_collection(settings, first_item));
        let collections = self.url(&["collections"]);
        let created = self
            .send(Method::POST, &collections, Some(&collection), &about)
            .await?;
        // 409: another replica created it meanwhile, which is as good.
        if created.status == StatusCode::CONFLICT {
            return Ok(());
        }
        created.success().map(drop)
    }

    /// An item that reads back differently from `sent`, or not at all, was not published.
    async fn verify(&self, collection: &str, item: &Item, sent: &Value) -> Result<(), Error> {
        let url = self.item_url(collection, &item.id);
        let about = format!("item {}", item.id);
        let answer = self.send(Method::GET, &url, None, &about).await?;
        let difference = if answer.status == StatusCode::NOT_FOUND {
            Some("/".to_owned())
        } else {
            let served: Value = answer.success()?.parse("item")?;
            readback::first_difference(sent, &served)
        };
        match difference {
            None => Ok(()),
            Some(field) => Err(Error::ItemMismatch {
                item: item.id.clone(),
                collection: collection.to_owned(),
                url: url.to_string(),
                field,
            }),
        }
    }

    /// Grows the collection's extent to cover `item`, by read-modify-write. The API offers no
    /// conditional write, so the collection is read again after each write: another writer's
    /// write in between may have replaced ours.
    async fn cover(&self, collection_id: &str, item: &Item) -> Result<(), Error> {
        let about = format!("collection {collection_id}");
        let url = self.url(&["collections", collection_id]);
        let mut writes = 0;
        loop {
            let mut collection: Collection = self
                .send(Method::GET, &url, None, &about)
                .await?
                .success()?
                .parse("collection")?;
            if !extent::grow(&mut collection.extent, item) {
                return Ok(());
            }
            if writes == EXTENT_ATTEMPTS {
                return Err(Error::Contention {
                    uri: url.to_string(),
                    attempts: writes,
                });
            }
            if writes > 0 {
                tracing::debug!(
                    collection = collection_id,
                    writes,
                    "Extent growth lost to another writer; growing again."
                );
                tokio::time::sleep(backoff(writes)).await;
            }
            writes += 1;
            collection.links.retain(is_own_link);
            self.send(Method::PUT, &url, Some(&to_json(&collection)), &about)
                .await?
                .success()?;
        }
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("validated: the API's URL is http(s)")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// One request about `about` (`item <id>`); an answer of any status is `Ok`, only no answer
    /// is an error.
    async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        about: &str,
    ) -> Result<Answer, Error> {
        let mut request = self.client.request(method.clone(), url.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let unreachable = |source| Error::StacApiUnreachable {
            about: about.to_owned(),
            method: method.clone(),
            url: url.to_string(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        Ok(Answer {
            about: about.to_owned(),
            method,
            url: url.clone(),
            status,
            body,
        })
    }
}

fn to_json(document: &impl serde::Serialize) -> Value {
    serde_json::to_value(document).expect("STAC documents serialise")
}

/// An HTTP answer, whatever its status.
struct Answer {
    about: String,
    method: Method,
    url: Url,
    status: StatusCode,
    body: Bytes,
}

impl Answer {
    /// Itself when successful; else the error naming the request and the API's reason.
    fn success(self) -> Result<Self, Error> {
        if self.status.is_success() {
            return Ok(self);
        }
        Err(Error::StacApi {
            about: self.about,
            method: self.method,
            url: self.url.to_string(),
            status: self.status.as_u16(),
            detail: detail(&self.body),
        })
    }

    fn parse<T: DeserializeOwned>(self, kind: &'static str) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|source| Error::CorruptDocument {
            uri: self.url.to_string(),
            kind,
            source,
        })
    }
}

/// The reason in an error body: stac-fastapi's `description`, FastAPI's `detail` (a text, or
/// validation errors of which the first is shown), else the start of the body.
fn detail(body: &[u8]) -> String {
    let json: Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |value: &Value| {
        value
            .as_str()
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    if let Some(description) = text(&json["description"]).or_else(|| text(&json["detail"])) {
        return description;
    }
    if let Some(first) = json["detail"].get(0) {
        let location: Vec<String> = first["loc"]
            .as_array()
            .map(|parts| {
                parts
                    .iter()
                    .map(|part| part.to_string().replace('"', ""))
                    .collect()
            })
            .unwrap_or_default();
        return format!(
            "{}: {}",
            location.join("."),
            first["msg"].as_str().unwrap_or("invalid")
        );
    }
    let body = String::from_utf8_lossy(body);
    match body.trim() {
        "" => "no reason given".to_owned(),
        text => text.chars().take(DETAIL_CHARS).collect(),
    }
}

#[cfg(test)]
#[path = "stac_api_tests.rs"]
mod tests;
