use super::*;

fn fixture(path: &str) -> Vec<u8> {
    let root = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/fixtures/s3-events/"
    );
    std::fs::read(format!("{root}{path}")).expect("fixture exists")
}

fn only_change(path: &str) -> ObjectChange {
    let mut changes = read_object_changes(&fixture(path)).unwrap();
    assert_eq!(changes.len(), 1, "{path}: {changes:?}");
    changes.remove(0)
}

fn time(text: &str) -> Option<DateTime<Utc>> {
    Some(text.parse().unwrap())
}

#[test]
fn every_recorded_creation_reads_as_one_created_object() {
    // (fixture, bucket, key, size, event time)
    let cases = [
        (
            "aws/s3_event_ObjectCreated_Put.aws-docs.json",
            "mybucket",
            "HappyFace.jpg",
            Some(1024),
            "1970-01-01T00:00:00Z",
        ),
        (
            "lambda/aws_lambda_events_example-s3-event.json",
            "sourcebucket",
            "Happy Face.jpg",
            Some(1024),
            "1970-01-01T00:00:00.123Z",
        ),
        (
            "lambda/powertools_s3Event_ObjectCreated_Put.json",
            "lambda-artifacts-deafc19498e3f2df",
            "b21b84d653bb07b05b1e6b33684dc11b",
            Some(1305107),
            "2019-09-03T19:37:27.192Z",
        ),
        (
            "lambda/powertools_s3SqsEvent_s3-via-sqs.json",
            "xxx",
            "test.pdf",
            Some(104681),
            "2023-04-12T20:43:38.021Z",
        ),
        (
            "aws/eventbridge_s3_Object_Created.aws-docs.json",
            "DOC-EXAMPLE-BUCKET1",
            "example-key",
            Some(5),
            "2021-11-12T00:00:00Z",
        ),
        (
            "lambda/powertools_s3EventBridgeNotificationObjectCreatedEvent.json",
            "example-bucket",
            "IMG_m7fzo3.jpg",
            Some(184662),
            "2023-03-08T17:50:14Z",
        ),
        (
            "minio/minio_kafka_ObjectCreated_Put_2019.json",
            "images",
            "myphoto.jpg",
            Some(6474),
            "2019-09-10T17:41:54Z",
        ),
        (
            "minio/minio_nats_ObjectCreated_Put_2016.json",
            "images",
            "myphoto.jpg",
            Some(56060),
            "2016-10-12T13:51:33Z",
        ),
        (
            "minio/minio_nats-streaming_ObjectCreated_Put_2017.json",
            "images",
            "myphoto.jpg",
            Some(248682),
            "2017-07-07T18:46:37Z",
        ),
        (
            "minio/minio_nsq_ObjectCreated_Put_2018.json",
            "images",
            "gopher.jpg",
            Some(162023),
            "2018-10-31T09:31:11Z",
        ),
    ];
    for (path, bucket, key, size, event_time) in cases {
        let change = only_change(path);
        assert_eq!(change.kind, ChangeKind::Created, "{path}");
        assert_eq!(
            (change.bucket.as_str(), change.key.as_str(), change.size),
            (bucket, key, size),
            "{path}"
        );
        assert_eq!(change.event_time, time(event_time), "{path}");
        assert!(change.etag.is_some(), "{path}");
    }
}

#[test]
fn deletions_and_expirations_read_as_removed() {
    for path in [
        "lambda/powertools_s3Event_ObjectRemoved_Delete.json",
        "aws/eventbridge_s3_Object_Deleted_DeleteObject.aws-docs.json",
        "aws/eventbridge_s3_Object_Deleted_LifecycleExpiration.aws-docs.json",
    ] {
        let change = only_change(path);
        assert_eq!(change.kind, ChangeKind::Removed, "{path}");
        assert_eq!(change.size, None, "{path}: a deletion has no size");
    }
}

#[test]
fn a_restore_is_reported_but_is_not_a_new_object() {
    let change = only_change("aws/eventbridge_s3_Object_Restore_Completed.aws-docs.json");
    assert_eq!(change.kind, ChangeKind::Other);
    assert_eq!(change.event_name, "Object Restore Completed");
}

#[test]
fn the_test_event_has_nothing_to_act_on() {
    let changes = read_object_changes(&fixture("aws/s3_test_event.aws-docs.json")).unwrap();
    assert!(changes.is_empty());
}

#[test]
fn a_notification_through_sns_is_unwrapped() {
    // SNS wraps the S3 notification as a string in `Sns.Message`, as SQS does in `body`.
    let notification =
        String::from_utf8(fixture("aws/s3_event_ObjectCreated_Put.aws-docs.json")).unwrap();
    let sns = serde_json::json!({
        "Records": [{"EventSource": "aws:sns", "Sns": {"Type": "Notification", "Message": notification}}]
    });
    let changes = read_object_changes(sns.to_string().as_bytes()).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].key, "HappyFace.jpg");
}

#[test]
fn form_encoded_keys_are_decoded() {
    let body = String::from_utf8(fixture("aws/s3_event_ObjectCreated_Put.aws-docs.json"))
        .unwrap()
        .replace("HappyFace.jpg", "S2A+product%2Bv2/%C3%A9t%C3%A9.zip");
    let change = &read_object_changes(body.as_bytes()).unwrap()[0];
    assert_eq!(change.key, "S2A product+v2/été.zip");
}

#[test]
fn unreadable_bodies_name_the_field_at_fault() {
    let put = String::from_utf8(fixture("aws/s3_event_ObjectCreated_Put.aws-docs.json")).unwrap();
    let sqs = String::from_utf8(fixture("lambda/powertools_s3SqsEvent_s3-via-sqs.json")).unwrap();
    let bridge =
        String::from_utf8(fixture("aws/eventbridge_s3_Object_Created.aws-docs.json")).unwrap();
    let cases = [
        ("not json".to_owned(), "body", "is not JSON"),
        ("[1, 2]".to_owned(), "body", "is not a JSON object"),
        (
            r#"{"hello": "world"}"#.to_owned(),
            "body",
            "has neither `Records`",
        ),
        (
            r#"{"Records": {"eventName": "x"}}"#.to_owned(),
            "Records",
            "is not an array",
        ),
        (
            put.replace(r#""key":"HappyFace.jpg","#, ""),
            "Records[0].s3.object.key",
            "is missing",
        ),
        (
            put.replace("HappyFace.jpg", "bad%FFbyte"),
            "Records[0].s3.object.key",
            "does not decode to UTF-8",
        ),
        (
            put.replace(r#""name":"mybucket","#, ""),
            "Records[0].s3.bucket.name",
            "is missing",
        ),
        (
            put.replace("1970-01-01T00:00:00.000Z", "yesterday"),
            "Records[0].eventTime",
            "is not a time",
        ),
        (
            sqs.replacen(r#""body":"{"#, r#""body":"{oops"#, 1),
            "Records[0].body",
            "is not JSON",
        ),
        (
            sqs.replace(r#"\"key\":\"test.pdf\","#, ""),
            "Records[0].body.Records[0].s3.object.key",
            "is missing",
        ),
        (
            bridge.replace("\"aws.s3\"", "\"aws.ec2\""),
            "source",
            "only aws.s3",
        ),
        (
            bridge.replace("\"key\": \"example-key\",", ""),
            "detail.object.key",
            "is missing",
        ),
    ];
    for (body, field, problem) in cases {
        let error = read_object_changes(body.as_bytes()).unwrap_err();
        assert_eq!(error.field, field, "{error}");
        assert!(error.problem.contains(problem), "{field}: {error}");
    }
}
