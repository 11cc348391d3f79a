//! The service over a real nats-server and a real SeaweedFS: succeeded jobs in, a static STAC
//! catalogue in S3 and `catalogue.published` events out; replays and bad events.

mod common;

use bytes::Bytes;
use common::*;
use nrt_events::{DeadLetter, Envelope, EventData, ItemPublished, JobSucceeded, streams};
use nrt_nats::EventTap;
use serde_json::Value;

async fn published_tap(harness: &Harness) -> EventTap {
    EventTap::open(
        &harness.js,
        streams::CATALOGUE.name,
        "catalogue.published.>",
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_succeeded_job_becomes_an_item_reachable_from_the_root_catalog() {
    let harness = Harness::start(1).await;
    let mut published = published_tap(&harness).await;
    let job = harness.job(&[S1C_SLICE_1, S1C_SLICE_2]).await;
    harness.publisher.publish(job.clone()).await.unwrap();

    let (subject, body) = published.next_raw(WAIT).await.unwrap();
    assert_eq!(subject, "catalogue.published.footprint");
    let event = Envelope::<ItemPublished>::from_json(&body).unwrap().data;
    let item_id = format!("footprint-{}", job.job_id);
    assert_eq!(event.item_id, item_id);
    assert_eq!(event.collection, "footprint");
    assert_eq!(event.job_id, job.job_id);
    assert_eq!(event.processor, "footprint");
    assert_eq!(event.input_keys, [S1C_SLICE_1, S1C_SLICE_2]);
    assert_eq!(event.datetime, Some(job.inputs[0].sensing_start));
    assert_eq!(
        event.item_href,
        format!("s3://catalogue/stac/footprint/items/{item_id}.json")
    );

    // Down from the root, by the relative links only.
    let catalog_uri = format!("s3://{CATALOGUE_BUCKET}/{PREFIX}/catalog.json");
    let catalog = harness.read_uri(&catalog_uri).await;
    assert_eq!(catalog["type"], "Catalog");
    let [child] = hrefs(&catalog, "child").try_into().unwrap();
    let collection_uri = resolve(&catalog_uri, &child);
    let collection = harness.read_uri(&collection_uri).await;
    validator().validate_collection(&collection).unwrap();
    assert_eq!(collection["id"], "footprint");
    let [item_href] = hrefs(&collection, "item").try_into().unwrap();
    let item_uri = resolve(&collection_uri, &item_href);
    assert_eq!(item_uri, event.item_href);
    let item = harness.read_uri(&item_uri).await;
    if let Err(errors) = validator().validate_item(&item) {
        panic!("{errors:#?}\n{item:#}");
    }
    // And back up.
    assert_eq!(resolve(&item_uri, &hrefs(&item, "root")[0]), catalog_uri);
    assert_eq!(
        resolve(&item_uri, &hrefs(&item, "collection")[0]),
        collection_uri
    );
    assert_eq!(
        resolve(&collection_uri, &hrefs(&collection, "parent")[0]),
        catalog_uri
    );

    // The extent is the item's, and the event carries the item's bbox.
    let bbox: Vec<f64> = serde_json::from_value(item["bbox"].clone()).unwrap();
    assert_eq!(event.bbox.as_deref(), Some(bbox.as_slice()));
    assert_eq!(collection["extent"]["spatial"]["bbox"][0], item["bbox"]);
    let interval = &collection["extent"]["temporal"]["interval"][0];
    assert_eq!(interval[0], item["properties"]["start_datetime"]);
    assert_eq!(interval[1], item["properties"]["end_datetime"]);

    // Every asset is the real output object, with its real size and checksum.
    for output in &job.outputs {
        let asset = &item["assets"][output.path.as_str()];
        let object = harness.bytes(OUTPUTS_BUCKET, &output.key).await;
        assert_eq!(asset["href"], output.s3_uri());
        assert_eq!(asset["file:size"], object.len());
        assert_eq!(asset["file:checksum"], format!("1220{}", output.sha256));
    }
    assert_eq!(item["assets"]["metadata.json"]["roles"][0], "metadata");
    harness.stop().await;
}

#[tokio::test]
async fn replaying_a_job_leaves_the_item_and_links_as_they_were() {
    let harness = Harness::start(1).await;
    let mut published = published_tap(&harness).await;
    let job = harness.job(&[S2_T54PXA]).await;
    let envelope = Envelope::new("/test", job.clone());
    let body = Bytes::from(envelope.to_json());
    harness
        .publisher
        .publish_raw(envelope.subject(), &envelope.id, body.clone())
        .await
        .unwrap();
    let first = published.next::<ItemPublished>(WAIT).await.unwrap().data;
    let item_key = first
        .item_href
        .trim_start_matches("s3://catalogue/")
        .to_owned();
    let item_before = harness.bytes(CATALOGUE_BUCKET, &item_key).await;
    let collection_key = format!("{PREFIX}/footprint/collection.json");
    let collection_before = harness.bytes(CATALOGUE_BUCKET, &collection_key).await;
    let catalog_key = format!("{PREFIX}/catalog.json");
    let catalog_before = harness.bytes(CATALOGUE_BUCKET, &catalog_key).await;

    // The same event again, as a redelivery or an operator's replay: a new message id gets it
    // past JetStream's duplicate window.
    let replay = harness
        .publisher
        .publish_raw(envelope.subject(), "replay-1", body)
        .await
        .unwrap();
    harness.wait_until_handled(replay.sequence).await;

    assert_eq!(
        harness.bytes(CATALOGUE_BUCKET, &item_key).await,
        item_before
    );
    assert_eq!(
        harness.bytes(CATALOGUE_BUCKET, &collection_key).await,
        collection_before
    );
    assert_eq!(
        harness.bytes(CATALOGUE_BUCKET, &catalog_key).await,
        catalog_before
    );
    let collection: Value = serde_json::from_slice(&collection_before).unwrap();
    assert_eq!(hrefs(&collection, "item").len(), 1);
    // The repeated announcement has the same id, and JetStream dropped it.
    assert!(
        published
            .next_raw(std::time::Duration::from_secs(1))
            .await
            .is_err(),
        "a second ItemPublished reached the stream"
    );
    harness.stop().await;
}

async fn dead_letters(harness: &Harness) -> EventTap {
    EventTap::open(&harness.js, streams::DLQ.name, "dlq.catalogue-publisher")
        .await
        .unwrap()
}

#[tokio::test]
async fn a_body_that_is_not_a_job_event_is_dead_lettered_with_the_reason() {
    let harness = Harness::start(1).await;
    let mut dlq = dead_letters(&harness).await;
    let body = Bytes::from_static(br#"{"job_id": "abc", "outputs": "#);
    let ack = harness
        .publisher
        .publish_raw("jobs.succeeded.footprint".into(), "garbage-1", body)
        .await
        .unwrap();

    let letter = dlq.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert_eq!(letter.service, "catalogue-publisher");
    assert_eq!(letter.subject, "jobs.succeeded.footprint");
    assert_eq!(letter.stream_sequence, Some(ack.sequence));
    assert_eq!(letter.payload, r#"{"job_id": "abc", "outputs": "#);
    assert!(
        letter.error.contains("not a job-succeeded event"),
        "{}",
        letter.error
    );
    assert!(
        letter.error.contains("not a CloudEvents"),
        "{}",
        letter.error
    );
    assert_eq!(
        letter.deliveries,
        Some(1),
        "a permanent error is not retried"
    );
    harness.stop().await;
}

#[tokio::test]
async fn a_job_event_that_cannot_be_catalogued_is_dead_lettered_and_nothing_is_written() {
    let harness = Harness::start(1).await;
    let mut dlq = dead_letters(&harness).await;
    let mut job: JobSucceeded = harness.job(&[S2_T54PXA]).await;
    job.outputs[0].key = "jobs/footprint/../../../etc/passwd".into();
    harness.publisher.publish(job.clone()).await.unwrap();

    let letter = dlq.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert!(letter.error.contains(&job.job_id), "{}", letter.error);
    assert!(letter.error.contains("`..`"), "{}", letter.error);
    let decoded = Envelope::<JobSucceeded>::from_json(letter.payload.as_bytes()).unwrap();
    assert_eq!(decoded.data, job);
    let written = nrt_s3::list_keys(
        &harness.s3,
        CATALOGUE_BUCKET,
        &format!("{PREFIX}/footprint"),
    )
    .await
    .unwrap();
    assert_eq!(written, Vec::<String>::new());
    harness.stop().await;
}

#[tokio::test]
async fn a_job_event_of_another_version_is_dead_lettered_as_such() {
    let harness = Harness::start(1).await;
    let mut dlq = dead_letters(&harness).await;
    let job = harness.job(&[S2_T54PXA]).await;
    let body = String::from_utf8(Envelope::new("/test", job).to_json())
        .unwrap()
        .replace(JobSucceeded::TYPE, "eu.nrtmesh.job.succeeded.v2");
    harness
        .publisher
        .publish_raw("jobs.succeeded.footprint".into(), "v2-1", body.into())
        .await
        .unwrap();
    let letter = dlq.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert!(
        letter.error.contains("job.succeeded.v2"),
        "{}",
        letter.error
    );
    harness.stop().await;
}
