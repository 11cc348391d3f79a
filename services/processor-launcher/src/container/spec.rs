//! What a container backend is asked to run: the attempt's command, environment and manifest,
//! as the container will see them.

use std::{collections::BTreeMap, ffi::OsStr, path::Path};

use nrt_events::JobRequested;
use nrt_nats::describe_error;
use nrt_registry::{Backend, Processor};

use crate::{
    backend::{
        ContainerAttempt, JOB_DIR_IN_CONTAINER, attempt_name, nomad::MANIFEST_JSON_VARIABLE,
    },
    command::{self, Placeholders},
    launcher::Launcher,
    manifest::{JobManifest, Outputs},
    staging,
    workspace::AttemptDir,
};

/// Environment variables of a remote job (Kubernetes, Nomad): where its manifest is and where
/// its outputs go, as `s3://` URIs.
pub const MANIFEST_URI_VARIABLE: &str = "NRT_JOB_MANIFEST_URI";
pub const OUTPUT_URI_VARIABLE: &str = "NRT_JOB_OUTPUT_URI";
/// Where a Nomad task finds the dispatch payload, and its job id, by Nomad's interpolation.
const NOMAD_MANIFEST: &str = "${NOMAD_TASK_DIR}/manifest.json";
const NOMAD_JOB_ID: &str = "${NOMAD_META_nrt_job_id}";

impl Launcher {
    /// What the backend is asked to run. Docker gets the attempt's directory mounted, as a local
    /// process would have it; Kubernetes and Nomad get the manifest through S3 and write their
    /// outputs there.
    pub(super) async fn container_spec(
        &self,
        dir: &AttemptDir,
        request: &JobRequested,
        processor: &Processor,
        attempt: u32,
    ) -> Result<ContainerAttempt, String> {
        let mut env = processor.env.clone();
        let (args, job_dir) = if processor.backend == Backend::Docker {
            let mount = Path::new(JOB_DIR_IN_CONTAINER);
            let prepared = self
                .prepare_dir(dir, request, processor, attempt, Some(mount))
                .await?;
            env.insert(
                crate::process::MANIFEST_VARIABLE.to_owned(),
                prepared.manifest.display().to_string(),
            );
            (prepared.args, Some(dir.root.clone()))
        } else {
            (
                self.publish_manifest(request, processor, attempt, &mut env)
                    .await?,
                None,
            )
        };
        let mut command = vec![processor.command[0].clone()];
        for arg in args {
            command.push(arg.into_string().map_err(|arg| {
                format!("argument {arg:?} is not UTF-8, which container APIs cannot carry")
            })?);
        }
        Ok(ContainerAttempt {
            name: attempt_name(&request.job_id, attempt),
            job_id: request.job_id.clone(),
            processor: processor.name.clone(),
            processor_version: processor.version.clone(),
            attempt,
            image: processor
                .image
                .clone()
                .expect("the registry requires an image for containers"),
            command,
            env,
            resources: processor.resources.clone(),
            timeout: processor.timeout(),
            job_dir,
            nomad_job: (processor.backend == Backend::Nomad).then(|| processor.nomad_job()),
        })
    }

    /// Writes a remote attempt's manifest to S3, sets the variables that point at it, and fills
    /// the command's arguments.
    async fn publish_manifest(
        &self,
        request: &JobRequested,
        processor: &Processor,
        attempt: u32,
        env: &mut BTreeMap<String, String>,
    ) -> Result<Vec<std::ffi::OsString>, String> {
        let attempt_prefix = remote_attempt_prefix(&request.processor, &request.job_id, attempt);
        let output_uri = format!("s3://{}/{attempt_prefix}output/", self.bucket);
        let manifest_key = format!("{attempt_prefix}manifest.json");
        let manifest_uri = format!("s3://{}/{manifest_key}", self.bucket);
        let manifest = JobManifest::new(request, attempt, Outputs::S3Uri(output_uri.clone()), &[]);
        let body = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
        nrt_s3::put_bytes(
            &self.s3,
            &self.bucket,
            &manifest_key,
            body.clone().into(),
            "application/json",
        )
        .await
        .map_err(|error| {
            format!(
                "could not write the manifest to {manifest_uri}: {}",
                describe_error(&error)
            )
        })?;
        let placeholders = if processor.backend == Backend::Nomad {
            // A parameterized job's command and environment are fixed at registration: what
            // varies per attempt travels in the dispatch (the manifest as its payload, ids as
            // its meta), and arguments name those.
            env.insert(
                MANIFEST_JSON_VARIABLE.to_owned(),
                String::from_utf8_lossy(&body).into_owned(),
            );
            Placeholders {
                manifest: OsStr::new(NOMAD_MANIFEST),
                output_dir: None,
                input_dir: None,
                job_id: NOMAD_JOB_ID,
                work_dir: None,
                parameters: None,
            }
        } else {
            env.insert(MANIFEST_URI_VARIABLE.to_owned(), manifest_uri.clone());
            env.insert(OUTPUT_URI_VARIABLE.to_owned(), output_uri.clone());
            Placeholders {
                manifest: OsStr::new(&manifest_uri),
                output_dir: Some(OsStr::new(&output_uri)),
                input_dir: None,
                job_id: &request.job_id,
                work_dir: None,
                parameters: Some(&request.parameters),
            }
        };
        command::arguments(&processor.command[1..], &placeholders)
            .map_err(|error| error.to_string())
    }
}

/// `jobs/<processor>/<job_id>/attempt-<n>/`: a remote attempt's manifest and outputs.
fn remote_attempt_prefix(processor: &str, job_id: &str, attempt: u32) -> String {
    remote_attempt_prefix_from(&staging::job_prefix(processor, job_id), attempt)
}

pub(super) fn remote_attempt_prefix_from(job_prefix: &str, attempt: u32) -> String {
    format!("{job_prefix}attempt-{attempt}/")
}
