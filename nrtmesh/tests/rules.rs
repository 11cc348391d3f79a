//! `nrtmesh rules` as an operator runs it: what it prints, how it exits, and that `publish` only
//! ever puts a valid file in the bucket.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use nrt_events::streams::KV_TRIGGER_RULES;
use nrt_nats::{NatsServer, TopologyOptions, apply_topology};

const REGISTRY: &str =
    "[processors.footprint]\nversion = \"1.0.0\"\ncommand = [\"nrt-footprint\"]\n";

const RULES: &str = r#"
[[rules]]
name = "s2-footprint"
processor = "footprint"
collections = ["SENTINEL-2"]

[[rules]]
name = "s1-only"
processor = "footprint"
collections = ["SENTINEL-1"]
"#;

const S2_54PXA: &str = "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505";

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        let files = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        files.write("rules.toml", RULES);
        files.write("bad.toml", &RULES.replace("collections", "colections"));
        files.write("processors.toml", REGISTRY);
        files
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Runs `nrtmesh rules <args> --registry processors.toml`.
    fn rules(&self, args: &[&str]) -> Output {
        let registry = self.path("processors.toml");
        nrtmesh(&[&["rules"], args, &["--registry", &registry]].concat())
    }
}

fn nrtmesh(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nrtmesh"))
        .args(args)
        .env_remove("NRTMESH_REGISTRY")
        .env_remove("NRTMESH_NATS_URL")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn recorded_product() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/products")
        .join(format!("{S2_54PXA}.json"))
        .display()
        .to_string()
}

#[test]
fn check_lists_the_rules_of_a_valid_file() {
    let files = Files::new();
    let output = files.rules(&["check", &files.path("rules.toml")]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!(
            "{}: 2 rules OK\n  s2-footprint  footprint  plain\n  s1-only       footprint  plain\n",
            files.path("rules.toml")
        )
    );
}

#[test]
fn check_names_the_rule_and_the_field_of_an_invalid_file_and_fails() {
    let files = Files::new();
    let output = files.rules(&["check", &files.path("bad.toml")]);
    assert!(!output.status.success());
    assert!(stdout(&output).is_empty());
    let error = stderr(&output);
    assert!(
        error.starts_with(&format!(
            "nrtmesh: rules file {}: rule s2-footprint, field colections:",
            files.path("bad.toml")
        )),
        "{error}"
    );
}

#[test]
fn check_looks_for_the_trigger_s_registry_unless_told_otherwise() {
    let files = Files::new();
    let output = nrtmesh(&["rules", "check", &files.path("rules.toml")]);
    assert!(!output.status.success());
    assert!(
        stderr(&output)
            .starts_with("nrtmesh: cannot read processor registry /etc/nrt-mesh/processors.toml"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn test_shows_which_rules_match_a_recorded_product_and_why_the_others_do_not() {
    let files = Files::new();
    let output = files.rules(&[
        "test",
        &files.path("rules.toml"),
        "--product",
        &recorded_product(),
        "--now",
        "2026-01-02T03:04:05Z",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("  s2-footprint (footprint): matches\n    would publish on jobs.requested.footprint:\n    {\n"),
        "{text}"
    );
    assert!(text.contains("\"rule\": \"s2-footprint\""), "{text}");
    assert!(text.contains("  s1-only (footprint): no match, "), "{text}");
    assert!(text.ends_with("1 of 2 rules match.\n"), "{text}");
}

#[test]
fn test_refuses_a_product_file_that_is_no_product_naming_what_is_wrong() {
    let files = Files::new();
    let product = files.write("product.json", "{\"key\": \"S2A\", \"collection\": 2}");
    let output = files.rules(&[
        "test",
        &files.path("rules.toml"),
        "--product",
        &product.display().to_string(),
    ]);
    assert!(!output.status.success());
    assert_eq!(
        stderr(&output),
        format!(
            "nrtmesh: {} is neither a ProductDiscovered document nor a CloudEvent of one: collection: invalid type: integer `2`, expected a string at line 1 column 30\n",
            product.display()
        )
    );
}

#[tokio::test]
async fn publish_puts_a_valid_file_in_the_bucket_and_refuses_an_invalid_one_untouched() {
    let server = NatsServer::start().await;
    let js = server.jetstream().await;
    apply_topology(&js, TopologyOptions::default())
        .await
        .unwrap();
    let store = js.get_key_value(KV_TRIGGER_RULES).await.unwrap();
    let files = Files::new();
    let publish = |file: &str| {
        let args = [
            "rules".to_owned(),
            "publish".into(),
            files.path(file),
            "--registry".into(),
            files.path("processors.toml"),
            "--nats-url".into(),
            server.url(),
        ];
        tokio::task::spawn_blocking(move || nrtmesh(&args.each_ref().map(String::as_str)))
    };

    let output = publish("bad.toml").await.unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("rule s2-footprint, field colections"),
        "{}",
        stderr(&output)
    );
    assert!(
        store
            .entry(nrt_events::streams::KV_TRIGGER_RULES_KEY)
            .await
            .unwrap()
            .is_none(),
        "bucket untouched"
    );

    let output = publish("rules.toml").await.unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!(
            "{}: 2 rules published to trigger-rules/rules, revision 1.\n",
            files.path("rules.toml")
        )
    );
    let entry = store
        .entry(nrt_events::streams::KV_TRIGGER_RULES_KEY)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.value, RULES.as_bytes());
}
