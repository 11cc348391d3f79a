//! The bodies `create_body` builds are valid `POST /containers/create` bodies for Engine API
//! v1.53 (the version bollard 0.21 speaks), as the API's own Swagger definitions judge them:
//! `tests/docker/engine-api-schema.json` copies them, refusing unknown fields.

use std::{collections::BTreeMap, path::PathBuf, sync::LazyLock, time::Duration};

use jsonschema::Validator;
use nrt_registry::Resources;
use processor_launcher::backend::{ContainerAttempt, attempt_name, docker::create_body};
use serde_json::{Value, json};

const SCHEMA: &str = include_str!("docker/engine-api-schema.json");

static VALIDATOR: LazyLock<Validator> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(SCHEMA).expect("the schema is not JSON");
    jsonschema::draft7::new(&schema).expect("the schema is not a valid draft 7 schema")
});

fn attempt(resources: Resources) -> ContainerAttempt {
    ContainerAttempt {
        name: attempt_name("s2/T32TNS/2024-01-01", 2),
        job_id: "s2/T32TNS/2024-01-01".to_owned(),
        processor: "snow-cover".to_owned(),
        processor_version: "1.4.0".to_owned(),
        attempt: 2,
        image: "registry.example:5000/nrt/snow@sha256:0123".to_owned(),
        command: vec![
            "/usr/bin/snow".to_owned(),
            "--manifest".to_owned(),
            "/nrt/job/manifest.json".to_owned(),
        ],
        env: BTreeMap::from([
            ("NRT_JOB_ID".to_owned(), "s2/T32TNS/2024-01-01".to_owned()),
            ("EMPTY".to_owned(), String::new()),
        ]),
        resources,
        timeout: Duration::from_secs(600),
        job_dir: Some(PathBuf::from("/var/lib/nrt/jobs/abc/attempt-2")),
        nomad_job: None,
    }
}

/// The body as bollard puts it on the wire (`serde_json::to_string`), read back.
fn sent(attempt: &ContainerAttempt, network: Option<&str>, user: &str) -> Value {
    let body = create_body(attempt, network, user).expect("the attempt has a body");
    let wire = serde_json::to_string(&body).unwrap();
    serde_json::from_str(&wire).unwrap()
}

/// `instance path: message` for each violation; empty when the body is valid.
fn violations(body: &Value) -> Vec<String> {
    VALIDATOR
        .iter_errors(body)
        .map(|error| format!("{}: {error}", error.instance_path()))
        .collect()
}

fn bodies() -> Vec<(&'static str, Value)> {
    let everything = Resources {
        cpu: Some(1.5),
        memory_mib: Some(4096),
        gpu: 2,
    };
    let mut single_program = attempt(Resources::default());
    single_program.command.truncate(1);
    vec![
        (
            "cpu, memory, gpu, network, user",
            sent(&attempt(everything), Some("nrt"), "1000:1001"),
        ),
        (
            "no limits, no network, root",
            sent(&attempt(Resources::default()), None, "0:0"),
        ),
        (
            "a fraction of a core only, host network, named user",
            sent(
                &attempt(Resources {
                    cpu: Some(0.25),
                    ..Resources::default()
                }),
                Some("host"),
                "nrt",
            ),
        ),
        (
            "memory beyond i64 bytes (saturated), no cpu",
            sent(
                &attempt(Resources {
                    memory_mib: Some(u64::MAX),
                    ..Resources::default()
                }),
                None,
                "1000",
            ),
        ),
        (
            "a gpu without cpu or memory limits",
            sent(
                &attempt(Resources {
                    gpu: 1,
                    ..Resources::default()
                }),
                Some("none"),
                "1000:1000",
            ),
        ),
        (
            "a program without arguments",
            sent(&single_program, None, "1000:1000"),
        ),
    ]
}

#[test]
fn every_body_the_launcher_builds_is_a_valid_create_request() {
    for (case, body) in bodies() {
        assert_eq!(violations(&body), Vec::<String>::new(), "{case}: {body:#}");
    }
}

#[test]
fn the_bodies_use_every_field_the_tests_mean_to_check() {
    // Guards the test itself: a body that lost its host config would pass for nothing.
    let (_, body) = &bodies()[0];
    let host = &body["HostConfig"];
    for field in [
        "NanoCpus",
        "Memory",
        "MemorySwap",
        "DeviceRequests",
        "NetworkMode",
    ] {
        assert!(
            host.get(field).is_some(),
            "HostConfig.{field} missing: {body:#}"
        );
    }
    assert_eq!(host["Mounts"][0]["Type"], "bind");
    assert_eq!(body["User"], "1000:1001");
}

/// The first body with one change: proof the schema checks what it claims to.
fn broken(change: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let (_, mut body) = bodies().swap_remove(0);
    change(body.as_object_mut().unwrap());
    body
}

fn assert_refused_at(body: &Value, path: &str, mentioning: &str) {
    let violations = violations(body);
    assert!(
        violations
            .iter()
            .any(|violation| violation.starts_with(&format!("{path}: "))
                && violation.contains(mentioning)),
        "expected a violation at {path:?} mentioning {mentioning:?}, got {violations:#?}"
    );
}

fn host_config(body: &mut serde_json::Map<String, Value>) -> &mut serde_json::Map<String, Value> {
    body["HostConfig"].as_object_mut().unwrap()
}

#[test]
fn a_misspelt_field_is_refused() {
    let body = broken(|body| {
        let entrypoint = body.remove("Entrypoint").unwrap();
        body.insert("Entrypiont".to_owned(), entrypoint);
    });
    assert_refused_at(&body, "", "Entrypiont");
}

#[test]
fn a_field_named_as_elsewhere_in_the_api_is_refused_in_the_host_config() {
    // Swarm's `Limit` spells it `NanoCPUs`; a container's HostConfig spells it `NanoCpus`.
    let body = broken(|body| {
        let host = host_config(body);
        let cpus = host.remove("NanoCpus").unwrap();
        host.insert("NanoCPUs".to_owned(), cpus);
    });
    assert_refused_at(&body, "/HostConfig", "NanoCPUs");
}

#[test]
fn a_memory_limit_given_as_a_docker_cli_string_is_refused() {
    let body = broken(|body| {
        host_config(body).insert("Memory".to_owned(), json!("512m"));
    });
    assert_refused_at(&body, "/HostConfig/Memory", "integer");
}

#[test]
fn an_unknown_mount_type_is_refused() {
    let body = broken(|body| {
        host_config(body)["Mounts"][0]["Type"] = json!("bindd");
    });
    assert_refused_at(&body, "/HostConfig/Mounts/0/Type", "bindd");
}

#[test]
fn a_gpu_count_given_as_all_is_refused() {
    // `docker run --gpus all` becomes `Count: -1`; the API takes no string.
    let body = broken(|body| {
        host_config(body)["DeviceRequests"][0]["Count"] = json!("all");
    });
    assert_refused_at(&body, "/HostConfig/DeviceRequests/0/Count", "integer");
}
