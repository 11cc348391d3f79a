//! The trigger over a real nats-server: recorded CDSE products in, job requests out, repeats
//! dropped, bad events dead-lettered, publish failures retried, bad files refused at start.

mod harness;

use std::time::Duration;

use nrt_events::{DeadLetter, Envelope, EventData, ProductDiscovered, streams};
use nrt_nats::{EventTap, TopologyOptions, apply_topology};
use nrt_runtime::shutdown;

use harness::*;

#[tokio::test]
async fn matching_products_get_exactly_their_job_requests_and_others_none() {
    let harness = start().await;
    let mut jobs = harness.jobs_tap().await;

    harness.discover(S2_54PXA).await;
    harness.discover(S1_GRD).await;
    // Neither fires a rule: auxiliary products, no footprint.
    harness.discover(S1_AUX_INS).await;
    harness.discover(S1_POEORB).await;
    // The sentinel: once its job is in JOBS, every product before it was handled.
    harness.discover(S2_55PBR).await;

    let (subject, first) = harness.next_job(&mut jobs).await;
    assert_eq!(subject, "jobs.requested.footprint");
    assert_eq!(
        first.job_id,
        expected_job("s2-l1c-footprint", "footprint", "1.0.0", S2_54PXA)
    );
    assert_eq!(first.rule, "s2-l1c-footprint");
    assert_eq!(first.processor_version, "1.0.0");
    assert_eq!(first.inputs.len(), 1);
    assert_eq!(first.inputs[0].key, S2_54PXA);
    assert_eq!(first.inputs[0].attributes["cloudCover"], 95.136736479015);
    assert_eq!(first.parameters["resolution"], 20);

    let (subject, second) = harness.next_job(&mut jobs).await;
    assert_eq!(subject, "jobs.requested.sar-backscatter");
    assert_eq!(
        second.job_id,
        expected_job("s1-grd-ascending", "sar-backscatter", "2.1.0", S1_GRD)
    );
    assert!(second.parameters.is_empty());

    let (_, sentinel) = harness.next_job(&mut jobs).await;
    assert_eq!(
        sentinel.job_id,
        expected_job("s2-l1c-footprint", "footprint", "1.0.0", S2_55PBR)
    );

    assert_eq!(
        harness.stream_messages(streams::JOBS.name).await,
        3,
        "no request for the cloudy rule or the auxiliary products"
    );
    assert_eq!(harness.stream_messages(streams::DLQ.name).await, 0);
    harness.stop().await;
}

#[tokio::test]
async fn a_product_delivered_twice_yields_one_job_request() {
    let harness = start().await;
    let mut jobs = harness.jobs_tap().await;

    let event = harness.discover(S2_54PXA).await;
    // Another message id, so JetStream keeps both and the trigger handles the product twice.
    harness
        .publish_body(
            &event.subject(),
            "seen-again-by-a-second-feed",
            event.to_json(),
        )
        .await;
    assert_eq!(harness.stream_messages(streams::PRODUCTS.name).await, 2);
    harness.discover(S2_55PBR).await;

    let (_, first) = harness.next_job(&mut jobs).await;
    assert_eq!(
        first.job_id,
        expected_job("s2-l1c-footprint", "footprint", "1.0.0", S2_54PXA)
    );
    let (_, sentinel) = harness.next_job(&mut jobs).await;
    assert_eq!(sentinel.inputs[0].key, S2_55PBR);

    assert_eq!(
        harness.stream_messages(streams::JOBS.name).await,
        2,
        "the repeat's job request was dropped as a duplicate"
    );
    let mut consumer = harness.trigger_consumer().await.unwrap();
    let info = consumer.info().await.unwrap();
    assert!(
        info.ack_floor.stream_sequence >= 2,
        "both copies were handled and acked: {:?}",
        info.ack_floor
    );
    harness.stop().await;
}

