//! The replay over HTTP, as the ingestor sees it: paging by `@odata.nextLink`, refusals, release
//! pacing, injected faults and the request log.

use std::{collections::HashSet, time::Duration};

use nrt_cdse_replay::{Fault, ReleaseSchedule, ReplayFeed, ReplayOptions, RunningReplay};
use serde_json::Value;

async fn start(feed: ReplayFeed, schedule: ReleaseSchedule) -> RunningReplay {
    feed.start(ReplayOptions {
        schedule,
        ..ReplayOptions::default()
    })
    .await
    .unwrap()
}

fn products_url(replay: &RunningReplay, pairs: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{}/Products?{query}", replay.url())
}

async fn get(url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

async fn get_json(url: &str) -> Value {
    let (status, _, body) = get(url).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn following_next_links_yields_every_recorded_product_once_in_publication_order() {
    let replay = start(ReplayFeed::recorded(), ReleaseSchedule::All).await;
    let mut url = products_url(
        &replay,
        &[
            ("$filter", "PublicationDate ge 2000-01-01T00:00:00Z"),
            ("$orderby", "PublicationDate asc"),
            ("$top", "10"),
            ("$expand", "Attributes"),
            ("$count", "true"),
        ],
    );
    let mut published = Vec::new();
    let mut ids = HashSet::new();
    let mut pages = 0;
    loop {
        let page = get_json(&url).await;
        pages += 1;
        assert_eq!(page["@odata.context"], "$metadata#Products(Attributes())");
        assert_eq!(page["@odata.count"], 39);
        for entity in page["value"].as_array().unwrap() {
            assert!(ids.insert(entity["Id"].as_str().unwrap().to_owned()));
            published.push(entity["PublicationDate"].as_str().unwrap().to_owned());
        }
        match page.get("@odata.nextLink") {
            Some(next) => {
                let next = next.as_str().unwrap();
                assert!(next.starts_with(&replay.url()), "{next}");
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!((pages, ids.len()), (4, 39));
    let mut sorted = published.clone();
    sorted.sort();
    assert_eq!(published, sorted);
}

#[tokio::test]
async fn next_link_keeps_the_query_and_advances_skip() {
    let replay = start(ReplayFeed::recorded(), ReleaseSchedule::All).await;
    let filter = "Collection/Name eq 'SENTINEL-1' and PublicationDate gt 2020-01-01T00:00:00Z";
    let page = get_json(&products_url(
        &replay,
        &[("$filter", filter), ("$top", "5"), ("$skip", "5")],
    ))
    .await;
    let next = url::Url::parse(page["@odata.nextLink"].as_str().unwrap()).unwrap();
    let pairs: Vec<(String, String)> = next.query_pairs().into_owned().collect();
    assert_eq!(
        pairs,
        [
            ("$filter".to_owned(), filter.to_owned()),
            ("$top".to_owned(), "5".to_owned()),
            ("$skip".to_owned(), "10".to_owned()),
        ]
    );
    assert!(!page.as_object().unwrap().contains_key("@odata.count"));
}

#[tokio::test]
async fn the_last_page_has_no_next_link() {
    let replay = start(ReplayFeed::recorded(), ReleaseSchedule::All).await;
    let page = get_json(&products_url(&replay, &[("$top", "39")])).await;
    assert_eq!(page["value"].as_array().unwrap().len(), 39);
    assert!(page.get("@odata.nextLink").is_none());
    let beyond = get_json(&products_url(&replay, &[("$skip", "100")])).await;
    assert_eq!(beyond["value"], serde_json::json!([]));
    assert!(beyond.get("@odata.nextLink").is_none());
}

#[tokio::test]
async fn a_filter_it_cannot_run_is_a_400_naming_the_clause() {
    let replay = start(ReplayFeed::recorded(), ReleaseSchedule::All).await;
    let (status, _, body) = get(&products_url(
        &replay,
        &[(
            "$filter",
            "PublicationDate ge 2020-01-01T00:00:00Z and ContentDate/Start lt 2021-01-01T00:00:00Z",
        )],
    ))
    .await;
    assert_eq!(status, 400);
    let body: Value = serde_json::from_str(&body).unwrap();
    let message = body["detail"]["message"].as_str().unwrap();
    assert!(
        message.contains("ContentDate/Start lt 2021-01-01T00:00:00Z"),
        "{message}"
    );

    let (status, _, _) = get(&products_url(&replay, &[("$top", "1001")])).await;
    assert_eq!(status, 400);
    let (status, _, _) = get(&products_url(
        &replay,
        &[("$orderby", "PublicationDate desc")],
    ))
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn products_are_released_one_at_a_time_in_publication_order() {
    let replay = start(
        ReplayFeed::recorded(),
        ReleaseSchedule::Manual { visible: 1 },
    )
    .await;
    let first = get_json(&products_url(&replay, &[])).await;
    assert_eq!(first["value"].as_array().unwrap().len(), 1);
    replay.release(2);
    let later = get_json(&products_url(&replay, &[])).await;
    let later = later["value"].as_array().unwrap();
    assert_eq!(later.len(), 3);
    assert_eq!(later[0], first["value"][0]);
    assert_eq!(replay.visible_count(), 3);
    assert_eq!(replay.product_count(), 39);

    let paced = start(
        ReplayFeed::recorded(),
        ReleaseSchedule::OneEvery(Duration::from_secs(3600)),
    )
    .await;
    assert_eq!(
        get_json(&products_url(&paced, &[])).await["value"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn injected_statuses_answer_the_next_requests_then_service_resumes() {
    let replay = start(ReplayFeed::recorded(), ReleaseSchedule::All).await;
    replay.inject(Fault::Status(503), 2);
    replay.inject(
        Fault::TooManyRequests {
            retry_after: Duration::from_millis(1500),
        },
        1,
    );
    let url = products_url(&replay, &[]);
    assert_eq!(get(&url).await.0, 503);
    assert_eq!(get(&url).await.0, 503);
    let (status, headers, _) = get(&url).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "2");
    assert_eq!(get(&url).await.0, 200);
    let statuses: Vec<u16> = replay.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 429, 200]);
    assert_eq!(replay.requests()[0].url, url);
}

#[tokio::test]
async fn injected_body_faults_break_the_page_the_way_a_client_must_survive() {
    let replay = start(ReplayFeed::recorded(), ReleaseSchedule::All).await;
    let url = products_url(&replay, &[("$top", "3")]);

    replay.inject(Fault::TruncatedBody, 1);
    let (status, _, body) = get(&url).await;
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&body).unwrap_err().is_eof());

    replay.inject(Fault::MalformedBody, 1);
    let (status, _, body) = get(&url).await;
    assert_eq!(status, 200);
    assert!(
        serde_json::from_str::<Value>(&body)
            .unwrap_err()
            .is_syntax()
    );

    replay.inject(Fault::MissingValue, 1);
    assert!(get_json(&url).await.get("value").is_none());

    replay.inject(Fault::EntryWithout("ContentDate".into()), 1);
    let page = get_json(&url).await;
    let entries = page["value"].as_array().unwrap();
    assert!(entries[0].get("ContentDate").is_none());
    assert!(entries[0].get("Id").is_some());
    assert!(entries[1].get("ContentDate").is_some());
}

#[tokio::test]
async fn an_injected_delay_holds_the_answer() {
    let replay = start(ReplayFeed::recorded(), ReleaseSchedule::All).await;
    replay.inject(Fault::Delay(Duration::from_secs(30)), 1);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let error = client
        .get(products_url(&replay, &[]))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout());
}

#[tokio::test]
async fn a_stopped_replay_refuses_connections() {
    let replay = start(ReplayFeed::recorded(), ReleaseSchedule::All).await;
    let url = products_url(&replay, &[]);
    assert_eq!(get(&url).await.0, 200);
    replay.stop().await;
    let error = reqwest::Client::new()
        .get(&url)
        .header("connection", "close")
        .send()
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
}

#[tokio::test]
async fn synthetic_products_are_served_like_recorded_ones() {
    let feed = ReplayFeed::synthetic(
        2500,
        "2026-01-01T00:00:00Z".parse().unwrap(),
        Duration::from_secs(1),
    );
    let replay = start(feed, ReleaseSchedule::All).await;
    let page = get_json(&products_url(
        &replay,
        &[
            (
                "$filter",
                "Collection/Name eq 'SENTINEL-2' and PublicationDate gt 2026-01-01T00:00:00Z",
            ),
            ("$top", "1000"),
            ("$count", "true"),
        ],
    ))
    .await;
    assert_eq!(page["@odata.count"], 2499);
    assert_eq!(page["value"].as_array().unwrap().len(), 1000);
}

#[tokio::test]
async fn a_deleted_product_leaves_products_and_is_served_in_deleted_products() {
    let replay = start(ReplayFeed::recorded(), ReleaseSchedule::All).await;
    let all = get_json(&products_url(&replay, &[("$top", "1000")])).await;
    let victim = all["value"][3].clone();
    let id = victim["Id"].as_str().unwrap();
    assert!(replay.delete(id, "Duplicated product"));
    assert!(!replay.delete("no-such-id", "Duplicated product"));

    let after = get_json(&products_url(&replay, &[("$top", "1000")])).await;
    assert_eq!(after["value"].as_array().unwrap().len(), 38);
    let deleted = get_json(&format!(
        "{}/DeletedProducts?{}",
        replay.url(),
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("$filter", "DeletionDate ge 2000-01-01T00:00:00Z")
            .append_pair("$orderby", "DeletionDate asc")
            .append_pair("$expand", "Attributes")
            .finish()
    ))
    .await;
    assert_eq!(
        deleted["@odata.context"],
        "$metadata#DeletedProducts(Attributes())"
    );
    let entity = &deleted["value"][0];
    assert_eq!(entity["Id"], victim["Id"]);
    assert_eq!(entity["Name"], victim["Name"]);
    assert_eq!(entity["DeletionCause"], "Duplicated product");
    assert!(entity["DeletionDate"].as_str().unwrap().ends_with('Z'));
    // The deletion set is ordered by its own date, as CDSE's is.
    let (status, _, body) = get(&format!(
        "{}/DeletedProducts?%24orderby=PublicationDate+asc",
        replay.url()
    ))
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("only `DeletionDate asc` is served"), "{body}");
}

#[tokio::test]
async fn with_an_account_only_requests_bearing_a_live_token_are_served() {
    let replay = ReplayFeed::recorded()
        .start(ReplayOptions {
            account: Some(nrt_cdse_replay::Account {
                username: "ops".into(),
                password: "secret".into(),
                access_lifetime: Duration::from_secs(1),
                refresh_lifetime: Duration::from_secs(60),
            }),
            ..ReplayOptions::default()
        })
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let url = products_url(&replay, &[("$top", "1")]);
    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");

    let grant = |form: Vec<(&'static str, String)>| {
        let client = client.clone();
        let token_url = replay.token_url();
        async move {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish();
            let response = client
                .post(token_url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, refused) = grant(vec![
        ("grant_type", "password".into()),
        ("client_id", "cdse-public".into()),
        ("username", "ops".into()),
        ("password", "wrong".into()),
    ])
    .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (401, Some("invalid_grant"))
    );
    let (status, tokens) = grant(vec![
        ("grant_type", "password".into()),
        ("client_id", "cdse-public".into()),
        ("username", "ops".into()),
        ("password", "secret".into()),
    ])
    .await;
    assert_eq!(status, 200);
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let served = client.get(&url).bearer_auth(&access).send().await.unwrap();
    assert_eq!(served.status(), 200);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = client.get(&url).bearer_auth(&access).send().await.unwrap();
    assert_eq!(expired.status(), 401);
    let (status, renewed) = grant(vec![
        ("grant_type", "refresh_token".into()),
        ("client_id", "cdse-public".into()),
        (
            "refresh_token",
            tokens["refresh_token"].as_str().unwrap().into(),
        ),
    ])
    .await;
    assert_eq!(status, 200);
    let served = client
        .get(&url)
        .bearer_auth(renewed["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(
        replay.token_grants(),
        ["password", "password", "refresh_token"]
    );
}
