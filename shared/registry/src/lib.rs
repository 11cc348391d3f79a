//! The processor registry: which science processors exist, at which version, and how to run them.
//! The trigger reads it to stamp job requests with the version; the launcher reads it to run them.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

/// Every registered processor by name.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessorRegistry {
    processors: BTreeMap<String, Processor>,
    /// The registry file's directory: relative commands are resolved against it.
    base_dir: PathBuf,
}

/// How one processor runs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Processor {
    #[serde(skip)]
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    /// The container image (`registry/name:tag` or `@sha256:` digest) the Docker, Kubernetes
    /// and Nomad backends run; the local backend ignores it.
    #[serde(default)]
    pub image: Option<String>,
    /// Program and arguments, never through a shell. Arguments may use `{manifest}`,
    /// `{output_dir}`, `{input_dir}`, `{job_id}`, `{work_dir}` and `{parameters.NAME}`. With an
    /// image, the program is looked up inside the container.
    pub command: Vec<String>,
    /// Environment given to the process; nothing else is inherited.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Attempts before the job is dead (1 = no retry).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Delay before attempt n+1 after the n-th failure; the last one repeats.
    #[serde(default = "default_retry_delays")]
    pub retry_delays_secs: Vec<u64>,
    /// Jobs of this processor running at once, across every launcher replica.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default)]
    pub backend: Backend,
    /// What one job may use; the container backends enforce it, the local backend does not.
    #[serde(default)]
    pub resources: Resources,
    /// Download every input with an `s3_uri` or `href` into the job directory before the
    /// process starts, checking its checksums (local and Docker backends). Off by default: most
    /// processors read what they need from the manifest's locations.
    #[serde(default)]
    pub stage_inputs: bool,
    /// Nomad only: the parameterized batch job dispatched per attempt (default `nrt-<name>`).
    #[serde(default)]
    pub nomad_job: Option<String>,
}

/// What one job may use. Kubernetes gets them as requests and limits, Docker as its cgroup
/// limits, Nomad as the task's resources.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPU cores, fractions allowed (`0.5`).
    pub cpu: Option<f64>,
    /// Memory in MiB.
    pub memory_mib: Option<u64>,
    /// NVIDIA GPUs.
    #[serde(default)]
    pub gpu: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A child process on the launcher's host: the embedded default.
    #[default]
    Local,
    /// A container on the Docker engine the launcher is configured with.
    Docker,
    /// A batch/v1 Job in the launcher's Kubernetes namespace.
    Kubernetes,
    /// A dispatch of a parameterized Nomad batch job.
    Nomad,
}

impl Backend {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Docker => "docker",
            Self::Kubernetes => "kubernetes",
            Self::Nomad => "nomad",
        }
    }
}

fn default_timeout_secs() -> u64 {
    3600
}
fn default_max_attempts() -> u32 {
    3
}
fn default_retry_delays() -> Vec<u64> {
    vec![30, 120, 600]
}
fn default_concurrency() -> usize {
    4
}

impl Processor {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// The parameterized Nomad job its attempts are dispatched from.
    pub fn nomad_job(&self) -> String {
        self.nomad_job
            .clone()
            .unwrap_or_else(|| format!("nrt-{}", self.name))
    }

    /// The wait before the attempt after `failed_attempt` (1-based).
    pub fn retry_delay(&self, failed_attempt: u32) -> Duration {
        let index = usize::try_from(failed_attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        let secs = self
            .retry_delays_secs
            .get(index)
            .or(self.retry_delays_secs.last())
            .copied()
            .unwrap_or(30);
        Duration::from_secs(secs)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot read processor registry {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("processor registry {path} is not valid")]
    Parse {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("processor {processor}: {field} {reason}")]
    Invalid {
        processor: String,
        field: &'static str,
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default)]
    processors: BTreeMap<String, Processor>,
}

impl ProcessorRegistry {
    pub fn load(path: &Path) -> Result<Self, RegistryError> {
        let text = std::fs::read_to_string(path).map_err(|source| RegistryError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, base_dir).map_err(|error| match error {
            RegistryError::Parse { source, .. } => RegistryError::Parse {
                path: path.display().to_string(),
                source,
            },
            other => other,
        })
    }

    /// Parses registry TOML; relative commands will resolve against `base_dir`.
    pub fn parse(text: &str, base_dir: PathBuf) -> Result<Self, RegistryError> {
        let file: RegistryFile = toml::from_str(text).map_err(|source| RegistryError::Parse {
            path: "<inline>".into(),
            source,
        })?;
        let mut processors = BTreeMap::new();
        for (name, mut processor) in file.processors {
            processor.name = name.clone();
            validate(&processor)?;
            processors.insert(name, processor);
        }
        Ok(Self {
            processors,
            base_dir,
        })
    }

    pub fn get(&self, name: &str) -> Option<&Processor> {
        self.processors.get(name)
    }

    pub fn processors(&self) -> impl Iterator<Item = &Processor> {
        self.processors.values()
    }

    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }
}

