//! Join and periodic tables, parameters, priority and deadline as read from a rules file.

use std::time::Duration;

use crate::{
    golden::registry,
    rules::{Completion, GatheringKind, OnTimeout, Parameter, Period, Rules},
};

fn parse(text: &str) -> Result<Rules, crate::Error> {
    Rules::parse(text, &registry())
}

/// A rule named `r` running `footprint`, with `body` after those two lines.
fn rule(body: &str) -> String {
    format!("[[rules]]\nname = \"r\"\nprocessor = \"footprint\"\n{body}\n")
}

fn error_of(body: &str) -> String {
    parse(&rule(body)).unwrap_err().to_string()
}

/// Each rule body is refused with an error naming rule `r` and then `expected`.
fn assert_each_refused(cases: &[(String, &str)]) {
    for (body, expected) in cases {
        let error = error_of(body);
        assert!(
            error.contains(&format!("rule r, {expected}")),
            "{body}\n=> {error}\nexpected: {expected}"
        );
    }
}

#[test]
fn a_join_with_named_inputs_reads_every_field() {
    let rules = parse(&rule(
        r#"
priority = 5
deadline = "3h"
[rules.join]
key = "{attributes.tileId}/{sensing_start:%Y-%m-%d}"
timeout = "12h"
on_timeout = "alert"
[[rules.join.inputs]]
name = "s2"
product_types = ["S2MSI1C"]
[[rules.join.inputs]]
name = "s1"
count = 2
key = "{attributes.relativeOrbitNumber}"
collections = ["SENTINEL-1"]
[rules.parameters]
tile = "{attributes.tileId}"
literal = "{{not a field}}"
"#,
    ))
    .unwrap();
    let rule = rules.get("r").unwrap();
    assert_eq!(rule.priority, 5);
    assert_eq!(rule.deadline, Some(Duration::from_secs(3 * 3600)));
    let gathering = rule.gathering.as_ref().unwrap();
    assert_eq!(
        gathering.key.as_ref().unwrap().to_string(),
        "{attributes.tileId}/{sensing_start:%Y-%m-%d}"
    );
    let GatheringKind::Join {
        completion: Completion::Inputs(inputs),
        timeout,
        on_timeout,
    } = &gathering.kind
    else {
        panic!("{gathering:?}")
    };
    assert_eq!(*timeout, Duration::from_secs(12 * 3600));
    assert_eq!(*on_timeout, OnTimeout::Alert);
    assert_eq!(inputs[0].name, "s2");
    assert_eq!(inputs[0].count, 1);
    assert_eq!(inputs[1].count, 2);
    assert!(inputs[1].key.is_some());
    assert!(matches!(rule.parameters["tile"], Parameter::Template(_)));
    assert_eq!(
        rule.parameters["literal"],
        Parameter::Fixed("{not a field}".into())
    );
}

#[test]
fn a_periodic_rule_reads_its_period_grace_and_key() {
    let rules = parse(&rule(
        "[rules.periodic]\nevery = \"dekad\"\ngrace = \"2d\"\nkey = \"{attributes.tileId}\"\n\
         [rules.parameters]\nperiod = \"{period}\"",
    ))
    .unwrap();
    let gathering = rules.get("r").unwrap().gathering.clone().unwrap();
    assert_eq!(
        gathering.kind,
        GatheringKind::Periodic {
            period: Period::Dekad,
            grace: Duration::from_secs(2 * 86400),
        }
    );
    // Without grace or key: the whole period's products, as soon as it closes.
    let rules = parse(&rule("[rules.periodic]\nevery = \"year\"")).unwrap();
    let gathering = rules.get("r").unwrap().gathering.clone().unwrap();
    assert!(gathering.key.is_none());
}

