use std::path::PathBuf;

use super::*;

const REGISTRY: &str = r#"
[processors.footprint]
version = "1.0.0"
command = ["nrt-footprint", "--manifest", "{manifest}"]
"#;

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
name = "s2-monthly"
processor = "footprint"
collections = ["SENTINEL-2"]
[rules.periodic]
every = "month"
grace = "2d"
"#;

const S2_54PXA: &str = "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505";

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new(rules: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rules.toml"), rules).unwrap();
        std::fs::write(dir.path().join("processors.toml"), REGISTRY).unwrap();
        Self { dir }
    }

    fn rules(&self) -> PathBuf {
        self.dir.path().join("rules.toml")
    }

    fn load(&self) -> Result<Checked, trigger::Error> {
        load(&self.rules(), &self.dir.path().join("processors.toml"))
    }
}

fn recorded_product() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/products")
        .join(format!("{S2_54PXA}.json"));
    std::fs::read(path).unwrap()
}

#[test]
fn a_valid_file_is_summed_up_one_rule_a_line() {
    let files = Files::new(RULES);
    let checked = files.load().unwrap();
    assert_eq!(
        summary(&files.rules(), &checked),
        format!(
            "{}: 3 rules OK\n  s2-l1c-footprint  footprint  plain\n  s2-clear-sky      footprint  plain\n  s2-monthly        footprint  periodic\n",
            files.rules().display()
        )
    );
}

#[test]
fn an_invalid_file_is_refused_naming_the_rule_and_the_field() {
    let files = Files::new(&RULES.replace("op = \"le\"", "op = \"lte\""));
    let error = files.load().err().expect("refused").to_string();
    assert!(
        error.starts_with(&format!(
            "rules file {}: rule s2-clear-sky, field where[0].op: unknown variant `lte`",
            files.rules().display()
        )),
        "{error}"
    );
}

#[test]
fn a_product_shows_the_job_of_each_matching_plain_rule_the_group_of_a_periodic_one_and_why_others_do_not_match()
 {
    let files = Files::new(RULES);
    let checked = files.load().unwrap();
    let product = parse_product("product.json", &recorded_product()).unwrap();
    let now = "2026-01-02T03:04:05Z".parse().unwrap();
    let text = explain(&checked, &product, now).unwrap();
    let lines: Vec<&str> = text.lines().collect();

    assert_eq!(
        lines[0],
        format!("Product {S2_54PXA} (SENTINEL-2 S2MSI1C) at 2026-01-02T03:04:05Z:")
    );
    assert_eq!(lines[1], "  s2-l1c-footprint (footprint): matches");
    assert_eq!(lines[2], "    would publish on jobs.requested.footprint:");
    let json_end = lines.iter().position(|line| *line == "    }").unwrap();
    let job: nrt_events::JobRequested =
        serde_json::from_str(&lines[3..=json_end].join("\n")).unwrap();
    assert_eq!(
        (job.rule.as_str(), job.processor_version.as_str()),
        ("s2-l1c-footprint", "1.0.0")
    );
    assert_eq!(job.inputs[0].key, S2_54PXA);
    assert_eq!(job.parameters["resolution"], 20);
    assert!(
        lines[json_end + 1].starts_with("  s2-clear-sky (footprint): no match, "),
        "{}",
        lines[json_end + 1]
    );
    assert!(
        lines[json_end + 1].contains("cloudCover"),
        "{}",
        lines[json_end + 1]
    );
    assert!(
        lines[json_end + 2]
            .starts_with("  s2-monthly (footprint): matches, joins group \"\" of period 2020-08"),
        "{}",
        lines[json_end + 2]
    );
    assert_eq!(lines[json_end + 3], "2 of 3 rules match.");
    assert_eq!(lines.len(), json_end + 4);
}

#[test]
fn a_product_is_read_bare_or_in_its_cloud_event() {
    let bare = parse_product("bare.json", &recorded_product()).unwrap();
    let event = Envelope::new("/nrt-mesh/ingestor", bare.clone()).to_json();
    assert_eq!(parse_product("event.json", &event).unwrap(), bare);
}

#[test]
fn a_document_that_is_no_product_is_refused_saying_what_is_wrong() {
    let describe = |name: &str, body: &str| {
        format!(
            "{:#}",
            parse_product(name, body.as_bytes()).expect_err("refused")
        )
    };
    assert_eq!(
        describe("p.json", r#"{"key": "S2A"}"#),
        "p.json is neither a ProductDiscovered document nor a CloudEvent of one: missing field `feed_id` at line 1 column 14"
    );
    assert!(describe("p.json", "S2A_MSIL1C").starts_with(
        "p.json is neither a ProductDiscovered document nor a CloudEvent of one: expected value"
    ),);
    let job_event = serde_json::json!({
        "specversion": "1.0", "id": "1", "source": "/x", "type": "eu.nrtmesh.job.requested.v1",
        "data": {},
    });
    assert_eq!(
        describe("e.json", &job_event.to_string()),
        "e.json is a CloudEvent but not a discovered product: event type eu.nrtmesh.job.requested.v1 is not the expected eu.nrtmesh.product.discovered.v1"
    );
}
