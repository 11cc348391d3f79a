use std::path::Path;

use serde_json::json;

use super::*;
use crate::{
    golden::registry,
    rules::{Comparison, Condition, Op, Operand, Parameter},
};

const GOOD: &str = r#"
[[rules]]
name = "s2-l1c-footprint"
processor = "footprint"
description = "Footprints of clear Sentinel-2 L1C granules."
collections = ["SENTINEL-2"]
product_types = ["S2MSI1C", "S2MSI2A"]

[[rules.where]]
attribute = "cloudCover"
op = "le"
value = 80

[[rules.where]]
attribute = "tileId"
op = "ne"
value = "54PXA"

[rules.parameters]
resolution = 20
bands = ["B04", "B08"]
since = 2024-01-01T00:00:00Z
grid = { crs = "EPSG:4326", step = 0.5 }

[[rules]]
name = "everything"
processor = "sar-backscatter"
"#;

fn parse(text: &str) -> Result<Rules, Error> {
    Rules::parse(text, &registry())
}

fn error_of(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

/// GOOD with its first rule's body after `name` replaced by `body`.
fn first_rule(body: &str) -> String {
    format!("[[rules]]\nname = \"s2-l1c-footprint\"\n{body}\n")
}

#[test]
fn reads_conditions_in_order_and_parameters_as_json() {
    let rules = parse(GOOD).unwrap();
    let names: Vec<&str> = rules.iter().map(|rule| rule.name.as_str()).collect();
    assert_eq!(names, ["s2-l1c-footprint", "everything"]);

    let rule = rules.get("s2-l1c-footprint").unwrap();
    assert_eq!(rule.processor, "footprint");
    assert_eq!(
        rule.description.as_deref(),
        Some("Footprints of clear Sentinel-2 L1C granules.")
    );
    assert_eq!(
        rule.conditions,
        vec![
            Condition::Collection {
                any_of: vec!["SENTINEL-2".into()]
            },
            Condition::ProductType {
                any_of: vec!["S2MSI1C".into(), "S2MSI2A".into()]
            },
            Condition::Attribute(Comparison {
                attribute: "cloudCover".into(),
                op: Op::Le,
                value: Operand::Number(80.0),
            }),
            Condition::Attribute(Comparison {
                attribute: "tileId".into(),
                op: Op::Ne,
                value: Operand::Text("54PXA".into()),
            }),
        ]
    );
    let fixed: serde_json::Map<String, serde_json::Value> = rule
        .parameters
        .iter()
        .map(|(name, parameter)| match parameter {
            Parameter::Fixed(value) => (name.clone(), value.clone()),
            Parameter::Template(template) => panic!("{name} = {template} is a template"),
        })
        .collect();
    assert_eq!(
        serde_json::Value::Object(fixed),
        json!({
            "resolution": 20,
            "bands": ["B04", "B08"],
            "since": "2024-01-01T00:00:00Z",
            "grid": { "crs": "EPSG:4326", "step": 0.5 },
        })
    );

    let everything = rules.get("everything").unwrap();
    assert!(everything.conditions.is_empty());
    assert!(everything.parameters.is_empty());
}

#[test]
fn the_example_file_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules.example.toml");
    let rules = Rules::load(&path, &registry()).unwrap();
    assert!(rules.iter().count() >= 2);
}

