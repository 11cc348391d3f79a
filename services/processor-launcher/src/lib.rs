//! The processor launcher: runs each requested job exactly once. It consumes `jobs.requested.>`,
//! guards every job with a record in the `jobs` bucket moved only by compare-and-set (see
//! [`decision`] for the rule), runs the registry's command as a local process (never through a
//! shell) with a job manifest ([`JobManifest`]), stages outputs and logs to
//! `s3://<outputs_bucket>/jobs/<processor>/<job_id>/`, and publishes
//! `jobs.started/succeeded/failed/dead.<processor>`.

mod attempt;
pub mod backend;
mod claim;
mod command;
pub mod config;
mod container;
pub mod decision;
mod error;
mod failure;
mod inputs;
mod jetstream;
mod launcher;
pub mod manifest;
pub mod outcome;
mod process;
pub mod record;
mod slots;
mod staging;
pub mod store;
mod workspace;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use nrt_events::streams::{KV_JOBS, KV_LAUNCHER_SLOTS};
use nrt_nats::{Mesh, ensure_consumer, run_consumer};
use nrt_registry::{Backend, ProcessorRegistry};
use nrt_runtime::{HealthServer, Readiness, Secret, Shutdown};

pub use config::Config;
pub use error::Error;
pub use jetstream::CONSUMER;
pub use manifest::JobManifest;
pub use record::{JobRecord, JobState};

use crate::{
    backend::{
        ContainerBackend, docker::DockerBackend, kubernetes::KubernetesBackend, nomad::NomadBackend,
    },
    command::ProgramSearch,
    jetstream::RequestHandler,
    launcher::{Launcher, LauncherParts},
    slots::Slots,
    store::JobStore,
};

/// The service name: NATS client name, CloudEvents source, dead-letter subject
/// `dlq.processor-launcher`.
pub const SERVICE: &str = "processor-launcher";

/// Loads the registry, prepares the work directory and the outputs bucket, then runs job
/// requests until `shutdown`; running jobs get the drain timeout to finish.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), Error> {
    config.validate()?;
    let registry = ProcessorRegistry::load(&config.registry_file)?;
    tracing::info!(
        processors = registry.processors().count(),
        registry_file = %config.registry_file.display(),
        "Processor registry loaded."
    );
    std::fs::create_dir_all(&config.work_dir).map_err(|source| Error::WorkDir {
        path: config.work_dir.display().to_string(),
        source,
    })?;

    let readiness = Readiness::default();
    let _health =
        HealthServer::start_configured(&config.health, readiness.clone(), shutdown.clone())
            .await
            .map_err(Error::Health)?;
    let s3 = nrt_s3::client(&config.s3).await;
    nrt_s3::ensure_bucket(&s3, &config.outputs_bucket)
        .await
        .map_err(|source| Error::Bucket {
            bucket: config.outputs_bucket.clone(),
            source,
        })?;
    // Connecting retries until NATS answers; a shutdown meanwhile ends the wait.
    let mesh = tokio::select! {
        mesh = Mesh::connect(SERVICE, &config.nats, readiness) => mesh?,
        () = shutdown.requested() => return Ok(()),
    };
    let jobs = mesh.key_value(KV_JOBS).await?;
    let slots = Slots::new(mesh.key_value(KV_LAUNCHER_SLOTS).await?, config.lease());
    let consumer = ensure_consumer(&mesh.js, &CONSUMER).await?;

    let programs = ProgramSearch {
        registry_dir: registry.base_dir().to_owned(),
        executable_dir: std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(ToOwned::to_owned)),
        path: std::env::var_os("PATH"),
    };
    let backends = connect_backends(&registry, &config).await?;
    let instance = instance_id();
    tracing::info!(%instance, "Launcher ready.");
    let launcher = Launcher::new(LauncherParts {
        store: JobStore::new(jobs),
        publisher: mesh.publisher.clone(),
        s3,
        bucket: config.outputs_bucket.clone(),
        registry,
        programs,
        work_dir: config.work_dir.clone(),
        lease: config.lease(),
        http: reqwest::Client::new(),
        backends,
        slots,
        global_limit: config.global_concurrency,
        instance,
    });
    let mut options = mesh.consumer_options(config.concurrency);
    options.drain_timeout = config.drain_timeout();
    run_consumer(
        consumer,
        CONSUMER,
        Arc::new(RequestHandler::new(Arc::new(launcher))),
        options,
        shutdown,
    )
    .await?;
    Ok(())
}

/// A client for each container backend the registry's processors use, and none for the others
/// (a Docker socket that does not exist is no error for a launcher that never runs Docker).
async fn connect_backends(
    registry: &ProcessorRegistry,
    config: &Config,
) -> Result<BTreeMap<Backend, Arc<dyn ContainerBackend>>, Error> {
    let used: BTreeSet<Backend> = registry
        .processors()
        .map(|processor| processor.backend)
        .filter(|backend| *backend != Backend::Local)
        .collect();
    let mut backends: BTreeMap<Backend, Arc<dyn ContainerBackend>> = BTreeMap::new();
    for kind in used {
        let setup = |source: Box<dyn std::error::Error + Send + Sync>| Error::BackendSetup {
            backend: kind.as_str(),
            source,
        };
        let backend: Arc<dyn ContainerBackend> = match kind {
            Backend::Docker => Arc::new(
                DockerBackend::connect(&config.docker).map_err(|error| setup(error.into()))?,
            ),
            Backend::Kubernetes => Arc::new(
                KubernetesBackend::connect(config.kubernetes.clone())
                    .await
                    .map_err(|error| setup(error.into()))?,
            ),
            Backend::Nomad => {
                let mut nomad = config.nomad.clone();
                if nomad.token.is_none() {
                    nomad.token = std::env::var("NOMAD_TOKEN").ok().map(Secret::new);
                }
                Arc::new(NomadBackend::new(nomad).map_err(|error| setup(error.into()))?)
            }
            Backend::Local => unreachable!("filtered out above"),
        };
        tracing::info!(backend = kind.as_str(), "Container backend ready.");
        backends.insert(kind, backend);
    }
    Ok(backends)
}

/// Names this process in job records: host, pid and a start-time suffix, so a restarted
/// launcher on the same host and pid is never mistaken for its predecessor.
fn instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "launcher".into());
    let started = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let suffix = nrt_events::stable_hash([started.to_string().as_str()]);
    format!("{host}-{}-{}", std::process::id(), &suffix[..8])
}
