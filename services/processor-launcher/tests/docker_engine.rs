//! The Docker backend against a real engine (`DOCKER_HOST` or the local socket): busybox
//! containers that write into the mounted job directory, fail with a code, or are killed.
//! Ignored by default; `make test` runs them when `docker info` answers.

use std::{
    collections::BTreeMap,
    os::unix::fs::MetadataExt,
    path::Path,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bollard::Docker;
use nrt_registry::Resources;
use processor_launcher::backend::{
    BackendJob, ContainerAttempt, ContainerBackend, Ended, attempt_name,
    docker::{DockerBackend, DockerConfig},
};

const BUSYBOX: &str = "busybox:1.36";
/// Far above what busybox needs, so a hung engine fails the test instead of blocking it.
const DEADLINE: Duration = Duration::from_secs(120);

async fn backend() -> DockerBackend {
    let answered = match Docker::connect_with_defaults() {
        Ok(docker) => docker.ping().await.map(drop),
        Err(error) => Err(error),
    };
    if let Err(error) = answered {
        panic!("no Docker engine answers at DOCKER_HOST or /var/run/docker.sock: {error}");
    }
    DockerBackend::connect(&DockerConfig::default()).unwrap()
}

/// A busybox attempt with a name no other run uses.
fn attempt(job_dir: &Path, command: &[&str]) -> ContainerAttempt {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let job_id = format!("docker-engine-test/{}/{nanos}", std::process::id());
    ContainerAttempt {
        name: attempt_name(&job_id, 1),
        job_id,
        processor: "engine-test".into(),
        processor_version: "1".into(),
        attempt: 1,
        image: BUSYBOX.into(),
        command: command.iter().map(|part| (*part).to_owned()).collect(),
        env: BTreeMap::from([("GREETING".into(), "hello".into())]),
        resources: Resources {
            cpu: Some(0.5),
            memory_mib: Some(64),
            gpu: 0,
        },
        timeout: DEADLINE,
        job_dir: Some(job_dir.to_owned()),
        nomad_job: None,
    }
}

async fn wait(backend: &DockerBackend, job: &BackendJob) -> Ended {
    tokio::time::timeout(DEADLINE, backend.wait(job))
        .await
        .expect("the container ended before the deadline")
        .unwrap()
}

#[tokio::test]
#[ignore = "needs a Docker engine (make test runs it when one answers)"]
async fn a_container_reads_and_writes_the_job_directory_and_exits_zero() {
    let backend = backend().await;
    let job_dir = tempfile::tempdir().unwrap();
    std::fs::write(job_dir.path().join("manifest.json"), "{\"job\": 1}").unwrap();
    let attempt = attempt(
        job_dir.path(),
        &["cp", "manifest.json", "/nrt/job/copied.json"],
    );

    let job = backend.launch(&attempt).await.unwrap();
    assert_eq!(wait(&backend, &job).await, Ended::Succeeded);

    let copied = job_dir.path().join("copied.json");
    assert_eq!(std::fs::read_to_string(&copied).unwrap(), "{\"job\": 1}");
    let launcher = std::fs::metadata(job_dir.path()).unwrap();
    let written = std::fs::metadata(&copied).unwrap();
    assert_eq!(
        (written.uid(), written.gid()),
        (launcher.uid(), launcher.gid()),
        "the container runs as the launcher's user"
    );
    backend.kill(&job).await.unwrap();
    assert_eq!(backend.find(&attempt).await.unwrap(), None);
}

#[tokio::test]
#[ignore = "needs a Docker engine (make test runs it when one answers)"]
async fn a_failing_container_reports_its_exit_code_and_logs() {
    let backend = backend().await;
    let job_dir = tempfile::tempdir().unwrap();
    // The test's command names a shell itself; the backend never adds one.
    let attempt = attempt(
        job_dir.path(),
        &["sh", "-c", "echo \"$GREETING\"; echo giving up >&2; exit 3"],
    );

    let job = backend.launch(&attempt).await.unwrap();
    let ended = wait(&backend, &job).await;
    let mut tail = backend.log_tail(&job, 10).await.unwrap();
    backend.kill(&job).await.unwrap();

    assert_eq!(
        ended,
        Ended::Failed {
            exit_code: Some(3),
            reason: "exited with code 3".into()
        }
    );
    // Two pipes: the engine may log them in either order.
    tail.sort();
    assert_eq!(tail, ["giving up", "hello"]);
}

#[tokio::test]
#[ignore = "needs a Docker engine (make test runs it when one answers)"]
async fn a_container_over_its_memory_limit_fails_as_oomkilled() {
    let backend = backend().await;
    let job_dir = tempfile::tempdir().unwrap();
    // 200 MB in a shell variable against a 16 MiB limit and no swap.
    let mut attempt = attempt(
        job_dir.path(),
        &["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a)"],
    );
    attempt.resources.memory_mib = Some(16);

    let job = backend.launch(&attempt).await.unwrap();
    let ended = wait(&backend, &job).await;
    backend.kill(&job).await.unwrap();

    assert_eq!(
        ended,
        Ended::Failed {
            exit_code: Some(137),
            reason: "OOMKilled".into()
        }
    );
}

#[tokio::test]
#[ignore = "needs a Docker engine (make test runs it when one answers)"]
async fn a_second_launch_adopts_and_kill_removes_a_running_container() {
    let backend = backend().await;
    let job_dir = tempfile::tempdir().unwrap();
    let attempt = attempt(job_dir.path(), &["sleep", "600"]);

    let job = backend.launch(&attempt).await.unwrap();
    assert_eq!(backend.launch(&attempt).await.unwrap(), job);
    assert_eq!(backend.find(&attempt).await.unwrap(), Some(job.clone()));

    backend.kill(&job).await.unwrap();
    assert_eq!(backend.find(&attempt).await.unwrap(), None);
    assert_eq!(wait(&backend, &job).await, Ended::Vanished);
    backend.kill(&job).await.unwrap();
}
