//! Conditional writes racing on one key: the compare-and-set a catalogue relies on for its
//! collection document. s3s-fs alone lets every racer through and can pair one writer's data with
//! another's checksum; the embedded endpoint lets exactly one through and stays readable.

mod common;

use common::{BUCKET, Harness};
use nrt_s3::aws_sdk_s3::{error::ProvideErrorMetadata, primitives::ByteStream};

const KEY: &str = "stac/footprint/collection.json";
const RACERS: usize = 16;

#[tokio::test]
async fn of_racing_if_match_writes_exactly_one_wins_and_the_object_stays_readable() {
    let harness = Harness::start().await;
    let first = harness
        .client
        .put_object()
        .bucket(BUCKET)
        .key(KEY)
        .body(ByteStream::from_static(b"{\"version\":0}"))
        .send()
        .await
        .unwrap();
    let etag = first.e_tag().unwrap().to_owned();

    let mut racers = tokio::task::JoinSet::new();
    for racer in 0..RACERS {
        let client = harness.client.clone();
        let etag = etag.clone();
        // Bodies of different lengths, so a mismatch of data and checksum cannot go unseen.
        let body = format!(
            "{{\"version\":1,\"writer\":{racer},\"pad\":\"{}\"}}",
            "x".repeat(racer * 97)
        );
        racers.spawn(async move {
            let written = client
                .put_object()
                .bucket(BUCKET)
                .key(KEY)
                .if_match(etag)
                .body(ByteStream::from(body.clone().into_bytes()))
                .send()
                .await;
            (
                body,
                written.map_err(|error| error.into_service_error().code().map(str::to_owned)),
            )
        });
    }
    let mut winners = Vec::new();
    while let Some(result) = racers.join_next().await {
        match result.unwrap() {
            (body, Ok(_)) => winners.push(body),
            (_, Err(code)) => assert_eq!(code.as_deref(), Some("PreconditionFailed")),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one conditional write wins");

    // The SDK checks the stored checksum against the data as it reads.
    let stored = nrt_s3::get_bytes(&harness.client, BUCKET, KEY)
        .await
        .unwrap()
        .expect("the object exists");
    assert_eq!(stored, winners[0].as_bytes());
}
