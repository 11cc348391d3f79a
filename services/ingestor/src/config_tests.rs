use super::*;
use crate::{
    auth::Credentials,
    odata::{AttributeFilter, AttributeValue, Comparison, OdataSource},
    testing::load_text,
};

const CDSE: &str = "https://catalogue.dataspace.copernicus.eu/odata/v1";

fn feed_table(extra: &str) -> String {
    format!("[[feeds]]\nname = \"cdse\"\nkind = \"cdse-odata\"\nurl = \"{CDSE}\"\n{extra}")
}

fn error_text(text: &str) -> String {
    nrt_nats::describe_error(&load_text(text).unwrap_err())
}

#[test]
fn a_full_feed_table_sets_every_key() {
    let config = load_text(&feed_table(
        "collection = \"SENTINEL-2\"\nproduct_type = \"S2MSI1C\"\npoll_interval_secs = 0.5\n\
         page_size = 1000\nstart_from = \"2026-01-01T00:00:00Z\"\nrequest_timeout_secs = 10\n\
         alert_after_failures = 4\nretry_attempts = 2\nretry_min_delay_secs = 0.1\n\
         retry_max_delay_secs = 5\nstalled_after_secs = 3600\nmax_body_bytes = 1048576\n\
         deletions = true\n\
         area = \"POLYGON((10 50, 11 50, 11 51, 10 51, 10 50))\"\n\
         username = \"ops@example.org\"\npassword = \"hunter2\"\n\
         [feeds.attributes]\norbitDirection = \"DESCENDING\"\nrelativeOrbitNumber = 15\n\
         cloudCover = { le = 30.0 }\n",
    ))
    .unwrap();
    let mut source = OdataSource::new(Url::parse(CDSE).unwrap());
    source.collection = Some("SENTINEL-2".into());
    source.product_type = Some("S2MSI1C".into());
    source.page_size = 1000;
    source.deletions = true;
    source.area = Some("POLYGON((10 50, 11 50, 11 51, 10 51, 10 50))".into());
    source.credentials = Some(Credentials {
        token_url: Url::parse(crate::odata::CDSE_TOKEN_URL).unwrap(),
        client_id: "cdse-public".into(),
        username: "ops@example.org".into(),
        password: nrt_runtime::Secret::new("hunter2"),
    });
    source.attributes = [
        (
            "orbitDirection",
            Comparison::Eq,
            AttributeValue::String("DESCENDING".into()),
        ),
        (
            "relativeOrbitNumber",
            Comparison::Eq,
            AttributeValue::Integer(15),
        ),
        ("cloudCover", Comparison::Le, AttributeValue::Double(30.0)),
    ]
    .into_iter()
    .map(|(name, operator, value)| (name.to_owned(), AttributeFilter { operator, value }))
    .collect();
    assert_eq!(
        config.feeds,
        [FeedConfig {
            name: "cdse".into(),
            source: SourceConfig::CdseOdata(source),
            poll_interval: Duration::from_millis(500),
            start_from: Some("2026-01-01T00:00:00Z".parse().unwrap()),
            request_timeout: Duration::from_secs(10),
            max_body_bytes: 1_048_576,
            alert_after_failures: 4,
            stalled_after: Some(Duration::from_secs(3600)),
            retry: RetryPolicy {
                attempts: 2,
                min_delay: Duration::from_millis(100),
                max_delay: Duration::from_secs(5),
            },
        }]
    );
    assert_eq!(config.health.listen, Some("0.0.0.0:9090".parse().unwrap()));
}

