//! Staging in: every input with an `s3_uri` or an `href` is downloaded into the attempt's
//! `inputs/` directory before the process starts, its checksums verified. Inputs are untrusted:
//! the file name is made from the product name by [`safe_file_name`], never used as a path.

use std::path::{Path, PathBuf};

use md5::Md5;
use nrt_events::{Checksum, JobInput};
use nrt_s3::aws_sdk_s3::Client;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// Longest staged file name, in bytes (file systems allow 255; the index prefix and room for a
/// processor's own suffixes fit under it).
const MAX_NAME: usize = 120;

/// Why input `index` (named `name` by its feed) could not be staged.
#[derive(Debug, thiserror::Error)]
#[error("input {index} ({name:?}) {problem}")]
pub struct StageInError {
    pub index: usize,
    pub name: String,
    pub problem: Problem,
}

#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("has s3_uri {0:?}, which is not s3://bucket/key")]
    BadS3Uri(String),
    #[error("has href {0:?}, which is not an http(s) URL")]
    BadHref(String),
    #[error("could not be downloaded from {location}: {detail}")]
    Download { location: String, detail: String },
    /// Location, algorithm, what was computed and what the feed said, as one line.
    #[error("{0}")]
    ChecksumMismatch(String),
    #[error("could not be written to {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// `<index>-<name>` keeping only ASCII letters, digits, `.`, `_` and `-` of the product name
/// (anything else becomes `_`), cut to [`MAX_NAME`] bytes. It cannot hold a separator, cannot
/// be `.` or `..`, and starts with a digit, so it never reads as an option either.
pub fn safe_file_name(index: usize, name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = if cleaned.is_empty() {
        "input"
    } else {
        &cleaned
    };
    let mut file = format!("{index:03}-{cleaned}");
    // Only ASCII is left, so any byte is a character boundary.
    file.truncate(MAX_NAME);
    file
}

/// Where an input comes from.
enum Source {
    S3 { bucket: String, key: String },
    Http(reqwest::Url),
}

impl Source {
    fn of(input: &JobInput) -> Result<Option<Self>, Problem> {
        if let Some(uri) = &input.s3_uri {
            let (bucket, key) = uri
                .strip_prefix("s3://")
                .and_then(|rest| rest.split_once('/'))
                .filter(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
                .ok_or_else(|| Problem::BadS3Uri(uri.clone()))?;
            return Ok(Some(Self::S3 {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            }));
        }
        let Some(href) = &input.href else {
            return Ok(None);
        };
        let url = reqwest::Url::parse(href)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .ok_or_else(|| Problem::BadHref(href.clone()))?;
        Ok(Some(Self::Http(url)))
    }

    fn location(&self) -> String {
        match self {
            Self::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
            Self::Http(url) => url.to_string(),
        }
    }
}

/// Downloads what can be downloaded into `dir` (which exists and is empty): per input, the
/// staged file's path, or `None` for an input with no location (metadata-only products).
pub async fn stage_inputs(
    s3: &Client,
    http: &reqwest::Client,
    inputs: &[JobInput],
    dir: &Path,
) -> Result<Vec<Option<PathBuf>>, StageInError> {
    let mut staged = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.iter().enumerate() {
        let path = stage_input(s3, http, index, input, dir)
            .await
            .map_err(|problem| StageInError {
                index,
                name: input.name.clone(),
                problem,
            })?;
        staged.push(path);
    }
    Ok(staged)
}

async fn stage_input(
    s3: &Client,
    http: &reqwest::Client,
    index: usize,
    input: &JobInput,
    dir: &Path,
) -> Result<Option<PathBuf>, Problem> {
    let Some(source) = Source::of(input)? else {
        tracing::debug!(input = %input.key, "Input has no location; nothing to stage.");
        return Ok(None);
    };
    let path = dir.join(safe_file_name(index, &input.name));
    let digests = download(s3, http, &source, &path)
        .await
        .map_err(|failure| match failure {
            Failure::Write(source) => Problem::Write {
                path: path.display().to_string(),
                source,
            },
            Failure::Download(detail) => Problem::Download {
                location: source.location(),
                detail,
            },
        })?;
    verify(&source, &digests, &input.checksums)?;
    Ok(Some(path))
}

enum Failure {
    Download(String),
    Write(std::io::Error),
}

/// The content's digests, lower-case hex, as the feeds name them.
struct Digests {
    sha256: String,
    md5: String,
}

async fn download(
    s3: &Client,
    http: &reqwest::Client,
    source: &Source,
    path: &Path,
) -> Result<Digests, Failure> {
    // create_new: never follows or overwrites something already there.
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .await
        .map_err(Failure::Write)?;
    let mut sha256 = Sha256::new();
    let mut md5 = Md5::new();
    let mut write = async |chunk: &[u8]| {
        sha256.update(chunk);
        md5.update(chunk);
        file.write_all(chunk).await.map_err(Failure::Write)
    };
    match source {
        Source::S3 { bucket, key } => {
            let response = s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|error| {
                    Failure::Download(
                        nrt_s3::S3Error::request("GetObject", bucket, key, error).to_string(),
                    )
                })?;
            let mut body = response.body;
            while let Some(chunk) = body
                .try_next()
                .await
                .map_err(|error| Failure::Download(format!("body interrupted: {error}")))?
            {
                write(&chunk).await?;
            }
        }
        Source::Http(url) => {
            let response = http
                .get(url.clone())
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|error| Failure::Download(error.to_string()))?;
            let mut response = response;
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|error| Failure::Download(error.to_string()))?
            {
                write(&chunk).await?;
            }
        }
    }
    file.flush().await.map_err(Failure::Write)?;
    Ok(Digests {
        sha256: hex::encode(sha256.finalize()),
        md5: hex::encode(md5.finalize()),
    })
}

