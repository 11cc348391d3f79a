//! The JSON Nomad is sent: the parameterized job a processor runs as, and the dispatch of one
//! attempt. Field names are those of Nomad's JSON API (PascalCase; driver config in snake_case).

use std::{collections::BTreeMap, time::Duration};

use base64::{Engine, prelude::BASE64_STANDARD};
use nrt_registry::Resources;
use serde_json::{Map, Value, json};

use super::{NomadConfig, error::NomadError};
use crate::{
    backend::{ContainerAttempt, LABEL_MANAGED, LABEL_PROCESSOR},
    process::MANIFEST_VARIABLE,
};

/// The one task (and its group) of every parameterized job.
pub const TASK: &str = "processor";
/// The attempt's environment variable holding the manifest JSON: it becomes the dispatch
/// payload and is never given to the task.
pub const MANIFEST_JSON_VARIABLE: &str = "NRT_JOB_MANIFEST_JSON";
/// Nomad's `DispatchPayloadSizeLimit`: bytes of payload before Nomad compresses it.
pub const PAYLOAD_LIMIT: usize = 16 * 1024;
/// Dispatch meta keys, required by the parameterized job: the per-attempt values.
pub const META_JOB_ID: &str = "nrt_job_id";
pub const META_ATTEMPT: &str = "nrt_attempt";
pub const META_JOB_NAME: &str = "nrt_job_name";

/// Nomad writes the payload to this file in the task's `local/` directory.
const MANIFEST_FILE: &str = "manifest.json";
/// Between the kill signal and SIGKILL: time for a processor to flush what it wrote.
const KILL_TIMEOUT: Duration = Duration::from_secs(30);
/// Nomad reserves CPU in MHz; one core counts as 1 GHz, a conservative share of a current core.
const MHZ_PER_CORE: f64 = 1000.0;
/// The least memory Nomad reserves (`api.MinResources`): it refuses a job asking for less.
const MIN_MEMORY_MB: u64 = 10;

/// The `{"Job": ...}` body of `POST /v1/jobs` registering `job`, the parameterized batch job
/// whose dispatches run `attempt_template`'s container. The template's command and environment
/// are fixed at registration: per-attempt values reach the task as meta
/// (`${NOMAD_META_nrt_job_id}`) and as the manifest payload.
pub fn parameterized_job(
    job: &str,
    attempt_template: &ContainerAttempt,
    config: &NomadConfig,
) -> Value {
    let mut spec = json!({
        "ID": job,
        "Name": job,
        "Type": "batch",
        "Datacenters": config.datacenters,
        "Meta": {
            LABEL_PROCESSOR: attempt_template.processor,
            LABEL_MANAGED: "true",
        },
        "ParameterizedJob": {
            "Payload": "required",
            "MetaRequired": [META_JOB_ID, META_ATTEMPT, META_JOB_NAME],
        },
        "TaskGroups": [{
            "Name": TASK,
            "Count": 1,
            // Retries are the launcher's: Nomad neither restarts nor reschedules an attempt.
            "RestartPolicy": { "Attempts": 0, "Mode": "fail" },
            "ReschedulePolicy": { "Attempts": 0, "Unlimited": false },
            "Tasks": [task(attempt_template)],
        }],
    });
    for (field, value) in [("Namespace", &config.namespace), ("Region", &config.region)] {
        if let Some(value) = value {
            spec[field] = json!(value);
        }
    }
    json!({ "Job": spec })
}

/// The body of `POST /v1/job/:job_id/dispatch` for one attempt: its meta, its manifest as the
/// base64 payload (when the attempt carries one) and its name as the idempotency token.
pub fn dispatch_request(attempt: &ContainerAttempt) -> Result<Value, NomadError> {
    let mut request = json!({
        "Meta": {
            META_JOB_ID: attempt.job_id,
            META_ATTEMPT: attempt.attempt.to_string(),
            META_JOB_NAME: attempt.name,
        },
        "IdempotencyToken": attempt.name,
    });
    if let Some(manifest) = attempt.env.get(MANIFEST_JSON_VARIABLE) {
        if manifest.len() > PAYLOAD_LIMIT {
            return Err(NomadError::PayloadTooLarge {
                size: manifest.len(),
            });
        }
        // Nomad decodes a `[]byte` from standard, padded base64.
        request["Payload"] = json!(BASE64_STANDARD.encode(manifest));
    }
    Ok(request)
}

