//! The batch/v1 Job an attempt runs as: built here without I/O, so it can be checked field by
//! field and against the Kubernetes schema.

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::{
    api::{
        batch::v1::{Job, JobSpec},
        core::v1::{
            Capabilities, Container, EnvFromSource, EnvVar, LocalObjectReference, PodSpec,
            PodTemplateSpec, ResourceRequirements, SeccompProfile, SecretEnvSource,
            SecurityContext,
        },
    },
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::ObjectMeta},
};
use nrt_registry::Resources;

use super::KubernetesConfig;
use crate::backend::{ANNOTATION_JOB_ID, ContainerAttempt};

/// The only container of the Job's pod; logs and exit codes are read from it.
pub const CONTAINER_NAME: &str = "processor";

const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// The Job that runs `attempt` in `config.namespace`, named after the attempt so that creating
/// it twice is refused with AlreadyExists.
pub fn job_manifest(attempt: &ContainerAttempt, config: &KubernetesConfig) -> Job {
    let annotations = BTreeMap::from([(ANNOTATION_JOB_ID.to_owned(), attempt.job_id.clone())]);
    Job {
        metadata: ObjectMeta {
            name: Some(attempt.name.clone()),
            namespace: Some(config.namespace.clone()),
            labels: Some(attempt.labels()),
            annotations: Some(annotations.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            // Retries are the launcher's: each one is a new attempt with its own name.
            backoff_limit: Some(0),
            active_deadline_seconds: Some(deadline_secs(attempt.timeout)),
            ttl_seconds_after_finished: Some(config.ttl_secs_after_finished),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(attempt.labels()),
                    annotations: Some(annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec(attempt, config)),
            },
            ..JobSpec::default()
        }),
        status: None,
    }
}

fn pod_spec(attempt: &ContainerAttempt, config: &KubernetesConfig) -> PodSpec {
    PodSpec {
        restart_policy: Some("Never".to_owned()),
        containers: vec![container(attempt, config)],
        service_account_name: config.service_account.clone(),
        // A processor talks to S3, not to the Kubernetes API, unless it was given an account.
        automount_service_account_token: Some(config.service_account.is_some()),
        // Service links would add a variable per Service in the namespace to the environment.
        enable_service_links: Some(false),
        image_pull_secrets: non_empty(
            config
                .image_pull_secrets
                .iter()
                .map(|name| LocalObjectReference { name: name.clone() })
                .collect(),
        ),
        ..PodSpec::default()
    }
}

fn container(attempt: &ContainerAttempt, config: &KubernetesConfig) -> Container {
    Container {
        name: CONTAINER_NAME.to_owned(),
        image: Some(attempt.image.clone()),
        // `command` replaces the image's entrypoint; there is no shell in between.
        command: Some(attempt.command.iter().map(|arg| literal(arg)).collect()),
        env: non_empty(
            attempt
                .env
                .iter()
                .map(|(name, value)| EnvVar {
                    name: name.clone(),
                    value: Some(literal(value)),
                    value_from: None,
                })
                .collect(),
        ),
        env_from: non_empty(
            config
                .env_from_secrets
                .iter()
                .map(|name| EnvFromSource {
                    secret_ref: Some(SecretEnvSource {
                        name: name.clone(),
                        optional: Some(false),
                    }),
                    ..EnvFromSource::default()
                })
                .collect(),
        ),
        resources: resource_requirements(&attempt.resources),
        security_context: Some(batch_security_context()),
        ..Container::default()
    }
}

/// Kubernetes expands `$(NAME)` in commands and environment values from the environment;
/// `$$` stands for a `$`, so doubling every `$` passes the text through unchanged.
fn literal(text: &str) -> String {
    text.replace('$', "$$")
}

/// Requests equal to limits, so the processor gets what it declared and no more; GPUs can
/// only be given as limits.
fn resource_requirements(resources: &Resources) -> Option<ResourceRequirements> {
    let mut requests = BTreeMap::new();
    if let Some(cores) = resources.cpu {
        requests.insert("cpu".to_owned(), cpu_quantity(cores));
    }
    if let Some(mib) = resources.memory_mib {
        requests.insert("memory".to_owned(), Quantity(format!("{mib}Mi")));
    }
    let mut limits = requests.clone();
    if resources.gpu > 0 {
        limits.insert(GPU_RESOURCE.to_owned(), Quantity(resources.gpu.to_string()));
    }
    if limits.is_empty() {
        return None;
    }
    Some(ResourceRequirements {
        requests: non_empty_map(requests),
        limits: Some(limits),
        claims: None,
    })
}

/// Whole cores as `2`, fractions in millicores (`1500m`), rounded up so a tiny share is
/// never zero.
fn cpu_quantity(cores: f64) -> Quantity {
    let millicores = (cores * 1000.0).ceil().max(1.0) as u64;
    if millicores.is_multiple_of(1000) {
        Quantity((millicores / 1000).to_string())
    } else {
        Quantity(format!("{millicores}m"))
    }
}

/// What the "restricted" Pod Security Standard asks of a container, short of running as
/// non-root, which depends on the image.
fn batch_security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        capabilities: Some(Capabilities {
            add: None,
            drop: Some(vec!["ALL".to_owned()]),
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            localhost_profile: None,
        }),
        ..SecurityContext::default()
    }
}

