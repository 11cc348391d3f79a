use std::path::PathBuf;

use nrt_events::{JobInput, job_id};
use nrt_registry::ProcessorRegistry;
use serde_json::json;

use super::*;
use crate::golden::{S1_AUX_INS, S1_GRD_ASCENDING, S2_L1C_54PXA, S2_L1C_55PBR, product, registry};

const RULES: &str = r#"
[[rules]]
name = "s2-l1c-footprint"
processor = "footprint"
collections = ["SENTINEL-2"]
product_types = ["S2MSI1C"]
[rules.parameters]
resolution = 20

[[rules]]
name = "s2-clear-sky"
processor = "footprint"
collections = ["SENTINEL-2"]
[[rules.where]]
attribute = "cloudCover"
op = "le"
value = 80

[[rules]]
name = "s2-tile-55pbr"
processor = "sar-backscatter"
[[rules.where]]
attribute = "tileId"
op = "eq"
value = "55PBR"

[[rules]]
name = "s1-grd-ascending"
processor = "sar-backscatter"
collections = ["SENTINEL-1"]
product_types = ["IW_GRDH_1S"]
[[rules.where]]
attribute = "orbitDirection"
op = "eq"
value = "ASCENDING"
[rules.parameters]
polarisations = ["VV", "VH"]

[[rules]]
name = "orbit-files"
processor = "footprint"
product_types = ["AUX_POEORB", "AUX_INS"]
"#;

fn rules() -> Rules {
    Rules::parse(RULES, &registry()).unwrap()
}

/// Long after every golden product was sensed: no time condition in these rules looks at it.
fn now() -> DateTime<Utc> {
    "2026-11-28T00:00:00Z".parse().unwrap()
}

/// The job requests `product` makes at once.
fn requests(
    product: &ProductDiscovered,
    rules: &Rules,
    registry: &ProcessorRegistry,
) -> Result<Vec<JobRequested>, Error> {
    Ok(evaluate(product, rules, registry, now())?
        .into_iter()
        .map(|action| match action {
            Action::Request(job) => job,
            Action::Gather { rule, .. } => panic!("rule {} gathers", rule.name),
        })
        .collect())
}

fn lines(verdicts: &[Verdict<'_>]) -> Vec<String> {
    verdicts.iter().map(ToString::to_string).collect()
}

#[test]
fn explain_gives_every_rule_its_verdict_and_first_reason() {
    let rules = rules();
    assert_eq!(
        lines(&explain(&product(S2_L1C_54PXA), &rules, now())),
        [
            "s2-l1c-footprint (footprint): matches",
            "s2-clear-sky (footprint): no match, cloudCover 95.136736479015 is not le 80",
            r#"s2-tile-55pbr (sar-backscatter): no match, tileId "54PXA" is not eq "55PBR""#,
            "s1-grd-ascending (sar-backscatter): no match, collection SENTINEL-2 not in [SENTINEL-1]",
            "orbit-files (footprint): no match, product type S2MSI1C not in [AUX_POEORB, AUX_INS]",
        ]
    );
    assert_eq!(
        lines(&explain(&product(S1_AUX_INS), &rules, now())),
        [
            "s2-l1c-footprint (footprint): no match, collection SENTINEL-1 not in [SENTINEL-2]",
            "s2-clear-sky (footprint): no match, collection SENTINEL-1 not in [SENTINEL-2]",
            "s2-tile-55pbr (sar-backscatter): no match, attribute tileId missing",
            "s1-grd-ascending (sar-backscatter): no match, product type AUX_INS not in [IW_GRDH_1S]",
            "orbit-files (footprint): matches",
        ]
    );
}

#[test]
fn a_product_firing_one_rule_gets_one_job_with_the_registry_version() {
    let product = product(S1_GRD_ASCENDING);
    let jobs = requests(&product, &rules(), &registry()).unwrap();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.rule, "s1-grd-ascending");
    assert_eq!(job.processor, "sar-backscatter");
    assert_eq!(job.processor_version, "2.1.0");
    assert_eq!(
        job.job_id,
        job_id(
            "s1-grd-ascending",
            "sar-backscatter",
            "2.1.0",
            [product.key.as_str()]
        )
    );
    assert_eq!(job.inputs, vec![JobInput::from(&product)]);
    assert_eq!(
        serde_json::to_value(&job.parameters).unwrap(),
        json!({ "polarisations": ["VV", "VH"] })
    );
}

