//! An attempt's working directory: `<work_dir>/<job_id>/attempt-<n>/` with `manifest.json`,
//! `inputs/` (staged inputs), `output/`, and the process's `stdout.txt` and `stderr.txt`.

use std::{
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
};

use crate::manifest::JobManifest;

/// Lines of stderr carried in a `JobFailed`.
pub const LOG_TAIL_LINES: usize = 20;

#[derive(Debug, Clone)]
pub struct AttemptDir {
    pub root: PathBuf,
    pub manifest: PathBuf,
    pub inputs: PathBuf,
    pub output: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl AttemptDir {
    /// The directory of `attempt` of `job_id` under `work_dir` (absolute), not yet created.
    pub fn new(work_dir: &Path, job_id: &str, attempt: u32) -> Self {
        let root = work_dir.join(job_id).join(format!("attempt-{attempt}"));
        Self {
            manifest: root.join("manifest.json"),
            inputs: root.join("inputs"),
            output: root.join("output"),
            stdout: root.join("stdout.txt"),
            stderr: root.join("stderr.txt"),
            root,
        }
    }

    /// Creates the directory afresh (a leftover of a crashed launcher is removed), with empty
    /// `inputs/` and `output/`.
    pub fn create(&self) -> std::io::Result<()> {
        match std::fs::remove_dir_all(&self.root) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        std::fs::create_dir_all(&self.output)?;
        std::fs::create_dir_all(&self.inputs)
    }

    pub fn write_manifest(&self, manifest: &JobManifest) -> std::io::Result<()> {
        let body = serde_json::to_vec_pretty(manifest).expect("a manifest serialises");
        std::fs::write(&self.manifest, body)
    }

    /// `path` (inside this directory) as a process sees it when the directory is mounted at
    /// `mount` (a container), or as it is.
    pub fn seen_at(&self, path: &Path, mount: Option<&Path>) -> PathBuf {
        match (mount, path.strip_prefix(&self.root)) {
            (Some(mount), Ok(relative)) => mount.join(relative),
            _ => path.to_owned(),
        }
    }

    /// The last [`LOG_TAIL_LINES`] lines of stderr (from its last 64 KiB).
    pub fn stderr_tail(&self) -> Vec<String> {
        tail_lines(&self.stderr, LOG_TAIL_LINES).unwrap_or_default()
    }

    /// Removes the directory once its attempt is settled and its logs are in S3.
    pub fn remove(&self) {
        if let Err(error) = std::fs::remove_dir_all(&self.root) {
            tracing::warn!(dir = %self.root.display(), %error, "Could not remove an attempt's directory.");
        }
    }
}

fn tail_lines(path: &Path, lines: usize) -> std::io::Result<Vec<String>> {
    const WINDOW: u64 = 64 * 1024;
    let mut file = std::fs::File::open(path)?;
    let length = file.metadata()?.len();
    let start = length.saturating_sub(WINDOW);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut all: Vec<&str> = text.lines().collect();
    // A window that starts mid-file starts mid-line: drop the fragment.
    if start > 0 && !all.is_empty() {
        all.remove(0);
    }
    let from = all.len().saturating_sub(lines);
    Ok(all[from..].iter().map(|line| (*line).to_owned()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_the_last_twenty_lines() {
        let dir = tempfile::tempdir().unwrap();
        let attempt = AttemptDir::new(dir.path(), "job", 2);
        assert!(attempt.root.ends_with("job/attempt-2"));
        std::fs::create_dir_all(&attempt.root).unwrap();
        let text: String = (1..=30).map(|n| format!("line {n}\n")).collect();
        std::fs::write(&attempt.stderr, text).unwrap();
        let tail = attempt.stderr_tail();
        assert_eq!(tail.len(), 20);
        assert_eq!(tail[0], "line 11");
        assert_eq!(tail[19], "line 30");
    }

    #[test]
    fn a_huge_stderr_is_read_from_its_end_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stderr.txt");
        let mut text = "x".repeat(200 * 1024);
        text.push_str("\nlast words\n");
        std::fs::write(&path, text).unwrap();
        assert_eq!(tail_lines(&path, 20).unwrap(), ["last words"]);
    }

    #[test]
    fn a_missing_stderr_has_an_empty_tail() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            AttemptDir::new(dir.path(), "job", 1)
                .stderr_tail()
                .is_empty()
        );
    }
}
