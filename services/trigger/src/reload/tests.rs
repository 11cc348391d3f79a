//! Reloads from a rules file, with no NATS: what each poll finds as the files change.

use super::*;

const REGISTRY: &str =
    "[processors.footprint]\nversion = \"1.0.0\"\ncommand = [\"nrt-footprint\"]\n";

const RULES: &str = r#"
[[rules]]
name = "s2-footprint"
processor = "footprint"
collections = ["SENTINEL-2"]
"#;

struct Files {
    dir: tempfile::TempDir,
    config: Config,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::config::load(None).unwrap();
        config.rules_file = dir.path().join("rules.toml");
        config.registry_file = dir.path().join("processors.toml");
        let files = Self { dir, config };
        files.write_rules(RULES);
        files.write_registry(REGISTRY);
        files
    }

    fn write_rules(&self, text: &str) {
        std::fs::write(&self.config.rules_file, text).unwrap();
    }

    fn write_registry(&self, text: &str) {
        std::fs::write(&self.config.registry_file, text).unwrap();
    }

    fn rules_file(&self) -> String {
        self.config.rules_file.display().to_string()
    }

    /// The reloader a trigger would run after starting on the files as they are now.
    fn reloader(&self) -> Reloader {
        let mut source = RulesSource::before_connecting(&self.config).unwrap();
        let (version, _) = source.first.take().unwrap();
        Reloader::new(source.reader, version)
    }
}

fn rule_names(active: &ActiveRules) -> Vec<&str> {
    active.rules.iter().map(|rule| rule.name.as_str()).collect()
}

#[tokio::test]
async fn a_changed_rules_file_goes_into_force_once() {
    let files = Files::new();
    let mut reloader = files.reloader();
    assert!(matches!(reloader.poll().await, Outcome::Unchanged));

    files.write_rules(&RULES.replace("s2-footprint", "s2-outline"));
    let Outcome::Reloaded(active) = reloader.poll().await else {
        panic!("the new file is put in force");
    };
    assert_eq!(rule_names(&active), ["s2-outline"]);
    assert_eq!(active.origin, files.rules_file());
    assert!(matches!(reloader.poll().await, Outcome::Unchanged));
}

#[tokio::test]
async fn a_bad_rules_file_is_refused_once_naming_rule_and_field_until_it_is_put_back() {
    let files = Files::new();
    let mut reloader = files.reloader();

    files.write_rules(&format!(
        "{RULES}[[rules.where]]\nattribute = \"cloudCover\"\nop = \"lte\"\nvalue = 80\n"
    ));
    let Outcome::Refused { about, error } = reloader.poll().await else {
        panic!("a bad file is refused");
    };
    // The file and a digest of the refused text: each bad version is its own alert.
    assert!(
        about.starts_with(&format!("{}#", files.rules_file())),
        "{about}"
    );
    assert_eq!(about.len(), files.rules_file().len() + 13);
    let expected = format!(
        "rules file {}: rule s2-footprint, field where[0].op: unknown variant `lte`, expected one of",
        files.rules_file()
    );
    assert!(error.to_string().starts_with(&expected), "{error}");
    assert!(
        matches!(reloader.poll().await, Outcome::Unchanged),
        "reported once"
    );

    files.write_rules(RULES);
    assert!(matches!(reloader.poll().await, Outcome::Restored));
    assert!(matches!(reloader.poll().await, Outcome::Unchanged));
}

#[tokio::test]
async fn a_rules_file_gone_missing_is_refused_and_its_return_restores_the_rules() {
    let files = Files::new();
    let mut reloader = files.reloader();

    std::fs::remove_file(&files.config.rules_file).unwrap();
    let Outcome::Refused { about, error } = reloader.poll().await else {
        panic!("a missing file is refused");
    };
    assert_eq!(about, files.rules_file());
    assert_eq!(
        error.to_string(),
        format!("cannot read rules file {}", files.rules_file())
    );

    files.write_rules(RULES);
    assert!(matches!(reloader.poll().await, Outcome::Restored));
}

#[tokio::test]
async fn a_registry_change_reloads_the_rules_and_one_without_their_processor_is_refused() {
    let files = Files::new();
    let mut reloader = files.reloader();

    files.write_registry(&REGISTRY.replace("1.0.0", "1.1.0"));
    let Outcome::Reloaded(active) = reloader.poll().await else {
        panic!("the new registry is put in force");
    };
    assert_eq!(active.registry.get("footprint").unwrap().version, "1.1.0");

    files.write_registry(&REGISTRY.replace("footprint", "outline"));
    let Outcome::Refused { error, .. } = reloader.poll().await else {
        panic!("rules naming a processor the registry lost are refused");
    };
    assert!(
        error.to_string().contains("rule s2-footprint") && error.to_string().contains("footprint"),
        "{error}"
    );

    files.write_registry("[processors.footprint\n");
    let Outcome::Refused { error, .. } = reloader.poll().await else {
        panic!("a registry that is not TOML is refused");
    };
    assert_eq!(
        error.to_string(),
        format!(
            "processor registry {} is not valid",
            files.config.registry_file.display()
        )
    );
}

#[test]
fn a_bad_rules_file_or_registry_fails_the_start() {
    let files = Files::new();
    files.write_rules("[[rules]]\nname = \"nameless-processor\"\n");
    let error = RulesSource::before_connecting(&files.config)
        .err()
        .expect("refused");
    assert!(
        error.to_string().contains("rule nameless-processor"),
        "{error}"
    );

    let mut config = files.config.clone();
    config.rules_from = RulesFrom::Kv;
    config.registry_file = files.dir.path().join("missing.toml");
    let error = RulesSource::before_connecting(&config)
        .err()
        .expect("refused");
    assert_eq!(
        error.to_string(),
        format!(
            "cannot read processor registry {}",
            config.registry_file.display()
        )
    );
}

#[test]
fn an_invalid_version_raises_a_rules_invalid_warning_about_its_origin() {
    let alert = rules_invalid("trigger-rules/rules@4".into(), "bad".into());
    assert_eq!(
        (alert.kind.as_str(), alert.severity, alert.about.as_str()),
        ("rules-invalid", Severity::Warning, "trigger-rules/rules@4")
    );
    assert_eq!(alert.message, "bad");
    assert_eq!(alert.service, SERVICE);
}
