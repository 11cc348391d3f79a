//! Untrusted inputs against a real nats-server and SeaweedFS: products with hostile names are
//! staged under safe names inside the job directory, checksums are checked, and parameters
//! cannot become options. Nothing is written outside the job directory.

mod harness;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use harness::{BUCKET, Harness, S2_GRANULE, golden, job, next_lifecycle};
use nrt_events::{Checksum, JobDead, JobInput, JobRequested, JobSucceeded, streams};
use sha2::{Digest, Sha256};

/// Every file and directory under `root`, relative to it, not following links.
fn tree(root: &Path) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            found.insert(path.strip_prefix(root).unwrap().to_owned());
            if entry.file_type().unwrap().is_dir() {
                pending.push(path);
            }
        }
    }
    found
}

/// Puts `content` in the outputs bucket under `key` and names an input after it `name`.
async fn hostile_input(
    harness: &Harness,
    request: &mut JobRequested,
    name: &str,
    key: &str,
    content: &[u8],
) {
    let client = nrt_s3::client(&harness.seaweed.config()).await;
    nrt_s3::ensure_bucket(&client, BUCKET).await.unwrap();
    nrt_s3::put_bytes(
        &client,
        BUCKET,
        key,
        content.to_vec().into(),
        "application/octet-stream",
    )
    .await
    .unwrap();
    let mut input = JobInput::from(&golden(S2_GRANULE));
    input.name = name.to_owned();
    input.key = format!("hostile/{}", request.inputs.len());
    input.s3_uri = Some(format!("s3://{BUCKET}/{key}"));
    input.href = None;
    input.checksums = vec![Checksum {
        algorithm: "SHA256".into(),
        value: hex::encode(Sha256::digest(content)),
    }];
    request.inputs.push(input);
}

const HOSTILE_NAMES: [&str; 7] = [
    "../../../../escaped",
    "/tmp/absolute",
    "..\\..\\windows",
    "-rf --no-preserve-root",
    "nul\0and\ncontrol\u{1b}[31m",
    "..",
    "",
];

#[tokio::test]
async fn inputs_with_hostile_names_are_staged_inside_the_job_directory_under_safe_names() {
    let mut harness = Harness::prepare().await;
    let mut request = job("staged", "job-hostile", &[S2_GRANULE]);
    request.inputs.clear();
    request.parameters.insert("mode".into(), "-x".into());
    request
        .parameters
        .insert("band".into(), "B04 $(reboot)".into());
    for (n, name) in HOSTILE_NAMES.iter().enumerate() {
        hostile_input(
            &harness,
            &mut request,
            name,
            &format!("inputs/{n}"),
            format!("content {n}").as_bytes(),
        )
        .await;
    }
    let long = "x".repeat(5000);
    hostile_input(&harness, &mut request, &long, "inputs/long", b"long").await;
    let before = tree(harness.dir.path());
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.succeeded.>").await;
    harness.start_launcher();
    harness.request(request).await;
    let succeeded: JobSucceeded = next_lifecycle(&mut lifecycle).await;

    let output = |name: &str| {
        let found = succeeded
            .outputs
            .iter()
            .find(|output| output.path == name)
            .unwrap();
        found.key.clone()
    };
    let staged =
        String::from_utf8(harness.s3_object(&output("inputs.txt")).await.to_vec()).unwrap();
    assert_eq!(
        staged.lines().collect::<Vec<_>>(),
        [
            "000-.._.._.._.._escaped",
            "001-_tmp_absolute",
            "002-.._.._windows",
            "003--rf_--no-preserve-root",
            "004-nul_and_control__31m",
            "005-..",
            "006-input",
            &format!("007-{}", "x".repeat(116)),
        ]
    );
    let arguments =
        String::from_utf8(harness.s3_object(&output("arguments.txt")).await.to_vec()).unwrap();
    let arguments: Vec<&str> = arguments.lines().collect();
    assert_eq!(
        &arguments[2..],
        ["--mode=-x", "B04 $(reboot)"],
        "one literal argument each"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&harness.s3_object(&output("manifest-seen.json")).await).unwrap();
    let input_dir = Path::new(arguments[1]);
    for input in manifest["inputs"].as_array().unwrap() {
        let local = Path::new(input["local_path"].as_str().unwrap());
        assert_eq!(local.parent(), Some(input_dir), "{local:?}");
    }

    // The attempt's directory is removed after success; nothing else appeared anywhere.
    harness.stop_launcher().await;
    let after = tree(harness.dir.path());
    let new: Vec<_> = after
        .difference(&before)
        .filter(|path| !path.starts_with("work"))
        .collect();
    assert!(
        new.is_empty(),
        "written outside the work directory: {new:?}"
    );
    assert!(
        !harness
            .dir
            .path()
            .parent()
            .unwrap()
            .join("escaped")
            .exists()
    );
}

#[tokio::test]
async fn an_input_whose_content_does_not_match_its_checksum_fails_the_job() {
    let mut harness = Harness::prepare().await;
    let mut request = job("staged", "job-corrupt", &[S2_GRANULE]);
    request.inputs.clear();
    request.parameters.insert("mode".into(), "a".into());
    request.parameters.insert("band".into(), "B04".into());
    hostile_input(
        &harness,
        &mut request,
        "S2B_corrupted.zip",
        "inputs/corrupt",
        b"the real bytes",
    )
    .await;
    request.inputs[0].checksums[0].value = hex::encode(Sha256::digest(b"other bytes"));
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.dead.>").await;
    harness.start_launcher();
    harness.request(request).await;
    let dead: JobDead = next_lifecycle(&mut lifecycle).await;
    assert!(
        dead.reason
            .starts_with("staging the inputs in failed: input 0 (\"S2B_corrupted.zip\")")
            && dead.reason.contains("has SHA256"),
        "{}",
        dead.reason
    );
}

#[tokio::test]
async fn a_parameter_that_would_read_as_an_option_fails_the_job_with_the_reason() {
    let mut harness = Harness::start().await;
    let mut request = job("staged", "job-option", &[S2_GRANULE]);
    request.inputs.clear();
    request.parameters.insert("mode".into(), "a".into());
    request.parameters.insert("band".into(), "--delete".into());
    let mut lifecycle = harness.tap(streams::JOBS.name, "jobs.dead.>").await;
    harness.request(request).await;
    let dead: JobDead = next_lifecycle(&mut lifecycle).await;
    assert_eq!(
        dead.reason,
        "argument \"{parameters.band}\" of the command: parameter \"band\" starts with '-' and would read as an option"
    );
    harness.stop_launcher().await;
}
