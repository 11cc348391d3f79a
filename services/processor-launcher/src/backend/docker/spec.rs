//! What the launcher asks the engine for and how it reads the answer, without I/O, so each
//! field can be checked on its own.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, ContainerState, ContainerStateStatusEnum, DeviceRequest, HostConfig,
    Mount, MountType,
};

use crate::backend::{ANNOTATION_JOB_ID, ContainerAttempt, Ended, JOB_DIR_IN_CONTAINER};

const NANO_CPUS_PER_CORE: f64 = 1e9;
const BYTES_PER_MIB: u64 = 1024 * 1024;

/// Why an attempt cannot become a container.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("the command is empty")]
    EmptyCommand,
    #[error("the attempt has no job directory to mount")]
    NoJobDir,
    #[error("the job directory {0} is not valid UTF-8")]
    JobDirNotUtf8(String),
}

/// The create-container body of an attempt: its command as entrypoint and arguments (never a
/// shell), exactly its environment, its job directory mounted read-write at
/// [`JOB_DIR_IN_CONTAINER`], its resources as limits, no privileges to gain.
pub fn create_body(
    attempt: &ContainerAttempt,
    network: Option<&str>,
    user: &str,
) -> Result<ContainerCreateBody, SpecError> {
    let (program, arguments) = attempt
        .command
        .split_first()
        .ok_or(SpecError::EmptyCommand)?;
    let job_dir = attempt.job_dir.as_ref().ok_or(SpecError::NoJobDir)?;
    let job_dir = job_dir
        .to_str()
        .ok_or_else(|| SpecError::JobDirNotUtf8(job_dir.display().to_string()))?;
    let mut labels: HashMap<String, String> = attempt.labels().into_iter().collect();
    labels.insert(ANNOTATION_JOB_ID.to_owned(), attempt.job_id.clone());
    Ok(ContainerCreateBody {
        image: Some(attempt.image.clone()),
        // An explicit entrypoint also keeps the image's own CMD from being appended.
        entrypoint: Some(vec![program.clone()]),
        cmd: Some(arguments.to_vec()),
        env: Some(
            attempt
                .env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        ),
        labels: Some(labels),
        working_dir: Some(JOB_DIR_IN_CONTAINER.to_owned()),
        user: Some(user.to_owned()),
        host_config: Some(host_config(attempt, job_dir, network)),
        ..Default::default()
    })
}

fn host_config(attempt: &ContainerAttempt, job_dir: &str, network: Option<&str>) -> HostConfig {
    let resources = &attempt.resources;
    let memory = resources.memory_mib.map(bytes_of_mib);
    HostConfig {
        // A mount, not a bind string: the engine refuses a missing source instead of creating
        // it as root.
        mounts: Some(vec![Mount {
            typ: Some(MountType::BIND),
            source: Some(job_dir.to_owned()),
            target: Some(JOB_DIR_IN_CONTAINER.to_owned()),
            read_only: Some(false),
            ..Default::default()
        }]),
        // `as` saturates; the registry has checked the value is positive and finite.
        nano_cpus: resources
            .cpu
            .map(|cores| (cores * NANO_CPUS_PER_CORE).round() as i64),
        memory,
        // Equal to the memory limit: no swap on top of it.
        memory_swap: memory,
        device_requests: (resources.gpu > 0).then(|| {
            vec![DeviceRequest {
                driver: Some("nvidia".to_owned()),
                count: Some(i64::from(resources.gpu)),
                capabilities: Some(vec![vec!["gpu".to_owned()]]),
                ..Default::default()
            }]
        }),
        network_mode: network.map(ToOwned::to_owned),
        // Removed by the launcher once it has read the exit code and the logs.
        auto_remove: Some(false),
        security_opt: Some(vec!["no-new-privileges".to_owned()]),
        cap_drop: Some(vec!["ALL".to_owned()]),
        readonly_rootfs: Some(false),
        ..Default::default()
    }
}

fn bytes_of_mib(mib: u64) -> i64 {
    i64::try_from(mib.saturating_mul(BYTES_PER_MIB)).unwrap_or(i64::MAX)
}

