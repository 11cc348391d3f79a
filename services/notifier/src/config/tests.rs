//! Loading and validating configuration files, as an operator would write them.

use super::*;

const HOOK: &str = r#"
[[webhooks]]
name = "snow-users"
url = "https://hooks.example.org/nrt"
secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
events = ["item-published"]
collections = ["snow"]
timeout_secs = 20
"#;

fn load_text(text: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notifier.toml");
    std::fs::write(&file, text).unwrap();
    load(Some(&file))
}

/// The full error text, causes included, as an operator would read it.
fn error_of(text: &str) -> String {
    nrt_nats::describe_error(&load_text(text).unwrap_err())
}

#[test]
fn loads_a_webhook_with_defaults_for_the_rest() {
    let config = load_text(HOOK).unwrap();
    assert_eq!(config.delivery.attempts, 3);
    assert_eq!(
        config.delivery.redelivery_delays[0],
        Duration::from_secs(10)
    );
    let hook = &config.webhooks[0];
    assert_eq!(hook.url.as_str(), "https://hooks.example.org/nrt");
    assert_eq!(hook.events, BTreeSet::from([EventKind::ItemPublished]));
    assert_eq!(hook.timeout, Duration::from_secs(20));
    assert_eq!(hook.processors, None);
    assert!(!format!("{config:?}").contains("C2FVsBQI"));
}

#[test]
fn runs_without_a_file() {
    let config = load(None).unwrap();
    assert!(config.webhooks.is_empty());
    assert_eq!(config.health.listen, Some("0.0.0.0:9090".parse().unwrap()));
}

#[test]
fn reads_the_secret_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD\n").unwrap();
    let text = HOOK.replace(
        "secret = \"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD\"",
        &format!("secret = {{ file = {:?} }}", secret.display().to_string()),
    );
    let config = load_text(&text).unwrap();
    SigningKey::from_secret(&config.webhooks[0].secret).unwrap();
}

#[test]
fn a_secret_without_the_prefix_is_named_but_not_printed() {
    let error = error_of(&HOOK.replace("whsec_C2FV", "C2FV"));
    assert!(error.contains("webhooks[0].secret"), "{error}");
    assert!(error.contains("whsec_"), "{error}");
    assert!(!error.contains("C2FVsBQI"), "{error}");
}

#[test]
fn a_secret_that_is_not_base64_is_named_but_not_printed() {
    let error = error_of(&HOOK.replace("C2FVsBQIhrsc", "C2FV*BQIhrsc"));
    assert!(error.contains("webhooks[0].secret"), "{error}");
    assert!(error.contains("base64"), "{error}");
    assert!(!error.contains("BQIhrsc"), "{error}");
}

#[test]
fn only_http_and_https_urls_are_accepted() {
    let error = error_of(&HOOK.replace("https://hooks", "ftp://hooks"));
    assert!(error.contains("webhooks[0].url"), "{error}");
    assert!(error.contains("ftp://hooks.example.org/nrt"), "{error}");
}

#[test]
fn a_url_that_does_not_parse_is_named() {
    let error = error_of(&HOOK.replace("https://hooks.example.org/nrt", "not a url"));
    assert!(error.contains("url"), "{error}");
}

#[test]
fn webhook_names_are_unique() {
    let error = error_of(&format!("{HOOK}{HOOK}"));
    assert!(error.contains("webhooks[1].name"), "{error}");
    assert!(error.contains("snow-users"), "{error}");
}

#[test]
fn a_name_must_be_usable_as_a_metric_label() {
    let error = error_of(&HOOK.replace("snow-users", "snow users"));
    assert!(error.contains("webhooks[0].name"), "{error}");
}

#[test]
fn an_unknown_event_kind_is_named() {
    let error = error_of(&HOOK.replace("\"item-published\"", "\"item-deleted\""));
    assert!(error.contains("item-deleted"), "{error}");
    assert!(error.contains("webhooks[0]"), "{error}");
    assert!(error.contains("job-failed"), "{error}");
}

#[test]
fn a_webhook_must_subscribe_to_something() {
    let error = error_of(&HOOK.replace("[\"item-published\"]", "[]"));
    assert!(error.contains("webhooks[0].events"), "{error}");
}

#[test]
fn an_empty_filter_is_refused() {
    let error = error_of(&HOOK.replace("[\"snow\"]", "[]"));
    assert!(error.contains("webhooks[0].collections"), "{error}");
}

#[test]
fn a_collection_filter_on_job_events_is_refused() {
    let error =
        error_of(&HOOK.replace("[\"item-published\"]", "[\"item-published\", \"job-dead\"]"));
    assert!(error.contains("webhooks[0].collections"), "{error}");
    assert!(error.contains("job-dead"), "{error}");
}

#[test]
fn a_timeout_must_be_positive() {
    let error = error_of(&HOOK.replace("timeout_secs = 20", "timeout_secs = 0"));
    assert!(error.contains("positive number of seconds"), "{error}");
}

#[test]
fn an_unknown_key_is_named() {
    let error = error_of(&format!("{HOOK}colour = \"blue\"\n"));
    assert!(error.contains("colour"), "{error}");
}

#[test]
fn delivery_settings_are_checked() {
    let error = error_of("[delivery]\nattempts = 0\n");
    assert!(error.contains("delivery.attempts"), "{error}");
    let error = error_of("[delivery]\nredelivery_delays_secs = []\n");
    assert!(error.contains("delivery.redelivery_delays_secs"), "{error}");
    let error = error_of("[delivery]\nmax_backoff_secs = 0.1\n");
    assert!(error.contains("delivery.max_backoff_secs"), "{error}");
}
