//! One S3 object event per write on `objects.<bucket>`, in MinIO's format, published before the
//! write is answered; none lost when NATS is down.

mod common;

use common::{
    ACCESS_KEY, BUCKET, Harness, decoded_key, event_name, head_etag, notifications_until,
};
use nrt_s3::{
    aws_sdk_s3::{
        operation::RequestId,
        primitives::ByteStream,
        types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier},
    },
    put_bytes,
};

#[tokio::test]
async fn put_yields_one_minio_style_event_with_the_stored_object() {
    let harness = Harness::start().await;
    let mut tap = harness.tap(BUCKET).await;
    let key = "jobs/snow cover/été+1 (final).tif";

    let stored = put_bytes(&harness.client, BUCKET, key, "raster".into(), "image/tiff")
        .await
        .unwrap();
    put_bytes(&harness.client, BUCKET, "marker", "".into(), "text/plain")
        .await
        .unwrap();

    let events = notifications_until(&mut tap, "marker").await;
    assert_eq!(events.len(), 2, "{events:#?}");
    let event = &events[0];
    assert_eq!(event.event_name.as_deref(), Some("s3:ObjectCreated:Put"));
    assert_eq!(
        event.key.as_deref(),
        Some(format!("{BUCKET}/{key}").as_str())
    );
    let record = &event.records[0];
    assert_eq!(record.event_name, "s3:ObjectCreated:Put");
    assert_eq!(record.event_version, "2.0");
    assert_eq!(record.event_source, "minio:s3");
    assert_eq!(record.aws_region, "us-east-1");
    assert!(
        chrono::DateTime::parse_from_rfc3339(&record.event_time).is_ok()
            && record.event_time.ends_with('Z'),
        "{}",
        record.event_time
    );
    assert_eq!(
        record.user_identity.as_ref().unwrap().principal_id,
        ACCESS_KEY
    );
    assert_eq!(record.request_parameters["sourceIPAddress"], "127.0.0.1");
    assert!(record.response_elements.contains_key("x-amz-request-id"));
    assert_eq!(record.s3.configuration_id, "nrt-embedded");
    assert_eq!(record.s3.bucket.name, BUCKET);
    assert_eq!(record.s3.bucket.arn, format!("arn:aws:s3:::{BUCKET}"));
    let object = &record.s3.object;
    assert_eq!(object.key, nrt_events::s3::S3Object::encode_key(key));
    assert_eq!(decoded_key(event), key);
    assert_eq!(object.size, Some(stored.size));
    assert_eq!(
        object.e_tag.as_deref(),
        Some(head_etag(&harness.client, BUCKET, key).await.as_str())
    );
    assert_eq!(object.content_type.as_deref(), Some("image/tiff"));
    assert_eq!(object.user_metadata["X-Amz-Meta-Sha256"], stored.sha256);
    assert!(object.sequencer.is_some());
}