/// Every checksum the feed gave in an algorithm the launcher computes (SHA-256, MD5) must
/// match; others (BLAKE3) are not checked.
fn verify(source: &Source, digests: &Digests, checksums: &[Checksum]) -> Result<(), Problem> {
    for checksum in checksums {
        let algorithm = checksum.algorithm.to_ascii_lowercase().replace('-', "");
        let actual = match algorithm.as_str() {
            "sha256" => &digests.sha256,
            "md5" => &digests.md5,
            _ => continue,
        };
        if !actual.eq_ignore_ascii_case(checksum.value.trim()) {
            return Err(Problem::ChecksumMismatch(format!(
                "from {} has {} {actual}, the feed says {}",
                source.location(),
                checksum.algorithm,
                checksum.value
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_product_names_become_plain_file_names() {
        let cases = [
            ("../../etc/passwd", "000-.._.._etc_passwd"),
            ("/etc/shadow", "000-_etc_shadow"),
            ("..\\..\\windows", "000-.._.._windows"),
            ("--rm -rf", "000---rm_-rf"),
            ("a\0b\nc\u{7f}", "000-a_b_c_"),
            ("", "000-input"),
            ("..", "000-.."),
            ("Sentinel-2 é.zip", "000-Sentinel-2__.zip"),
        ];
        for (name, expected) in cases {
            assert_eq!(safe_file_name(0, name), expected, "{name:?}");
        }
        let long = safe_file_name(7, &"x".repeat(10_000));
        assert_eq!(long.len(), MAX_NAME);
        assert!(long.starts_with("007-xxx"));
    }

    #[test]
    fn a_safe_name_never_leaves_its_directory() {
        let dir = Path::new("/w/job/attempt-1/inputs");
        for name in ["../x", "..", "/abs", "a/../../b", "-", "\\\\server\\share"] {
            let path = dir.join(safe_file_name(1, name));
            assert_eq!(path.parent(), Some(dir), "{name:?}");
            assert!(
                path.components()
                    .all(|c| !matches!(c, std::path::Component::ParentDir)),
                "{name:?}"
            );
        }
    }
}
