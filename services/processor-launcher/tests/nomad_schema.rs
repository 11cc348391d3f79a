//! The bodies the Nomad backend sends are what Nomad's HTTP API decodes, checked against a JSON
//! Schema written from Nomad's Go structs (`tests/nomad/api-schema.json`, whose `$comment` names
//! the sources). Nomad itself drops unknown fields silently, so a misspelt field would only show
//! as a job that does not do what it says: here it fails.

use std::{collections::BTreeMap, sync::LazyLock, time::Duration};

use jsonschema::Validator;
use nrt_registry::Resources;
use processor_launcher::backend::{
    ContainerAttempt, attempt_name,
    nomad::{
        MANIFEST_JSON_VARIABLE, NomadConfig, PAYLOAD_LIMIT, dispatch_request, parameterized_job,
    },
};
use serde_json::{Value, json};

const SCHEMA: &str = include_str!("nomad/api-schema.json");

/// `PUT /v1/jobs`.
static REGISTER: LazyLock<Validator> = LazyLock::new(|| validator("JobRegisterRequest"));
/// `POST /v1/job/:job_id/dispatch`.
static DISPATCH: LazyLock<Validator> = LazyLock::new(|| validator("JobDispatchRequest"));

/// The schema document with its root pointed at one request body of its `$defs`.
fn validator(definition: &str) -> Validator {
    let mut schema: Value = serde_json::from_str(SCHEMA).expect("api-schema.json is JSON");
    schema["$ref"] = json!(format!("#/$defs/{definition}"));
    jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|error| panic!("api-schema.json does not compile: {error}"))
}

/// Every violation as `<instance path>: <message>`; empty when valid.
fn violations(validator: &Validator, body: &Value) -> Vec<String> {
    validator
        .iter_errors(body)
        .map(|error| format!("{}: {error}", error.instance_path()))
        .collect()
}

fn assert_valid(validator: &Validator, name: &str, body: &Value) {
    let found = violations(validator, body);
    assert!(
        found.is_empty(),
        "{name} is not what Nomad decodes:\n{}\n{body:#}",
        found.join("\n")
    );
}

/// Asserts `body` is refused, with a violation at `path` naming `detail`.
fn assert_refused(validator: &Validator, body: &Value, path: &str, detail: &str) {
    let found = violations(validator, body);
    assert!(
        found
            .iter()
            .any(|violation| violation.starts_with(&format!("{path}: "))
                && violation.contains(detail)),
        "expected a violation at {path} naming {detail:?}, got {found:#?}"
    );
}

fn attempt(resources: Resources, command: &[&str], manifest: Option<String>) -> ContainerAttempt {
    let mut env = BTreeMap::from([
        ("GREETING".to_owned(), "hello world".to_owned()),
        (
            "NRT_JOB_ID".to_owned(),
            "${NOMAD_META_nrt_job_id}".to_owned(),
        ),
    ]);
    if let Some(manifest) = manifest {
        env.insert(MANIFEST_JSON_VARIABLE.to_owned(), manifest);
    }
    ContainerAttempt {
        name: attempt_name("s2-tile-T32TLR", 3),
        job_id: "s2-tile-T32TLR".to_owned(),
        processor: "snow_cover".to_owned(),
        processor_version: "1.4.0".to_owned(),
        attempt: 3,
        image: "registry.example/snow-cover@sha256:0123".to_owned(),
        command: command.iter().map(|arg| (*arg).to_owned()).collect(),
        env,
        resources,
        timeout: Duration::from_secs(7200),
        job_dir: None,
        nomad_job: Some("nrt-snow_cover".to_owned()),
    }
}

