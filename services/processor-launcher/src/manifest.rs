//! The job manifest: what a processor is told about its job (the processor contract; see
//! `processors/footprint/README.md`).

use std::{collections::BTreeMap, path::PathBuf};

use nrt_events::{JobInput, JobRequested};
use serde::{Deserialize, Serialize};

/// `manifest.json` in the attempt's working directory; its path is in `NRT_JOB_MANIFEST` and in
/// the `{manifest}` argument.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobManifest {
    pub job_id: String,
    pub processor: String,
    pub processor_version: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub inputs: Vec<ManifestInput>,
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// Local and Docker backends: absolute; everything the processor leaves here is staged to
    /// S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dir: Option<PathBuf>,
    /// Kubernetes and Nomad backends: the `s3://bucket/prefix/` the processor writes its
    /// outputs under itself (there is no shared directory to stage from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_uri: Option<String>,
}

/// An input as the feed described it, plus where the launcher staged it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestInput {
    #[serde(flatten)]
    pub input: JobInput,
    /// The downloaded copy, when the processor asked for staged inputs and the input has a
    /// location (absolute, as the process sees it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_path: Option<PathBuf>,
}

/// Where the processor finds its files, as the process sees them.
#[derive(Debug, Clone, PartialEq)]
pub enum Outputs {
    Dir(PathBuf),
    S3Uri(String),
}

impl JobManifest {
    /// The manifest of `attempt`; `staged` holds, per input, its staged path (or none).
    pub fn new(
        request: &JobRequested,
        attempt: u32,
        outputs: Outputs,
        staged: &[Option<PathBuf>],
    ) -> Self {
        let inputs = request
            .inputs
            .iter()
            .enumerate()
            .map(|(index, input)| ManifestInput {
                input: input.clone(),
                local_path: staged.get(index).cloned().flatten(),
            })
            .collect();
        let (output_dir, output_uri) = match outputs {
            Outputs::Dir(dir) => (Some(dir), None),
            Outputs::S3Uri(uri) => (None, Some(uri)),
        };
        Self {
            job_id: request.job_id.clone(),
            processor: request.processor.clone(),
            processor_version: request.processor_version.clone(),
            attempt,
            inputs,
            parameters: request.parameters.clone(),
            output_dir,
            output_uri,
        }
    }
}