/// `fromImage` and `tag` for a pull. A reference without tag or digest gets `latest`: with no
/// tag at all the engine would pull every tag of the repository.
pub fn pull_reference(image: &str) -> (String, Option<String>) {
    // A `:` before the last `/` is a registry port, not a tag.
    let last_component = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last_component.contains(':') {
        (image.to_owned(), None)
    } else {
        (image.to_owned(), Some("latest".to_owned()))
    }
}

/// How a container ended, from the status code its wait returned, the wait's error message and
/// its state inspected afterwards (absent when it was removed meanwhile).
pub fn ended(status_code: i64, wait_error: &str, state: Option<&ContainerState>) -> Ended {
    // Waiting for "not-running" returns at once, with 0, for a container never started.
    if state.is_some_and(|state| state.status == Some(ContainerStateStatusEnum::CREATED)) {
        return Ended::Failed {
            exit_code: None,
            reason: "the container was created but never started".to_owned(),
        };
    }
    if status_code == 0 {
        return Ended::Succeeded;
    }
    let engine_error = state
        .and_then(|state| state.error.as_deref())
        .filter(|error| !error.is_empty())
        .unwrap_or(wait_error);
    let reason = if state.is_some_and(|state| state.oom_killed == Some(true)) {
        "OOMKilled".to_owned()
    } else if !engine_error.is_empty() {
        engine_error.to_owned()
    } else {
        format!("exited with code {status_code}")
    };
    Ended::Failed {
        exit_code: i32::try_from(status_code).ok(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, path::PathBuf, time::Duration};

    use nrt_registry::Resources;
    use serde_json::json;

    use super::*;
    use crate::backend::attempt_name;

    fn attempt() -> ContainerAttempt {
        ContainerAttempt {
            name: attempt_name("s2/T32TNS/2024-01-01", 2),
            job_id: "s2/T32TNS/2024-01-01".into(),
            processor: "snow-cover".into(),
            processor_version: "1.4.0".into(),
            attempt: 2,
            image: "ghcr.io/nrt/snow:1.4.0".into(),
            command: vec![
                "/usr/bin/snow".into(),
                "--manifest".into(),
                "/nrt/job/manifest.json".into(),
            ],
            env: BTreeMap::from([("A".into(), "1".into()), ("B".into(), "x=y".into())]),
            resources: Resources {
                cpu: Some(1.5),
                memory_mib: Some(4096),
                gpu: 2,
            },
            timeout: Duration::from_secs(600),
            job_dir: Some(PathBuf::from("/var/lib/nrt/jobs/abc/attempt-2")),
            nomad_job: None,
        }
    }

    #[test]
    fn the_body_runs_the_command_without_a_shell_with_exactly_the_attempts_settings() {
        let attempt = attempt();
        let body = create_body(&attempt, Some("nrt"), "1000:1001").unwrap();
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({
                "Image": "ghcr.io/nrt/snow:1.4.0",
                "Entrypoint": ["/usr/bin/snow"],
                "Cmd": ["--manifest", "/nrt/job/manifest.json"],
                "Env": ["A=1", "B=x=y"],
                "Labels": {
                    "nrt-mesh.io/job-name": attempt.name,
                    "nrt-mesh.io/processor": "snow-cover",
                    "nrt-mesh.io/attempt": "2",
                    "nrt-mesh.io/managed": "true",
                    "nrt-mesh.io/job-id": "s2/T32TNS/2024-01-01",
                },
                "WorkingDir": "/nrt/job",
                "User": "1000:1001",
                "HostConfig": {
                    "Mounts": [{
                        "Type": "bind",
                        "Source": "/var/lib/nrt/jobs/abc/attempt-2",
                        "Target": "/nrt/job",
                        "ReadOnly": false,
                    }],
                    "NanoCpus": 1_500_000_000_i64,
                    "Memory": 4096_i64 * 1024 * 1024,
                    "MemorySwap": 4096_i64 * 1024 * 1024,
                    "DeviceRequests": [{
                        "Driver": "nvidia",
                        "Count": 2,
                        "Capabilities": [["gpu"]],
                    }],
                    "NetworkMode": "nrt",
                    "AutoRemove": false,
                    "SecurityOpt": ["no-new-privileges"],
                    "CapDrop": ["ALL"],
                    "ReadonlyRootfs": false,
                },
            })
        );
    }

    #[test]
    fn no_limits_no_gpu_and_no_network_leave_the_engines_defaults() {
        let mut attempt = attempt();
        attempt.resources = Resources::default();
        attempt.command.truncate(1);
        let body = create_body(&attempt, None, "0:0").unwrap();
        assert_eq!(body.cmd, Some(vec![]));
        let host = body.host_config.unwrap();
        assert_eq!(
            (host.nano_cpus, host.memory, host.memory_swap),
            (None, None, None)
        );
        assert_eq!(host.device_requests, None);
        assert_eq!(host.network_mode, None);
    }

    #[test]
    fn an_attempt_without_command_or_job_directory_is_refused() {
        let mut empty = attempt();
        empty.command.clear();
        assert_eq!(
            create_body(&empty, None, "0:0"),
            Err(SpecError::EmptyCommand)
        );
        let mut no_dir = attempt();
        no_dir.job_dir = None;
        assert_eq!(create_body(&no_dir, None, "0:0"), Err(SpecError::NoJobDir));
    }

    #[test]
    fn an_untagged_image_is_pulled_as_latest_and_a_registry_port_is_no_tag() {
        let pull = |image: &str| pull_reference(image);
        assert_eq!(pull("busybox"), ("busybox".into(), Some("latest".into())));
        assert_eq!(
            pull("registry:5000/nrt/snow"),
            ("registry:5000/nrt/snow".into(), Some("latest".into()))
        );
        assert_eq!(pull("busybox:1.36"), ("busybox:1.36".into(), None));
        assert_eq!(
            pull("registry:5000/snow@sha256:abcd"),
            ("registry:5000/snow@sha256:abcd".into(), None)
        );
    }

    fn state(status: ContainerStateStatusEnum, oom_killed: bool, error: &str) -> ContainerState {
        ContainerState {
            status: Some(status),
            oom_killed: Some(oom_killed),
            error: Some(error.to_owned()),
            ..Default::default()
        }
    }

    #[test]
    fn exit_zero_succeeds_and_a_non_zero_exit_fails_with_its_code() {
        let exited = state(ContainerStateStatusEnum::EXITED, false, "");
        assert_eq!(ended(0, "", Some(&exited)), Ended::Succeeded);
        assert_eq!(ended(0, "", None), Ended::Succeeded);
        assert_eq!(
            ended(3, "", Some(&exited)),
            Ended::Failed {
                exit_code: Some(3),
                reason: "exited with code 3".into()
            }
        );
    }

    #[test]
    fn the_engine_says_why_a_container_failed() {
        let oom = state(ContainerStateStatusEnum::EXITED, true, "");
        assert_eq!(
            ended(137, "", Some(&oom)),
            Ended::Failed {
                exit_code: Some(137),
                reason: "OOMKilled".into()
            }
        );
        let not_found = state(
            ContainerStateStatusEnum::EXITED,
            false,
            "exec: \"/usr/bin/snow\": no such file or directory",
        );
        assert_eq!(
            ended(127, "", Some(&not_found)),
            Ended::Failed {
                exit_code: Some(127),
                reason: "exec: \"/usr/bin/snow\": no such file or directory".into()
            }
        );
        assert_eq!(
            ended(1, "container stopped by the engine", None),
            Ended::Failed {
                exit_code: Some(1),
                reason: "container stopped by the engine".into()
            }
        );
    }

    #[test]
    fn a_container_that_never_started_has_not_succeeded() {
        let created = state(ContainerStateStatusEnum::CREATED, false, "");
        assert_eq!(
            ended(0, "", Some(&created)),
            Ended::Failed {
                exit_code: None,
                reason: "the container was created but never started".into()
            }
        );
    }
}
