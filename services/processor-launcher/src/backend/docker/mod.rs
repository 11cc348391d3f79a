//! The Docker backend: an attempt is a container named after it on the configured engine, with
//! the attempt's directory bind-mounted. The container is kept after it exits, so its exit code
//! and logs can be read; [`ContainerBackend::kill`] removes it.

mod config;
mod failure;
mod spec;

use async_trait::async_trait;
use bollard::{
    Docker,
    query_parameters::{
        CreateContainerOptions, CreateImageOptions, LogsOptions, RemoveContainerOptions,
        WaitContainerOptions,
    },
};
use futures::StreamExt;
use nrt_registry::Backend;

pub use self::{
    config::{DockerConfig, PullPolicy},
    failure::ConnectError,
    spec::{SpecError, create_body},
};
use self::{
    failure::{Failure, status},
    spec::{ended, pull_reference},
};
use super::{BackendError, BackendJob, ContainerAttempt, ContainerBackend, Ended};

const BACKEND: &str = Backend::Docker.as_str();

pub struct DockerBackend {
    docker: Docker,
    pull: PullPolicy,
    network: Option<String>,
    user: String,
}

impl DockerBackend {
    /// A client for the configured engine; nothing is sent until the first call.
    pub fn connect(config: &DockerConfig) -> Result<Self, ConnectError> {
        let docker = match &config.host {
            Some(host) => Docker::connect_with_host(host),
            None => Docker::connect_with_defaults(),
        }
        .map_err(|source| ConnectError {
            host: config.host.clone(),
            source,
        })?;
        Ok(Self::with_client(docker, config))
    }

    /// The backend over a client built elsewhere (tests, custom transports).
    pub fn with_client(docker: Docker, config: &DockerConfig) -> Self {
        Self {
            docker,
            pull: config.pull,
            network: config.network.clone(),
            user: config.user.clone().unwrap_or_else(launcher_user),
        }
    }

    async fn ensure_image(&self, attempt: &ContainerAttempt) -> Result<(), BackendError> {
        match self.pull {
            PullPolicy::Never => Ok(()),
            PullPolicy::Always => self.pull_image(attempt).await,
            PullPolicy::IfMissing => match self.docker.inspect_image(&attempt.image).await {
                Ok(_) => Ok(()),
                Err(error) if status(&error) == Some(404) => self.pull_image(attempt).await,
                Err(error) => Err(Failure::image("inspect the image for", attempt).of(error)),
            },
        }
    }

    async fn pull_image(&self, attempt: &ContainerAttempt) -> Result<(), BackendError> {
        let (from_image, tag) = pull_reference(&attempt.image);
        let options = CreateImageOptions {
            from_image: Some(from_image),
            tag,
            ..Default::default()
        };
        let mut progress = self.docker.create_image(Some(options), None, None);
        while let Some(step) = progress.next().await {
            step.map_err(|error| Failure::image("pull the image for", attempt).of(error))?;
        }
        Ok(())
    }

    /// The container a previous launch created under this attempt's name.
    async fn adopt(&self, attempt: &ContainerAttempt) -> Result<BackendJob, BackendError> {
        let existing = self
            .docker
            .inspect_container(&attempt.name, None)
            .await
            // Removed since the conflict: the next launch creates it afresh.
            .map_err(|error| Failure::new("adopt", &attempt.name).transient().of(error))?;
        let id = existing
            .id
            .ok_or_else(|| Failure::new("adopt", &attempt.name).because("inspect gave no Id"))?;
        // Only a container that never started is started: one that ran must not run twice.
        let never_started = existing.state.and_then(|state| state.status)
            == Some(bollard::models::ContainerStateStatusEnum::CREATED);
        if never_started {
            self.start(&attempt.name, &id).await?;
        }
        tracing::info!(job_name = %attempt.name, container = %id, "Adopted an existing container.");
        Ok(job(attempt, id))
    }

    async fn start(&self, name: &str, id: &str) -> Result<(), BackendError> {
        // bollard passes 304 (already started) as success.
        self.docker
            .start_container(id, None)
            .await
            .map_err(|error| Failure::new("start", name).of(error))
    }
}

