//! Staging out: every regular file under an attempt's `output/` to
//! `s3://<bucket>/jobs/<processor>/<job_id>/<relative path>`, and its logs beside them.

use std::path::{Path, PathBuf};

use nrt_events::JobOutput;
use nrt_s3::{KeyError, OutputsError, S3Error, aws_sdk_s3::Client, validate_key};

/// The sidecar a processor may write; its JSON is passed on in `JobSucceeded.metadata`.
pub const SIDECAR: &str = "metadata.json";

#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    #[error("output {path} has a name that is not UTF-8")]
    NotUtf8 { path: String },
    #[error("output {name:?} has a name that cannot be staged")]
    UnsafeName {
        name: String,
        #[source]
        source: KeyError,
    },
    #[error("cannot read the output directory {path}")]
    Walk {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the metadata sidecar {SIDECAR} is not valid JSON")]
    Sidecar(#[source] serde_json::Error),
    #[error("cannot read the metadata sidecar {SIDECAR}")]
    SidecarRead(#[source] std::io::Error),
    #[error(transparent)]
    Upload(#[from] S3Error),
    /// Outputs a remote processor wrote to S3 itself.
    #[error(transparent)]
    Stored(#[from] OutputsError),
}

/// One file to stage: its path relative to `output/` (the key suffix) and on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub relative: String,
    pub path: PathBuf,
}

/// `jobs/<processor>/<job_id>/`: every object of a job is under it.
pub fn job_prefix(processor: &str, job_id: &str) -> String {
    format!("jobs/{processor}/{job_id}/")
}

/// Every regular file under `output_dir`, in name order, each name checked as an object key.
/// Symbolic links are not followed (a processor could point one anywhere) and are skipped, as
/// are sockets and pipes. One unsafe name fails the whole set, so nothing is half-staged.
pub fn collect(output_dir: &Path) -> Result<Vec<OutputFile>, StagingError> {
    let mut files = Vec::new();
    walk(output_dir, "", &mut files)?;
    files.sort_by(|a, b| a.relative.cmp(&b.relative));
    for file in &files {
        validate_key(&file.relative).map_err(|source| StagingError::UnsafeName {
            name: file.relative.clone(),
            source,
        })?;
    }
    Ok(files)
}

fn walk(dir: &Path, prefix: &str, files: &mut Vec<OutputFile>) -> Result<(), StagingError> {
    let walk_error = |source| StagingError::Walk {
        path: dir.display().to_string(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(walk_error)? {
        let entry = entry.map_err(walk_error)?;
        let path = entry.path();
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| StagingError::NotUtf8 {
                path: path.display().to_string(),
            })?;
        let relative = format!("{prefix}{name}");
        // file_type() does not follow symbolic links.
        let kind = entry.file_type().map_err(walk_error)?;
        if kind.is_dir() {
            walk(&path, &format!("{relative}/"), files)?;
        } else if kind.is_file() {
            files.push(OutputFile { relative, path });
        } else {
            tracing::warn!(output = %path.display(), "Not a regular file; not staged.");
        }
    }
    Ok(())
}

/// The sidecar's JSON, when the processor wrote one.
pub fn read_sidecar(output_dir: &Path) -> Result<Option<serde_json::Value>, StagingError> {
    match std::fs::read(output_dir.join(SIDECAR)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(StagingError::Sidecar),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(StagingError::SidecarRead(error)),
    }
}

/// Uploads `files` under `prefix`, with their sizes and checksums as stored.
pub async fn stage_outputs(
    client: &Client,
    bucket: &str,
    prefix: &str,
    files: &[OutputFile],
) -> Result<Vec<JobOutput>, StagingError> {
    let mut outputs = Vec::with_capacity(files.len());
    for file in files {
        let key = format!("{prefix}{}", file.relative);
        let media_type = nrt_s3::media_type(&file.relative);
        let stored = nrt_s3::put_file(client, bucket, &key, &file.path, media_type).await?;
        outputs.push(JobOutput {
            path: file.relative.clone(),
            bucket: stored.bucket,
            key: stored.key,
            size: stored.size,
            sha256: stored.sha256,
            media_type: Some(media_type.to_owned()),
        });
    }
    Ok(outputs)
}

/// Uploads an attempt's stdout and stderr to `<prefix>logs/attempt-<n>/`.
pub async fn stage_logs(
    client: &Client,
    bucket: &str,
    prefix: &str,
    attempt: u32,
    stdout: &Path,
    stderr: &Path,
) -> Result<(), S3Error> {
    for (name, path) in [("stdout.txt", stdout), ("stderr.txt", stderr)] {
        let key = format!("{prefix}logs/attempt-{attempt}/{name}");
        nrt_s3::put_file(client, bucket, &key, path, "text/plain; charset=utf-8").await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, relative: &str) {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, relative).unwrap();
    }

    #[test]
    fn regular_files_are_collected_with_their_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "b.json");
        write(dir.path(), "tiles/t1/a.tif");
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("leak")).unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("etc")).unwrap();
        let names: Vec<String> = collect(dir.path())
            .unwrap()
            .into_iter()
            .map(|file| file.relative)
            .collect();
        assert_eq!(
            names,
            ["b.json", "tiles/t1/a.tif"],
            "symlinks are not followed"
        );
    }

    #[test]
    fn a_control_character_in_a_name_fails_the_set_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "good.json");
        write(dir.path(), "bad\nname.txt");
        let error = collect(dir.path()).unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"output "bad\nname.txt" has a name that cannot be staged"#
        );
    }

    #[test]
    fn a_backslash_in_a_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), r"..\escape.txt");
        assert!(matches!(
            collect(dir.path()),
            Err(StagingError::UnsafeName {
                source: KeyError::Backslash(_),
                ..
            })
        ));
    }

    #[test]
    fn a_non_utf8_name_is_refused() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let name = std::ffi::OsStr::from_bytes(b"bad\xff.bin");
        std::fs::write(dir.path().join(name), "x").unwrap();
        let error = collect(dir.path()).unwrap_err().to_string();
        assert!(error.contains("is not UTF-8"), "{error}");
    }

    #[test]
    fn the_sidecar_is_optional_but_must_be_json() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_sidecar(dir.path()).unwrap(), None);
        std::fs::write(
            dir.path().join(SIDECAR),
            r#"{"datetime": "2026-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(
            read_sidecar(dir.path()).unwrap().unwrap()["datetime"],
            "2026-01-01T00:00:00Z"
        );
        std::fs::write(dir.path().join(SIDECAR), "{not json").unwrap();
        assert!(matches!(
            read_sidecar(dir.path()),
            Err(StagingError::Sidecar(_))
        ));
    }

    #[test]
    fn the_prefix_is_per_processor_and_job() {
        assert_eq!(job_prefix("footprint", "ab12"), "jobs/footprint/ab12/");
    }
}