fn task(attempt: &ContainerAttempt) -> Value {
    let mut config = json!({ "image": attempt.image });
    if !attempt.command.is_empty() {
        // The whole argv as the entrypoint replaces both the image's entrypoint and its command.
        config["entrypoint"] = json!(attempt.command);
    }
    json!({
        "Name": TASK,
        "Driver": "docker",
        "Config": config,
        "Env": task_env(&attempt.env),
        "DispatchPayload": { "File": MANIFEST_FILE },
        "Resources": resources(&attempt.resources),
        "KillTimeout": u64::try_from(KILL_TIMEOUT.as_nanos()).expect("seconds fit u64 nanoseconds"),
    })
}

fn task_env(env: &BTreeMap<String, String>) -> Map<String, Value> {
    let mut task_env: Map<String, Value> = env
        .iter()
        .filter(|(name, _)| *name != MANIFEST_JSON_VARIABLE)
        .map(|(name, value)| (name.clone(), json!(value)))
        .collect();
    task_env.insert(
        MANIFEST_VARIABLE.to_owned(),
        json!(format!("${{NOMAD_TASK_DIR}}/{MANIFEST_FILE}")),
    );
    task_env
}

fn resources(resources: &Resources) -> Value {
    let mut spec = Map::new();
    if let Some(cores) = resources.cpu {
        // Rounded up: a fraction of a MHz still asks for one.
        spec.insert("CPU".into(), json!((cores * MHZ_PER_CORE).ceil() as u64));
    }
    if let Some(mib) = resources.memory_mib {
        // Nomad's "MB" are MiB. Below its minimum Nomad refuses the whole job: reserve the minimum.
        spec.insert("MemoryMB".into(), json!(mib.max(MIN_MEMORY_MB)));
    }
    if resources.gpu > 0 {
        spec.insert(
            "Devices".into(),
            json!([{ "Name": "nvidia/gpu", "Count": resources.gpu }]),
        );
    }
    Value::Object(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::attempt_name;

    fn attempt() -> ContainerAttempt {
        ContainerAttempt {
            name: attempt_name("job-1", 2),
            job_id: "job-1".into(),
            processor: "snow".into(),
            processor_version: "1.2.0".into(),
            attempt: 2,
            image: "registry.example/snow:1.2.0".into(),
            command: vec![
                "snow".into(),
                "--manifest".into(),
                "${NOMAD_TASK_DIR}/manifest.json".into(),
            ],
            env: BTreeMap::from([
                ("GREETING".into(), "hello world".into()),
                (
                    MANIFEST_JSON_VARIABLE.into(),
                    r#"{"job_id":"job-1"}"#.into(),
                ),
            ]),
            resources: Resources {
                cpu: Some(1.5),
                memory_mib: Some(4096),
                gpu: 1,
            },
            timeout: Duration::from_secs(600),
            job_dir: None,
            nomad_job: Some("nrt-snow".into()),
        }
    }

    #[test]
    fn the_parameterized_job_is_a_batch_job_nomad_never_retries() {
        let config = NomadConfig {
            namespace: Some("eo".into()),
            region: Some("eu".into()),
            ..NomadConfig::default()
        };
        let spec = parameterized_job("nrt-snow", &attempt(), &config);
        let job = &spec["Job"];
        assert_eq!(job["ID"], "nrt-snow");
        assert_eq!(job["Name"], "nrt-snow");
        assert_eq!(job["Type"], "batch");
        assert_eq!(job["Namespace"], "eo");
        assert_eq!(job["Region"], "eu");
        assert_eq!(job["Datacenters"], json!(["dc1"]));
        assert_eq!(
            job["Meta"],
            json!({ "nrt-mesh.io/processor": "snow", "nrt-mesh.io/managed": "true" })
        );
        assert_eq!(
            job["ParameterizedJob"],
            json!({
                "Payload": "required",
                "MetaRequired": ["nrt_job_id", "nrt_attempt", "nrt_job_name"],
            })
        );
        let group = &job["TaskGroups"][0];
        assert_eq!(group["Name"], "processor");
        assert_eq!(group["Count"], 1);
        assert_eq!(
            group["RestartPolicy"],
            json!({ "Attempts": 0, "Mode": "fail" })
        );
        assert_eq!(
            group["ReschedulePolicy"],
            json!({ "Attempts": 0, "Unlimited": false })
        );
    }

    #[test]
    fn the_task_runs_the_command_without_a_shell_and_finds_its_manifest_in_local() {
        let spec = parameterized_job("nrt-snow", &attempt(), &NomadConfig::default());
        let task = &spec["Job"]["TaskGroups"][0]["Tasks"][0];
        assert_eq!(
            *task,
            json!({
                "Name": "processor",
                "Driver": "docker",
                "Config": {
                    "image": "registry.example/snow:1.2.0",
                    "entrypoint": ["snow", "--manifest", "${NOMAD_TASK_DIR}/manifest.json"],
                },
                "Env": {
                    "GREETING": "hello world",
                    "NRT_JOB_MANIFEST": "${NOMAD_TASK_DIR}/manifest.json",
                },
                "DispatchPayload": { "File": "manifest.json" },
                "Resources": {
                    "CPU": 1500,
                    "MemoryMB": 4096,
                    "Devices": [{ "Name": "nvidia/gpu", "Count": 1 }],
                },
                "KillTimeout": 30_000_000_000_u64,
            })
        );
        assert!(spec["Job"].get("Namespace").is_none());
    }

    #[test]
    fn unset_resources_are_left_to_nomad_defaults() {
        let mut attempt = attempt();
        attempt.resources = Resources {
            cpu: Some(0.25),
            ..Resources::default()
        };
        let spec = parameterized_job("nrt-snow", &attempt, &NomadConfig::default());
        let resources = &spec["Job"]["TaskGroups"][0]["Tasks"][0]["Resources"];
        assert_eq!(*resources, json!({ "CPU": 250 }));
    }

    #[test]
    fn memory_below_nomads_minimum_reserves_the_minimum() {
        let mut attempt = attempt();
        attempt.resources = Resources {
            memory_mib: Some(4),
            ..Resources::default()
        };
        let spec = parameterized_job("nrt-snow", &attempt, &NomadConfig::default());
        let resources = &spec["Job"]["TaskGroups"][0]["Tasks"][0]["Resources"];
        assert_eq!(*resources, json!({ "MemoryMB": 10 }));
    }

    #[test]
    fn the_dispatch_carries_meta_payload_and_token() {
        let attempt = attempt();
        let request = dispatch_request(&attempt).unwrap();
        assert_eq!(
            request,
            json!({
                "Meta": {
                    "nrt_job_id": "job-1",
                    "nrt_attempt": "2",
                    "nrt_job_name": attempt.name,
                },
                "IdempotencyToken": attempt.name,
                "Payload": "eyJqb2JfaWQiOiJqb2ItMSJ9",
            })
        );
    }

    #[test]
    fn an_attempt_without_a_manifest_is_dispatched_without_payload() {
        let mut attempt = attempt();
        attempt.env.remove(MANIFEST_JSON_VARIABLE);
        let request = dispatch_request(&attempt).unwrap();
        assert!(request.get("Payload").is_none());
    }

    #[test]
    fn a_manifest_over_the_payload_limit_is_refused_naming_size_and_limit() {
        let mut attempt = attempt();
        attempt
            .env
            .insert(MANIFEST_JSON_VARIABLE.into(), "x".repeat(PAYLOAD_LIMIT));
        assert!(dispatch_request(&attempt).is_ok());
        attempt
            .env
            .insert(MANIFEST_JSON_VARIABLE.into(), "x".repeat(PAYLOAD_LIMIT + 1));
        let error = dispatch_request(&attempt).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the manifest payload is 16385 bytes, over Nomad's dispatch payload limit of 16384 bytes"
        );
    }
}