/// Whole seconds, rounded up, at least one: Kubernetes refuses a zero deadline.
fn deadline_secs(timeout: Duration) -> i64 {
    let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    i64::try_from(secs.max(1)).unwrap_or(i64::MAX)
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

fn non_empty_map<V>(map: BTreeMap<String, V>) -> Option<BTreeMap<String, V>> {
    (!map.is_empty()).then_some(map)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::backend::attempt_name;

    fn attempt(resources: Resources) -> ContainerAttempt {
        ContainerAttempt {
            name: attempt_name("job-1", 2),
            job_id: "job-1".to_owned(),
            processor: "snow-cover".to_owned(),
            processor_version: "1.4.0".to_owned(),
            attempt: 2,
            image: "registry.example/snow-cover:1.4.0".to_owned(),
            command: vec!["snow-cover".to_owned(), "--tile=$(T32TLR)".to_owned()],
            env: BTreeMap::from([
                ("Z_LAST".to_owned(), "z".to_owned()),
                ("A_FIRST".to_owned(), "p@$(word)".to_owned()),
            ]),
            resources,
            timeout: Duration::from_millis(90_500),
            job_dir: None,
            nomad_job: None,
        }
    }

    fn manifest_json(attempt: &ContainerAttempt, config: &KubernetesConfig) -> serde_json::Value {
        serde_json::to_value(job_manifest(attempt, config)).unwrap()
    }

    #[test]
    fn a_job_runs_its_command_once_with_exactly_its_environment_and_limits() {
        // `$` doubled: Kubernetes would otherwise expand `$(NAME)` in the command and values.
        let attempt = attempt(Resources {
            cpu: Some(1.5),
            memory_mib: Some(4096),
            gpu: 1,
        });
        let config = KubernetesConfig {
            service_account: Some("processor".to_owned()),
            env_from_secrets: vec!["s3-credentials".to_owned()],
            image_pull_secrets: vec!["registry-login".to_owned()],
            ..KubernetesConfig::default()
        };
        let labels = json!({
            "nrt-mesh.io/job-name": attempt.name,
            "nrt-mesh.io/processor": "snow-cover",
            "nrt-mesh.io/attempt": "2",
            "nrt-mesh.io/managed": "true",
        });
        let annotations = json!({ "nrt-mesh.io/job-id": "job-1" });
        let expected = json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": attempt.name,
                "namespace": "nrt-jobs",
                "labels": labels,
                "annotations": annotations,
            },
            "spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": 91,
                "ttlSecondsAfterFinished": 3600,
                "template": {
                    "metadata": { "labels": labels, "annotations": annotations },
                    "spec": {
                        "restartPolicy": "Never",
                        "serviceAccountName": "processor",
                        "automountServiceAccountToken": true,
                        "enableServiceLinks": false,
                        "imagePullSecrets": [{ "name": "registry-login" }],
                        "containers": [{
                            "name": "processor",
                            "image": "registry.example/snow-cover:1.4.0",
                            "command": ["snow-cover", "--tile=$$(T32TLR)"],
                            "env": [
                                { "name": "A_FIRST", "value": "p@$$(word)" },
                                { "name": "Z_LAST", "value": "z" },
                            ],
                            "envFrom": [{ "secretRef": { "name": "s3-credentials", "optional": false } }],
                            "resources": {
                                "requests": { "cpu": "1500m", "memory": "4096Mi" },
                                "limits": { "cpu": "1500m", "memory": "4096Mi", "nvidia.com/gpu": "1" },
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": false,
                                "privileged": false,
                                "capabilities": { "drop": ["ALL"] },
                                "seccompProfile": { "type": "RuntimeDefault" },
                            },
                        }],
                    },
                },
            },
        });
        assert_eq!(manifest_json(&attempt, &config), expected);
    }

    #[test]
    fn without_a_service_account_or_resources_nothing_is_mounted_or_limited() {
        let job = manifest_json(&attempt(Resources::default()), &KubernetesConfig::default());
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(pod["automountServiceAccountToken"], json!(false));
        assert!(pod.get("serviceAccountName").is_none(), "{pod}");
        assert!(pod.get("imagePullSecrets").is_none(), "{pod}");
        let container = &pod["containers"][0];
        assert!(container.get("resources").is_none(), "{container}");
        assert!(container.get("envFrom").is_none(), "{container}");
    }

    #[test]
    fn gpus_alone_are_a_limit_without_requests() {
        let resources = Resources {
            gpu: 2,
            ..Resources::default()
        };
        let job = manifest_json(&attempt(resources), &KubernetesConfig::default());
        assert_eq!(
            job["spec"]["template"]["spec"]["containers"][0]["resources"],
            json!({ "limits": { "nvidia.com/gpu": "2" } })
        );
    }

    #[test]
    fn cpu_is_whole_cores_or_millicores_rounded_up() {
        let cases = [
            (2.0, "2"),
            (1.5, "1500m"),
            (0.25, "250m"),
            (0.0001, "1m"),
            (0.0015, "2m"),
        ];
        for (cores, expected) in cases {
            assert_eq!(
                cpu_quantity(cores),
                Quantity(expected.to_owned()),
                "{cores}"
            );
        }
    }

    #[test]
    fn the_deadline_is_whole_seconds_rounded_up_and_never_zero() {
        assert_eq!(deadline_secs(Duration::from_secs(3600)), 3600);
        assert_eq!(deadline_secs(Duration::from_millis(1001)), 2);
        assert_eq!(deadline_secs(Duration::ZERO), 1);
    }

    #[test]
    fn the_section_may_be_left_out_but_not_misspelled() {
        let empty: KubernetesConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, KubernetesConfig::default());
        assert_eq!(empty.namespace, "nrt-jobs");
        assert_eq!(empty.ttl_secs_after_finished, 3600);
        let error = serde_json::from_str::<KubernetesConfig>(r#"{"namespaces": "x"}"#).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `namespaces`"),
            "{error}"
        );
    }
}
