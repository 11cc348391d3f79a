use serde_json::json;
use url::Url;

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/fixtures/stac");

fn recorded(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

fn source() -> StacSource {
    StacSource::new(
        Url::parse("https://earth-search.aws.element84.com/v1").unwrap(),
        vec!["sentinel-2-l2a".into(), "sentinel-1-grd".into()],
    )
}

fn since() -> DateTime<Utc> {
    "2025-07-31T14:13:07.597Z".parse().unwrap()
}

fn cloud_cover_at_most_40() -> Map<String, Value> {
    json!({"op": "<=", "args": [{"property": "eo:cloud_cover"}, 40]})
        .as_object()
        .unwrap()
        .clone()
}

fn query(url: &Url) -> Vec<(String, String)> {
    url.query_pairs().into_owned().collect()
}

#[test]
fn a_post_search_asks_for_items_at_or_after_the_cursor_sorted_by_the_time_property() {
    let mut source = source();
    source.area = Some(SearchArea::Bbox([5.9, 45.8, 10.5, 47.8]));
    source.datetime = Some("2025-01-01T00:00:00Z/..".into());
    source.filter = Some(cloud_cover_at_most_40());
    source.page_size = 250;
    let request = search_request(&source, since()).unwrap();
    assert_eq!(request.method, Method::POST);
    assert_eq!(
        request.url.as_str(),
        "https://earth-search.aws.element84.com/v1/search"
    );
    assert_eq!(
        request.body.unwrap(),
        json!({
            "collections": ["sentinel-2-l2a", "sentinel-1-grd"],
            "bbox": [5.9, 45.8, 10.5, 47.8],
            "datetime": "2025-01-01T00:00:00Z/..",
            "limit": 250,
            "sortby": [{"field": "properties.updated", "direction": "asc"}],
            "filter-lang": "cql2-json",
            "filter": {"op": "and", "args": [
                {"op": ">=", "args": [
                    {"property": "updated"},
                    {"timestamp": "2025-07-31T14:13:07.597000Z"},
                ]},
                {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 40]},
            ]},
        })
    );
}

#[test]
fn without_a_filter_of_its_own_the_cursor_clause_is_the_whole_filter() {
    let mut source = source();
    source.time_property = "created".into();
    let body = search_request(&source, since()).unwrap().body.unwrap();
    assert_eq!(
        body["filter"],
        json!({"op": ">=", "args": [
            {"property": "created"},
            {"timestamp": "2025-07-31T14:13:07.597000Z"},
        ]})
    );
    assert_eq!(
        body["sortby"],
        json!([{"field": "properties.created", "direction": "asc"}])
    );
    assert_eq!(body.get("datetime"), None);
    assert_eq!(body.get("bbox"), None);
}

#[test]
fn following_datetime_still_filters_by_comparison_and_keeps_the_feeds_own_interval() {
    let mut source = source();
    source.time_property = "datetime".into();
    source.datetime = Some("2024-01-01T00:00:00Z/2024-12-31T23:59:59Z".into());
    let body = search_request(&source, since()).unwrap().body.unwrap();
    assert_eq!(body["filter"]["args"][0], json!({"property": "datetime"}));
    assert_eq!(
        body["datetime"],
        "2024-01-01T00:00:00Z/2024-12-31T23:59:59Z"
    );
}

#[test]
fn an_area_of_interest_as_geometry_is_sent_as_intersects() {
    let mut source = source();
    let point = json!({"type": "Point", "coordinates": [-105.1019, 40.1672]});
    source.area = Some(SearchArea::Intersects(
        serde_json::from_value(point.clone()).unwrap(),
    ));
    let body = search_request(&source, since()).unwrap().body.unwrap();
    assert_eq!(body["intersects"], point);
    assert_eq!(body.get("bbox"), None);
}