#[async_trait]
impl ContainerBackend for DockerBackend {
    fn kind(&self) -> Backend {
        Backend::Docker
    }

    async fn launch(&self, attempt: &ContainerAttempt) -> Result<BackendJob, BackendError> {
        let body = create_body(attempt, self.network.as_deref(), &self.user)
            .map_err(|error| Failure::new("create", &attempt.name).because(error))?;
        self.ensure_image(attempt).await?;
        let options = CreateContainerOptions {
            name: Some(attempt.name.clone()),
            ..Default::default()
        };
        let id = match self.docker.create_container(Some(options), body).await {
            Ok(created) => created.id,
            // Conflict: the name is taken, by this attempt's container.
            Err(error) if status(&error) == Some(409) => return self.adopt(attempt).await,
            Err(error) => return Err(Failure::new("create", &attempt.name).of(error)),
        };
        self.start(&attempt.name, &id).await?;
        Ok(job(attempt, id))
    }

    async fn find(&self, attempt: &ContainerAttempt) -> Result<Option<BackendJob>, BackendError> {
        match self.docker.inspect_container(&attempt.name, None).await {
            Ok(existing) => Ok(existing.id.map(|id| job(attempt, id))),
            Err(error) if status(&error) == Some(404) => Ok(None),
            Err(error) => Err(Failure::new("find", &attempt.name).of(error)),
        }
    }

    async fn wait(&self, job: &BackendJob) -> Result<Ended, BackendError> {
        let options = WaitContainerOptions {
            condition: "not-running".to_owned(),
        };
        let answer = self
            .docker
            .wait_container(&job.id, Some(options))
            .next()
            .await;
        let (status_code, wait_error) = match answer {
            Some(Ok(exited)) => (
                exited.status_code,
                exited
                    .error
                    .and_then(|error| error.message)
                    .unwrap_or_default(),
            ),
            // bollard turns a non-zero status code into this error.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, error })) => {
                (code, error)
            }
            Some(Err(error)) if status(&error) == Some(404) => return Ok(Ended::Vanished),
            Some(Err(error)) => return Err(Failure::new("wait for", &job.name).of(error)),
            None => {
                return Err(Failure::new("wait for", &job.name)
                    .transient()
                    .because("the engine closed the wait without a status code"));
            }
        };
        let state = match self.docker.inspect_container(&job.id, None).await {
            Ok(inspected) => inspected.state,
            Err(error) if status(&error) == Some(404) => None,
            Err(error) => return Err(Failure::new("inspect", &job.name).of(error)),
        };
        Ok(ended(status_code, &wait_error, state.as_ref()))
    }

    async fn kill(&self, job: &BackendJob) -> Result<(), BackendError> {
        let options = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        match self.docker.remove_container(&job.id, Some(options)).await {
            // 404: gone already; 409 with force: another removal is in progress.
            Err(error) if !matches!(status(&error), Some(404 | 409)) => {
                Err(Failure::new("remove", &job.name).of(error))
            }
            _ => Ok(()),
        }
    }

    async fn log_tail(&self, job: &BackendJob, lines: usize) -> Result<Vec<String>, BackendError> {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        };
        let mut frames = self.docker.logs(&job.id, Some(options));
        let mut output = Vec::new();
        while let Some(frame) = frames.next().await {
            match frame {
                Ok(frame) => output.extend_from_slice(&frame.into_bytes()),
                Err(error) if status(&error) == Some(404) => return Ok(Vec::new()),
                Err(error) => return Err(Failure::new("read the logs of", &job.name).of(error)),
            }
        }
        Ok(last_lines(&String::from_utf8_lossy(&output), lines))
    }
}

fn job(attempt: &ContainerAttempt, id: String) -> BackendJob {
    BackendJob {
        backend: BACKEND.to_owned(),
        name: attempt.name.clone(),
        id,
    }
}

/// Frames need not end at line ends, so lines are cut from the whole output.
fn last_lines(output: &str, lines: usize) -> Vec<String> {
    let all: Vec<&str> = output.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|line| (*line).to_owned())
        .collect()
}

/// `uid:gid` of this process.
fn launcher_user() -> String {
    // SAFETY: getuid and getgid always succeed and touch no memory of ours.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    format!("{uid}:{gid}")
}
