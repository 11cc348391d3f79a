//! The deployed mesh over the recorded CDSE feed: every product discovered once, exactly the
//! selected ones processed once (even when the job requests are redelivered on purpose), outputs
//! in S3, valid STAC items, one signed webhook per item, and one trace per product across all five
//! services.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use async_nats::jetstream::consumer::pull;
use catalogue_publisher::schema::StacValidator;
use common::{WAIT, recorded_mesh, runs, selected};
use nrt_e2e::mesh::{MeshUnderTest, OUTPUTS_BUCKET, SERVICES};
use nrt_events::streams;

#[tokio::test]
async fn the_recorded_feed_flows_through_the_deployed_mesh_once() {
    let mut mesh = MeshUnderTest::start(recorded_mesh("")).await.unwrap();
    let history = mesh
        .wait_until(
            "every selected product published and notified",
            WAIT,
            |history, receipts| {
                history.products.len() == 39 && history.items.len() == 5 && receipts.len() >= 5
            },
        )
        .await
        .unwrap();

    // Every product of the feed discovered exactly once.
    let discovered: BTreeSet<&str> = history
        .products
        .iter()
        .map(|p| p.data.key.as_str())
        .collect();
    assert_eq!((history.products.len(), discovered.len()), (39, 39));

    // Exactly the products the rules select made jobs, one each.
    let requested: BTreeSet<String> = history
        .requests
        .iter()
        .flat_map(|r| r.data.inputs.iter().map(|input| input.key.clone()))
        .collect();
    assert_eq!(requested, selected());
    assert_eq!(history.requests.len(), 5);
    assert_eq!(history.succeeded.len(), 5);
    assert!(history.failed.is_empty() && history.dead.is_empty());
    assert_eq!(history.dead_letters, 0);

    // Outputs are in S3 under each job's prefix, and S3 announced each of them.
    for succeeded in &history.succeeded {
        let prefix = format!("jobs/footprint/{}/", succeeded.data.job_id);
        let keys = nrt_s3::list_keys(&mesh.s3_client, OUTPUTS_BUCKET, &prefix)
            .await
            .unwrap();
        for output in ["coverage.json", "footprint.geojson", "metadata.json"] {
            let key = format!("{prefix}{output}");
            assert!(keys.contains(&key), "{key} in {keys:?}");
            assert!(
                history
                    .object_keys
                    .contains(&format!("{OUTPUTS_BUCKET}/{key}")),
                "S3 event for {key}"
            );
        }
    }

    // Every item is valid STAC 1.1 and carries checksums and lineage.
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/fixtures/stac-schema");
    let validator = StacValidator::offline(&schemas).unwrap();
    for item in &history.items {
        let document: serde_json::Value =
            serde_json::from_slice(&read_s3_uri(&mesh, &item.data.item_href).await).unwrap();
        validator
            .validate_item(&document)
            .unwrap_or_else(|errors| panic!("{}: {errors:#?}", item.data.item_href));
        assert_eq!(document["stac_version"], "1.1.0");
        assert!(
            document["links"]
                .as_array()
                .unwrap()
                .iter()
                .any(|link| link["rel"] == "derived_from")
        );
        let checksum = document["assets"]["coverage.json"]["file:checksum"]
            .as_str()
            .unwrap();
        assert!(
            checksum.starts_with("1220") && checksum.len() == 68,
            "{checksum}"
        );
    }

    // One signed webhook per item; the receiver verified each signature or would have refused it.
    let receipts = mesh.receiver.receipts();
    let mut per_item: BTreeMap<String, usize> = BTreeMap::new();
    for receipt in &receipts {
        *per_item
            .entry(
                receipt.event["data"]["item_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
            .or_default() += 1;
    }
    let items: BTreeSet<String> = history
        .items
        .iter()
        .map(|item| item.data.item_id.clone())
        .collect();
    assert_eq!(per_item.keys().cloned().collect::<BTreeSet<_>>(), items);
    assert!(per_item.values().all(|count| *count == 1), "{per_item:?}");
    assert!(
        mesh.receiver.rejections().is_empty(),
        "{:?}",
        mesh.receiver.rejections()
    );

    // Redeliver every job request on purpose: a fresh launcher consumer starts from the stream's
    // beginning. No processor runs again.
    assert_eq!(runs(&mesh).len(), 5);
    let objects_before = history.object_keys.len();
    mesh.service("processor-launcher").stop().await.unwrap();
    let jobs_stream = mesh.js.get_stream(streams::JOBS.name).await.unwrap();
    jobs_stream
        .delete_consumer(processor_launcher::CONSUMER.durable)
        .await
        .unwrap();
    mesh.service("processor-launcher").restart().unwrap();
    let redelivered = wait_for_redelivery(&mesh).await;
    assert!(
        redelivered >= 5,
        "all 5 requests were delivered again ({redelivered})"
    );
    assert_eq!(
        runs(&mesh).len(),
        5,
        "no processor ran twice: {:?}",
        runs(&mesh)
    );
    let after = nrtmesh::history::History::read(&mesh.js).await.unwrap();
    assert_eq!(
        after.succeeded.len(),
        5,
        "outcomes re-published as duplicates, dropped by JetStream"
    );
    assert_eq!(
        after.object_keys.len(),
        objects_before,
        "nothing staged again"
    );

    // One trace per selected product spans all five services.
    let otlp = mesh.otlp.as_ref().unwrap();
    let full_traces = || {
        let mut services_by_trace: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for span in otlp.spans() {
            services_by_trace
                .entry(span.trace_id)
                .or_default()
                .insert(span.service);
        }
        services_by_trace
            .values()
            .filter(|services| SERVICES.iter().all(|s| services.contains(*s)))
            .count()
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while full_traces() < 5 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(
        full_traces(),
        5,
        "one trace per selected product through all five services"
    );

    mesh.stop().await.unwrap();
}

/// Waits until the recreated launcher consumer has handled everything, and says how many
/// messages it was delivered.
async fn wait_for_redelivery(mesh: &MeshUnderTest) -> u64 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let consumer = mesh
            .js
            .get_consumer_from_stream::<pull::Config, _, _>(
                processor_launcher::CONSUMER.durable,
                streams::JOBS.name,
            )
            .await;
        if let Ok(mut consumer) = consumer
            && let Ok(info) = consumer.info().await
            && info.num_pending == 0
            && info.num_ack_pending == 0
            && info.delivered.stream_sequence > 0
        {
            return info.ack_floor.consumer_sequence;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the launcher never caught up:\n{}",
            mesh.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// `s3://bucket/key` → the object's bytes.
pub async fn read_s3_uri(mesh: &MeshUnderTest, uri: &str) -> Vec<u8> {
    let (bucket, key) = uri
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .expect("an s3:// URI");
    nrt_s3::get_bytes(&mesh.s3_client, bucket, key)
        .await
        .expect("S3 answers")
        .unwrap_or_else(|| panic!("{uri} exists"))
        .to_vec()
}
