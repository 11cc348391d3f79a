//! `nrt-footprint`: the example processor shipped with nrt-mesh. It reads a job manifest and
//! writes a coverage report of the inputs' footprints; see README.md for the processor contract.

mod coverage;
mod manifest;
mod outputs;

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;

use crate::manifest::{FAIL_WITH_EXIT_CODE, Manifest};

#[derive(Parser)]
#[command(
    version,
    about = "Coverage report of a job's input footprints (nrt-mesh processor)"
)]
struct Args {
    /// The job manifest the launcher wrote.
    #[arg(long, env = "NRT_JOB_MANIFEST")]
    manifest: PathBuf,
}

/// The manifest could not be read or is not a manifest.
const BAD_MANIFEST: u8 = 2;
/// The report could not be made or written.
const PROCESSING_FAILED: u8 = 1;

fn main() -> ExitCode {
    let args = Args::parse();
    let manifest = match Manifest::load(&args.manifest) {
        Ok(manifest) => manifest,
        Err(error) => {
            eprintln!("nrt-footprint: {}", chain(&error));
            return ExitCode::from(BAD_MANIFEST);
        }
    };
    if let Ok(Some(code)) = manifest.requested_failure() {
        eprintln!(
            "nrt-footprint: failing on purpose with exit code {code}, as parameter {FAIL_WITH_EXIT_CODE} asks"
        );
        return ExitCode::from(code);
    }
    if manifest.inputs.is_empty() {
        eprintln!(
            "nrt-footprint: job {} has no inputs to report on",
            manifest.job_id
        );
        return ExitCode::from(PROCESSING_FAILED);
    }
    let report = coverage::report(&manifest.job_id, &manifest.inputs);
    if let Err(error) = outputs::write_all(&manifest.output_dir, &manifest.inputs, &report) {
        eprintln!("nrt-footprint: {}", chain(&error));
        return ExitCode::from(PROCESSING_FAILED);
    }
    println!(
        "{} {} job {} attempt {}: {} inputs, {} without footprint, union {} km²",
        manifest.processor,
        manifest.processor_version,
        manifest.job_id,
        manifest.attempt,
        report.input_count,
        report.inputs_without_footprint.len(),
        report.union.as_ref().map_or(0.0, |union| union.area_km2),
    );
    ExitCode::SUCCESS
}

/// The error and its causes on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