#[test]
fn several_rules_firing_on_one_product_give_one_job_each_in_file_order() {
    let product = product(S2_L1C_55PBR);
    let jobs = requests(&product, &rules(), &registry()).unwrap();
    let fired: Vec<(&str, &str)> = jobs
        .iter()
        .map(|job| (job.rule.as_str(), job.processor.as_str()))
        .collect();
    assert_eq!(
        fired,
        [
            ("s2-l1c-footprint", "footprint"),
            ("s2-tile-55pbr", "sar-backscatter")
        ]
    );
    assert_ne!(jobs[0].job_id, jobs[1].job_id);
    assert_eq!(
        serde_json::to_value(&jobs[0].parameters).unwrap(),
        json!({ "resolution": 20 })
    );
    assert!(jobs[1].parameters.is_empty());
}

#[test]
fn a_product_firing_no_rule_gets_no_job() {
    let mut product = product(S1_GRD_ASCENDING);
    product.product_type = "EW_GRDM_1S".into();
    assert_eq!(requests(&product, &rules(), &registry()).unwrap(), []);
}

#[test]
fn an_auxiliary_product_without_footprint_is_requested_as_it_is() {
    let aux = product(S1_AUX_INS);
    assert!(aux.footprint.is_none());
    let jobs = requests(&aux, &rules(), &registry()).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].rule, "orbit-files");
    assert_eq!(jobs[0].inputs[0].footprint, None);
    assert_eq!(jobs[0].inputs[0].key, aux.key);
}

#[test]
fn the_same_product_evaluated_twice_requests_the_same_job_ids() {
    let rules = rules();
    let first = requests(&product(S2_L1C_55PBR), &rules, &registry()).unwrap();
    let again = requests(&product(S2_L1C_55PBR), &rules, &registry()).unwrap();
    assert_eq!(first, again);
    let other_tile = requests(&product(S2_L1C_54PXA), &rules, &registry()).unwrap();
    assert_eq!(other_tile[0].rule, first[0].rule);
    assert_ne!(other_tile[0].job_id, first[0].job_id, "another product");
}

#[test]
fn a_new_processor_version_or_another_rule_gives_another_job_id() {
    let product = product(S2_L1C_54PXA);
    let before = requests(&product, &rules(), &registry()).unwrap();

    let upgraded = ProcessorRegistry::parse(
        r#"
        [processors.footprint]
        version = "1.1.0"
        command = ["nrt-footprint", "{manifest}"]
        [processors.sar-backscatter]
        version = "2.1.0"
        command = ["sar-backscatter", "{manifest}"]
        "#,
        PathBuf::new(),
    )
    .unwrap();
    let after = requests(&product, &rules(), &upgraded).unwrap();
    assert_eq!(after[0].processor_version, "1.1.0");
    assert_ne!(after[0].job_id, before[0].job_id);

    let renamed = Rules::parse(
        &RULES.replace("\"s2-l1c-footprint\"", "\"s2-l1c-footprint-v2\""),
        &registry(),
    )
    .unwrap();
    let under_new_name = requests(&product, &renamed, &registry()).unwrap();
    assert_eq!(under_new_name[0].rule, "s2-l1c-footprint-v2");
    assert_ne!(under_new_name[0].job_id, before[0].job_id);
}

#[test]
fn a_registry_missing_the_rules_processor_is_an_error_not_a_silent_skip() {
    let footprint_only = ProcessorRegistry::parse(
        "[processors.footprint]\nversion = \"1\"\ncommand = [\"f\"]\n",
        PathBuf::new(),
    )
    .unwrap();
    let error = requests(&product(S1_GRD_ASCENDING), &rules(), &footprint_only).unwrap_err();
    assert_eq!(
        error.to_string(),
        "rule s1-grd-ascending names processor sar-backscatter, which the registry does not have"
    );
}

#[test]
fn a_plain_job_carries_the_rules_priority_templated_parameters_and_deadline() {
    let rules = Rules::parse(
        r#"
[[rules]]
name = "s2-tile"
processor = "footprint"
priority = 7
deadline = "3h"
product_types = ["S2MSI1C"]
[rules.parameters]
tile = "{attributes.tileId}"
day = "{sensing_start:%Y-%m-%d}"
bands = ["B03", "B11"]
"#,
        &registry(),
    )
    .unwrap();
    let product = product(S2_L1C_54PXA);
    let [job] = &requests(&product, &rules, &registry()).unwrap()[..] else {
        panic!()
    };
    assert_eq!(job.priority, 7);
    assert_eq!(
        job.deadline,
        Some(product.published_at + chrono::TimeDelta::hours(3))
    );
    assert_eq!(
        serde_json::to_value(&job.parameters).unwrap(),
        json!({ "tile": "54PXA", "day": "2020-08-08", "bands": ["B03", "B11"] })
    );
}

