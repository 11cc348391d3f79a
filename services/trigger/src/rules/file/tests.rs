use std::path::Path;

use serde_json::json;

use super::*;
use crate::{
    golden::registry,
    rules::{Comparison, Condition, HourClock, Op, Operand, Parameter, Pattern, SensingHours},
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
             `parameters`, `collections`, `product_types`, `platforms`, `where`, `sensing`, `area`",
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
            "rule s2-l1c-footprint, field where[0].op: unknown variant `lte`, expected one of `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `in`, `matches`",
        ),
        (
            first_rule(
                "processor = \"footprint\"\n[[rules.where]]\nattribute = \"orbitDirection\"\nop = \"lt\"\nvalue = \"ASCENDING\"",
            ),
            "rule s2-l1c-footprint, field where[0].op: lt orders numbers only, and the value is the string \"ASCENDING\"; strings take eq, ne, in or matches, booleans eq or ne",
        ),
        (
            first_rule(
                "processor = \"footprint\"\n[[rules.where]]\nattribute = \"sliceProductFlag\"\nop = \"ge\"\nvalue = true",
            ),
            "rule s2-l1c-footprint, field where[0].op: ge orders numbers only, and the value is the boolean true; \
             strings take eq, ne, in or matches, booleans eq or ne",
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
            "rule s2-l1c-footprint, field where[0].value: must be a finite number, a string or a boolean, not an array \
             (a list takes op = \"in\")",
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

/// Area files of these rules are read from `testdata/`.
fn parse_with_areas(text: &str) -> Result<Rules, Error> {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    Rules::parse_in(text, "<inline>", &testdata, &registry())
}

fn area_error_of(body: &str) -> String {
    parse_with_areas(&first_rule(&format!("processor = \"footprint\"\n{body}")))
        .unwrap_err()
        .to_string()
}

#[test]
fn reads_platforms_in_matches_sensing_and_area_in_checking_order() {
    let text = r#"
[[rules]]
name = "guam-daytime"
processor = "footprint"
platforms = ["SENTINEL-2A", "SENTINEL-2B"]

[[rules.where]]
attribute = "relativeOrbitNumber"
op = "in"
value = [45, 130.5]

[[rules.where]]
attribute = "tileId"
op = "matches"
value = "5[45]P.."

[rules.sensing]
max_age = "6h"
utc_hours = [22, 4.5]
local_solar_hours = [6, 18]

[rules.area]
file = "areas/mariana.geojson"
min_overlap = 0.3
"#;
    let rules = parse_with_areas(text).unwrap();
    let conditions = &rules.get("guam-daytime").unwrap().conditions;
    assert_eq!(conditions.len(), 7);
    assert_eq!(
        conditions[..6],
        [
            Condition::Platform {
                any_of: vec!["SENTINEL-2A".into(), "SENTINEL-2B".into()]
            },
            Condition::Attribute(Comparison {
                attribute: "relativeOrbitNumber".into(),
                op: Op::In,
                value: Operand::List(Box::new([Operand::Number(45.0), Operand::Number(130.5)])),
            }),
            Condition::Attribute(Comparison {
                attribute: "tileId".into(),
                op: Op::Matches,
                value: Operand::Pattern(Pattern::new("5[45]P..").unwrap()),
            }),
            Condition::MaxAge(Duration::from_secs(6 * 3600)),
            Condition::SensingHours(SensingHours {
                clock: HourClock::Utc,
                start: 22.0,
                end: 4.5
            }),
            Condition::SensingHours(SensingHours {
                clock: HourClock::LocalSolar,
                start: 6.0,
                end: 18.0
            }),
        ]
    );
    let Condition::Area(area) = &conditions[6] else {
        panic!("{:?} is not an area", conditions[6]);
    };
    assert_eq!(
        (area.name.as_str(), area.min_overlap),
        ("areas/mariana.geojson", Some(0.3))
    );
}

#[test]
fn an_inline_area_is_a_geojson_geometry_in_toml() {
    let text = first_rule(
        r#"processor = "footprint"
[rules.area]
geometry = { type = "Polygon", coordinates = [[[141, 12.5], [146, 12.5], [146, 15.5], [141, 15.5], [141, 12.5]]] }
"#,
    );
    let rules = parse(&text).unwrap();
    let conditions = &rules.iter().next().unwrap().conditions;
    assert!(
        matches!(&conditions[..], [Condition::Area(area)] if area.name == "inline" && area.min_overlap.is_none()),
        "{conditions:?}"
    );
}

#[test]
fn a_join_input_may_have_its_own_area() {
    let text = r#"
[[rules]]
name = "guam-pairs"
processor = "footprint"
[rules.join]
key = "{attributes.relativeOrbitNumber}"
timeout = "1h"
on_timeout = "alert"
[[rules.join.inputs]]
name = "west"
[rules.join.inputs.area]
file = "areas/guam-west.geojson"
[[rules.join.inputs]]
name = "east"
[rules.join.inputs.area]
file = "areas/guam-east.geojson"
"#;
    assert_eq!(
        parse_with_areas(text).unwrap_err().to_string(),
        format!(
            "rules file <inline>: rule guam-pairs, field join.inputs[1].area.file: cannot read {}: \
             No such file or directory (os error 2)",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("testdata/areas/guam-east.geojson")
                .display()
        )
    );
    let fixed = text.replace("guam-east", "mariana");
    assert!(parse_with_areas(&fixed).is_ok());
}

#[test]
fn every_invalid_new_condition_is_named_with_its_field_and_reason() {
    let cases = [
        (
            "platforms = []",
            "field platforms: is empty, which no product satisfies; leave it out to accept any",
        ),
        (
            "[[rules.where]]\nattribute = \"tileId\"\nop = \"in\"\nvalue = \"54PXA\"",
            "field where[0].value: in takes a list of numbers or of strings, like [45, 130], \
             not the string \"54PXA\"",
        ),
        (
            "[[rules.where]]\nattribute = \"tileId\"\nop = \"in\"\nvalue = []",
            "field where[0].value: is an empty list, which no product satisfies",
        ),
        (
            "[[rules.where]]\nattribute = \"tileId\"\nop = \"in\"\nvalue = [45, \"54PXA\"]",
            "field where[0].value: mixes numbers and strings: a list holds numbers only or \
             strings only",
        ),
        (
            "[[rules.where]]\nattribute = \"sliceProductFlag\"\nop = \"in\"\nvalue = [true]",
            "field where[0].value[0]: must be a finite number or a string, not the boolean true",
        ),
        (
            "[[rules.where]]\nattribute = \"cloudCover\"\nop = \"in\"\nvalue = [1, nan]",
            "field where[0].value[1]: must be a finite number or a string, not the float NaN",
        ),
        (
            "[[rules.where]]\nattribute = \"sensed\"\nop = \"in\"\nvalue = [\"a\", 2024-01-01]",
            "field where[0].value[1]: must be a finite number or a string, not the date-time \
             2024-01-01",
        ),
        (
            "[[rules.where]]\nattribute = \"tileId\"\nop = \"matches\"\nvalue = 54",
            "field where[0].value: matches takes a regular expression as a string, like \
             \"5[45]P..\", not the integer 54",
        ),
        (
            "[[rules.where]]\nattribute = \"tileId\"\nop = \"matches\"\nvalue = \"55P(..\"",
            "field where[0].value: \"55P(..\" is not a regular expression: unclosed group",
        ),
        (
            "[rules.sensing]",
            "field sensing: states nothing: write max_age, utc_hours or local_solar_hours, or \
             leave it out",
        ),
        (
            "[rules.sensing]\nmax_delay = \"6h\"",
            "field sensing.max_delay: unknown field `max_delay`, expected one of `max_age`, \
             `utc_hours`, `local_solar_hours`",
        ),
        (
            "[rules.sensing]\nmax_age = \"soon\"",
            "field sensing.max_age: \"soon\" is not a duration like \"30m\", \"12h\" or \"2d\"",
        ),
        (
            "[rules.sensing]\nmax_age = \"0s\"",
            "field sensing.max_age: must be longer than zero",
        ),
        (
            "[rules.sensing]\nutc_hours = [6]",
            "field sensing.utc_hours: must be [start, end], two hours like [6, 18]; this lists 1",
        ),
        (
            "[rules.sensing]\nutc_hours = [6, 25]",
            "field sensing.utc_hours: 25 is not an hour from 0 to 24",
        ),
        (
            "[rules.sensing]\nlocal_solar_hours = [6, 6]",
            "field sensing.local_solar_hours: starts and ends at the same hour: [22, 4] wraps \
             midnight, [0, 24] is the whole day",
        ),
        (
            "[rules.sensing]\nlocal_solar_hours = [\"06:00\", \"18:00\"]",
            "field sensing.local_solar_hours[0]: invalid type: string \"06:00\", expected f64",
        ),
        (
            "[rules.area]\nmin_overlap = 0.5",
            "field area: needs `file`, a GeoJSON file, or `geometry`, an inline GeoJSON geometry",
        ),
        (
            "[rules.area]\nfile = \"areas/alps.geojson\"\ngeometry = { type = \"Point\", coordinates = [1, 2] }",
            "field area.file: the area is given twice: write either `file` or `geometry`",
        ),
        (
            "[rules.area]\nfiles = \"areas/alps.geojson\"",
            "field area.files: unknown field `files`, expected one of `geometry`, `file`, \
             `min_overlap`",
        ),
        (
            "[rules.area]\nfile = \"\"",
            "field area.file: must not be empty",
        ),
        (
            "[rules.area]\nfile = \"areas/line.geojson\"",
            "field area.file: is a LineString, not a Polygon or MultiPolygon",
        ),
        (
            "[rules.area]\nfile = \"areas/bowtie.geojson\"",
            "field area.file: the polygon is invalid: exterior ring has a self-intersection",
        ),
        (
            "[rules.area]\nfile = \"areas/empty.geojson\"",
            "field area.file: holds no polygon",
        ),
        (
            "[rules.area]\ngeometry = { type = \"Point\", coordinates = [142.6, 13.8] }",
            "field area.geometry: is a Point, not a Polygon or MultiPolygon",
        ),
        (
            "[rules.area]\ngeometry = { type = \"Polygon\", coordinates = [[[1, 1], [1, 1], [1, 1], [1, 1]]] }",
            "field area.geometry: the polygon is invalid: exterior ring must have at least 3 \
             distinct points",
        ),
        (
            "[rules.area]\ngeometry = { type = \"MultiPolygon\", coordinates = [[[[0, 0], [1, 0], [1, 1], [0, 0]]], [[[0, 0], [200, 95], [1, 1], [0, 0]]]] }",
            "field area.geometry: polygon 2 has the position [200, 95]: longitudes run from -180 \
             to 180 (to 360 across the antimeridian), latitudes from -90 to 90",
        ),
        (
            "[rules.area]\ngeometry = \"POLYGON ((0 0, 1 0, 1 1, 0 0))\"",
            "field area.geometry: is not GeoJSON:",
        ),
        (
            "[rules.area]\nfile = \"areas/alps.geojson\"\nmin_overlap = 0",
            "field area.min_overlap: 0 is not a fraction above 0 and at most 1 (0.3: 30% of the \
             footprint)",
        ),
        (
            "[rules.area]\nfile = \"areas/alps.geojson\"\nmin_overlap = 30",
            "field area.min_overlap: 30 is not a fraction above 0 and at most 1",
        ),
        (
            "[rules.area]\nfile = \"areas/alps.geojson\"\nmin_overlap = \"30%\"",
            "field area.min_overlap: invalid type: string \"30%\", expected f64",
        ),
    ];
    for (body, expected) in cases {
        let error = area_error_of(body);
        let expected = format!("rules file <inline>: rule s2-l1c-footprint, {expected}");
        assert!(
            error.starts_with(&expected),
            "{body}\n  gave {error}\n  not {expected}"
        );
    }
}

#[test]
fn an_unreadable_or_broken_area_file_is_named_with_its_path() {
    let areas = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/areas");
    assert_eq!(
        area_error_of("[rules.area]\nfile = \"areas/nowhere.geojson\""),
        format!(
            "rules file <inline>: rule s2-l1c-footprint, field area.file: cannot read {}: No such \
             file or directory (os error 2)",
            areas.join("nowhere.geojson").display()
        )
    );
    let error = area_error_of("[rules.area]\nfile = \"areas/truncated.geojson\"");
    assert!(
        error.starts_with(&format!(
            "rules file <inline>: rule s2-l1c-footprint, field area.file: {} is not GeoJSON: ",
            areas.join("truncated.geojson").display()
        )),
        "{error}"
    );
}
