//! The job manifest the launcher writes: this processor's view of the processor contract.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use nrt_events::JobInput;
use serde::Deserialize;

/// The parameter that makes the processor fail on purpose, so the mesh's tests can exercise the
/// failure path with a real processor.
pub const FAIL_WITH_EXIT_CODE: &str = "fail_with_exit_code";

/// What the launcher tells a processor about its job.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub job_id: String,
    pub processor: String,
    pub processor_version: String,
    pub attempt: u32,
    pub inputs: Vec<JobInput>,
    #[serde(default)]
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// Where the outputs go; absolute.
    pub output_dir: PathBuf,
}

/// Why a manifest cannot be used; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read job manifest {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("job manifest {path} is not a valid manifest")]
    Parse {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("job manifest {path}: {problem}")]
    Invalid { path: String, problem: String },
}

impl Manifest {
    /// Reads and checks the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let shown = path.display().to_string();
        let text = std::fs::read(path).map_err(|source| ManifestError::Read {
            path: shown.clone(),
            source,
        })?;
        let manifest: Self =
            serde_json::from_slice(&text).map_err(|source| ManifestError::Parse {
                path: shown.clone(),
                source,
            })?;
        let invalid = |problem: String| ManifestError::Invalid {
            path: shown.clone(),
            problem,
        };
        if !manifest.output_dir.is_absolute() {
            return Err(invalid(format!(
                "output_dir {} is not an absolute path",
                manifest.output_dir.display()
            )));
        }
        manifest.requested_failure().map_err(invalid)?;
        Ok(manifest)
    }

    /// The exit code the `fail_with_exit_code` parameter asks for, if any.
    pub fn requested_failure(&self) -> Result<Option<u8>, String> {
        let Some(value) = self.parameters.get(FAIL_WITH_EXIT_CODE) else {
            return Ok(None);
        };
        value
            .as_u64()
            .and_then(|code| u8::try_from(code).ok())
            .filter(|code| *code != 0)
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "parameter {FAIL_WITH_EXIT_CODE} must be an integer from 1 to 255, not {value}"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, body: &str) -> PathBuf {
        let path = dir.join("manifest.json");
        std::fs::write(&path, body).unwrap();
        path
    }

    const VALID: &str = r#"{"job_id":"j1","processor":"footprint","processor_version":"1.0.0",
        "attempt":1,"inputs":[],"parameters":{},"output_dir":"/tmp/out"}"#;

    #[test]
    fn reads_a_valid_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = Manifest::load(&write(dir.path(), VALID)).unwrap();
        assert_eq!(manifest.job_id, "j1");
        assert_eq!(manifest.output_dir, PathBuf::from("/tmp/out"));
        assert_eq!(manifest.requested_failure(), Ok(None));
    }

    #[test]
    fn a_missing_file_is_named() {
        let error = Manifest::load(Path::new("/nonexistent/manifest.json")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot read job manifest /nonexistent/manifest.json"
        );
    }

    #[test]
    fn malformed_json_names_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), r#"{"job_id": "j1""#);
        let error = Manifest::load(&path).unwrap_err();
        assert!(error.to_string().contains(&path.display().to_string()));
        assert!(matches!(error, ManifestError::Parse { .. }), "{error}");

        let missing = write(dir.path(), r#"{"job_id": "j1"}"#);
        let source = std::error::Error::source(&Manifest::load(&missing).unwrap_err())
            .unwrap()
            .to_string();
        assert!(source.contains("missing field"), "{source}");
    }

    #[test]
    fn a_relative_output_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &VALID.replace("/tmp/out", "out"));
        let error = Manifest::load(&path).unwrap_err().to_string();
        assert!(
            error.ends_with("output_dir out is not an absolute path"),
            "{error}"
        );
    }

    #[test]
    fn fail_with_exit_code_must_be_a_usable_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let with = |value: &str| {
            VALID.replace(
                r#""parameters":{}"#,
                &format!(r#""parameters":{{"fail_with_exit_code":{value}}}"#),
            )
        };
        let manifest = Manifest::load(&write(dir.path(), &with("3"))).unwrap();
        assert_eq!(manifest.requested_failure(), Ok(Some(3)));
        for bad in ["0", "256", "\"3\"", "-1", "1.5"] {
            let error = Manifest::load(&write(dir.path(), &with(bad)))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("fail_with_exit_code must be an integer"),
                "{bad}: {error}"
            );
        }
    }
}