#[test]
fn every_bad_join_or_periodic_field_is_named_with_the_reason() {
    let join =
        "[rules.join]\nkey = \"{attributes.tileId}\"\ntimeout = \"1h\"\non_timeout = \"partial\"\n";
    let cases = [
        (
            "[rules.join]\ncount = 2\ntimeout = \"1h\"\non_timeout = \"partial\"".to_owned(),
            "field join.key: is missing",
        ),
        (
            format!("{join}count = 2\n[[rules.join.inputs]]\nname = \"a\"\ncollections = [\"X\"]"),
            "field join.count: a join waits either for a count",
        ),
        (join.to_owned(), "field join: says neither `count` nor"),
        (format!("{join}count = 1"), "field join.count: 1 is not a count of at least 2"),
        (
            "[rules.join]\nkey = \"{attributes.tileId}\"\ncount = 2\ntimeout = \"soon\"\non_timeout = \"partial\"".into(),
            "field join.timeout: \"soon\" is not a duration",
        ),
        (
            "[rules.join]\nkey = \"{attributes.tileId}\"\ncount = 2\non_timeout = \"partial\"".into(),
            "field join.timeout: is missing",
        ),
        (
            "[rules.join]\nkey = \"{attributes.tileId}\"\ncount = 2\ntimeout = \"1h\"\non_timeout = \"wait\"".into(),
            "field join.on_timeout: \"wait\" is neither \"partial\"",
        ),
        (
            format!("{join}[[rules.join.inputs]]\nname = \"a\"\ncollections = [\"X\"]\n[[rules.join.inputs]]\nname = \"a\"\ncollections = [\"Y\"]"),
            "field join.inputs[1].name: another input is already named \"a\"",
        ),
        (
            format!("{join}[[rules.join.inputs]]\nname = \"a\""),
            "field join.inputs[0]: states no condition",
        ),
        (
            format!("{join}[[rules.join.inputs]]\nname = \"a\"\ncollections = [\"X\"]\ncolour = \"red\""),
            "field join.inputs[0].colour: unknown field `colour`",
        ),
        (
            "[rules.join]\nkey = \"S2\"\ncount = 2\ntimeout = \"1h\"\non_timeout = \"partial\"".into(),
            "field join.key: \"S2\" names no product field",
        ),
        (
            "[rules.join]\nkey = \"{tile}\"\ncount = 2\ntimeout = \"1h\"\non_timeout = \"partial\"".into(),
            "field join.key: {tile} names no field",
        ),
        (format!("{join}count = 2\nwait = true"), "field join.wait: unknown field `wait`"),
        (
            "[rules.periodic]\nevery = \"fortnight\"".into(),
            "field periodic.every: \"fortnight\" is not a period (one of: day, week, dekad, month, quarter, year)",
        ),
        ("[rules.periodic]\ngrace = \"1d\"".into(), "field periodic.every: is missing"),
        ("[rules.periodic]\nevery = \"month\"\ngrace = \"0s\"".into(), "field periodic.grace: must be longer than zero"),
        (
            format!("{join}count = 2\n[rules.periodic]\nevery = \"month\""),
            "field periodic: a rule either joins or gathers a period",
        ),
        ("deadline = \"three hours\"".into(), "field deadline: \"three hours\" is not a duration"),
        ("priority = \"high\"".into(), "field priority: invalid type"),
        (
            "[rules.parameters]\ntile = \"{attributes.tileId\"".into(),
            "field parameters.tile: \"{attributes.tileId\": `{attributes.tileId` is never closed",
        ),
        (
            "[rules.parameters]\nperiod = \"{period}\"".into(),
            "field parameters.period: {period} names no field",
        ),
    ];
    assert_each_refused(&cases);
}

#[test]
fn every_bad_tiles_table_is_named_with_the_reason() {
    let join = |tiles: &str, key: &str| {
        format!(
            "[rules.join]\nkey = \"{key}\"\ncount = 2\ntimeout = \"1h\"\non_timeout = \"partial\"\n\
             tiles = {tiles}"
        )
    };
    let cases = [
        (
            join("{ file = \"testdata/areas/missing.geojson\" }", "{tile}"),
            "field join.tiles.file: cannot read testdata/areas/missing.geojson",
        ),
        (
            join("{ file = \"testdata/areas/alps.geojson\" }", "{tile}"),
            "field join.tiles.file: must be a FeatureCollection, one feature per tile",
        ),
        (
            join(
                "{ file = \"testdata/areas/mgrs-unnamed.geojson\" }",
                "{tile}",
            ),
            "field join.tiles.file: features[0] has no property \"name\" naming its tile",
        ),
        (
            join(
                "{ file = \"testdata/areas/mgrs-mariana.geojson\", name = \"tile_id\" }",
                "{attributes.tileId}",
            ),
            "field join.key: never names {tile}, so the tiles of testdata/areas/mgrs-mariana.geojson",
        ),
        (
            join("{ name = \"tile_id\" }", "{tile}"),
            "field join.tiles.file: is missing",
        ),
        (
            join(
                "{ file = \"testdata/areas/mgrs-mariana.geojson\", min_coverage = 1.5 }",
                "{tile}",
            ),
            "field join.tiles.min_coverage: 1.5 is not a fraction above 0 and at most 1",
        ),
        (
            "[rules.join]\nkey = \"{tile}\"\ncount = 2\ntimeout = \"1h\"\non_timeout = \"partial\""
                .into(),
            "field join.key: {tile} names no field",
        ),
        (
            "[rules.periodic]\nevery = \"month\"\n[rules.parameters]\ntile = \"{tile}\"".into(),
            "field parameters.tile: {tile} names no field",
        ),
    ];
    assert_each_refused(&cases);
}

#[test]
fn a_periodic_rule_may_gather_per_tile() {
    let rules = parse(&rule(
        "[rules.periodic]\nevery = \"month\"\nkey = \"{tile}\"\n\
         tiles = { file = \"testdata/areas/mgrs-mariana.geojson\", name = \"tile_id\" }\n\
         [rules.parameters]\ntile = \"{tile}\"",
    ))
    .unwrap();
    let gathering = rules.get("r").unwrap().gathering.clone().unwrap();
    assert_eq!(
        gathering.tiles.unwrap().file,
        "testdata/areas/mgrs-mariana.geojson"
    );
}
