//! The Kubernetes backend: each attempt is a batch/v1 Job named after it in one namespace.
//! Creating it again answers AlreadyExists and the launcher adopts the Job it finds; `wait`
//! watches the Job until its `Complete` or `Failed` condition.
//!
//! RBAC in the namespace: `jobs` create, get, watch, delete; `pods` list; `pods/log` get.

mod error;
mod manifest;
mod outcome;
mod watch;

use async_trait::async_trait;
use k8s_openapi::api::{batch::v1::Job, core::v1::Pod};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, LogParams, PostParams},
};
use nrt_registry::Backend;
use serde::Deserialize;

use self::error::{BACKEND, backend_error, is_status};
pub use self::{
    error::ApiRefusal,
    manifest::{CONTAINER_NAME, job_manifest},
};
use crate::backend::{BackendError, BackendJob, ContainerAttempt, ContainerBackend, Ended};

/// The `[kubernetes]` section; every key has a default, so the section may be left out.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesConfig {
    /// Where the Jobs are created.
    pub namespace: String,
    /// The pods' service account; without one no API token is mounted.
    pub service_account: Option<String>,
    /// How long a finished Job (and its pod, logs) stays before Kubernetes deletes it.
    pub ttl_secs_after_finished: i32,
    /// Secrets whose every key becomes an environment variable (S3 credentials, ...).
    pub env_from_secrets: Vec<String>,
    pub image_pull_secrets: Vec<String>,
    /// An API server to talk to without authentication (`kubectl proxy`, tests); when unset,
    /// the in-cluster service account or the kubeconfig.
    pub api_url: Option<String>,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        Self {
            namespace: "nrt-jobs".to_owned(),
            service_account: None,
            ttl_secs_after_finished: 3600,
            env_from_secrets: Vec::new(),
            image_pull_secrets: Vec::new(),
            api_url: None,
        }
    }
}

/// The label the Job controller puts on its pods (Kubernetes 1.27+).
const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

pub struct KubernetesBackend {
    jobs: Api<Job>,
    pods: Api<Pod>,
    config: KubernetesConfig,
}

impl KubernetesBackend {
    /// A client for `config.api_url`, or else the one `kube` infers (in-cluster or kubeconfig).
    pub async fn connect(config: KubernetesConfig) -> Result<Self, BackendError> {
        let cluster = config
            .api_url
            .clone()
            .unwrap_or_else(|| "the cluster".to_owned());
        let connect_error = |source: Box<dyn std::error::Error + Send + Sync>| BackendError {
            backend: BACKEND,
            operation: "connect to",
            name: cluster.clone(),
            transient: false,
            source,
        };
        let mut client_config = match &config.api_url {
            Some(url) => kube::Config::new(url.parse().map_err(|e| connect_error(Box::new(e)))?),
            None => kube::Config::infer()
                .await
                .map_err(|e| connect_error(Box::new(e)))?,
        };
        // Retrying is the launcher's decision: the client's own retries can hold one request
        // for minutes while the API answers 503.
        client_config.default_retry = false;
        // kube builds its TLS config from the process-wide rustls provider, which rustls cannot
        // pick alone when both ring and aws-lc-rs are compiled in (they are: kube, async-nats,
        // reqwest). Err means one is installed already, which serves as well.
        let _ = async_nats::rustls::crypto::ring::default_provider().install_default();
        let client = Client::try_from(client_config).map_err(|e| connect_error(Box::new(e)))?;
        Ok(Self::new(client, config))
    }

    pub fn new(client: Client, config: KubernetesConfig) -> Self {
        Self {
            jobs: Api::namespaced(client.clone(), &config.namespace),
            pods: Api::namespaced(client, &config.namespace),
            config,
        }
    }

    /// The pods the Job controller made for `name`.
    async fn pods_of(&self, name: &str) -> Result<Vec<Pod>, BackendError> {
        let selector = ListParams::default().labels(&format!("{JOB_NAME_LABEL}={name}"));
        let pods = self
            .pods
            .list(&selector)
            .await
            .map_err(|e| backend_error("list the pods of", name, e))?;
        Ok(pods.items)
    }
}

fn backend_job(job: &Job) -> BackendJob {
    BackendJob {
        backend: BACKEND.to_owned(),
        name: job.name_any(),
        id: job.uid().unwrap_or_default(),
    }
}

#[async_trait]
impl ContainerBackend for KubernetesBackend {
    fn kind(&self) -> Backend {
        Backend::Kubernetes
    }

    async fn launch(&self, attempt: &ContainerAttempt) -> Result<BackendJob, BackendError> {
        let manifest = job_manifest(attempt, &self.config);
        let created = self.jobs.create(&PostParams::default(), &manifest).await;
        match created {
            Ok(job) => Ok(backend_job(&job)),
            Err(kube::Error::Api(status)) if status.is_already_exists() => {
                let job = self
                    .jobs
                    .get(&attempt.name)
                    .await
                    .map_err(|e| backend_error("get", &attempt.name, e))?;
                tracing::info!(job = %attempt.name, uid = ?job.uid(), "Kubernetes Job existed already: adopted.");
                Ok(backend_job(&job))
            }
            Err(e) => Err(backend_error("create", &attempt.name, e)),
        }
    }

    async fn find(&self, attempt: &ContainerAttempt) -> Result<Option<BackendJob>, BackendError> {
        let job = self
            .jobs
            .get_opt(&attempt.name)
            .await
            .map_err(|e| backend_error("get", &attempt.name, e))?;
        Ok(job.as_ref().map(backend_job))
    }

    async fn wait(&self, job: &BackendJob) -> Result<Ended, BackendError> {
        watch::until_ended(self, job).await
    }

    async fn kill(&self, job: &BackendJob) -> Result<(), BackendError> {
        // Background, because a Job deleted with the API's default policy orphans its pods.
        match self
            .jobs
            .delete(&job.name, &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(e) => Err(backend_error("delete", &job.name, e)),
        }
    }

    async fn log_tail(&self, job: &BackendJob, lines: usize) -> Result<Vec<String>, BackendError> {
        let pods = self.pods_of(&job.name).await?;
        let Some(pod) = outcome::newest(&pods) else {
            return Ok(Vec::new());
        };
        let params = LogParams {
            container: Some(CONTAINER_NAME.to_owned()),
            tail_lines: Some(i64::try_from(lines).unwrap_or(i64::MAX)),
            ..LogParams::default()
        };
        match self.pods.logs(&pod.name_any(), &params).await {
            Ok(text) => Ok(text.lines().map(str::to_owned).collect()),
            // 400: the container has not started, so there is no log yet; 404: the pod is gone.
            Err(e) if is_status(&e, 400) || is_status(&e, 404) => Ok(Vec::new()),
            Err(e) => Err(backend_error("read the log of", &job.name, e)),
        }
    }
}