#[test]
fn a_password_is_never_printed_with_the_config() {
    let config = load_text(&feed_table("username = \"ops\"\npassword = \"hunter2\"\n")).unwrap();
    let printed = format!("{config:?}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(printed.contains("[redacted]"));
}

#[test]
fn a_username_without_password_is_refused() {
    assert_eq!(
        error_text(&feed_table("username = \"ops\"\n")),
        "configuration key feeds[0].password is invalid: is required with username"
    );
}

#[test]
fn bad_attribute_filters_and_areas_are_named() {
    for (extra, expected) in [
        (
            "[feeds.attributes]\ncloudCover = { below = 30.0 }\n",
            "configuration key feeds[0].attributes.cloudCover is invalid: \"below\" is not one of eq, lt, le, gt, ge",
        ),
        (
            "[feeds.attributes]\norbitDirection = { le = \"A\" }\n",
            "configuration key feeds[0].attributes.orbitDirection is invalid: strings can only be compared with eq",
        ),
        (
            "[feeds.attributes]\ncloudCover = { ge = 1, le = 30 }\n",
            "configuration key feeds[0].attributes.cloudCover is invalid: takes exactly one comparison, e.g. { le = 30.0 }",
        ),
        (
            "area = \"10 50\"\n",
            "configuration key feeds[0].area is invalid: \"10 50\" is not WKT: no coordinates in parentheses",
        ),
        (
            "area = \"CIRCLE((10 50))\"\n",
            "configuration key feeds[0].area is invalid: \"CIRCLE\" is not one of POLYGON, MULTIPOLYGON, POINT, LINESTRING",
        ),
        (
            "area = \"POLYGON((10 50, 11 50)\"\n",
            "configuration key feeds[0].area is invalid: has unbalanced parentheses",
        ),
        (
            "area = \"POLYGON((10 50'); DROP\"\n",
            "configuration key feeds[0].area is invalid: '\\'' does not belong in WKT coordinates",
        ),
    ] {
        assert_eq!(error_text(&feed_table(extra)), expected, "{extra}");
    }
}

#[test]
fn omitted_feed_keys_take_the_documented_defaults() {
    let config = load_text(&feed_table("")).unwrap();
    assert_eq!(
        config.feeds,
        [FeedConfig::cdse("cdse", Url::parse(CDSE).unwrap())]
    );
}

#[test]
fn the_environment_overrides_nested_keys() {
    // SAFETY: no other test of this crate reads or writes INGESTOR__NATS__URL.
    unsafe { std::env::set_var("INGESTOR__NATS__URL", "nats://nats-0:4222") };
    let config = load_text(&feed_table(""));
    unsafe { std::env::remove_var("INGESTOR__NATS__URL") };
    assert_eq!(config.unwrap().nats.url, "nats://nats-0:4222");
}

#[test]
fn no_feed_at_all_is_refused() {
    assert_eq!(
        load(None).unwrap_err().to_string(),
        "configuration key feeds is invalid: no feed is configured; add a [[feeds]] table"
    );
}

#[test]
fn a_missing_required_key_is_named_with_its_feed_index() {
    let text = format!(
        "{}[[feeds]]\nname = \"second\"\nkind = \"cdse-odata\"\n",
        feed_table("")
    );
    assert_eq!(
        error_text(&text),
        "configuration key feeds[1].url is invalid: is required"
    );
}

#[test]
fn invalid_values_are_refused_by_key() {
    for (extra, key) in [
        ("page_size = 1001\n", "feeds[0].page_size"),
        ("page_size = 0\n", "feeds[0].page_size"),
        ("page_size = -5\n", "feeds[0].page_size"),
        ("poll_interval_secs = 0\n", "feeds[0].poll_interval_secs"),
        (
            "request_timeout_secs = -1\n",
            "feeds[0].request_timeout_secs",
        ),
        ("start_from = \"yesterday\"\n", "feeds[0].start_from"),
        (
            "alert_after_failures = 0\n",
            "feeds[0].alert_after_failures",
        ),
        ("collection = \"\"\n", "feeds[0].collection"),
        (
            "retry_min_delay_secs = 10\nretry_max_delay_secs = 1\n",
            "feeds[0].retry_min_delay_secs",
        ),
    ] {
        let error = error_text(&feed_table(extra));
        assert!(
            error.starts_with(&format!("configuration key {key} is invalid")),
            "{extra}: {error}"
        );
    }
}

#[test]
fn a_bad_url_kind_or_name_is_refused_by_key() {
    let text = "[[feeds]]\nname = \"a\"\nkind = \"cdse-odata\"\nurl = \"not a url\"\n";
    assert!(error_text(text).starts_with("configuration key feeds[0].url is invalid"));
    let text = "[[feeds]]\nname = \"a\"\nkind = \"cdse-odata\"\nurl = \"ftp://example.org/x\"\n";
    assert!(error_text(text).starts_with("configuration key feeds[0].url is invalid"));
    let text = format!("[[feeds]]\nname = \"a\"\nkind = \"stac\"\nurl = \"{CDSE}\"\n");
    assert!(error_text(&text).contains("feeds[0].kind is invalid: \"stac\""));
    let text = format!("[[feeds]]\nname = \"a b\"\nkind = \"cdse-odata\"\nurl = \"{CDSE}\"\n");
    assert!(error_text(&text).starts_with("configuration key feeds[0].name is invalid"));
}

#[test]
fn duplicate_feed_names_are_refused() {
    let text = format!("{}{}", feed_table(""), feed_table(""));
    assert_eq!(
        error_text(&text),
        "configuration key feeds[1].name is invalid: \"cdse\" is already the name of feeds[0]"
    );
}

#[test]
fn an_unknown_feed_key_is_named() {
    let error = error_text(&feed_table("pagesize = 10\n"));
    assert!(error.contains("pagesize"), "{error}");
}

#[test]
fn the_example_file_loads() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/ingestor.example.toml");
    let config = load(Some(Path::new(example))).unwrap();
    let names: Vec<&str> = config.feeds.iter().map(|feed| feed.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "cdse-s2-l1c",
            "cdse-s1-grd",
            "earth-search-s2-l2a",
            "eodata-landing"
        ]
    );
    assert_eq!(config.feeds[1].poll_interval, Duration::from_secs(60));
    assert_eq!(config.feeds[2].source.kind(), "stac-api");
    assert_eq!(config.feeds[3].source.kind(), "s3-bucket");
}
