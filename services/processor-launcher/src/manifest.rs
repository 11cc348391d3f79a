//! The job manifest: what a processor is told about its job (the processor contract; see
//! `processors/footprint/README.md`).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

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
    pub inputs: Vec<JobInput>,
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// Absolute; everything the processor leaves here is staged to S3.
    pub output_dir: PathBuf,
}

impl JobManifest {
    pub fn new(request: &JobRequested, attempt: u32, output_dir: &Path) -> Self {
        Self {
            job_id: request.job_id.clone(),
            processor: request.processor.clone(),
            processor_version: request.processor_version.clone(),
            attempt,
            inputs: request.inputs.clone(),
            parameters: request.parameters.clone(),
            output_dir: output_dir.to_owned(),
        }
    }
}
