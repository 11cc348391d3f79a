//! Objects through the real AWS SDK: round trips, metadata, listings, multipart uploads.

mod common;

use common::{BUCKET, Harness, head_etag};
use nrt_s3::{
    aws_sdk_s3::{
        primitives::ByteStream,
        types::{CompletedMultipartUpload, CompletedPart},
    },
    get_bytes, list_keys, put_bytes,
};

#[tokio::test]
async fn objects_round_trip_with_content_type_and_metadata() {
    let harness = Harness::start().await;
    let client = &harness.client;

    let stored = put_bytes(
        client,
        BUCKET,
        "jobs/a/summary.json",
        "{\"ok\":true}".into(),
        "application/json",
    )
    .await
    .unwrap();
    put_bytes(client, BUCKET, "jobs/b/other.txt", "b".into(), "text/plain")
        .await
        .unwrap();

    assert_eq!(
        get_bytes(client, BUCKET, "jobs/a/summary.json")
            .await
            .unwrap()
            .unwrap(),
        "{\"ok\":true}"
    );
    assert_eq!(
        get_bytes(client, BUCKET, "jobs/a/missing.json")
            .await
            .unwrap(),
        None
    );
    let head = client
        .head_object()
        .bucket(BUCKET)
        .key("jobs/a/summary.json")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/json"));
    assert_eq!(head.content_length(), Some(11));
    assert_eq!(head.metadata().unwrap().get("sha256"), Some(&stored.sha256));

    assert_eq!(
        list_keys(client, BUCKET, "jobs/a/").await.unwrap(),
        ["jobs/a/summary.json"]
    );
    let mut all = list_keys(client, BUCKET, "").await.unwrap();
    all.sort();
    assert_eq!(all, ["jobs/a/summary.json", "jobs/b/other.txt"]);
    let v1 = client
        .list_objects()
        .bucket(BUCKET)
        .prefix("jobs/b/")
        .send()
        .await
        .unwrap();
    let v1_keys: Vec<&str> = v1.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(v1_keys, ["jobs/b/other.txt"]);

    client
        .delete_object()
        .bucket(BUCKET)
        .key("jobs/a/summary.json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        get_bytes(client, BUCKET, "jobs/a/summary.json")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        list_keys(client, BUCKET, "").await.unwrap(),
        ["jobs/b/other.txt"]
    );
}

#[tokio::test]
async fn multipart_upload_reads_back_whole() {
    let harness = Harness::start().await;
    let client = &harness.client;
    let first: Vec<u8> = (0..5 * 1024 * 1024 + 17).map(|i| (i % 251) as u8).collect();
    let second = b"the tail of the product".to_vec();

    let upload = client
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("products/big.SAFE.zip")
        .content_type("application/zip")
        .metadata("sha256", "abc")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let mut parts = Vec::new();
    for (number, body) in [(1, first.clone()), (2, second.clone())] {
        let part = client
            .upload_part()
            .bucket(BUCKET)
            .key("products/big.SAFE.zip")
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(part.e_tag().unwrap())
                .build(),
        );
    }
    let listed = client
        .list_parts()
        .bucket(BUCKET)
        .key("products/big.SAFE.zip")
        .upload_id(upload_id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.parts().len(), 2);
    let completed = client
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key("products/big.SAFE.zip")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();

    let whole = get_bytes(client, BUCKET, "products/big.SAFE.zip")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(whole.len(), first.len() + second.len());
    assert!(whole.starts_with(&first) && whole.ends_with(&second));
    let etag = head_etag(client, BUCKET, "products/big.SAFE.zip").await;
    assert!(etag.ends_with("-2"), "{etag}");
    assert_eq!(completed.e_tag().unwrap().trim_matches('"'), etag);
    let head = client
        .head_object()
        .bucket(BUCKET)
        .key("products/big.SAFE.zip")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/zip"));
    assert_eq!(head.metadata().unwrap()["sha256"], "abc");
}

#[tokio::test]
async fn aborted_multipart_upload_leaves_no_object() {
    let harness = Harness::start().await;
    let client = &harness.client;
    let upload = client
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("products/abandoned.zip")
        .send()
        .await
        .unwrap();
    client
        .upload_part()
        .bucket(BUCKET)
        .key("products/abandoned.zip")
        .upload_id(upload.upload_id().unwrap())
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    client
        .abort_multipart_upload()
        .bucket(BUCKET)
        .key("products/abandoned.zip")
        .upload_id(upload.upload_id().unwrap())
        .send()
        .await
        .unwrap();
    assert!(list_keys(client, BUCKET, "").await.unwrap().is_empty());
}