#[test]
fn a_get_search_carries_the_same_search_in_the_query_with_the_filter_as_cql2_text() {
    let mut source = source();
    source.method = SearchMethod::Get;
    source.area = Some(SearchArea::Bbox([-180.0, -90.0, 180.0, 90.0]));
    source.filter = Some(cloud_cover_at_most_40());
    source.page_size = 5;
    let request = search_request(&source, since()).unwrap();
    assert_eq!(
        (request.method.clone(), request.body.clone()),
        (Method::GET, None)
    );
    assert_eq!(
        request.url.as_str().split('?').next(),
        Some("https://earth-search.aws.element84.com/v1/search")
    );
    let mut pairs = query(&request.url);
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("bbox", "-180,-90,180,90"),
            ("collections", "sentinel-2-l2a,sentinel-1-grd"),
            (
                "filter",
                "updated >= TIMESTAMP('2025-07-31T14:13:07.597Z') AND eo:cloud_cover <= 40"
            ),
            ("filter-lang", "cql2-text"),
            ("limit", "5"),
            ("sortby", "properties.updated"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
    );
}

#[test]
fn a_trailing_slash_or_query_on_the_api_url_does_not_leak_into_the_search() {
    let mut source = source();
    source.url = Url::parse("http://127.0.0.1:8080/stac/?stale=1#top").unwrap();
    let request = search_request(&source, since()).unwrap();
    assert_eq!(request.url.as_str(), "http://127.0.0.1:8080/stac/search");
}

/// The request a feed would have sent for the recorded page.
fn our_search() -> HttpRequest {
    let mut source = source();
    source.filter = Some(cloud_cover_at_most_40());
    search_request(&source, since()).unwrap()
}

#[test]
fn a_recorded_page_keeps_its_items_raw_and_its_post_next_link_keeps_our_search() {
    let request = our_search();
    let page = parse_page(
        &request,
        &recorded(
            "earth-search-v1_search_cql2-filter-cloud-cover_mixed-s1-grd_s2-l1c_s2-l2a_s2-c1-l2a.json",
        ),
    )
    .unwrap();
    assert_eq!(page.entries.len(), 10);
    let first: Value = serde_json::from_str(page.entries[0].get()).unwrap();
    assert_eq!(
        first["id"],
        "S1A_IW_GRDH_1SSH_20250731T135702_20250731T135722_060328_077F7E"
    );
    let next = page.next.unwrap();
    assert_eq!(next.method, Method::POST);
    assert_eq!(
        next.url.as_str(),
        "https://earth-search.aws.element84.com/v1/search"
    );
    // The link carries only its token (merge: false): our search comes with it, or page two
    // would be the unfiltered catalogue.
    let mut expected = request.body.unwrap();
    expected["next"] =
        json!("2025-07-31T13:03:25.899000Z,S2B_T24MVV_20250731T130245_L2A,sentinel-2-c1-l2a");
    assert_eq!(next.body.unwrap(), expected);
}

#[test]
fn values_a_post_next_link_gives_replace_ours() {
    let request = our_search();
    let page = parse_page(
        &request,
        &recorded("earth-search-v1_search_sentinel-2-l2a_and_landsat-c2-l2_page1.json"),
    )
    .unwrap();
    assert_eq!(page.entries.len(), 2);
    let body = page.next.unwrap().body.unwrap();
    assert_eq!(
        body["collections"],
        json!(["sentinel-2-l2a", "landsat-c2-l2"]),
        "the link's own collections win"
    );
    assert_eq!(
        body["datetime"],
        "2023-10-08T00:00:00Z/2023-10-08T23:59:59Z"
    );
    assert_eq!(
        body["next"],
        "2023-10-08T17:37:26.656958Z,LC08_L2SP_033032_20231008_02_T1,landsat-c2-l2"
    );
    assert_eq!(
        body["filter"],
        request.body.unwrap()["filter"],
        "what it left out is ours"
    );
}

#[test]
fn a_get_next_link_is_followed_as_given() {
    let page = parse_page(
        &our_search(),
        &recorded("earth-search-v1_search_sentinel-2-l1c_limit1.json"),
    )
    .unwrap();
    assert_eq!(page.entries.len(), 1);
    let next = page.next.unwrap();
    assert_eq!((next.method, next.body), (Method::GET, None));
    assert!(
        next.url.as_str().starts_with(
            "https://earth-search.aws.element84.com/v1/collections/sentinel-2-l1c/items?"
        ),
        "{}",
        next.url
    );
}