#[tokio::test]
async fn copy_multipart_and_delete_each_yield_their_event() {
    let harness = Harness::start().await;
    let client = &harness.client;
    let mut tap = harness.tap(BUCKET).await;

    put_bytes(client, BUCKET, "a.json", "{}".into(), "application/json")
        .await
        .unwrap();
    let copied = client
        .copy_object()
        .bucket(BUCKET)
        .key("copies/a.json")
        .copy_source(format!("{BUCKET}/a.json"))
        .send()
        .await
        .unwrap();
    let first = vec![7u8; 5 * 1024 * 1024];
    let upload = client
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("big.bin")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let mut parts = Vec::new();
    for (number, body) in [(1, first), (2, b"tail".to_vec())] {
        let part = client
            .upload_part()
            .bucket(BUCKET)
            .key("big.bin")
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
    client
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key("big.bin")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let big_etag = head_etag(client, BUCKET, "big.bin").await;
    client
        .delete_object()
        .bucket(BUCKET)
        .key("a.json")
        .send()
        .await
        .unwrap();
    put_bytes(client, BUCKET, "marker", "".into(), "text/plain")
        .await
        .unwrap();

    let events = notifications_until(&mut tap, "marker").await;
    let seen: Vec<(&str, String)> = events
        .iter()
        .map(|event| (event_name(event), decoded_key(event)))
        .collect();
    assert_eq!(
        seen,
        [
            ("s3:ObjectCreated:Put", "a.json".to_owned()),
            ("s3:ObjectCreated:Copy", "copies/a.json".to_owned()),
            (
                "s3:ObjectCreated:CompleteMultipartUpload",
                "big.bin".to_owned()
            ),
            ("s3:ObjectRemoved:Delete", "a.json".to_owned()),
            ("s3:ObjectCreated:Put", "marker".to_owned()),
        ]
    );
    assert_eq!(
        events[1].records[0].response_elements["x-amz-request-id"],
        copied.request_id().unwrap(),
        "the answer and the event share the request id"
    );
    let copy = &events[1].records[0].s3.object;
    assert_eq!(copy.size, Some(2));
    assert_eq!(copy.content_type.as_deref(), Some("application/json"));
    let multipart = &events[2].records[0].s3.object;
    assert_eq!(multipart.size, Some(5 * 1024 * 1024 + 4));
    assert_eq!(multipart.e_tag.as_deref(), Some(big_etag.as_str()));
    let removed = &events[3].records[0];
    assert!(removed.is_removed());
    assert_eq!(removed.s3.object.size, None);
}

#[tokio::test]
async fn delete_objects_announces_each_deleted_key_and_creates_nothing() {
    let harness = Harness::start().await;
    let client = &harness.client;
    let mut tap = harness.tap(BUCKET).await;
    put_bytes(client, BUCKET, "keep/one.txt", "1".into(), "text/plain")
        .await
        .unwrap();
    put_bytes(
        client,
        BUCKET,
        "gone/two words.txt",
        "2".into(),
        "text/plain",
    )
    .await
    .unwrap();

    let objects = ["gone/two words.txt", "never/existed.txt", "../escape.txt"]
        .map(|key| ObjectIdentifier::builder().key(key).build().unwrap());
    let answer = client
        .delete_objects()
        .bucket(BUCKET)
        .delete(
            Delete::builder()
                .set_objects(Some(objects.to_vec()))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let refused: Vec<(&str, &str)> = answer
        .errors()
        .iter()
        .map(|e| (e.key().unwrap(), e.message().unwrap()))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].0, "../escape.txt");
    assert!(refused[0].1.contains("`..`"), "{refused:?}");
    put_bytes(client, BUCKET, "marker", "".into(), "text/plain")
        .await
        .unwrap();

    let events = notifications_until(&mut tap, "marker").await;
    let seen: Vec<(&str, String)> = events
        .iter()
        .map(|event| (event_name(event), decoded_key(event)))
        .collect();
    // A missing key is announced as removed too: a retried delete must still yield its event.
    assert_eq!(
        seen,
        [
            ("s3:ObjectCreated:Put", "keep/one.txt".to_owned()),
            ("s3:ObjectCreated:Put", "gone/two words.txt".to_owned()),
            ("s3:ObjectRemoved:Delete", "gone/two words.txt".to_owned()),
            ("s3:ObjectRemoved:Delete", "never/existed.txt".to_owned()),
            ("s3:ObjectCreated:Put", "marker".to_owned()),
        ]
    );
}

#[tokio::test]
async fn without_a_publisher_writes_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = nrt_embedded_s3::EmbeddedS3::start(nrt_embedded_s3::EmbeddedS3Options {
        buckets: vec!["quiet".into()],
        ..nrt_embedded_s3::EmbeddedS3Options::local(dir.path(), ACCESS_KEY, "secret")
    })
    .await
    .unwrap();
    let client = nrt_s3::client(&s3.config()).await;
    put_bytes(&client, "quiet", "a.txt", "a".into(), "text/plain")
        .await
        .unwrap();
    assert_eq!(
        nrt_s3::get_bytes(&client, "quiet", "a.txt")
            .await
            .unwrap()
            .unwrap(),
        "a"
    );
    s3.stop().await;
}
