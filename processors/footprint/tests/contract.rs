//! The binary as the launcher runs it: manifest in, files and an exit code out.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_nrt-footprint");

fn golden(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/products")
        .join(format!("{name}.json"));
    let product: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    // A JobInput is a ProductDiscovered without the feed's bookkeeping.
    let mut input = product.as_object().unwrap().clone();
    for feed_only in ["feed_id", "platform", "size", "feed"] {
        input.remove(feed_only);
    }
    Value::Object(input)
}

fn manifest(dir: &Path, parameters: Value) -> (PathBuf, PathBuf) {
    let output_dir = dir.join("output");
    let manifest = json!({
        "job_id": "0123abcd",
        "processor": "footprint",
        "processor_version": "1.0.0",
        "attempt": 1,
        "inputs": [
            golden("S1C_IW_GRDH_1SDV_20260101T001022_20260101T001052_005702_00B654_2A4D"),
            golden("S1A_OPER_AUX_POEORB_OPOD_20210301T144249_V20140411T225944_20140413T005944.EOF"),
        ],
        "parameters": parameters,
        "output_dir": output_dir,
    });
    let path = dir.join("manifest.json");
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    (path, output_dir)
}

/// The processor with an empty environment, as the launcher starts it.
fn processor() -> Command {
    let mut command = Command::new(BINARY);
    command.env_clear();
    command
}

fn run(command: &mut Command) -> (i32, String) {
    let Output { status, stderr, .. } = command.output().unwrap();
    (status.code().unwrap(), String::from_utf8(stderr).unwrap())
}

#[test]
fn reads_the_manifest_named_by_the_environment_and_writes_three_files() {
    let dir = tempfile::tempdir().unwrap();
    let (path, output_dir) = manifest(dir.path(), json!({}));
    let (code, stderr) = run(processor().env("NRT_JOB_MANIFEST", &path));
    assert_eq!(code, 0, "{stderr}");
    let mut names: Vec<String> = std::fs::read_dir(&output_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["coverage.json", "footprint.geojson", "metadata.json"]
    );
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(output_dir.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(sidecar["geometry"]["type"], "Polygon");
    assert_eq!(
        sidecar["properties"]["footprint:inputs_without_footprint"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_malformed_manifest_exits_2_naming_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.json");
    std::fs::write(&path, r#"{"job_id": "x", "inputs": "#).unwrap();
    let (code, stderr) = run(processor().arg("--manifest").arg(&path));
    assert_eq!(code, 2);
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains("EOF while parsing"), "{stderr}");
}

#[test]
fn an_unreadable_manifest_exits_2() {
    let (code, stderr) = run(processor().args(["--manifest", "/nonexistent/m.json"]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("cannot read job manifest /nonexistent/m.json"),
        "{stderr}"
    );
}

#[test]
fn fail_with_exit_code_fails_on_purpose_after_a_line_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let (path, output_dir) = manifest(dir.path(), json!({ "fail_with_exit_code": 7 }));
    let (code, stderr) = run(processor().arg("--manifest").arg(&path));
    assert_eq!(code, 7);
    assert!(
        stderr.contains("failing on purpose with exit code 7"),
        "{stderr}"
    );
    assert!(!output_dir.exists(), "no outputs on a requested failure");
}