fn manifest() -> Option<String> {
    Some(r#"{"job_id":"s2-tile-T32TLR","attempt":3,"inputs":["s3://eo/T32TLR.zip"]}"#.to_owned())
}

/// Specs from the attempts and configurations the launcher meets: bare and fully resourced,
/// GPU-only, the smallest reservations, with and without a namespace and region.
fn registrations() -> Vec<(&'static str, Value)> {
    let command = ["snow-cover", "--job", "${NOMAD_META_nrt_job_id}"];
    let scoped = NomadConfig {
        namespace: Some("satellite-jobs".to_owned()),
        region: Some("eu-west".to_owned()),
        datacenters: vec!["eu-west-1a".to_owned(), "eu-west-1b".to_owned()],
        ..NomadConfig::default()
    };
    let default = NomadConfig::default();
    let gpu = Resources {
        cpu: Some(8.0),
        memory_mib: Some(32_768),
        gpu: 2,
    };
    let gpu_only = Resources {
        gpu: 1,
        ..Resources::default()
    };
    let smallest = Resources {
        cpu: Some(0.0001),
        memory_mib: Some(1),
        gpu: 0,
    };
    [
        (
            "bare, image's own entrypoint",
            attempt(Resources::default(), &[], manifest()),
            &default,
        ),
        (
            "gpu, namespace and region",
            attempt(gpu, &command, manifest()),
            &scoped,
        ),
        ("gpu only", attempt(gpu_only, &command, None), &default),
        (
            "smallest reservations",
            attempt(smallest, &command, manifest()),
            &scoped,
        ),
    ]
    .into_iter()
    .map(|(name, attempt, config)| (name, parameterized_job("nrt-snow_cover", &attempt, config)))
    .collect()
}

/// Dispatches with and without a manifest, the largest one Nomad takes, and one not in ASCII.
fn dispatches() -> Vec<(&'static str, Value)> {
    let command = ["snow-cover"];
    let largest = "x".repeat(PAYLOAD_LIMIT);
    [
        ("with manifest", manifest()),
        ("without manifest", None),
        ("manifest at the payload limit", Some(largest)),
        (
            "non-ASCII manifest",
            Some(r#"{"aoi":"Zürich–Genève ☃"}"#.to_owned()),
        ),
    ]
    .into_iter()
    .map(|(name, manifest)| {
        let request = dispatch_request(&attempt(Resources::default(), &command, manifest))
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        (name, request)
    })
    .collect()
}

/// The fully resourced spec (GPU, namespace, region): what the broken variants start from.
fn registration() -> Value {
    registrations().swap_remove(1).1
}

/// A dispatch with its manifest as payload: what the broken variants start from.
fn dispatch() -> Value {
    dispatches().swap_remove(0).1
}

#[test]
fn every_parameterized_job_is_a_job_register_request_nomad_decodes() {
    for (name, spec) in registrations() {
        assert_valid(&REGISTER, name, &spec);
    }
}

#[test]
fn every_dispatch_is_a_job_dispatch_request_nomad_decodes() {
    for (name, request) in dispatches() {
        assert_valid(&DISPATCH, name, &request);
    }
}

#[test]
fn the_schema_refuses_a_misspelt_job_field() {
    let mut spec = registration();
    let job = spec["Job"].as_object_mut().unwrap();
    let datacenters = job.remove("Datacenters").unwrap();
    job.insert("Datacentres".to_owned(), datacenters);

    assert_refused(&REGISTER, &spec, "/Job", "Datacentres");
}

#[test]
fn the_schema_refuses_a_string_where_nomad_wants_an_integer() {
    let mut spec = registration();
    spec["Job"]["TaskGroups"][0]["Tasks"][0]["Resources"]["MemoryMB"] = json!("512");

    assert_refused(
        &REGISTER,
        &spec,
        "/Job/TaskGroups/0/Tasks/0/Resources/MemoryMB",
        r#""512""#,
    );
}

#[test]
fn the_schema_refuses_a_duration_written_as_text() {
    let mut spec = registration();
    spec["Job"]["TaskGroups"][0]["Tasks"][0]["KillTimeout"] = json!("30s");

    assert_refused(
        &REGISTER,
        &spec,
        "/Job/TaskGroups/0/Tasks/0/KillTimeout",
        "30s",
    );
}

#[test]
fn the_schema_refuses_memory_below_nomads_minimum() {
    let mut spec = registration();
    spec["Job"]["TaskGroups"][0]["Tasks"][0]["Resources"]["MemoryMB"] = json!(4);

    assert_refused(
        &REGISTER,
        &spec,
        "/Job/TaskGroups/0/Tasks/0/Resources/MemoryMB",
        "10",
    );
}

#[test]
fn the_schema_refuses_a_docker_config_key_the_driver_does_not_know() {
    let mut spec = registration();
    let config = &mut spec["Job"]["TaskGroups"][0]["Tasks"][0]["Config"];
    let entrypoint = config
        .as_object_mut()
        .unwrap()
        .remove("entrypoint")
        .unwrap();
    config["entry_point"] = entrypoint;

    assert_refused(
        &REGISTER,
        &spec,
        "/Job/TaskGroups/0/Tasks/0/Config",
        "entry_point",
    );
}

#[test]
fn the_schema_refuses_a_docker_command_given_as_a_list() {
    let mut spec = registration();
    spec["Job"]["TaskGroups"][0]["Tasks"][0]["Config"]["command"] = json!(["snow-cover"]);

    assert_refused(
        &REGISTER,
        &spec,
        "/Job/TaskGroups/0/Tasks/0/Config/command",
        "string",
    );
}

#[test]
fn the_schema_refuses_a_misspelt_dispatch_field() {
    let mut request = dispatch();
    let body = request.as_object_mut().unwrap();
    let token = body.remove("IdempotencyToken").unwrap();
    body.insert("IdempotencyKey".to_owned(), token);

    assert_refused(&DISPATCH, &request, "", "IdempotencyKey");
}

#[test]
fn the_schema_refuses_a_payload_that_is_not_base64() {
    let mut request = dispatch();
    request["Payload"] = json!(r#"{"job_id":"s2-tile-T32TLR"}"#);

    assert_refused(&DISPATCH, &request, "/Payload", "job_id");
}

#[test]
fn the_schema_refuses_a_payload_over_nomads_limit() {
    let mut request = dispatch();
    // Base64 of PAYLOAD_LIMIT + 3 bytes.
    request["Payload"] = json!("eHh4".repeat(PAYLOAD_LIMIT / 3 + 2));

    assert_refused(&DISPATCH, &request, "/Payload", "longer than 21848");
}
