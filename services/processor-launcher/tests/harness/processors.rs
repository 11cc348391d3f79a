//! The test processors: a registry naming the real `nrt-footprint` and shell scripts, and
//! container processors for the Kubernetes and Nomad backends.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::OnceLock,
};

/// Appends one line per run to `$RUN_LOG`, then runs the real processor.
const COUNTED: &str = r#"echo "run $1" >> "$RUN_LOG"
exec "$FOOTPRINT" --manifest "$NRT_JOB_MANIFEST""#;
/// Records its pid, then outlives any timeout.
const SLEEPER: &str = r#"echo $$ > "$PID_FILE"
exec sleep 60"#;
/// Takes a while, then runs the real processor.
const SLOW: &str = r#"sleep 2
exec "$FOOTPRINT" --manifest "$NRT_JOB_MANIFEST""#;
/// Logs its start and end (nanoseconds) around a second of work: concurrency is measured from
/// the overlaps.
const SPANNED: &str = r#"echo "start $(date +%s%N) $1" >> "$SPAN_LOG"
sleep 1
echo "end $(date +%s%N) $1" >> "$SPAN_LOG""#;
/// Records its run and pid, works a while, then runs the real processor.
const CRASHABLE: &str = r#"echo "run $$" >> "$RUN_LOG"
echo $$ > "$PID_FILE"
sleep 3
exec "$FOOTPRINT" --manifest "$NRT_JOB_MANIFEST""#;
/// Copies what it was given (its arguments, the staged inputs) into its outputs.
const STAGED: &str = r#"printf '%s\n' "$@" > "$1/arguments.txt"
ls -A "$2" > "$1/inputs.txt"
cp "$NRT_JOB_MANIFEST" "$1/manifest-seen.json""#;
/// Writes a name with a control character and tries to write outside its output directory.
const UNSAFE_NAMES: &str = r#"printf ok > "$1/good.txt"
printf x > "$1/../escaped.txt"
printf x > "$1/bad$(printf '\001')name.txt""#;

/// The image of the processors run on Kubernetes and Nomad, which the tests play themselves.
pub const CONTAINER_IMAGE: &str = "registry.example/snow-cover:1.0.0";

pub fn write_registry(dir: &Path) {
    let scripts = dir.join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    for (name, body) in [
        ("counted.sh", COUNTED),
        ("sleeper.sh", SLEEPER),
        ("unsafe-names.sh", UNSAFE_NAMES),
        ("slow.sh", SLOW),
        ("spanned.sh", SPANNED),
        ("staged.sh", STAGED),
        ("crashable.sh", CRASHABLE),
    ] {
        let path = scripts.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let footprint = footprint_binary().display().to_string();
    let dir = dir.display();
    // Scripts are named relative to the registry's directory, as operators write them.
    let registry = format!(
        r#"
[processors.footprint]
version = "1.0.0"
command = ["{footprint}", "--manifest", "{{manifest}}"]
timeout_secs = 60
max_attempts = 2
retry_delays_secs = [1]

[processors.counted]
version = "1.0.0"
command = ["scripts/counted.sh", "{{job_id}}"]
env = {{ RUN_LOG = "{dir}/runs.log", FOOTPRINT = "{footprint}" }}
max_attempts = 2
retry_delays_secs = [1]

[processors.sleeper]
version = "1.0.0"
command = ["scripts/sleeper.sh"]
env = {{ PID_FILE = "{dir}/sleeper.pid" }}
timeout_secs = 1
max_attempts = 1

[processors.holder]
version = "1.0.0"
command = ["scripts/sleeper.sh"]
env = {{ PID_FILE = "{dir}/holder.pid" }}
timeout_secs = 120
max_attempts = 1

[processors.slow]
version = "1.0.0"
command = ["scripts/slow.sh"]
env = {{ FOOTPRINT = "{footprint}" }}

[processors.limited]
version = "1.0.0"
command = ["scripts/spanned.sh", "{{job_id}}"]
env = {{ SPAN_LOG = "{dir}/spans.log" }}
concurrency = 2

[processors.crashable]
version = "1.0.0"
command = ["scripts/crashable.sh"]
env = {{ RUN_LOG = "{dir}/crashable.log", PID_FILE = "{dir}/crashable.pid", FOOTPRINT = "{footprint}" }}
max_attempts = 2
retry_delays_secs = [1]

[processors.staged]
version = "1.0.0"
command = ["scripts/staged.sh", "{{output_dir}}", "{{input_dir}}", "--mode={{parameters.mode}}", "{{parameters.band}}"]
stage_inputs = true
max_attempts = 1

[processors.unsafe-names]
version = "1.0.0"
command = ["scripts/unsafe-names.sh", "{{output_dir}}"]
max_attempts = 1

[processors.kube-snow]
version = "1.0.0"
image = "{CONTAINER_IMAGE}"
backend = "kubernetes"
command = ["snow-cover", "--manifest", "{{manifest}}", "--output", "{{output_dir}}"]
timeout_secs = 60
max_attempts = 2
retry_delays_secs = [1]
resources = {{ cpu = 0.5, memory_mib = 512 }}

[processors.kube-stuck]
version = "1.0.0"
image = "{CONTAINER_IMAGE}"
backend = "kubernetes"
command = ["snow-cover", "--manifest", "{{manifest}}"]
timeout_secs = 2
max_attempts = 1

[processors.nomad-snow]
version = "1.0.0"
image = "{CONTAINER_IMAGE}"
backend = "nomad"
command = ["snow-cover", "--manifest", "{{manifest}}", "--job", "{{job_id}}"]
timeout_secs = 60
max_attempts = 1
"#
    );
    std::fs::write(format!("{dir}/processors.toml"), registry).unwrap();
}

/// The real processor, built into this test executable's target directory: Cargo gives a test
/// the path of its own package's binaries only, so the test builds `nrt-footprint` itself (a
/// no-op when it is up to date) with the profile the tests were built with.
pub fn footprint_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            // <target>/<profile>/deps/<test>
            let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_owned();
            let target_dir = profile_dir.parent().unwrap();
            let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
                Some("debug") => "dev".to_owned(),
                Some(other) => other.to_owned(),
                None => panic!("unexpected test path {}", exe.display()),
            };
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "nrt-footprint",
                    "--profile",
                    &profile,
                ])
                .arg("--target-dir")
                .arg(target_dir)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .unwrap();
            assert!(status.success(), "building nrt-footprint failed");
            profile_dir.join("nrt-footprint")
        })
        .clone()
}
