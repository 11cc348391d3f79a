//! Keys that would turn into paths outside their bucket are refused with the reason, and nothing
//! is written outside the data directory.

mod common;

use bytes::Bytes;
use common::{BUCKET, Harness, snapshot};
use nrt_s3::{aws_sdk_s3::primitives::ByteStream, put_bytes};
use s3s::{
    S3, S3Request,
    dto::{PutObjectInput, StreamingBlob},
};

const UNSAFE: [(&str, &str); 7] = [
    ("../escape.txt", "`..`"),
    ("a/../../../escape.txt", "`..`"),
    ("a/./b.txt", "`.`"),
    ("/etc/escape.txt", "starts with `/`"),
    ("a\\..\\escape.txt", "backslash"),
    ("nul\0byte.txt", "control character"),
    ("line\nbreak.txt", "control character"),
];

#[tokio::test]
async fn unsafe_keys_are_refused_with_the_reason_and_nothing_is_written() {
    let harness = Harness::start().await;
    let before = snapshot(harness.parent.path());

    for (key, reason) in UNSAFE {
        let error = put_bytes(&harness.client, BUCKET, key, "x".into(), "text/plain")
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("InvalidArgument") && message.contains(reason),
            "{key:?}: {message}"
        );
        assert!(!error.is_transient(), "{key:?}: {message}");
        assert!(
            message.contains(&format!("{key:?}")),
            "the message names the key {key:?}: {message}"
        );
    }
    let copy_from_outside = harness
        .client
        .copy_object()
        .bucket(BUCKET)
        .key("copied.txt")
        .copy_source(format!("{BUCKET}/../.bucket-metadata.json"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        copy_from_outside
            .raw_response()
            .map(|r| r.status().as_u16()),
        Some(400)
    );
    let too_long = put_bytes(
        &harness.client,
        BUCKET,
        &"k".repeat(1025),
        "x".into(),
        "text/plain",
    )
    .await
    .unwrap_err();
    assert!(too_long.to_string().contains("KeyTooLong"), "{too_long}");

    assert_eq!(snapshot(harness.parent.path()), before);
}

#[tokio::test]
async fn reads_of_unsafe_keys_are_refused_too() {
    let harness = Harness::start().await;
    std::fs::write(harness.root().join("outside-the-bucket.txt"), "secret").unwrap();

    let error = harness
        .client
        .get_object()
        .bucket(BUCKET)
        .key("../outside-the-bucket.txt")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(400));
    let error = harness
        .client
        .put_object()
        .bucket(BUCKET)
        .key("ok/../../outside-the-bucket.txt")
        .body(ByteStream::from_static(b"overwritten"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(400));
    assert_eq!(
        std::fs::read_to_string(harness.root().join("outside-the-bucket.txt")).unwrap(),
        "secret"
    );
}

/// s3s-fs alone (no key checks) never writes outside its root: an absolute key is refused and
/// `..` beyond the root is dropped. But `..` does leave the bucket for the root, where other
/// buckets and s3s-fs's metadata files live, which is why keys are checked before it.
#[tokio::test]
async fn s3s_fs_alone_never_writes_outside_root_but_lets_keys_leave_the_bucket() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("s3");
    std::fs::create_dir_all(root.join(BUCKET)).unwrap();
    let fs = s3s_fs::FileSystem::new(&root).unwrap();
    let outside_root = |dir: &std::path::Path| {
        snapshot(dir)
            .into_keys()
            .filter(|path| !path.starts_with(&root) || path == &root)
            .collect::<Vec<_>>()
    };
    let before = outside_root(parent.path());

    assert!(
        fs.put_object(request("/tmp/nrt-absolute-escape.txt"))
            .await
            .is_err()
    );
    for key in [
        "../../escape.txt",
        "../../../../../../tmp/nrt-escape.txt",
        "../beside-the-bucket.txt",
    ] {
        fs.put_object(request(key))
            .await
            .unwrap_or_else(|error| panic!("{key:?}: {error:?}"));
    }

    assert_eq!(outside_root(parent.path()), before);
    assert!(!std::path::Path::new("/tmp/nrt-escape.txt").exists());
    assert!(!std::path::Path::new("/tmp/nrt-absolute-escape.txt").exists());
    assert!(root.join("escape.txt").is_file());
    assert!(root.join("tmp/nrt-escape.txt").is_file());
    assert!(root.join("beside-the-bucket.txt").is_file());
}

fn request(key: &str) -> S3Request<PutObjectInput> {
    let input = PutObjectInput::builder()
        .bucket(BUCKET.into())
        .key(key.into())
        .body(Some(StreamingBlob::from(s3s::Body::from(
            Bytes::from_static(b"escaped"),
        ))))
        .build()
        .unwrap();
    S3Request {
        input,
        method: http::Method::PUT,
        uri: http::Uri::from_static("/"),
        headers: Default::default(),
        extensions: Default::default(),
        credentials: None,
        region: None,
        service: None,
        trailing_headers: None,
    }
}

#[tokio::test]
async fn a_key_longer_than_the_backend_stores_is_refused_before_anything_is_written() {
    let harness = Harness::start().await;
    let before = snapshot(harness.parent.path());
    // S3 allows 1024 bytes, but s3s-fs names a metadata file after the key; 200 bytes is too many.
    let key = format!("collection/{}/item.json", "x".repeat(180));
    let error = put_bytes(
        &harness.client,
        BUCKET,
        &key,
        "{}".into(),
        "application/json",
    )
    .await
    .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("KeyTooLongError") && message.contains("at most"),
        "{message}"
    );
    assert!(!error.is_transient(), "{message}");
    assert_eq!(
        snapshot(harness.parent.path()),
        before,
        "nothing was written"
    );
}
