//! A `stac-api` feed against a real STAC API (stac-fastapi-pgstac on PostgreSQL + PostGIS)
//! serving the recorded CDSE and Earth Search items: each discovered once across polls and a
//! restart, items added later found by the next poll, unreadable items in the DLQ; and a GET
//! feed paging through the real API with its filter as CQL2 text.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use common::*;
use ingestor::{
    FeedConfig, SourceConfig,
    feed::PolledFeed,
    stac_api::{SearchArea, SearchMethod, StacFeed, StacSource},
};
use nrt_events::{DeadLetter, ProductDiscovered};
use nrt_stac_server::StacServer;
use serde_json::{Value, json};
use url::Url;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/fixtures");

fn recorded(path: &str) -> Value {
    serde_json::from_slice(&std::fs::read(format!("{FIXTURES}/{path}")).unwrap()).unwrap()
}

const CDSE_ITEMS: [&str; 3] = [
    "cdse-stac/item_sentinel-1-grd_S1A_IW_GRDH_1SDV_20240607T000653_20240607T000718_054210_0697DA_6EE4_COG.json",
    "cdse-stac/item_sentinel-2-l1c_S2A_MSIL1C_20240116T000741_N0510_R130_T51CVP_20240116T010505.json",
    "cdse-stac/item_sentinel-2-l2a_S2A_MSIL2A_20220217T183431_N0510_R027_T13VEK_20240516T022440.json",
];
const EARTH_SEARCH_PAGES: [&str; 3] = [
    "stac/earth-search-v1_search_sentinel-2-l1c_limit1.json",
    "stac/earth-search-v1_search_sentinel-2-l2a_and_landsat-c2-l2_page1.json",
    "stac/earth-search-v1_search_cql2-filter-cloud-cover_mixed-s1-grd_s2-l1c_s2-l2a_s2-c1-l2a.json",
];
const COLLECTIONS: [&str; 5] = [
    "sentinel-1-grd",
    "sentinel-2-l1c",
    "sentinel-2-l2a",
    "sentinel-2-c1-l2a",
    "landsat-c2-l2",
];

/// Every recorded item, oldest `updated` first.
fn recorded_items() -> Vec<Value> {
    let mut items: Vec<Value> = CDSE_ITEMS.iter().map(|path| recorded(path)).collect();
    for page in EARTH_SEARCH_PAGES {
        items.extend(
            recorded(page)["features"]
                .as_array()
                .unwrap()
                .iter()
                .cloned(),
        );
    }
    items.sort_by_key(updated);
    items
}