#[test]
fn the_recorded_last_page_ends_the_poll() {
    let page = parse_page(
        &our_search(),
        &recorded("earth-search-v1_search_sentinel-2-l2a_and_landsat-c2-l2_page2_empty.json"),
    )
    .unwrap();
    assert!(page.entries.is_empty());
    assert!(page.next.is_none());
}

fn page_linking(link: Value) -> Vec<u8> {
    json!({"type": "FeatureCollection", "features": [{"id": "a"}], "links": [link]})
        .to_string()
        .into_bytes()
}

#[test]
fn a_merging_link_adds_its_body_and_headers_to_the_current_request() {
    let mut request = our_search();
    request
        .headers
        .insert("x-session", HeaderValue::from_static("s1"));
    let page = parse_page(
        &request,
        &page_linking(json!({
            "rel": "next", "href": "search", "method": "POST", "merge": true,
            "body": {"token": "next:abc", "limit": 10},
            "headers": {"X-Page": "2", "Accept-Language": ["en", "fr"]},
        })),
    )
    .unwrap();
    let next = page.next.unwrap();
    let mut expected = request.body.clone().unwrap();
    expected["token"] = json!("next:abc");
    expected["limit"] = json!(10);
    assert_eq!(next.body.clone().unwrap(), expected);
    assert_eq!(
        next.url.as_str(),
        "https://earth-search.aws.element84.com/v1/search"
    );
    assert_eq!(next.headers["x-session"], "s1");
    assert_eq!(next.headers["x-page"], "2");
    let languages: Vec<_> = next.headers.get_all("accept-language").iter().collect();
    assert_eq!(languages, ["en", "fr"]);
    // Headers may carry a token: the page's name in logs leaves them out.
    assert!(!next.to_string().contains("x-page"));
}

#[test]
fn a_link_without_merge_drops_the_headers_of_the_current_request() {
    let mut request = our_search();
    request
        .headers
        .insert("x-session", HeaderValue::from_static("s1"));
    let next = parse_page(
        &request,
        &page_linking(json!({"rel": "next", "href": "https://other.example/search?page=2"})),
    )
    .unwrap()
    .next
    .unwrap();
    assert_eq!(next.method, Method::GET);
    assert!(next.headers.is_empty());
}

#[test]
fn links_that_cannot_be_followed_are_errors_naming_the_page() {
    for (link, problem) in [
        (
            json!({"rel": "next", "href": "search", "method": "PUT"}),
            "method \"PUT\" is neither GET nor POST",
        ),
        (
            json!({"rel": "next", "href": "search", "headers": {"bad header": "x"}}),
            "\"bad header\" is not a header name",
        ),
        (
            json!({"rel": "next", "href": "search", "headers": {"x-page": 2}}),
            "header x-page is 2, not a string",
        ),
        (json!({"rel": "next"}), "missing field `href`"),
    ] {
        let error = parse_page(&our_search(), &page_linking(link.clone())).unwrap_err();
        assert!(matches!(error, Error::UnfollowableLink { .. }), "{link}");
        assert!(!error.is_transient());
        let text = error.to_string();
        assert!(
            text.starts_with("https://earth-search.aws.element84.com/v1/search answered"),
            "{text}"
        );
        assert!(text.contains(problem), "{text}");
    }
}

#[test]
fn a_next_link_back_to_the_same_page_is_refused_rather_than_followed_forever() {
    let request = search_request(
        &StacSource {
            method: SearchMethod::Get,
            ..source()
        },
        since(),
    )
    .unwrap();
    let error = parse_page(
        &request,
        &page_linking(json!({"rel": "next", "href": request.url.as_str()})),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("asks for the page it is on"),
        "{error}"
    );
}

#[test]
fn bodies_that_are_not_item_collections_are_transient_errors_naming_the_url() {
    for body in [
        &b"<html>502 Bad Gateway</html>"[..],
        br#"{"type": "FeatureCollection", "links": []}"#,
        br#"{"type": "FeatureCollection", "features": [{"id": "a"}"#,
    ] {
        let error = parse_page(&our_search(), body).unwrap_err();
        assert!(matches!(error, Error::Malformed { .. }), "{error}");
        assert!(error.is_transient());
        assert!(
            error
                .to_string()
                .contains("https://earth-search.aws.element84.com/v1/search")
        );
    }
}