#[tokio::test]
async fn undecodable_events_are_dead_lettered_with_the_reason_and_the_next_product_is_handled() {
    let harness = start().await;
    let mut jobs = harness.jobs_tap().await;
    let mut dead_letters = EventTap::open(&harness.js, streams::DLQ.name, "dlq.trigger")
        .await
        .unwrap();
    let subject = "products.discovered.SENTINEL-2.S2MSI1C";

    harness
        .publish_body(subject, "malformed", b"{\"key\": \"S2A_MSIL1C".to_vec())
        .await;
    let newer_version =
        String::from_utf8(Envelope::new("/nrt-mesh/ingestor", product(S2_55PBR)).to_json())
            .unwrap()
            .replace(
                "eu.nrtmesh.product.discovered.v1",
                "eu.nrtmesh.product.discovered.v2",
            );
    harness
        .publish_body(subject, "newer-version", newer_version.clone().into_bytes())
        .await;
    let wrong_data = serde_json::json!({
        "specversion": "1.0", "id": "wrong-data", "source": "/nrt-mesh/ingestor",
        "type": ProductDiscovered::TYPE, "datacontenttype": "application/json",
        "data": { "key": S2_55PBR, "collection": "SENTINEL-2" },
    });
    harness
        .publish_body(subject, "wrong-data", wrong_data.to_string().into_bytes())
        .await;
    harness.discover(S2_54PXA).await;

    let malformed = dead_letters.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert!(
        malformed.error.starts_with(
            "message is not a product.discovered event this service reads: body is not a CloudEvents 1.0 JSON document: "
        ),
        "{}",
        malformed.error
    );
    assert_eq!(malformed.payload, "{\"key\": \"S2A_MSIL1C");
    assert_eq!(malformed.subject, subject);
    assert_eq!(malformed.stream.as_deref(), Some("PRODUCTS"));

    let unknown_version = dead_letters.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert!(
        unknown_version.error.ends_with(
            "event type eu.nrtmesh.product.discovered.v2 has a version this service does not read (it reads eu.nrtmesh.product.discovered.v1)"
        ),
        "{}",
        unknown_version.error
    );
    assert_eq!(unknown_version.payload, newer_version, "kept whole");

    let not_a_product = dead_letters.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert!(
        not_a_product.error.contains(
            "data of event type eu.nrtmesh.product.discovered.v1 does not match its schema: missing field"
        ),
        "{}",
        not_a_product.error
    );

    let (_, job) = harness.next_job(&mut jobs).await;
    assert_eq!(job.inputs[0].key, S2_54PXA);
    assert_eq!(harness.stream_messages(streams::JOBS.name).await, 1);
    harness.stop().await;
}

#[tokio::test]
async fn a_job_request_that_cannot_be_published_is_retried_until_it_is() {
    let harness = start().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    // The trigger creates its consumer after declaring the streams: only then can JOBS go.
    while harness.trigger_consumer().await.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "trigger never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    harness.js.delete_stream(streams::JOBS.name).await.unwrap();

    harness.discover(S2_54PXA).await;
    // A second delivery means the first publish failed and the product came back.
    let mut consumer = harness.trigger_consumer().await.unwrap();
    while consumer.info().await.unwrap().delivered.consumer_sequence < 2 {
        assert!(tokio::time::Instant::now() < deadline, "never redelivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    apply_topology(&harness.js, TopologyOptions::default())
        .await
        .unwrap();

    let mut jobs = harness.jobs_tap().await;
    let (_, job) = harness.next_job(&mut jobs).await;
    assert_eq!(
        job.job_id,
        expected_job("s2-l1c-footprint", "footprint", "1.0.0", S2_54PXA)
    );
    assert_eq!(harness.stream_messages(streams::DLQ.name).await, 0);
    harness.stop().await;
}

#[tokio::test]
async fn the_trigger_refuses_to_start_on_an_invalid_rules_file() {
    let files = tempfile::tempdir().unwrap();
    let rules = RULES.replace("op = \"le\"", "op = \"lte\"");
    // Nothing listens here: the rules are checked before connecting.
    let config = config("nats://127.0.0.1:1".into(), &files, &rules);
    let (_stop, shutdown) = shutdown::manual();
    let error = tokio::time::timeout(WAIT, trigger::run(config, shutdown))
        .await
        .expect("fails fast")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "rules file {}: rule s2-clear-sky, field where[0].op: unknown variant `lte`, expected one of `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `in`, `matches`",
            files.path().join("rules.toml").display()
        )
    );
}

#[tokio::test]
async fn the_trigger_refuses_to_start_without_its_registry() {
    let files = tempfile::tempdir().unwrap();
    let mut config = config("nats://127.0.0.1:1".into(), &files, RULES);
    config.registry_file = files.path().join("missing.toml");
    let (_stop, shutdown) = shutdown::manual();
    let error = trigger::run(config, shutdown).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "cannot read processor registry {}",
            files.path().join("missing.toml").display()
        )
    );
}
