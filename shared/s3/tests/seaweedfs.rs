//! The S3 operations against SeaweedFS, a real distributed S3 server.

use nrt_s3::{
    S3Error, ensure_bucket, get_bytes, list_keys, put_bytes, put_file, seaweed::SeaweedServer,
};

#[tokio::test]
async fn objects_round_trip_with_checksums_and_listing() {
    let server = SeaweedServer::start().await;
    let client = nrt_s3::client(&server.config()).await;
    ensure_bucket(&client, "outputs").await.unwrap();
    ensure_bucket(&client, "outputs")
        .await
        .expect("a second ensure is harmless");

    let stored = put_bytes(
        &client,
        "outputs",
        "jobs/a/summary.json",
        "{\"ok\":true}".into(),
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(stored.size, 11);
    // sha256sum of the same 11 bytes.
    assert_eq!(
        stored.sha256,
        "4062edaf750fb8074e7e83e0c9028c94e32468a8b6f1614774328ef045150f93"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("footprint.geojson");
    std::fs::write(&file, b"{\"type\":\"Point\",\"coordinates\":[1,2]}").unwrap();
    let from_file = put_file(
        &client,
        "outputs",
        "jobs/a/footprint.geojson",
        &file,
        "application/geo+json",
    )
    .await
    .unwrap();
    assert_eq!(from_file.size, 36);

    assert_eq!(
        get_bytes(&client, "outputs", "jobs/a/summary.json")
            .await
            .unwrap()
            .unwrap(),
        "{\"ok\":true}"
    );
    assert_eq!(
        get_bytes(&client, "outputs", "jobs/a/missing.json")
            .await
            .unwrap(),
        None
    );
    let mut keys = list_keys(&client, "outputs", "jobs/a/").await.unwrap();
    keys.sort();
    assert_eq!(keys, ["jobs/a/footprint.geojson", "jobs/a/summary.json"]);
}

#[tokio::test]
async fn refused_credentials_are_a_permanent_error_naming_the_object() {
    let server = SeaweedServer::start().await;
    let mut config = server.config();
    config.secret_access_key = Some(nrt_runtime::Secret::new("wrong"));
    let client = nrt_s3::client(&config).await;
    let error = put_bytes(&client, "outputs", "k.json", "x".into(), "text/plain")
        .await
        .unwrap_err();
    assert!(!error.is_transient(), "{error}");
    assert!(error.to_string().contains("s3://outputs/k.json"), "{error}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_transient() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = nrt_s3::S3Config::local(format!("http://127.0.0.1:{port}"), "k", "s");
    let client = nrt_s3::client(&config).await;
    let error: S3Error = put_bytes(&client, "b", "k", "x".into(), "text/plain")
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error}");
}

#[tokio::test]
async fn a_disk_too_full_for_seaweedfs_is_named_instead_of_waiting_out_the_timeout() {
    // More free space than any disk has: SeaweedFS starts, finds the disk "full" and refuses writes.
    // The harness sees it while waiting for readiness, so the error is DiskFull, not NotReady.
    let error = match SeaweedServer::try_start_keeping_free("1000000TiB").await {
        Ok(_) => panic!("SeaweedFS stored data with less free space than it was told to keep"),
        Err(error) => error,
    };
    assert!(
        matches!(error, nrt_s3::seaweed::SeaweedError::DiskFull { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("nearly full"), "{message}");
    assert!(message.contains("< required"), "{message}");
}