fn updated(item: &Value) -> chrono::DateTime<chrono::Utc> {
    item["properties"]["updated"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn id(item: &Value) -> &str {
    item["id"].as_str().unwrap()
}

/// A STAC API holding the recorded collections: CDSE's, then Earth Search's, which replace the
/// three whose ids they share.
async fn stac_server() -> StacServer {
    let server = StacServer::start().await;
    let mut collections: Vec<Value> = ["sentinel-1-grd", "sentinel-2-l1c", "sentinel-2-l2a"]
        .iter()
        .map(|id| recorded(&format!("cdse-stac/collection_{id}.json")))
        .collect();
    collections.extend(
        recorded("stac/earth-search-v1_collections.json")["collections"]
            .as_array()
            .unwrap()
            .iter()
            .cloned(),
    );
    for collection in &collections {
        server.upsert_collection(collection).await.unwrap();
    }
    server
}

async fn load(server: &StacServer, items: &[Value]) {
    for item in items {
        server.upsert_item(item).await.unwrap();
    }
}

fn stac_feed(name: &str, server: &StacServer) -> FeedConfig {
    let mut source = StacSource::new(
        Url::parse(&server.url()).unwrap(),
        COLLECTIONS.map(str::to_owned).to_vec(),
    );
    // Pages of four: each poll below crosses pages.
    source.page_size = 4;
    let mut feed = FeedConfig::new(name, SourceConfig::StacApi(source));
    feed.start_from = Some("2000-01-01T00:00:00Z".parse().unwrap());
    feed.poll_interval = Duration::from_millis(100);
    feed.request_timeout = Duration::from_secs(5);
    feed
}

/// The mesh's identity of a recorded item, as the fixture states it.
fn expected_key(item: &Value) -> Option<String> {
    let properties = &item["properties"];
    let name = properties["s2:product_uri"]
        .as_str()
        .or(properties["s1:product_identifier"].as_str())
        .unwrap_or(id(item));
    // Landsat items say neither mission nor type: the feed dead-letters them.
    (item["collection"] != "landsat-c2-l2").then(|| nrt_events::product_key(name))
}

#[tokio::test]
async fn every_item_is_discovered_once_across_polls_and_a_restart() {
    let started = Instant::now();
    let (nats, server) = tokio::join!(nats(), stac_server());
    let setup = started.elapsed();
    let items = recorded_items();
    // Three arrivals, in the order a catalogue publishes: the 2022-2025 archive, the items of
    // 31 July 2025 but the last, and the last one while the ingestor is restarted.
    let july: chrono::DateTime<chrono::Utc> = "2025-07-01T00:00:00Z".parse().unwrap();
    let first_new = items.iter().position(|item| updated(item) > july).unwrap();
    let (archive, recent) = items.split_at(first_new);
    let (recent, last) = recent.split_at(recent.len() - 1);
    assert_eq!((archive.len(), recent.len(), last.len()), (6, 9, 1));

    let mut wire = WireTap::open(&nats).await;
    let mut tap = products_tap(&nats).await;
    let mut dead_letters = dead_letters_tap(&nats).await;
    let config = config(&nats, vec![stac_feed("stac", &server)]);
    load(&server, archive).await;
    let ingestor = Ingestor::start(config.clone());
    let mut products = next_products(&mut tap, 5).await;
    let letter: DeadLetter = dead_letters.next(WAIT).await.unwrap().data;
    assert_eq!(
        letter.error,
        "item landsat-c2-l2/LC08_L2SP_033032_20231008_02_T1: properties.constellation is \
         missing, the product name is no Sentinel name, and the feed configures no collection"
    );
    assert!(
        letter
            .subject
            .starts_with(&format!("POST {}/search {{", server.url())),
        "{}",
        letter.subject
    );
    let dead: Value = serde_json::from_str(&letter.payload).unwrap();
    assert_eq!(dead["id"], "LC08_L2SP_033032_20231008_02_T1");

    // Added after the first poll: the next polls find them.
    load(&server, recent).await;
    products.extend(next_products(&mut tap, 7).await);
    let sent_before_restart = wire.keys_until_quiet().await;
    ingestor.stop().await;
    // Each item once: the Earth Search L2A and C1-L2A items of one product are two sends of
    // one key, and JetStream keeps one.
    assert_eq!(sent_before_restart.len(), 14, "{sent_before_restart:?}");
    assert_eq!(stored_product_count(&nats).await, 12);

    let ingestor = Ingestor::start(config);
    load(&server, last).await;
    products.extend(next_products(&mut tap, 1).await);
    let sent_after_restart = wire.keys_until_quiet().await;
    ingestor.stop().await;
    assert_eq!(
        sent_after_restart,
        [expected_key(&last[0]).unwrap()],
        "the restart resumed at the cursor and sent nothing again"
    );

    let expected: BTreeSet<String> = items.iter().filter_map(expected_key).collect();
    let discovered: Vec<&str> = products.iter().map(|p| p.key.as_str()).collect();
    let distinct: BTreeSet<String> = discovered.iter().map(|key| (*key).to_owned()).collect();
    assert_eq!(discovered.len(), distinct.len(), "{discovered:?}");
    assert_eq!(distinct, expected);
    assert_eq!(stored_product_count(&nats).await, 13);
    assert!(tap.drain_raw(QUIET).await.is_empty());
    assert!(dead_letters.drain_raw(QUIET).await.is_empty());

    let cursor = stored_cursor(&nats, "stac").await.unwrap();
    assert_eq!(cursor.published_at, updated(&last[0]));
    assert_eq!(
        cursor.ids_at_cursor,
        BTreeSet::from([format!("sentinel-1-grd/{}", id(&last[0]))])
    );

    let by_key: BTreeMap<&str, &ProductDiscovered> =
        products.iter().map(|p| (p.key.as_str(), p)).collect();
    let cdse = by_key["S2A_MSIL1C_20240116T000741_N0510_R130_T51CVP_20240116T010505"];
    assert_eq!(
        cdse.href.as_deref(),
        Some(
            format!(
                "{}/collections/sentinel-2-l1c/items/{}",
                server.url(),
                cdse.feed_id
            )
            .as_str()
        ),
        "the API's self link"
    );
    assert_eq!(
        (cdse.collection.as_str(), cdse.product_type.as_str()),
        ("SENTINEL-2", "S2MSI1C")
    );
    assert_eq!(cdse.feed, "stac");
    println!(
        "STAC API and nats-server up in {setup:.1?}; the whole test took {:.1?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_get_feed_pages_through_the_real_api_with_its_filter_as_cql2_text() {
    let server = stac_server().await;
    let items = recorded_items();
    load(&server, &items).await;
    // Loaded again, it replaces itself: still one item.
    let again = items
        .iter()
        .find(|item| id(item) == "S2B_T24MVV_20250731T130245_L2A")
        .unwrap();
    server.upsert_item(again).await.unwrap();
    let mut source = StacSource::new(
        Url::parse(&server.url()).unwrap(),
        ["sentinel-2-l1c", "sentinel-2-l2a", "sentinel-2-c1-l2a"]
            .map(str::to_owned)
            .to_vec(),
    );
    source.method = SearchMethod::Get;
    source.page_size = 1;
    // North-east Brazil: not the 20EPT tile of the same day, far south.
    source.area = Some(SearchArea::Bbox([-45.0, -10.0, -30.0, 0.0]));
    source.filter = Some(
        json!({"op": "<=", "args": [{"property": "eo:cloud_cover"}, 50]})
            .as_object()
            .unwrap()
            .clone(),
    );
    let feed_config = FeedConfig::new("stac-get", SourceConfig::StacApi(source.clone()));
    let feed = StacFeed::new(&feed_config, &source).unwrap();

    let mut request = feed.first_request("2025-07-31T14:13:00Z".parse().unwrap());
    assert!(
        request
            .url
            .query()
            .unwrap()
            .contains("filter-lang=cql2-text"),
        "{}",
        request.url
    );
    let mut pages = 0;
    let mut seen = Vec::new();
    loop {
        let page = feed.fetch(&request).await.unwrap();
        pages += 1;
        for (position, entry) in page.entries.iter().enumerate() {
            let read = feed.read_entry(entry, position);
            assert!(read.outcome.is_ok(), "{:?}", read.outcome);
            seen.push((
                read.published_at.unwrap().to_rfc3339(),
                read.identity.unwrap(),
            ));
        }
        match page.next {
            Some(next) => request = next,
            None => break,
        }
    }
    // Left out: the C1-L2A item of tile 24MUV, updated at 14:12:58 (before the cursor); its
    // L2A item, 57 % cloudy; the 20EPT items, outside the box; everything older.
    assert_eq!(
        seen,
        [
            (
                "2025-07-31T14:13:07.597+00:00".to_owned(),
                "sentinel-2-l1c/S2B_24MUV_20250731_0_L1C".to_owned()
            ),
            (
                "2025-07-31T14:13:41.760+00:00".to_owned(),
                "sentinel-2-c1-l2a/S2B_T24MVV_20250731T130245_L2A".to_owned()
            ),
        ]
    );
    assert_eq!(
        pages, 2,
        "one item a page, following the API's GET next link"
    );
}
