use nrt_events::{JobInput, s3::ChangeKind};
use serde_json::json;

use nrt_runtime::config::ConfigError;

use super::{config::*, *};
use crate::testing::{S2_T54PXA, config, output, product};

fn entry(bucket: &str, prefix: &str) -> CompletionMarker {
    CompletionMarker {
        bucket: bucket.into(),
        prefix: prefix.into(),
        processor: "snow-cover".into(),
        processor_version: unknown_version(),
        rule: marker_rule(),
        marker: success_marker(),
    }
}

fn created(bucket: &str, key: &str) -> ObjectChange {
    ObjectChange {
        kind: ChangeKind::Created,
        event_name: "s3:ObjectCreated:Put".into(),
        bucket: bucket.into(),
        key: key.into(),
        size: Some(0),
        etag: None,
        sequencer: None,
        event_time: Some("2026-01-01T03:00:00Z".parse().unwrap()),
    }
}

#[test]
fn a_marker_below_the_prefix_names_its_directory() {
    let runs = entry("external", "runs/snow");
    assert_eq!(
        runs.directory_of("runs/snow/2026/01/01/t32tlr/_SUCCESS"),
        Some("runs/snow/2026/01/01/t32tlr")
    );
    assert_eq!(
        runs.directory_of("runs/snow/a/_SUCCESS"),
        Some("runs/snow/a")
    );
    // Slashes around the configured prefix change nothing.
    assert_eq!(
        entry("external", "/runs/snow/").directory_of("runs/snow/a/_SUCCESS"),
        Some("runs/snow/a")
    );
    assert_eq!(entry("external", "").directory_of("a/_SUCCESS"), Some("a"));
}

#[test]
fn keys_that_are_not_a_marker_in_a_directory_below_the_prefix_name_none() {
    let runs = entry("external", "runs/snow");
    for key in [
        "runs/snow/a/result.tif",
        "runs/snow/a/NOT_SUCCESS",
        "runs/snow/a/_SUCCESS.tmp",
        // The prefix's own marker has no job directory.
        "runs/snow/_SUCCESS",
        // A sibling whose name starts like the prefix.
        "runs/snowfall/a/_SUCCESS",
        "elsewhere/a/_SUCCESS",
    ] {
        assert_eq!(runs.directory_of(key), None, "{key}");
    }
    assert_eq!(entry("external", "").directory_of("_SUCCESS"), None);
}