#[test]
fn a_product_lacking_a_parameters_field_does_not_fire_and_the_verdict_says_why() {
    let rules = Rules::parse(
        r#"
[[rules]]
name = "per-tile"
processor = "footprint"
[rules.parameters]
tile = "{attributes.tileId}"
"#,
        &registry(),
    )
    .unwrap();
    assert_eq!(
        lines(&explain(&product(S1_GRD_ASCENDING), &rules, now())),
        [
            "per-tile (footprint): no match, cannot fill parameter tile: the product has no attribute tileId"
        ]
    );
    assert!(
        requests(&product(S1_GRD_ASCENDING), &rules, &registry())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_gathering_rule_names_the_group_and_input_a_product_joins() {
    let rules = Rules::parse(
        r#"
[[rules]]
name = "mosaic"
processor = "footprint"
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

[[rules]]
name = "monthly"
processor = "footprint"
product_types = ["S2MSI1C"]
[rules.periodic]
every = "month"
"#,
        &registry(),
    )
    .unwrap();
    assert_eq!(
        lines(&explain(&product(S2_L1C_54PXA), &rules, now())),
        [
            "mosaic (footprint): matches, joins group \"GS2A_20200808T010311_026783_N05.00\" as input west",
            "monthly (footprint): matches, joins group \"\" of period 2020-08",
        ]
    );
    assert_eq!(
        lines(&explain(&product(S2_L1C_55PBR), &rules, now()))[0],
        "mosaic (footprint): no match, fits no input of the join (west: tileId \"55PBR\" is not eq \"54PXA\")"
    );
}

#[test]
fn a_rule_with_tiles_names_every_tile_group_a_product_joins_or_that_it_covers_none() {
    let rules = Rules::parse(
        r#"
[[rules]]
name = "snow-fusion"
processor = "footprint"
[rules.join]
key = "{tile}/{sensing_start:%Y-%m-%d}"
tiles = { file = "testdata/areas/mgrs-mariana.geojson", name = "tile_id" }
timeout = "12h"
on_timeout = "partial"
[[rules.join.inputs]]
name = "radar"
product_types = ["IW_GRDH_1S"]
"#,
        &registry(),
    )
    .unwrap();
    assert_eq!(
        lines(&explain(
            &crate::golden::radar_over_both_tiles(),
            &rules,
            now()
        )),
        [
            "snow-fusion (footprint): matches, joins groups \"54PXA/2020-08-08\", \"55PBR/2020-08-08\" as input radar"
        ]
    );
    assert_eq!(
        lines(&explain(&product(S1_GRD_ASCENDING), &rules, now())),
        [
            "snow-fusion (footprint): no match, footprint overlaps no tile of testdata/areas/mgrs-mariana.geojson"
        ]
    );
}

#[test]
fn a_minimum_coverage_keeps_only_the_tiles_the_footprint_covers_enough() {
    let rules = |min_coverage: f64| {
        Rules::parse(
            &format!(
                r#"
[[rules]]
name = "snow-fusion"
processor = "footprint"
[rules.periodic]
every = "day"
key = "{{tile}}"
tiles = {{ file = "testdata/areas/mgrs-mariana.geojson", name = "tile_id", min_coverage = {min_coverage} }}
"#
            ),
            &registry(),
        )
        .unwrap()
    };
    let radar = crate::golden::radar_over_both_tiles();
    // The slice covers about 36% of the 54PXA box and 42% of the 55PBR box.
    assert_eq!(
        lines(&explain(&radar, &rules(0.3), now())),
        [
            "snow-fusion (footprint): matches, joins groups \"54PXA\", \"55PBR\" of period 2020-08-08"
        ]
    );
    assert_eq!(
        lines(&explain(&radar, &rules(0.4), now())),
        ["snow-fusion (footprint): matches, joins group \"55PBR\" of period 2020-08-08"]
    );
    assert_eq!(
        lines(&explain(&radar, &rules(0.5), now())),
        [
            "snow-fusion (footprint): no match, footprint covers no tile of testdata/areas/mgrs-mariana.geojson by the 50% required"
        ]
    );
}
