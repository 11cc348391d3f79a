//! The gathering engine over an in-memory bucket: the same compare-and-set rules as JetStream KV,
//! without a server. Over real JetStream, see `tests/gather.rs`.

use chrono::TimeDelta;
use nrt_events::{JobInput, ProductDiscovered, ProductRetracted, job_id};

use super::{
    outbox::RecordingOutbox,
    store::{MemoryBucket, read},
    *,
};
use crate::{
    Firing, explain,
    golden::{
        S1_GRD_ASCENDING, S1_GRD_NEXT_SLICE, S2_L1C_54PXA, S2_L1C_55PBR, product,
        radar_over_both_tiles, registry,
    },
    rules::Rules,
};

const RULES: &str = r#"
[[rules]]
name = "datastrip-mosaic"
processor = "footprint"
deadline = "3h"
collections = ["SENTINEL-2"]
[rules.join]
key = "{attributes.productGroupId}"
timeout = "6h"
on_timeout = "partial"
[[rules.join.inputs]]
name = "west"
[[rules.join.inputs.where]]
attribute = "tileId"
op = "eq"
value = "54PXA"
[[rules.join.inputs]]
name = "east"
[[rules.join.inputs.where]]
attribute = "tileId"
op = "eq"
value = "55PBR"
[rules.parameters]
group = "{join_key}"

[[rules]]
name = "datatake-assembly"
processor = "sar-backscatter"
product_types = ["IW_GRDH_1S"]
[rules.join]
key = "{attributes.datatakeID}"
count = 2
timeout = "1h"
on_timeout = "alert"

[[rules]]
name = "s1-monthly"
processor = "sar-backscatter"
deadline = "1d"
product_types = ["IW_GRDH_1S"]
[rules.periodic]
every = "month"
grace = "2d"
key = "{attributes.relativeOrbitNumber}"
[rules.parameters]
month = "{period}"
orbit = "{attributes.relativeOrbitNumber}"
"#;

type TestGatherer = Gatherer<MemoryBucket, RecordingOutbox>;

fn active() -> ActiveRules {
    let registry = registry();
    ActiveRules {
        rules: Rules::parse(RULES, &registry).unwrap(),
        registry,
        origin: "test".into(),
    }
}

