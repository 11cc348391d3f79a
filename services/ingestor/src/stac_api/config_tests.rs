use std::time::Duration;

use serde_json::json;

use super::*;
use crate::{
    config::{FeedConfig, SourceConfig},
    testing::load_text,
};

const API: &str = "https://earth-search.aws.element84.com/v1";

fn feed_table(extra: &str) -> String {
    format!(
        "[[feeds]]\nname = \"earth-search\"\nkind = \"stac-api\"\nurl = \"{API}\"\n\
         collections = [\"sentinel-2-l2a\"]\n{extra}"
    )
}

fn stac(text: &str) -> StacSource {
    match load_text(text).unwrap().feeds.remove(0).source {
        SourceConfig::StacApi(source) => source,
        other => panic!("{other:?} is not a STAC feed"),
    }
}

fn error_text(text: &str) -> String {
    nrt_nats::describe_error(&load_text(text).unwrap_err())
}

#[test]
fn a_full_stac_feed_table_sets_every_key() {
    let config = load_text(&format!(
        "[[feeds]]\nname = \"earth-search\"\nkind = \"stac-api\"\nurl = \"{API}\"\n\
         collections = [\"sentinel-2-l2a\", \"sentinel-2-c1-l2a\"]\n\
         bbox = [5.9, 45.8, 10.5, 47.8]\n\
         datetime = \"2026-01-01T00:00:00Z/..\"\n\
         filter = {{ op = \"<=\", args = [{{ property = \"eo:cloud_cover\" }}, 30] }}\n\
         page_size = 500\ntime_property = \"created\"\nmethod = \"get\"\n\
         collection = \"SENTINEL-2\"\nproduct_type = \"S2MSI2A\"\npoll_interval_secs = 30\n"
    ))
    .unwrap();
    let mut source = StacSource::new(
        Url::parse(API).unwrap(),
        vec!["sentinel-2-l2a".into(), "sentinel-2-c1-l2a".into()],
    );
    source.area = Some(SearchArea::Bbox([5.9, 45.8, 10.5, 47.8]));
    source.datetime = Some("2026-01-01T00:00:00Z/..".into());
    source.filter = Some(
        json!({"op": "<=", "args": [{"property": "eo:cloud_cover"}, 30]})
            .as_object()
            .unwrap()
            .clone(),
    );
    source.page_size = 500;
    source.time_property = "created".into();
    source.method = SearchMethod::Get;
    source.collection = Some("SENTINEL-2".into());
    source.product_type = Some("S2MSI2A".into());
    let mut expected = FeedConfig::new("earth-search", SourceConfig::StacApi(source));
    expected.poll_interval = Duration::from_secs(30);
    assert_eq!(config.feeds, [expected]);
    assert_eq!(config.feeds[0].source.kind(), "stac-api");
}

#[test]
fn omitted_stac_keys_take_the_documented_defaults() {
    assert_eq!(
        stac(&feed_table("")),
        StacSource::new(Url::parse(API).unwrap(), vec!["sentinel-2-l2a".into()])
    );
    let source = stac(&feed_table(""));
    assert_eq!(
        (
            source.page_size,
            source.time_property.as_str(),
            source.method
        ),
        (100, "updated", SearchMethod::Post)
    );
}

#[test]
fn a_filter_may_be_written_as_the_cql2_json_an_api_documents() {
    let as_text = stac(&feed_table(
        "filter = '{\"op\": \"<=\", \"args\": [{\"property\": \"eo:cloud_cover\"}, 30]}'\n",
    ));
    let as_table = stac(&feed_table(
        "filter = { op = \"<=\", args = [{ property = \"eo:cloud_cover\" }, 30] }\n",
    ));
    assert_eq!(as_text.filter, as_table.filter);
    assert!(as_text.filter.is_some());
}

#[test]
fn an_area_may_be_a_geojson_geometry() {
    let source = stac(&feed_table(
        "intersects = { type = \"Polygon\", coordinates = [[[5.9, 45.8], [10.5, 45.8], \
         [10.5, 47.8], [5.9, 47.8], [5.9, 45.8]]] }\n",
    ));
    let Some(SearchArea::Intersects(geometry)) = source.area else {
        panic!("{:?} is not an intersects area", source.area);
    };
    assert_eq!(
        serde_json::to_value(geometry).unwrap()["coordinates"][0][1],
        json!([10.5, 45.8])
    );
}

