//! Buckets through the real AWS SDK, and requests signed with the wrong secret.

mod common;

use common::{ACCESS_KEY, BUCKET, Harness};
use nrt_embedded_s3::{EmbeddedS3, EmbeddedS3Options};
use nrt_s3::{S3Config, aws_sdk_s3, aws_sdk_s3::primitives::ByteStream, list_keys, put_bytes};

#[tokio::test]
async fn buckets_are_created_listed_located_and_deleted_only_when_empty() {
    let harness = Harness::start().await;
    let client = &harness.client;

    nrt_s3::ensure_bucket(client, "catalogue").await.unwrap();
    nrt_s3::ensure_bucket(client, "catalogue")
        .await
        .expect("a second ensure is harmless");
    let listed = client.list_buckets().send().await.unwrap();
    let mut names: Vec<&str> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    names.sort();
    assert_eq!(names, ["catalogue", BUCKET]);
    client
        .get_bucket_location()
        .bucket("catalogue")
        .send()
        .await
        .unwrap();

    put_bytes(
        client,
        "catalogue",
        "item.json",
        "{}".into(),
        "application/json",
    )
    .await
    .unwrap();
    let refused = client
        .delete_bucket()
        .bucket("catalogue")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&refused),
        Some("BucketNotEmpty")
    );
    client
        .delete_object()
        .bucket("catalogue")
        .key("item.json")
        .send()
        .await
        .unwrap();
    client
        .delete_bucket()
        .bucket("catalogue")
        .send()
        .await
        .unwrap();
    assert!(
        client
            .head_bucket()
            .bucket("catalogue")
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn wrong_secret_key_is_refused_with_403() {
    let harness = Harness::start().await;
    let intruder = nrt_s3::client(&S3Config::local(
        harness.s3.endpoint(),
        ACCESS_KEY,
        "not-the-secret",
    ))
    .await;

    let error = intruder
        .put_object()
        .bucket(BUCKET)
        .key("x.txt")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(403));

    let error = put_bytes(&intruder, BUCKET, "x.txt", "x".into(), "text/plain")
        .await
        .unwrap_err();
    assert!(!error.is_transient(), "{error}");
    assert!(
        error.to_string().contains("SignatureDoesNotMatch"),
        "{error}"
    );
    assert!(
        list_keys(&harness.client, BUCKET, "")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn start_refuses_an_invalid_bucket_name() {
    let dir = tempfile::tempdir().unwrap();
    let error = EmbeddedS3::start(EmbeddedS3Options {
        buckets: vec!["Not_A_Bucket".into()],
        ..EmbeddedS3Options::local(dir.path(), ACCESS_KEY, "secret")
    })
    .await
    .err()
    .expect("start fails");
    assert!(error.to_string().contains("\"Not_A_Bucket\""), "{error}");
}