#[test]
fn a_created_marker_is_a_completion_of_the_most_specific_entry() {
    let entries = [
        entry("external", "runs"),
        CompletionMarker {
            processor: "snow-cover-alpine".into(),
            ..entry("external", "runs/alps")
        },
    ];
    let completion = completion_of(&entries, &created("external", "runs/alps/a/_SUCCESS")).unwrap();
    assert_eq!(completion.entry.processor, "snow-cover-alpine");
    assert_eq!(completion.directory, "runs/alps/a");
    assert_eq!(completion.key, "runs/alps/a/_SUCCESS");
    assert_eq!(
        completion.written_at,
        "2026-01-01T03:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    let completion =
        completion_of(&entries, &created("external", "runs/pyrenees/a/_SUCCESS")).unwrap();
    assert_eq!(completion.entry.processor, "snow-cover");
}

#[test]
fn removals_and_other_buckets_are_no_completion() {
    let entries = [entry("external", "runs")];
    let removed = ObjectChange {
        kind: ChangeKind::Removed,
        ..created("external", "runs/a/_SUCCESS")
    };
    assert_eq!(completion_of(&entries, &removed), None);
    assert_eq!(
        completion_of(&entries, &created("other", "runs/a/_SUCCESS")),
        None
    );
    assert_eq!(
        completion_of(&entries, &created("external", "runs/a/out.tif")),
        None
    );
}

#[test]
fn an_empty_marker_says_nothing() {
    assert_eq!(parse_marker(b"").unwrap(), MarkerContent::default());
    assert_eq!(parse_marker(b" \n").unwrap(), MarkerContent::default());
    assert_eq!(parse_marker(b"{}").unwrap(), MarkerContent::default());
}

#[test]
fn a_json_marker_gives_the_job_id_version_and_inputs() {
    let input = JobInput::from(&product(S2_T54PXA));
    let content = json!({
        "job_id": "run-42",
        "processor_version": "2.1.0",
        "inputs": [input],
        "parameters": {"threshold": 0.4},
        "written_by": "spark",
    });
    let marker = parse_marker(content.to_string().as_bytes()).unwrap();
    assert_eq!(marker.job_id.as_deref(), Some("run-42"));
    assert_eq!(marker.processor_version.as_deref(), Some("2.1.0"));
    assert_eq!(marker.inputs, [input]);
    assert_eq!(marker.parameters.unwrap()["threshold"], 0.4);
}

#[test]
fn a_marker_that_is_not_a_marker_object_is_refused_with_the_reason() {
    let cases: [(&[u8], &str); 6] = [
        (br#"{"job_id": "#, "not valid JSON"),
        (br#"["run-42", "1.0"]"#, "not a JSON object"),
        (br#"{"inputs": [{"key": "x"}]}"#, "missing field"),
        (
            br#"{"parameters": [1]}"#,
            "not a valid marker: invalid type",
        ),
        (br#"{"job_id": "a/b"}"#, "job_id is unusable"),
        (
            br#"{"processor_version": " "}"#,
            "processor_version is empty",
        ),
    ];
    for (content, expected) in cases {
        let reason = parse_marker(content).unwrap_err();
        assert!(reason.contains(expected), "{reason}");
    }
}

fn completion<'a>(entry: &'a CompletionMarker, directory: &str) -> Completion<'a> {
    Completion {
        entry,
        bucket: entry.bucket.clone(),
        key: format!("{directory}/_SUCCESS"),
        directory: directory.into(),
        written_at: "2026-01-01T03:00:00Z".parse().unwrap(),
    }
}

#[test]
fn without_a_job_id_the_directory_names_the_job_stably() {
    let entry = entry("external", "runs");
    let job = |directory| completion(&entry, directory).job(MarkerContent::default(), vec![], None);
    assert_eq!(job("runs/a").job_id, job("runs/a").job_id);
    assert_ne!(job("runs/a").job_id, job("runs/b").job_id);
    let job = job("runs/a");
    assert_eq!(job.processor, "snow-cover");
    assert_eq!(job.processor_version, "unknown");
    assert_eq!(job.rule, "s3-marker");
    assert_eq!(job.finished_at, completion(&entry, "runs/a").written_at);

    let said = MarkerContent {
        job_id: Some("run-42".into()),
        processor_version: Some("2.1.0".into()),
        ..MarkerContent::default()
    };
    let job = completion(&entry, "runs/a").job(said, vec![], None);
    assert_eq!(job.job_id, "run-42");
    assert_eq!(job.processor_version, "2.1.0");
}

fn marker_job(inputs: Vec<JobInput>, metadata: serde_json::Value) -> JobSucceeded {
    let entry = entry("external", "runs");
    let marker = MarkerContent {
        inputs,
        ..MarkerContent::default()
    };
    let outputs = vec![
        output("a", "snow.tif", "image/tiff; application=geotiff", 4_096),
        output("a", "metadata.json", "application/json", 120),
    ];
    completion(&entry, "runs/a").job(marker, outputs, Some(metadata))
}

#[test]
fn outputs_are_catalogued_only_when_their_sidecar_or_inputs_place_them() {
    let config = config();
    let when = json!({"datetime": "2026-01-01T01:00:00Z"});
    let reason = check_item(&marker_job(vec![], when.clone()), &config).unwrap_err();
    assert!(reason.contains("geometry"), "{reason}");

    let placed = json!({
        "datetime": "2026-01-01T01:00:00Z",
        "geometry": {"type": "Point", "coordinates": [7.0, 46.0]},
    });
    check_item(&marker_job(vec![], placed), &config).unwrap();
    let input = JobInput::from(&product(S2_T54PXA));
    check_item(&marker_job(vec![input], serde_json::Value::Null), &config).unwrap();

    // Nothing says when: the item cannot be built at all.
    let reason = check_item(&marker_job(vec![], json!({})), &config).unwrap_err();
    assert!(reason.contains("datetime"), "{reason}");
}

#[test]
fn the_consumer_reads_each_configured_bucket_once() {
    assert_eq!(consumer_spec(&[]), None);
    let spec = consumer_spec(&[
        entry("external", "runs"),
        entry("external", "other"),
        entry("eo.data", ""),
    ])
    .unwrap();
    assert_eq!(spec.durable, "catalogue-publisher-markers");
    assert_eq!(spec.stream.name, "OBJECTS");
    assert_eq!(
        spec.filter_subjects,
        [object_subject("eo.data"), object_subject("external")]
    );
}

#[tokio::test]
async fn an_unreachable_s3_is_transient() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s3 = nrt_s3::client(&nrt_s3::S3Config::local(
        format!("http://127.0.0.1:{port}"),
        "k",
        "s",
    ))
    .await;
    let entry = entry("external", "runs");
    let error = read_job(&s3, &completion(&entry, "runs/a"), "metadata.json")
        .await
        .unwrap_err();
    assert!(HandlerError::is_transient(&error), "{error}");
    assert!(
        error.to_string().contains("s3://external/runs/a/_SUCCESS"),
        "{error}"
    );
}

#[test]
fn refusals_are_permanent_and_name_the_marker() {
    let entry = entry("external", "runs");
    let error = completion(&entry, "runs/a").refused("there are no outputs beside it");
    assert!(!HandlerError::is_transient(&error));
    assert_eq!(
        error.to_string(),
        "completion marker s3://external/runs/a/_SUCCESS cannot be catalogued: \
         there are no outputs beside it"
    );
}

mod config {
    use std::collections::BTreeMap;

    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalogue-publisher.toml");
        std::fs::write(&path, text).unwrap();
        crate::config::load(Some(&path))
    }

    #[test]
    fn entries_get_their_defaults() {
        assert_eq!(crate::config::load(None).unwrap().completion_markers, []);
        let config = load(
            r#"
            [[completion_markers]]
            bucket = "external"
            prefix = "runs/snow"
            processor = "snow-cover"
            "#,
        )
        .unwrap();
        assert_eq!(config.completion_markers, [entry("external", "runs/snow")]);
    }

    #[test]
    fn a_bad_entry_is_named_by_its_index_and_key() {
        let error = load(
            r#"
            [[completion_markers]]
            bucket = "external"
            prefix = "runs"
            processor = "snow-cover"
            [[completion_markers]]
            bucket = "external"
            prefix = "other"
            processor = "snow-cover"
            marker = "done/_SUCCESS"
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("completion_markers[1].marker"), "{error}");

        let valid = [
            ("bucket", "external"),
            ("prefix", "runs"),
            ("processor", "snow-cover"),
        ];
        for (field, value) in [
            ("bucket", "a/b"),
            ("prefix", "runs/../x"),
            ("processor", ""),
            ("rule", ""),
        ] {
            let mut entry: BTreeMap<&str, &str> = valid.into_iter().collect();
            entry.insert(field, value);
            let lines: Vec<String> = entry
                .iter()
                .map(|(key, value)| format!("{key} = {value:?}"))
                .collect();
            let error = load(&format!("[[completion_markers]]\n{}\n", lines.join("\n")))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(&format!("completion_markers[0].{field}")),
                "{error}"
            );
        }
    }

    #[test]
    fn two_entries_expecting_the_same_marker_are_refused() {
        let error = load(
            r#"
            [[completion_markers]]
            bucket = "external"
            prefix = "runs"
            processor = "snow-cover"
            [[completion_markers]]
            bucket = "external"
            prefix = "runs/"
            processor = "other"
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("completion_markers[1]"), "{error}");
        assert!(error.contains("completion_markers[0]"), "{error}");
    }

    #[test]
    fn a_misspelt_entry_key_is_named() {
        let error = load(
            "[[completion_markers]]\nbucket = \"external\"\nprefix = \"runs\"\n\
             processor = \"snow-cover\"\nmarkr = \"_DONE\"\n",
        )
        .unwrap_err();
        let text = nrt_nats::describe_error(&error);
        assert!(text.contains("markr"), "{text}");
    }
}