#[test]
fn every_invalid_rule_is_named_with_its_field_and_reason() {
    let cases = [
        (
            first_rule("processor = \"footprint\"\ncolections = [\"SENTINEL-2\"]"),
            "rule s2-l1c-footprint, field colections: unknown field `colections`, expected one of \
             `name`, `processor`, `description`, `priority`, `deadline`, `join`, `periodic`, \
             `parameters`, `collections`, `product_types`, `where`",
        ),
        (
            first_rule(
                "processor = \"footprint\"\n[[rules.where]]\nattribute = \"cloudCover\"\noperator = \"le\"\nvalue = 80",
            ),
            "rule s2-l1c-footprint, field where[0].operator: unknown field `operator`, expected one of \
             `attribute`, `op`, `value`",
        ),
        (
            first_rule(
                "processor = \"footprint\"\n[[rules.where]]\nattribute = \"cloudCover\"\nop = \"lte\"\nvalue = 80",
            ),
            "rule s2-l1c-footprint, field where[0].op: unknown variant `lte`, expected one of `eq`, `ne`, `lt`, `le`, `gt`, `ge`",
        ),
        (
            first_rule(
                "processor = \"footprint\"\n[[rules.where]]\nattribute = \"orbitDirection\"\nop = \"lt\"\nvalue = \"ASCENDING\"",
            ),
            "rule s2-l1c-footprint, field where[0].op: lt orders numbers only, and the value is the string \"ASCENDING\"; strings and booleans take eq or ne",
        ),
        (
            first_rule(
                "processor = \"footprint\"\n[[rules.where]]\nattribute = \"sliceProductFlag\"\nop = \"ge\"\nvalue = true",
            ),
            "rule s2-l1c-footprint, field where[0].op: ge orders numbers only, and the value is the boolean true; \
             strings and booleans take eq or ne",
        ),
        (
            first_rule(
                "processor = \"footprint\"\n[[rules.where]]\nattribute = \"sensed\"\nop = \"eq\"\nvalue = 2024-01-01",
            ),
            "rule s2-l1c-footprint, field where[0].value: must be a finite number, a string or a boolean, not the date-time 2024-01-01",
        ),
        (
            first_rule(
                "processor = \"footprint\"\n[[rules.where]]\nattribute = \"cloudCover\"\nop = \"le\"\nvalue = nan",
            ),
            "rule s2-l1c-footprint, field where[0].value: must be a finite number, a string or a boolean, not the float NaN",
        ),
        (
            first_rule(
                "processor = \"footprint\"\n[[rules.where]]\nattribute = \"tileId\"\nop = \"eq\"\nvalue = [\"54PXA\"]",
            ),
            "rule s2-l1c-footprint, field where[0].value: must be a finite number, a string or a boolean, not an array",
        ),
        (
            first_rule(
                "processor = \"footprint\"\n[[rules.where]]\nattribute = \"cloudCover\"\nop = \"le\"",
            ),
            "rule s2-l1c-footprint, field where[0].value: is missing",
        ),
        (
            first_rule(
                "processor = \"footprint\"\n[[rules.where]]\nattribute = \"\"\nop = \"le\"\nvalue = 1",
            ),
            "rule s2-l1c-footprint, field where[0].attribute: must not be empty",
        ),
        (
            first_rule("processor = \"snow-cover\""),
            "rule s2-l1c-footprint, field processor: the registry has no processor `snow-cover` (it has: footprint, sar-backscatter)",
        ),
        (
            first_rule("description = \"no processor\""),
            "rule s2-l1c-footprint, field processor: is missing",
        ),
        (
            first_rule("processor = \"footprint\"\ncollections = []"),
            "rule s2-l1c-footprint, field collections: is empty, which no product satisfies; leave it out to accept any",
        ),
        (
            first_rule("processor = \"footprint\"\nproduct_types = [\"S2MSI1C\", \" \"]"),
            "rule s2-l1c-footprint, field product_types: contains an empty name",
        ),
        (
            first_rule("processor = \"footprint\"\ncollections = \"SENTINEL-2\""),
            "rule s2-l1c-footprint, field collections: invalid type: string \"SENTINEL-2\", expected a sequence",
        ),
        (
            first_rule("processor = \"footprint\"\n[rules.parameters]\nthreshold = inf"),
            "rule s2-l1c-footprint, field parameters.threshold: inf is not a finite number",
        ),
        (
            "[[rules]]\nname = \"s2 footprint\"\nprocessor = \"footprint\"\n".to_owned(),
            "rule s2 footprint, field name: \"s2 footprint\" must be letters, digits, '-' or '_' \
             (it names jobs and metrics)",
        ),
        (
            "[[rules]]\nprocessor = \"footprint\"\n".to_owned(),
            "rule #1, field name: is missing",
        ),
        (
            format!("{GOOD}\n[[rules]]\nname = \"everything\"\nprocessor = \"footprint\"\n"),
            "rule everything, field name: rule #2 already has this name; names must be unique",
        ),
    ];
    for (text, expected) in cases {
        let error = error_of(&text);
        assert_eq!(error, format!("rules file <inline>: {expected}"));
    }
}

#[test]
fn a_file_without_rules_is_refused() {
    for text in ["", "# nothing yet\n", "rules = []\n"] {
        assert_eq!(
            error_of(text),
            "rules file <inline>: defines no rules: write at least one [[rules]] table"
        );
    }
}

#[test]
fn a_misspelt_top_level_table_is_named() {
    assert_eq!(
        error_of("[[rule]]\nname = \"x\"\nprocessor = \"footprint\"\n"),
        "rules file <inline>: unknown top-level key `rule`: rules are written as [[rules]] tables"
    );
    assert_eq!(
        error_of("rules = \"all\"\n"),
        "rules file <inline>: `rules` must be [[rules]] tables, found string"
    );
    assert_eq!(
        error_of("rules = [1]\n"),
        "rules file <inline>: rule #1, field rules: must be a [[rules]] table, found integer"
    );
}

#[test]
fn a_toml_syntax_error_gives_the_line() {
    let error = parse("[[rules]]\nname = \"x\nprocessor = \"footprint\"\n").unwrap_err();
    assert!(matches!(error, Error::RulesSyntax { .. }), "{error}");
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert!(cause.contains("line 2"), "{cause}");
}

#[test]
fn a_missing_rules_file_names_its_path() {
    let error = Rules::load(Path::new("/nonexistent/rules.toml"), &registry()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot read rules file /nonexistent/rules.toml"
    );
}

#[test]
fn errors_from_a_file_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, first_rule("processor = \"snow-cover\"")).unwrap();
    let error = Rules::load(&path, &registry()).unwrap_err().to_string();
    assert!(
        error.starts_with(&format!(
            "rules file {}: rule s2-l1c-footprint, field processor:",
            path.display()
        )),
        "{error}"
    );
}
