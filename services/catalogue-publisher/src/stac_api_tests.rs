//! The client against a small in-process API whose answers each test chooses. The real
//! stac-fastapi-pgstac is exercised in `tests/stac_api.rs`; this one can also misbehave.

use std::sync::{Arc, Mutex};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
};
use serde_json::{Value, json};

use super::*;
use crate::testing::{S1C_SLICE_1, S2_T54PXA, config, item};

/// What the fake API holds and how it answers.
#[derive(Default)]
struct Fake {
    collection: Mutex<Option<Value>>,
    item: Mutex<Option<Value>>,
    /// Applied to the item each time it is served: a server that stores something else.
    alter_served: Option<fn(&mut Value)>,
    /// Answers every item write with this status and body.
    refuse_items: Option<(StatusCode, &'static str)>,
    /// `METHOD path`, and the `Authorization` header, of every request.
    requests: Mutex<Vec<(String, Option<String>)>>,
}

impl Fake {
    fn requests(&self) -> Vec<String> {
        let requests = self.requests.lock().unwrap();
        requests
            .iter()
            .map(|(request, _)| request.clone())
            .collect()
    }
}

async fn answer(
    State(fake): State<Arc<Fake>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let authorization = headers
        .get("authorization")
        .map(|value| value.to_str().unwrap().to_owned());
    fake.requests
        .lock()
        .unwrap()
        .push((format!("{method} {}", uri.path()), authorization));
    let segments: Vec<&str> = uri.path().trim_start_matches("/api/").split('/').collect();
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let stored = |slot: &Mutex<Option<Value>>| match slot.lock().unwrap().clone() {
        Some(document) => (StatusCode::OK, document.to_string()),
        None => (
            StatusCode::NOT_FOUND,
            json!({"code": "NotFoundError", "description": "no such thing"}).to_string(),
        ),
    };
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["collections", _]) => stored(&fake.collection),
        ("POST", ["collections"]) | ("PUT", ["collections", _]) => {
            *fake.collection.lock().unwrap() = Some(body);
            (StatusCode::CREATED, String::new())
        }
        ("POST" | "PUT", ["collections", _, "items", ..]) => {
            if let Some((status, reason)) = fake.refuse_items {
                return (status, reason.to_owned());
            }
            let mut item = fake.item.lock().unwrap();
            if method == Method::POST && item.is_some() {
                let conflict = json!({"code": "ConflictError", "description": ""});
                return (StatusCode::CONFLICT, conflict.to_string());
            }
            *item = Some(body);
            (StatusCode::CREATED, String::new())
        }
        ("GET", ["collections", _, "items", _]) => {
            let (status, text) = stored(&fake.item);
            match (status, fake.alter_served) {
                (StatusCode::OK, Some(alter)) => {
                    let mut served: Value = serde_json::from_str(&text).unwrap();
                    alter(&mut served);
                    (status, served.to_string())
                }
                _ => (status, text),
            }
        }
        _ => (StatusCode::NOT_FOUND, String::new()),
    }
}

/// Serves `fake` on a free port; the client is configured with a token.
async fn serve(fake: Fake) -> (Arc<Fake>, StacApi) {
    let fake = Arc::new(fake);
    let app = Router::new().fallback(answer).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/api/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut settings = config().stac_api;
    settings.token = Some(Secret::new("s3cr3t"));
    (fake, StacApi::new(&url, &settings))
}

fn footprint() -> CollectionSettings {
    config().collection_for("footprint")
}