fn gatherer() -> TestGatherer {
    Gatherer::new(
        MemoryBucket::default(),
        MemoryBucket::default(),
        RecordingOutbox::default(),
    )
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// Sends `product` through every gathering rule it fires, as the product handler does.
async fn offer(
    gatherer: &TestGatherer,
    active: &ActiveRules,
    product: &ProductDiscovered,
    now: DateTime<Utc>,
) -> Vec<(String, Joined)> {
    let mut outcomes = Vec::new();
    for verdict in explain(product, &active.rules, now) {
        let Ok(Firing::Gather(targets)) = verdict.outcome else {
            continue;
        };
        for target in targets {
            let added = gatherer
                .gather(active, verdict.rule, &target, JobInput::from(product), now)
                .await
                .unwrap();
            outcomes.push((verdict.rule.name.clone(), added));
        }
    }
    outcomes
}

fn jobs(gatherer: &TestGatherer) -> Vec<JobRequested> {
    gatherer.outbox.jobs.lock().unwrap().clone()
}

fn alerts(gatherer: &TestGatherer) -> Vec<nrt_events::Alert> {
    gatherer.outbox.alerts.lock().unwrap().clone()
}

async fn groups(gatherer: &TestGatherer) -> Vec<Group> {
    let mut groups = Vec::new();
    for key in gatherer.groups.keys().await.unwrap() {
        groups.push(
            read::<Group>(&gatherer.groups, &key)
                .await
                .unwrap()
                .unwrap()
                .0,
        );
    }
    groups
}

const NOW: &str = "2026-01-05T12:00:00Z";

#[tokio::test]
async fn a_join_with_named_inputs_requests_one_job_when_every_input_is_there() {
    let (gatherer, active) = (gatherer(), active());
    let west = product(S2_L1C_54PXA);
    let east = product(S2_L1C_55PBR);

    offer(&gatherer, &active, &west, at(NOW)).await;
    assert!(jobs(&gatherer).is_empty(), "one input of two is not a job");
    offer(&gatherer, &active, &east, at(NOW)).await;

    let [job] = &jobs(&gatherer)[..] else {
        panic!("{:?}", jobs(&gatherer))
    };
    assert_eq!(job.rule, "datastrip-mosaic");
    assert_eq!(
        job.job_id,
        job_id(
            "datastrip-mosaic",
            "footprint",
            "1.0.0",
            [west.key.as_str(), east.key.as_str()]
        )
    );
    let keys: Vec<&str> = job.inputs.iter().map(|input| input.key.as_str()).collect();
    assert_eq!(keys, [S2_L1C_54PXA, S2_L1C_55PBR]);
    assert_eq!(
        job.parameters["group"], "GS2A_20200808T010311_026783_N05.00",
        "templated from the join key"
    );
    // Three hours after the latest input's publication in the feed.
    assert_eq!(
        job.deadline,
        Some(east.published_at.max(west.published_at) + TimeDelta::hours(3))
    );
    let [group] = &groups(&gatherer).await[..] else {
        panic!()
    };
    assert!(matches!(
        group.status,
        Status::Requested {
            published: true,
            ..
        }
    ));
    let done = index::of(&gatherer.inputs, &west.key).await.unwrap();
    assert_eq!(done.jobs, [JobRef::of(job)]);
    assert_eq!(done.groups, gatherer.groups.keys().await.unwrap());
}

#[tokio::test]
async fn a_redelivered_product_is_not_added_twice_and_makes_no_second_job() {
    let (gatherer, active) = (gatherer(), active());
    for name in [S2_L1C_54PXA, S2_L1C_54PXA, S2_L1C_55PBR, S2_L1C_55PBR] {
        offer(&gatherer, &active, &product(name), at(NOW)).await;
    }
    assert_eq!(jobs(&gatherer).len(), 1);
    let outcome = offer(&gatherer, &active, &product(S2_L1C_54PXA), at(NOW)).await;
    assert_eq!(
        outcome,
        [("datastrip-mosaic".to_owned(), Joined::AlreadyMember)]
    );
}

#[tokio::test]
async fn a_filled_input_takes_no_second_product() {
    let (gatherer, active) = (gatherer(), active());
    let west = product(S2_L1C_54PXA);
    let mut reprocessed = west.clone();
    reprocessed.key = format!("{}_REPROCESSED", west.key);
    offer(&gatherer, &active, &west, at(NOW)).await;
    let outcome = offer(&gatherer, &active, &reprocessed, at(NOW)).await;
    assert_eq!(
        outcome,
        [("datastrip-mosaic".to_owned(), Joined::InputFull)]
    );
}

#[tokio::test]
async fn a_count_join_completes_at_its_count() {
    let (gatherer, active) = (gatherer(), active());
    offer(&gatherer, &active, &product(S1_GRD_ASCENDING), at(NOW)).await;
    assert!(
        jobs(&gatherer)
            .iter()
            .all(|job| job.rule != "datatake-assembly")
    );
    offer(&gatherer, &active, &product(S1_GRD_NEXT_SLICE), at(NOW)).await;
    let assembled: Vec<_> = jobs(&gatherer)
        .into_iter()
        .filter(|job| job.rule == "datatake-assembly")
        .collect();
    assert_eq!(assembled.len(), 1);
    assert_eq!(assembled[0].inputs.len(), 2);
}

#[tokio::test]
async fn a_partial_join_requests_what_came_once_its_timeout_passes() {
    let (gatherer, active) = (gatherer(), active());
    offer(&gatherer, &active, &product(S2_L1C_54PXA), at(NOW)).await;
    let keep = std::time::Duration::from_secs(3600);

    gatherer
        .sweep(&active, at(NOW) + TimeDelta::minutes(359), keep)
        .await
        .unwrap();
    assert!(jobs(&gatherer).is_empty(), "not due before six hours");
    gatherer
        .sweep(&active, at(NOW) + TimeDelta::hours(6), keep)
        .await
        .unwrap();

    let [job] = &jobs(&gatherer)[..] else {
        panic!()
    };
    assert_eq!(job.inputs.len(), 1);
    assert_eq!(
        job.job_id,
        job_id("datastrip-mosaic", "footprint", "1.0.0", [S2_L1C_54PXA])
    );
    // A sweep by another replica afterwards publishes nothing more.
    gatherer
        .sweep(&active, at(NOW) + TimeDelta::hours(7), keep)
        .await
        .unwrap();
    assert_eq!(jobs(&gatherer).len(), 1);
}

#[tokio::test]
async fn an_alerting_join_raises_an_alert_naming_what_is_missing_and_requests_nothing() {
    let (gatherer, active) = (gatherer(), active());
    offer(&gatherer, &active, &product(S1_GRD_ASCENDING), at(NOW)).await;
    gatherer
        .sweep(
            &active,
            at(NOW) + TimeDelta::hours(1),
            std::time::Duration::from_secs(3600),
        )
        .await
        .unwrap();

    assert!(
        jobs(&gatherer)
            .iter()
            .all(|job| job.rule != "datatake-assembly")
    );
    let [alert] = &alerts(&gatherer)[..] else {
        panic!("{:?}", alerts(&gatherer))
    };
    assert_eq!(alert.kind, "join-timed-out");
    assert_eq!(alert.about, "datatake-assembly/513906");
    assert!(
        alert.message.contains("products: 1 of 2"),
        "{}",
        alert.message
    );
}

#[tokio::test]
async fn a_product_after_its_group_closed_is_late_and_opens_nothing() {
    let (gatherer, active) = (gatherer(), active());
    offer(&gatherer, &active, &product(S1_GRD_ASCENDING), at(NOW)).await;
    gatherer
        .sweep(
            &active,
            at(NOW) + TimeDelta::hours(2),
            std::time::Duration::from_secs(86400),
        )
        .await
        .unwrap();
    let outcome = offer(
        &gatherer,
        &active,
        &product(S1_GRD_NEXT_SLICE),
        at(NOW) + TimeDelta::hours(3),
    )
    .await;
    assert!(
        outcome.contains(&("datatake-assembly".to_owned(), Joined::Closed)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_periodic_rule_requests_one_job_over_its_period_after_the_grace_delay() {
    let (gatherer, active) = (gatherer(), active());
    // Both slices were sensed on 2026-01-01: period 2026-01, relative orbit 20.
    offer(
        &gatherer,
        &active,
        &product(S1_GRD_ASCENDING),
        at("2026-01-02T00:00:00Z"),
    )
    .await;
    offer(
        &gatherer,
        &active,
        &product(S1_GRD_NEXT_SLICE),
        at("2026-01-20T00:00:00Z"),
    )
    .await;
    let keep = std::time::Duration::from_secs(3600);

    gatherer
        .sweep(&active, at("2026-02-02T23:59:59Z"), keep)
        .await
        .unwrap();
    assert!(
        jobs(&gatherer).iter().all(|job| job.rule != "s1-monthly"),
        "grace runs to Feb 3"
    );
    gatherer
        .sweep(&active, at("2026-02-03T00:00:00Z"), keep)
        .await
        .unwrap();

    let monthly: Vec<_> = jobs(&gatherer)
        .into_iter()
        .filter(|job| job.rule == "s1-monthly")
        .collect();
    let [job] = &monthly[..] else {
        panic!("{monthly:?}")
    };
    assert_eq!(job.inputs.len(), 2);
    assert_eq!(job.parameters["month"], "2026-01");
    assert_eq!(job.parameters["orbit"], "20");
    // The deadline counts from the period's close plus grace.
    assert_eq!(job.deadline, Some(at("2026-02-04T00:00:00Z")));
}

#[tokio::test]
async fn a_closed_unpublished_group_is_published_by_the_next_sweep() {
    let (gatherer, active) = (gatherer(), active());
    offer(&gatherer, &active, &product(S2_L1C_54PXA), at(NOW)).await;
    // As a replica would leave it had it died between closing the group and publishing.
    let key = gatherer.groups.keys().await.unwrap().remove(0);
    let (mut group, revision) = read::<Group>(&gatherer.groups, &key)
        .await
        .unwrap()
        .unwrap();
    group.status = Status::Requested {
        job_id: "whatever".into(),
        at: at(NOW),
        published: false,
    };
    store::write(&gatherer.groups, &key, &group, Some(revision))
        .await
        .unwrap();

    gatherer
        .sweep(&active, at(NOW), std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(jobs(&gatherer).len(), 1);
    let [group] = &groups(&gatherer).await[..] else {
        panic!()
    };
    assert!(!group.is_unpublished());
}

#[tokio::test]
async fn closed_groups_are_forgotten_after_the_keep_delay() {
    let (gatherer, active) = (gatherer(), active());
    offer(&gatherer, &active, &product(S2_L1C_54PXA), at(NOW)).await;
    offer(&gatherer, &active, &product(S2_L1C_55PBR), at(NOW)).await;
    let keep = std::time::Duration::from_secs(24 * 3600);
    gatherer
        .sweep(&active, at(NOW) + TimeDelta::hours(23), keep)
        .await
        .unwrap();
    assert_eq!(groups(&gatherer).await.len(), 1, "kept a day");
    gatherer
        .sweep(&active, at(NOW) + TimeDelta::hours(24), keep)
        .await
        .unwrap();
    assert!(groups(&gatherer).await.is_empty());
}

fn retraction(key: &str) -> ProductRetracted {
    ProductRetracted {
        key: key.into(),
        feed_id: "0f4c4ec5-1b5e-4c0f-a9f6-2a3b4c5d6e7f".into(),
        name: format!("{key}.SAFE"),
        collection: None,
        product_type: None,
        retracted_at: at(NOW),
        cause: Some("Duplicated product".into()),
        feed: "cdse".into(),
    }
}

#[tokio::test]
async fn a_retraction_cancels_open_joins_and_leaves_periodic_groups_without_the_product() {
    let (gatherer, active) = (gatherer(), active());
    offer(&gatherer, &active, &product(S1_GRD_ASCENDING), at(NOW)).await;
    offer(&gatherer, &active, &product(S2_L1C_54PXA), at(NOW)).await;
    gatherer
        .retract(&active, &retraction(S1_GRD_ASCENDING), at(NOW))
        .await
        .unwrap();

    for group in groups(&gatherer).await {
        match group.rule.as_str() {
            "datatake-assembly" => assert!(matches!(group.status, Status::Cancelled { .. })),
            // Its only product left: nothing remains to synthesise.
            "s1-monthly" => assert!(matches!(group.status, Status::Cancelled { .. })),
            "datastrip-mosaic" => assert!(group.is_open(), "not a member: untouched"),
            other => panic!("{other}"),
        }
    }
    // A cancelled join does not complete when the other slice comes.
    offer(&gatherer, &active, &product(S1_GRD_NEXT_SLICE), at(NOW)).await;
    assert!(
        jobs(&gatherer)
            .iter()
            .all(|job| job.rule != "datatake-assembly")
    );
    assert!(alerts(&gatherer).is_empty(), "no job was requested with it");
}

#[tokio::test]
async fn a_periodic_group_keeps_its_other_products_when_one_is_retracted() {
    let (gatherer, active) = (gatherer(), active());
    offer(&gatherer, &active, &product(S1_GRD_ASCENDING), at(NOW)).await;
    offer(&gatherer, &active, &product(S1_GRD_NEXT_SLICE), at(NOW)).await;
    let before = jobs(&gatherer).len();
    gatherer
        .retract(&active, &retraction(S1_GRD_NEXT_SLICE), at(NOW))
        .await
        .unwrap();
    gatherer
        .sweep(
            &active,
            at("2026-02-03T00:00:00Z"),
            std::time::Duration::from_secs(1),
        )
        .await
        .unwrap();
    let monthly: Vec<_> = jobs(&gatherer)[before..]
        .iter()
        .filter(|job| job.rule == "s1-monthly")
        .cloned()
        .collect();
    let [job] = &monthly[..] else {
        panic!("{monthly:?}")
    };
    assert_eq!(job.inputs.len(), 1);
    assert_eq!(job.inputs[0].key, S1_GRD_ASCENDING);
}

#[tokio::test]
async fn a_retraction_alerts_once_per_job_already_requested_with_the_product() {
    let (gatherer, active) = (gatherer(), active());
    offer(&gatherer, &active, &product(S2_L1C_54PXA), at(NOW)).await;
    offer(&gatherer, &active, &product(S2_L1C_55PBR), at(NOW)).await;
    let job = jobs(&gatherer)[0].clone();

    gatherer
        .retract(&active, &retraction(S2_L1C_55PBR), at(NOW))
        .await
        .unwrap();
    let [alert] = &alerts(&gatherer)[..] else {
        panic!("{:?}", alerts(&gatherer))
    };
    assert_eq!(alert.kind, "input-retracted");
    assert_eq!(alert.about, format!("{}/{S2_L1C_55PBR}", job.job_id));
    assert!(
        alert.message.contains("datastrip-mosaic") && alert.message.contains("Duplicated product"),
        "{}",
        alert.message
    );
}

const TILED: &str = r#"
[[rules]]
name = "snow-fusion"
processor = "footprint"
[rules.join]
key = "{tile}/{sensing_start:%Y-%m-%d}"
tiles = { file = "testdata/areas/mgrs-mariana.geojson", name = "tile_id" }
timeout = "12h"
on_timeout = "partial"
[[rules.join.inputs]]
name = "optical"
product_types = ["S2MSI1C"]
[[rules.join.inputs]]
name = "radar"
product_types = ["IW_GRDH_1S"]
[rules.parameters]
tile = "{tile}"
"#;

#[tokio::test]
async fn a_join_with_tiles_gathers_a_product_into_every_tile_it_covers() {
    let registry = registry();
    let active = ActiveRules {
        rules: Rules::parse_in(
            TILED,
            "tiled",
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
            &registry,
        )
        .unwrap(),
        registry,
        origin: "test".into(),
    };
    let gatherer = gatherer();
    let radar = radar_over_both_tiles();
    let outcome = offer(&gatherer, &active, &radar, at(NOW)).await;
    assert_eq!(outcome.len(), 2, "one group per tile: {outcome:?}");
    offer(&gatherer, &active, &product(S2_L1C_54PXA), at(NOW)).await;
    offer(&gatherer, &active, &product(S2_L1C_55PBR), at(NOW)).await;

    let mut made: Vec<(String, Vec<String>)> = jobs(&gatherer)
        .into_iter()
        .map(|job| {
            let keys = job.inputs.iter().map(|input| input.key.clone()).collect();
            (job.parameters["tile"].as_str().unwrap().to_owned(), keys)
        })
        .collect();
    made.sort();
    assert_eq!(
        made,
        [
            (
                "54PXA".to_owned(),
                vec![S2_L1C_54PXA.to_owned(), radar.key.clone()]
            ),
            (
                "55PBR".to_owned(),
                vec![S2_L1C_55PBR.to_owned(), radar.key.clone()]
            ),
        ]
    );
}

#[tokio::test]
async fn groups_of_a_removed_rule_are_cancelled_not_swept_for_ever() {
    let (gatherer, active) = (gatherer(), active());
    offer(&gatherer, &active, &product(S2_L1C_54PXA), at(NOW)).await;
    let registry = registry();
    let without_joins = ActiveRules {
        rules: Rules::parse(
            "[[rules]]\nname = \"other\"\nprocessor = \"footprint\"\n",
            &registry,
        )
        .unwrap(),
        registry,
        origin: "reloaded".into(),
    };
    gatherer
        .sweep(
            &without_joins,
            at(NOW) + TimeDelta::days(400),
            std::time::Duration::from_secs(86400 * 1000),
        )
        .await
        .unwrap();
    for group in groups(&gatherer).await {
        assert!(
            matches!(&group.status, Status::Cancelled { reason, .. } if reason.contains("was removed")),
            "{group:?}"
        );
    }
    assert!(jobs(&gatherer).is_empty());
}

#[tokio::test]
async fn a_product_retracted_before_it_is_handled_makes_no_job_and_joins_no_group() {
    let (gatherer, active) = (gatherer(), active());
    let west = product(S2_L1C_54PXA);
    let mut retraction = retraction(S2_L1C_54PXA);
    retraction.feed_id = west.feed_id.clone();
    gatherer
        .retract(&active, &retraction, at(NOW))
        .await
        .unwrap();

    let outcome = offer(&gatherer, &active, &west, at(NOW)).await;
    assert_eq!(
        outcome,
        [("datastrip-mosaic".to_owned(), Joined::Retracted)]
    );
    let plain = JobRequested {
        job_id: "plain-job".into(),
        rule: "s2-footprint".into(),
        processor: "footprint".into(),
        processor_version: "1.0.0".into(),
        inputs: vec![JobInput::from(&west)],
        parameters: Default::default(),
        priority: 0,
        deadline: None,
    };
    assert!(!gatherer.request(&plain).await.unwrap());
    assert!(jobs(&gatherer).is_empty());

    // Published again under a new feed id, it is a new product.
    let mut republished = west.clone();
    republished.feed_id = "a-new-feed-id".into();
    let outcome = offer(&gatherer, &active, &republished, at(NOW)).await;
    assert_eq!(outcome, [("datastrip-mosaic".to_owned(), Joined::Added)]);
}

#[tokio::test]
async fn a_period_already_closed_when_its_first_product_comes_waits_the_grace_from_then() {
    let (gatherer, active) = (gatherer(), active());
    // A reprocessing campaign in March walks January's products.
    let campaign = at("2026-03-10T00:00:00Z");
    offer(&gatherer, &active, &product(S1_GRD_ASCENDING), campaign).await;
    offer(
        &gatherer,
        &active,
        &product(S1_GRD_NEXT_SLICE),
        campaign + TimeDelta::hours(1),
    )
    .await;
    let keep = std::time::Duration::from_secs(86400);

    gatherer
        .sweep(&active, campaign + TimeDelta::hours(47), keep)
        .await
        .unwrap();
    assert!(jobs(&gatherer).iter().all(|job| job.rule != "s1-monthly"));
    gatherer
        .sweep(&active, campaign + TimeDelta::hours(48), keep)
        .await
        .unwrap();
    let monthly: Vec<_> = jobs(&gatherer)
        .into_iter()
        .filter(|job| job.rule == "s1-monthly")
        .collect();
    let [job] = &monthly[..] else {
        panic!("{monthly:?}")
    };
    assert_eq!(job.inputs.len(), 2, "both slices, not one job each");
    assert_eq!(job.parameters["month"], "2026-01");
}
