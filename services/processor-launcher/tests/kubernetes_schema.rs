//! The Jobs `job_manifest` builds are valid batch/v1 Jobs for Kubernetes 1.33, as the real
//! schema validator (kubernetes-validate, strict: no unknown fields) judges them.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use nrt_registry::Resources;
use processor_launcher::backend::{
    ContainerAttempt, attempt_name,
    kubernetes::{KubernetesConfig, job_manifest},
};
use serde_json::{Value, json};

const KUBERNETES_VERSION: &str = "1.33.0";

/// `make test-tools` installs it in the repository's `.tools/bin`; PATH is the fallback.
fn validator() -> PathBuf {
    let installed =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin/kubernetes-validate");
    if installed.is_file() {
        return installed;
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("kubernetes-validate"))
        .find(|candidate| candidate.is_file())
        .expect("kubernetes-validate is not installed: run `make test-tools`")
}

/// Exit status success, and what the validator printed.
fn validate(files: &[PathBuf]) -> (bool, String) {
    let output = Command::new(validator())
        .args(["--strict", "-k", KUBERNETES_VERSION])
        .args(files)
        .output()
        .expect("kubernetes-validate could not be run");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

fn attempt(resources: Resources) -> ContainerAttempt {
    ContainerAttempt {
        name: attempt_name("s2-tile-T32TLR", 3),
        job_id: "s2-tile-T32TLR".to_owned(),
        processor: "snow_cover".to_owned(),
        processor_version: "1.4.0".to_owned(),
        attempt: 3,
        image: "registry.example/snow-cover@sha256:0123".to_owned(),
        command: vec!["snow-cover".to_owned(), "--pattern=$(TILE)*".to_owned()],
        env: BTreeMap::from([("NRT_JOB_ID".to_owned(), "s2-tile-T32TLR".to_owned())]),
        resources,
        timeout: Duration::from_millis(7_200_250),
        job_dir: None,
        nomad_job: None,
    }
}

fn write(dir: &Path, name: &str, job: &Value) -> PathBuf {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(job).unwrap()).unwrap();
    path
}

fn manifests() -> Vec<(&'static str, Value)> {
    let everything = KubernetesConfig {
        namespace: "satellite-jobs".to_owned(),
        service_account: Some("snow-cover".to_owned()),
        ttl_secs_after_finished: 600,
        env_from_secrets: vec!["s3-credentials".to_owned(), "cdse-login".to_owned()],
        image_pull_secrets: vec!["registry-login".to_owned()],
        api_url: None,
    };
    let gpu = Resources {
        cpu: Some(8.0),
        memory_mib: Some(32_768),
        gpu: 2,
    };
    let fractional = Resources {
        cpu: Some(0.25),
        memory_mib: Some(512),
        gpu: 0,
    };
    let gpu_only = Resources {
        gpu: 1,
        ..Resources::default()
    };
    let default = KubernetesConfig::default();
    [
        (
            "bare",
            job_manifest(&attempt(Resources::default()), &default),
        ),
        (
            "gpu-secrets-account",
            job_manifest(&attempt(gpu), &everything),
        ),
        (
            "fractional-cpu",
            job_manifest(&attempt(fractional), &default),
        ),
        ("gpu-only", job_manifest(&attempt(gpu_only), &everything)),
    ]
    .into_iter()
    .map(|(name, job)| (name, serde_json::to_value(job).unwrap()))
    .collect()
}

#[test]
fn every_job_manifest_is_a_valid_batch_v1_job() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = manifests()
        .iter()
        .map(|(name, job)| write(dir.path(), name, job))
        .collect();

    let (valid, printed) = validate(&files);

    assert!(valid, "kubernetes-validate refused a manifest:\n{printed}");
    assert_eq!(printed.matches("passed").count(), files.len(), "{printed}");
}

#[test]
fn the_validator_refuses_a_job_with_a_string_where_an_integer_belongs() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut job) = manifests().remove(0);
    job["spec"]["backoffLimit"] = json!("0");
    let file = write(dir.path(), "broken", &job);

    let (valid, printed) = validate(&[file]);

    assert!(
        !valid,
        "kubernetes-validate accepted a broken Job:\n{printed}"
    );
    assert!(printed.contains("spec.backoffLimit"), "{printed}");
}

#[test]
fn the_validator_refuses_an_unknown_field() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut job) = manifests().remove(0);
    job["spec"]["template"]["spec"]["containers"][0]["entrypoint"] = json!(["sh"]);
    let file = write(dir.path(), "unknown-field", &job);

    let (valid, printed) = validate(&[file]);

    assert!(
        !valid,
        "strict validation accepted an unknown field:\n{printed}"
    );
    assert!(printed.contains("entrypoint"), "{printed}");
}