#[tokio::test]
async fn a_first_item_creates_its_collection_and_reads_back() {
    let (fake, api) = serve(Fake::default()).await;
    let item = item(&[S2_T54PXA]);
    api.publish(&footprint(), &item).await.unwrap();

    let items = format!("/api/collections/footprint/items/{}", item.id);
    assert_eq!(
        fake.requests(),
        [
            "GET /api/collections/footprint".to_owned(),
            "POST /api/collections".into(),
            "POST /api/collections/footprint/items".into(),
            format!("GET {items}"),
            "GET /api/collections/footprint".into(),
        ]
    );
    let authorizations = fake.requests.lock().unwrap().clone();
    assert!(
        authorizations
            .iter()
            .all(|(_, header)| header.as_deref() == Some("Bearer s3cr3t"))
    );
    let collection = fake.collection.lock().unwrap().clone().unwrap();
    assert_eq!(collection["extent"]["spatial"]["bbox"][0], json!(item.bbox));
    assert_eq!(collection["links"], json!([]));
    let sent = fake.item.lock().unwrap().clone().unwrap();
    let rels: Vec<&str> = sent["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|link| link["rel"].as_str().unwrap())
        .collect();
    assert_eq!(
        rels,
        ["derived_from"],
        "structural links are the API's to make"
    );
}

#[tokio::test]
async fn an_item_there_already_is_replaced_and_the_extent_grown() {
    let (fake, api) = serve(Fake::default()).await;
    let first = item(&[S2_T54PXA]);
    api.publish(&footprint(), &first).await.unwrap();
    let later = item(&[S1C_SLICE_1]);
    fake.requests.lock().unwrap().clear();

    // The fake holds one item: the second is a conflict, replaced by PUT.
    api.publish(&footprint(), &later).await.unwrap();
    let items = "/api/collections/footprint/items";
    assert_eq!(
        fake.requests(),
        [
            "GET /api/collections/footprint".to_owned(),
            format!("POST {items}"),
            format!("PUT {items}/{}", later.id),
            format!("GET {items}/{}", later.id),
            "GET /api/collections/footprint".into(),
            "PUT /api/collections/footprint".into(),
            "GET /api/collections/footprint".into(),
        ]
    );
    let collection: Collection =
        serde_json::from_value(fake.collection.lock().unwrap().clone().unwrap()).unwrap();
    assert!(extent::covers(&collection.extent, &first));
    assert!(extent::covers(&collection.extent, &later));
}

#[tokio::test]
async fn an_item_served_back_changed_is_a_transient_error_naming_item_and_field() {
    let fake = Fake {
        alter_served: Some(|item| item["properties"]["datetime"] = json!("2020-08-08T01:03:12Z")),
        ..Fake::default()
    };
    let (_fake, api) = serve(fake).await;
    let item = item(&[S2_T54PXA]);
    let error = api.publish(&footprint(), &item).await.unwrap_err();
    let Error::ItemMismatch {
        item: named, field, ..
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!(*named, item.id);
    assert_eq!(field, "/properties/datetime");
    assert!(error.is_transient());
    assert!(error.to_string().contains(&item.id), "{error}");
}

#[tokio::test]
async fn an_item_served_without_its_assets_is_a_mismatch() {
    let fake = Fake {
        alter_served: Some(|item| item["assets"] = json!({})),
        ..Fake::default()
    };
    let (_fake, api) = serve(fake).await;
    let error = api
        .publish(&footprint(), &item(&[S2_T54PXA]))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::ItemMismatch { field, .. } if field.starts_with("/assets/")),
        "{error}"
    );
}

#[tokio::test]
async fn a_refused_item_is_permanent_and_a_failing_server_transient() {
    let invalid = Fake {
        refuse_items: Some((
            StatusCode::BAD_REQUEST,
            r#"{"detail":"Collection ID from path parameter (a) does not match Collection ID from Item (b)"}"#,
        )),
        ..Fake::default()
    };
    let (_fake, api) = serve(invalid).await;
    let item = item(&[S2_T54PXA]);
    let error = api.publish(&footprint(), &item).await.unwrap_err();
    assert!(!error.is_transient(), "{error}");
    let text = error.to_string();
    for part in [
        &format!("item {}", item.id),
        "POST http://",
        "/api/collections/footprint/items",
        "400",
        "does not match Collection ID",
    ] {
        assert!(text.contains(part), "{part:?} not in {text}");
    }

    let failing = Fake {
        refuse_items: Some((StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")),
        ..Fake::default()
    };
    let (_fake, api) = serve(failing).await;
    let error = api.publish(&footprint(), &item).await.unwrap_err();
    assert!(error.is_transient(), "{error}");
    assert!(
        error.to_string().contains("Internal Server Error"),
        "{error}"
    );
}

#[tokio::test]
async fn an_api_that_does_not_answer_is_transient_and_named() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let api = StacApi::new(&url, &config().stac_api);
    let error = api
        .publish(&footprint(), &item(&[S2_T54PXA]))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::StacApiUnreachable { .. }), "{error}");
    assert!(error.is_transient());
    assert!(
        error.to_string().contains("collection footprint"),
        "{error}"
    );
}

#[test]
fn the_reason_is_taken_from_each_kind_of_error_body() {
    // Bodies as stac-fastapi-pgstac 7.2 answered them.
    assert_eq!(
        detail(br#"{"code":"NotFoundError","description":"Collection nope does not exist."}"#),
        "Collection nope does not exist."
    );
    assert_eq!(
        detail(br#"{"detail":"Collection ID from path parameter (nope) does not match"}"#),
        "Collection ID from path parameter (nope) does not match"
    );
    assert_eq!(
        detail(
            br#"{"detail":[{"type":"datetime_from_date_parsing","loc":["body","Item","properties","datetime"],"msg":"Input should be a valid datetime or date, invalid character in year","input":"16 January"}]}"#
        ),
        "body.Item.properties.datetime: Input should be a valid datetime or date, invalid character in year"
    );
    assert_eq!(
        detail(br#"{"code":"ConflictError","description":""}"#),
        r#"{"code":"ConflictError","description":""}"#
    );
    assert_eq!(detail(b"Internal Server Error"), "Internal Server Error");
    assert_eq!(detail(b""), "no reason given");
}

#[test]
fn ids_are_one_path_segment_each_under_the_apis_path() {
    let url = Url::parse("https://stac.example.eu/api/v1").unwrap();
    let api = StacApi::new(&url, &config().stac_api);
    assert_eq!(
        api.item_url("footprint", "footprint-S2A_X 1").as_str(),
        "https://stac.example.eu/api/v1/collections/footprint/items/footprint-S2A_X%201"
    );
}
