//! No event is lost while NATS is down: the write is answered 503, and its retry is announced.

mod common;

use common::{BUCKET, Harness, decoded_key, event_name, head_etag, notifications_until};
use nrt_s3::{
    aws_sdk_s3::{
        primitives::ByteStream,
        types::{CompletedMultipartUpload, CompletedPart},
    },
    put_bytes,
};

#[tokio::test]
async fn write_fails_transiently_while_nats_is_down_and_its_retry_is_announced() {
    let mut harness = Harness::start().await;
    let key = "jobs/x/result.json";

    harness.nats.kill().await;
    let error = put_bytes(
        &harness.client,
        BUCKET,
        key,
        "{}".into(),
        "application/json",
    )
    .await
    .unwrap_err();
    assert!(error.is_transient(), "{error}");
    assert!(error.to_string().contains("ServiceUnavailable"), "{error}");
    assert!(
        error.to_string().contains("could not be published"),
        "{error}"
    );

    harness.nats.restart().await.unwrap();
    let stored = put_bytes(
        &harness.client,
        BUCKET,
        key,
        "{}".into(),
        "application/json",
    )
    .await
    .expect("the same put succeeds once NATS is back");
    put_bytes(&harness.client, BUCKET, "marker", "".into(), "text/plain")
        .await
        .unwrap();

    let mut tap = harness.tap(BUCKET).await;
    let events = notifications_until(&mut tap, "marker").await;
    // Attempts made while NATS was down may land too once the client reconnects: at least once.
    let announced: Vec<_> = events
        .iter()
        .filter(|event| decoded_key(event) == key)
        .collect();
    assert!(!announced.is_empty(), "{events:#?}");
    let etag = head_etag(&harness.client, BUCKET, key).await;
    for event in announced {
        assert_eq!(event_name(event), "s3:ObjectCreated:Put");
        let object = &event.records[0].s3.object;
        assert_eq!(object.size, Some(stored.size));
        assert_eq!(object.e_tag.as_deref(), Some(etag.as_str()));
    }
}

#[tokio::test]
async fn multipart_completion_refused_for_lack_of_nats_is_announced_when_retried() {
    let mut harness = Harness::start().await;
    let client = harness.client.clone();
    let upload = client
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("late.bin")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let part = client
        .upload_part()
        .bucket(BUCKET)
        .key("late.bin")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from_static(b"only part"))
        .send()
        .await
        .unwrap();
    let complete = || {
        client
            .complete_multipart_upload()
            .bucket(BUCKET)
            .key("late.bin")
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(
                        CompletedPart::builder()
                            .part_number(1)
                            .e_tag(part.e_tag().unwrap())
                            .build(),
                    )
                    .build(),
            )
            .send()
    };

    harness.nats.kill().await;
    let error = complete().await.unwrap_err();
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(503));

    harness.nats.restart().await.unwrap();
    let completed = complete()
        .await
        .expect("the completed upload is answered once its event is out");
    let etag = head_etag(&client, BUCKET, "late.bin").await;
    assert_eq!(completed.e_tag().unwrap().trim_matches('"'), etag);
    put_bytes(&client, BUCKET, "marker", "".into(), "text/plain")
        .await
        .unwrap();

    let mut tap = harness.tap(BUCKET).await;
    let events = notifications_until(&mut tap, "marker").await;
    let announced: Vec<_> = events
        .iter()
        .filter(|event| decoded_key(event) == "late.bin")
        .collect();
    assert!(!announced.is_empty(), "{events:#?}");
    for event in announced {
        assert_eq!(
            event_name(event),
            "s3:ObjectCreated:CompleteMultipartUpload"
        );
        assert_eq!(event.records[0].s3.object.size, Some(9));
        assert_eq!(
            event.records[0].s3.object.e_tag.as_deref(),
            Some(etag.as_str())
        );
    }
}