fn validate(processor: &Processor) -> Result<(), RegistryError> {
    let invalid = |field, reason: &str| RegistryError::Invalid {
        processor: processor.name.clone(),
        field,
        reason: reason.to_owned(),
    };
    let name_ok = !processor.name.is_empty()
        && processor
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err(invalid(
            "name",
            "must be letters, digits, '-' or '_' (it becomes a NATS subject token)",
        ));
    }
    if processor.version.trim().is_empty() {
        return Err(invalid("version", "must not be empty"));
    }
    if processor
        .command
        .first()
        .is_none_or(|program| program.trim().is_empty())
    {
        return Err(invalid("command", "must name a program"));
    }
    if processor.timeout_secs == 0 {
        return Err(invalid("timeout_secs", "must be positive"));
    }
    if processor.max_attempts == 0 {
        return Err(invalid("max_attempts", "must be at least 1"));
    }
    if processor.concurrency == 0 {
        return Err(invalid("concurrency", "must be at least 1"));
    }
    let image = processor.image.as_deref().map(str::trim);
    if image == Some("") {
        return Err(invalid("image", "must name an image when given"));
    }
    if processor.backend != Backend::Local && image.is_none() {
        return Err(invalid(
            "image",
            &format!(
                "is required by the {} backend (it runs a container)",
                processor.backend.as_str()
            ),
        ));
    }
    if processor.stage_inputs && matches!(processor.backend, Backend::Kubernetes | Backend::Nomad) {
        return Err(invalid(
            "stage_inputs",
            "works only with the local and Docker backends (a remote job reads its inputs from the manifest's locations)",
        ));
    }
    let resources = &processor.resources;
    if resources
        .cpu
        .is_some_and(|cpu| !(cpu.is_finite() && cpu > 0.0))
    {
        return Err(invalid(
            "resources.cpu",
            "must be a positive number of cores",
        ));
    }
    if resources.memory_mib == Some(0) {
        return Err(invalid("resources.memory_mib", "must be positive"));
    }
    if processor.nomad_job.is_some() && processor.backend != Backend::Nomad {
        return Err(invalid("nomad_job", "is only read by the nomad backend"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [processors.footprint]
        version = "1.0.0"
        command = ["nrt-footprint", "--manifest", "{manifest}"]
        timeout_secs = 60
        retry_delays_secs = [1, 5]
    "#;

    #[test]
    fn reads_a_processor_with_defaults() {
        let registry = ProcessorRegistry::parse(GOOD, PathBuf::from("/etc/nrt")).unwrap();
        let footprint = registry.get("footprint").unwrap();
        assert_eq!(footprint.name, "footprint");
        assert_eq!(footprint.version, "1.0.0");
        assert_eq!(footprint.max_attempts, 3);
        assert_eq!(footprint.retry_delay(1), Duration::from_secs(1));
        assert_eq!(footprint.retry_delay(9), Duration::from_secs(5));
        assert_eq!(registry.base_dir(), Path::new("/etc/nrt"));
    }

    #[test]
    fn errors_name_the_processor_and_field() {
        let cases = [
            (
                GOOD.replace("\"1.0.0\"", "\" \""),
                "processor footprint: version must not be empty",
            ),
            (
                GOOD.replace("timeout_secs = 60", "timeout_secs = 0"),
                "processor footprint: timeout_secs must be positive",
            ),
            (
                GOOD.replace("[processors.footprint]", "[processors.\"foot.print\"]"),
                "processor foot.print: name must be",
            ),
            (
                GOOD.replace(r#"["nrt-footprint", "--manifest", "{manifest}"]"#, "[]"),
                "processor footprint: command must name a program",
            ),
        ];
        for (text, expected) in cases {
            let error = ProcessorRegistry::parse(&text, PathBuf::new())
                .unwrap_err()
                .to_string();
            assert!(error.starts_with(expected), "{error}");
        }
    }

    #[test]
    fn a_container_processor_reads_its_image_resources_and_backend() {
        let text = r#"
            [processors.snow]
            version = "2.3.1"
            image = "registry.example/snow:2.3.1"
            command = ["snow", "--manifest", "{manifest}"]
            backend = "kubernetes"
            resources = { cpu = 1.5, memory_mib = 4096, gpu = 1 }
            concurrency = 40
        "#;
        let registry = ProcessorRegistry::parse(text, PathBuf::new()).unwrap();
        let snow = registry.get("snow").unwrap();
        assert_eq!(snow.backend, Backend::Kubernetes);
        assert_eq!(snow.image.as_deref(), Some("registry.example/snow:2.3.1"));
        assert_eq!(
            snow.resources,
            Resources {
                cpu: Some(1.5),
                memory_mib: Some(4096),
                gpu: 1
            }
        );
        assert_eq!(snow.nomad_job(), "nrt-snow");
    }

    #[test]
    fn container_settings_that_cannot_work_are_refused() {
        let base = r#"
            [processors.snow]
            version = "1"
            command = ["snow"]
        "#;
        let cases = [
            (
                "backend = \"docker\"",
                "processor snow: image is required by the docker backend",
            ),
            ("image = \" \"", "processor snow: image must name an image"),
            (
                "image = \"snow:1\"\nbackend = \"nomad\"\nstage_inputs = true",
                "processor snow: stage_inputs works only with the local and Docker backends",
            ),
            (
                "resources = { cpu = 0 }",
                "processor snow: resources.cpu must be a positive",
            ),
            (
                "resources = { memory_mib = 0 }",
                "processor snow: resources.memory_mib must be positive",
            ),
            (
                "nomad_job = \"x\"",
                "processor snow: nomad_job is only read by the nomad backend",
            ),
        ];
        for (extra, expected) in cases {
            let text = format!("{base}{extra}\n");
            let error = ProcessorRegistry::parse(&text, PathBuf::new())
                .unwrap_err()
                .to_string();
            assert!(error.starts_with(expected), "{extra}: {error}");
        }
    }

    #[test]
    fn an_unknown_field_is_refused() {
        let text = GOOD.replace("timeout_secs = 60", "timeout = 60");
        let error = ProcessorRegistry::parse(&text, PathBuf::new()).unwrap_err();
        let source = std::error::Error::source(&error).unwrap().to_string();
        assert!(source.contains("unknown field `timeout`"), "{source}");
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let error = ProcessorRegistry::load(Path::new("/nonexistent/processors.toml")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot read processor registry /nonexistent/processors.toml"
        );
    }
}
