use super::*;
use crate::{config::SourceConfig, testing::load_text};

fn bucket_table(extra: &str) -> String {
    format!(
        "[[feeds]]\nname = \"landing\"\nkind = \"s3-bucket\"\nbucket = \"eodata-landing\"\n\
         {extra}[feeds.s3]\nregion = \"eu-central-1\"\n"
    )
}

fn bucket(text: &str) -> BucketSource {
    match load_text(text).unwrap().feeds.remove(0).source {
        SourceConfig::S3Bucket(source) => source,
        other => panic!("{other:?} is not a bucket feed"),
    }
}

fn error_text(text: &str) -> String {
    nrt_nats::describe_error(&load_text(text).unwrap_err())
}

#[test]
fn a_bucket_feed_takes_events_and_listing_by_default() {
    let source = bucket(&bucket_table(""));
    assert_eq!(source.bucket, "eodata-landing");
    assert_eq!(source.prefix, "");
    assert_eq!(source.markers, DEFAULT_MARKERS.map(str::to_owned));
    assert!(source.events && source.reconcile);
    assert_eq!(source.settle, DEFAULT_SETTLE);
    assert_eq!(source.s3.endpoint, None, "no endpoint: AWS itself");
    assert_eq!(source.s3.region, "eu-central-1");
}

#[test]
fn every_bucket_key_is_read() {
    let source = bucket(&bucket_table(
        "prefix = \"Sentinel-1/\"\nmarkers = [\"manifest.safe\"]\nevents = false\n\
         reconcile_settle_secs = 90\ncollection = \"GAIA-DR3\"\n\
         product_type = \"EPOCH_PHOTOMETRY\"\n",
    ));
    assert_eq!(source.prefix, "Sentinel-1/");
    assert_eq!(source.markers, ["manifest.safe"]);
    assert!(!source.events && source.reconcile);
    assert_eq!(source.settle, Duration::from_secs(90));
    assert_eq!(source.collection.as_deref(), Some("GAIA-DR3"));
    assert_eq!(source.product_type.as_deref(), Some("EPOCH_PHOTOMETRY"));
}

#[test]
fn each_bad_bucket_key_is_refused_by_name() {
    let table = |extra: &str| bucket_table(extra);
    let cases = [
        (
            "[[feeds]]\nname = \"landing\"\nkind = \"s3-bucket\"\n[feeds.s3]\nregion = \"x\"\n"
                .to_owned(),
            "configuration key feeds[0].bucket is invalid: is required",
        ),
        (
            "[[feeds]]\nname = \"landing\"\nkind = \"s3-bucket\"\nbucket = \"eodata\"\n".to_owned(),
            "configuration key feeds[0].s3 is invalid: is required",
        ),
        (
            table("").replace("eodata-landing", "EOData_Landing"),
            "configuration key feeds[0].bucket is invalid: \"EOData_Landing\" is not an S3 bucket \
             name",
        ),
        (
            table("markers = []\n"),
            "configuration key feeds[0].markers is invalid: needs at least one non-empty key suffix",
        ),
        (
            table("markers = [\"\"]\n"),
            "configuration key feeds[0].markers is invalid: needs at least one non-empty key suffix",
        ),
        (
            table("events = false\nreconcile = false\n"),
            "configuration key feeds[0].events is invalid: with reconcile = false too, nothing \
             would ever be seen",
        ),
        (
            table("reconcile_settle_secs = -1\n"),
            "configuration key feeds[0].reconcile_settle_secs is invalid: -1 is not a number of \
             seconds",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(error_text(&text), expected, "{text}");
    }
}

#[test]
fn a_misspelt_bucket_key_is_named_with_the_ones_accepted() {
    let error = error_text(&bucket_table("marker = [\"x.zip\"]\n"));
    assert!(
        error.contains("as a s3-bucket feed") && error.contains("unknown field `marker`"),
        "{error}"
    );
    assert!(error.contains("markers"), "{error}");
}
