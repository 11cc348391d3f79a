//! Starting, stopping and starting again on the same data directory, as `nrtmesh dev` does.

use nrt_embedded_s3::{EmbeddedS3, EmbeddedS3Options};
use nrt_s3::{get_bytes, put_bytes};

#[tokio::test]
async fn stop_closes_the_port_and_data_survives_a_restart_on_the_same_root() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedS3Options {
        region: "eu-central-1".into(),
        buckets: vec!["products".into()],
        ..EmbeddedS3Options::local(dir.path().join("data"), "nrt-dev", "nrt-dev-secret")
    };

    let s3 = EmbeddedS3::start(options.clone()).await.unwrap();
    let config = s3.config();
    assert_eq!(config.region, "eu-central-1");
    assert_eq!(config.endpoint.as_deref(), Some(s3.endpoint().as_str()));
    assert!(s3.endpoint().starts_with("http://127.0.0.1:"));
    let client = nrt_s3::client(&config).await;
    put_bytes(
        &client,
        "products",
        "S2A/tile.zip",
        "zip".into(),
        "application/zip",
    )
    .await
    .unwrap();
    let address = s3.local_addr();
    s3.stop().await;
    assert!(tokio::net::TcpStream::connect(address).await.is_err());

    let again = EmbeddedS3::start(options).await.unwrap();
    let client = nrt_s3::client(&again.config()).await;
    assert_eq!(
        get_bytes(&client, "products", "S2A/tile.zip")
            .await
            .unwrap()
            .unwrap(),
        "zip"
    );
    again.stop().await;
}