#[test]
fn each_bad_stac_key_is_refused_by_name() {
    for (extra, key, reason) in [
        ("bbox = [5.9, 45.8, 10.5]\n", "bbox", "is not four numbers"),
        ("bbox = [\"a\", 1, 2, 3]\n", "bbox", "is not four numbers"),
        (
            "bbox = [5.9, 95.0, 10.5, 47.8]\n",
            "bbox",
            "is not in WGS 84 degrees",
        ),
        (
            "bbox = [5.9, 47.8, 10.5, 45.8]\n",
            "bbox",
            "has south 47.8 above north 45.8",
        ),
        (
            "bbox = [5.9, 45.8, 10.5, 47.8]\nintersects = { type = \"Point\", coordinates = [1, 2] }\n",
            "intersects",
            "cannot be combined with bbox",
        ),
        (
            "intersects = { type = \"Polygon\" }\n",
            "intersects",
            "is not a GeoJSON geometry",
        ),
        (
            "datetime = \"last week\"\n",
            "datetime",
            "is not an RFC 3339 time",
        ),
        (
            "datetime = \"2026-01-01T00:00:00Z/soon\"\n",
            "datetime",
            "\"soon\" is not an RFC 3339 time",
        ),
        ("datetime = \"../..\"\n", "datetime", "is open at both ends"),
        (
            "filter = \"eo:cloud_cover < 30\"\n",
            "filter",
            "is not CQL2-JSON",
        ),
        (
            "filter = [1, 2]\n",
            "filter",
            "is not a CQL2-JSON expression",
        ),
        (
            "filter = { property = \"x\" }\n",
            "filter",
            "is not a CQL2-JSON expression",
        ),
        ("page_size = 0\n", "page_size", "0 is not from 1 to 10000"),
        (
            "page_size = 10001\n",
            "page_size",
            "10001 is not from 1 to 10000",
        ),
        ("page_size = -1\n", "page_size", "-1 must not be negative"),
        (
            "time_property = \"properties.created\"\n",
            "time_property",
            "name the item property itself, e.g. \"created\"",
        ),
        (
            "time_property = \"\"\n",
            "time_property",
            "is not an item property name",
        ),
        (
            "time_property = \"up dated\"\n",
            "time_property",
            "is not an item property name",
        ),
        ("method = \"PUT\"\n", "method", "\"PUT\" is not POST or GET"),
        ("collection = \" \"\n", "collection", "must not be empty"),
        ("product_type = \"\"\n", "product_type", "must not be empty"),
    ] {
        let error = error_text(&feed_table(extra));
        let prefix = format!("configuration key feeds[0].{key} is invalid: ");
        assert!(error.starts_with(&prefix), "{extra}: {error}");
        assert!(error.contains(reason), "{extra}: {error}");
    }
}

#[test]
fn the_url_and_collections_are_required_and_checked() {
    let without = |key: &str| {
        feed_table("")
            .lines()
            .filter(|line| !line.starts_with(key))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        error_text(&without("url")),
        "configuration key feeds[0].url is invalid: is required"
    );
    assert_eq!(
        error_text(&without("collections")),
        "configuration key feeds[0].collections is invalid: is required"
    );
    for (collections, reason) in [
        ("\"sentinel-2-l2a\"", "is not a list of collection ids"),
        ("[]", "needs at least one collection id"),
        ("[\"a\", 3]", "3 is not a collection id (a string)"),
        ("[\"a,b\"]", "\"a,b\" is not a collection id"),
    ] {
        let text = without("collections") + &format!("\ncollections = {collections}\n");
        let error = error_text(&text);
        assert!(
            error.starts_with("configuration key feeds[0].collections is invalid: "),
            "{collections}: {error}"
        );
        assert!(error.contains(reason), "{collections}: {error}");
    }
    let text = feed_table("").replace(API, "ftp://example.org/stac");
    assert!(
        error_text(&text).starts_with("configuration key feeds[0].url is invalid"),
        "{text}"
    );
}

#[test]
fn an_unknown_stac_key_is_named_with_the_kind() {
    let error = error_text(&feed_table("collection_ids = [\"x\"]\n"));
    assert!(error.contains("feeds[0]"), "{error}");
    assert!(error.contains("as a stac-api feed"), "{error}");
    assert!(error.contains("collection_ids"), "{error}");
}
