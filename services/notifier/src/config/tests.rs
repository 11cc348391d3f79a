//! Loading and validating configuration files, as an operator would write them.

use std::collections::BTreeSet;

use nrt_events::Severity;
use nrt_runtime::Secret;

use super::*;
use crate::{area::AreaConfig, notification::EventKind, signature::SigningKey};

const HOOK: &str = r#"
[[subscriptions]]
name = "snow-users"
events = ["item-published"]
collections = ["snow"]
timeout_secs = 20

[subscriptions.webhook]
url = "https://hooks.example.org/nrt"
secrets = ["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"]
"#;

const SMTP: &str = r#"
[smtp]
host = "smtp.example.org"
username = "nrt"
password = "not-a-real-password"
from = "NRT mesh <nrt@example.org>"
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

fn assert_names(text: &str, key: &str, words: &[&str]) {
    let error = error_of(text);
    assert!(error.contains(key), "{error}");
    for word in words {
        assert!(error.contains(word), "{error}");
    }
}

#[test]
fn loads_a_webhook_subscription_with_defaults_for_the_rest() {
    let config = load_text(HOOK).unwrap();
    assert_eq!(config.delivery.attempts, 3);
    assert_eq!(
        config.delivery.redelivery_delays[0],
        Duration::from_secs(10)
    );
    assert_eq!(config.delivery.max_deliveries, 8);
    assert_eq!(config.delivery.digest_max_events, 100);
    let subscription = &config.subscriptions[0];
    let webhook = subscription.webhook.as_ref().unwrap();
    assert_eq!(webhook.url.as_str(), "https://hooks.example.org/nrt");
    assert_eq!(
        subscription.events,
        BTreeSet::from([EventKind::ItemPublished])
    );
    assert_eq!(subscription.timeout, Duration::from_secs(20));
    assert_eq!(
        (subscription.processors.as_ref(), subscription.digest),
        (None, None)
    );
    assert!(!format!("{config:?}").contains("C2FVsBQI"));
}

#[test]
fn runs_without_a_file() {
    let config = load(None).unwrap();
    assert!(config.subscriptions.is_empty());
    assert_eq!(config.smtp, None);
    assert_eq!(config.health.listen, Some("0.0.0.0:9090".parse().unwrap()));
}

#[test]
fn the_example_file_loads() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/notifier.example.toml");
    let config = load(Some(Path::new(example))).unwrap();
    let names: Vec<&str> = config
        .subscriptions
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["snow-users", "alps-items", "ops-chat", "on-call-mail"]
    );
    assert_eq!(
        config.subscriptions[0]
            .webhook
            .as_ref()
            .unwrap()
            .secrets
            .len(),
        2
    );
    assert_eq!(
        config.subscriptions[2].digest,
        Some(Duration::from_secs(300))
    );
}

#[test]
fn reads_secrets_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD\n").unwrap();
    let text = HOOK.replace(
        "secrets = [\"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD\"]",
        &format!(
            "secrets = [{{ file = {:?} }}]",
            secret.display().to_string()
        ),
    );
    let config = load_text(&text).unwrap();
    let webhook = config.subscriptions[0].webhook.as_ref().unwrap();
    SigningKey::from_secret(&webhook.secrets[0]).unwrap();
}

#[test]
fn each_secret_of_a_rotation_is_checked_and_named_but_not_printed() {
    let two = HOOK.replace(
        "secrets = [\"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD\"]",
        "secrets = [\"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD\", \"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]",
    );
    let error = error_of(&two);
    assert!(
        error.contains("subscriptions[0].webhook.secrets[1]"),
        "{error}"
    );
    assert!(error.contains("whsec_"), "{error}");
    assert!(!error.contains("MfKQ9r8G"), "{error}");
    let error = error_of(&HOOK.replace("C2FVsBQIhrsc", "C2FV*BQIhrsc"));
    assert!(
        error.contains("subscriptions[0].webhook.secrets[0]"),
        "{error}"
    );
    assert!(error.contains("base64"), "{error}");
    assert!(!error.contains("BQIhrsc"), "{error}");
    assert_names(
        &HOOK.replace("[\"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD\"]", "[]"),
        "subscriptions[0].webhook.secrets",
        &["at least one"],
    );
}

#[test]
fn only_http_and_https_urls_are_accepted() {
    assert_names(
        &HOOK.replace("https://hooks", "ftp://hooks"),
        "subscriptions[0].webhook.url",
        &["ftp://hooks.example.org/nrt"],
    );
}

#[test]
fn subscription_names_are_unique_and_token_safe() {
    assert_names(
        &format!("{HOOK}{HOOK}"),
        "subscriptions[1].name",
        &["snow-users"],
    );
    assert_names(
        &HOOK.replace("snow-users", "snow.users"),
        "subscriptions[0].name",
        &["consumer"],
    );
}

#[test]
fn an_unknown_event_kind_is_named() {
    let error = error_of(&HOOK.replace("\"item-published\"", "\"item-deleted\""));
    assert!(error.contains("item-deleted"), "{error}");
    assert!(error.contains("alert"), "{error}");
}

#[test]
fn a_subscription_must_subscribe_to_something_with_filters_that_can_pass() {
    assert_names(
        &HOOK.replace("[\"item-published\"]", "[]"),
        "subscriptions[0].events",
        &[],
    );
    assert_names(
        &HOOK.replace("[\"snow\"]", "[]"),
        "subscriptions[0].collections",
        &["empty list"],
    );
    assert_names(
        &HOOK.replace("[\"item-published\"]", "[\"item-published\", \"job-dead\"]"),
        "subscriptions[0].collections",
        &["job-dead"],
    );
}

#[test]
fn filters_that_do_not_apply_to_a_subscribed_kind_are_refused() {
    let hook = HOOK.replace("collections = [\"snow\"]\n", "");
    let with = |events: &str, filter: &str| {
        hook.replace(
            "events = [\"item-published\"]",
            &format!("events = {events}\n{filter}"),
        )
    };
    assert_names(
        &with("[\"job-dead\", \"alert\"]", "processors = [\"snow-cover\"]"),
        "subscriptions[0].processors",
        &["alert events name no processor"],
    );
    assert_names(
        &with(
            "[\"item-published\", \"job-failed\"]",
            "area_of_interest = [5, 44, 16, 48]",
        ),
        "subscriptions[0].area_of_interest",
        &["job-failed"],
    );
    assert_names(
        &with(
            "[\"item-published\", \"alert\"]",
            "min_severity = \"warning\"",
        ),
        "subscriptions[0].min_severity",
        &["item-published"],
    );
    assert_names(
        &with("[\"job-failed\", \"alert\"]", "min_severity = \"critical\""),
        "subscriptions[0].min_severity",
        &["job-failed"],
    );
    assert_names(
        &with("[\"job-dead\"]", "alert_kinds = [\"feed-stalled\"]"),
        "subscriptions[0].alert_kinds",
        &["alert"],
    );
    assert_names(
        &with("[\"alert\"]", "min_severity = \"loud\""),
        "loud",
        &["critical"],
    );
}

#[test]
fn an_area_is_a_box_or_a_geojson_polygon() {
    let hook = HOOK.replace(
        "collections = [\"snow\"]",
        "area_of_interest = [5, 44, 16, 48.5]",
    );
    let config = load_text(&hook).unwrap();
    assert_eq!(
        config.subscriptions[0].area_of_interest,
        Some(AreaConfig::Bbox(vec![5.0, 44.0, 16.0, 48.5]))
    );
    let polygon = HOOK.replace(
        "collections = [\"snow\"]",
        "area_of_interest = { type = \"Polygon\", coordinates = [[[5, 44], [16, 44], [5, 48], [5, 44]]] }",
    );
    let config = load_text(&polygon).unwrap();
    assert!(matches!(
        config.subscriptions[0].area_of_interest,
        Some(AreaConfig::Geometry(_))
    ));
    assert_names(
        &HOOK.replace(
            "collections = [\"snow\"]",
            "area_of_interest = [5, 48, 16, 44]",
        ),
        "subscriptions[0].area_of_interest",
        &["south (48) above north (44)"],
    );
}

#[test]
fn a_subscription_has_exactly_one_channel() {
    let none = HOOK.split("[subscriptions.webhook]").next().unwrap();
    assert_names(none, "subscriptions[0]", &["no channel"]);
    let two = format!(
        "{HOOK}\n[subscriptions.slack]\nurl = \"https://hooks.slack.com/services/T0/B0/x\"\n"
    );
    assert_names(&two, "subscriptions[0]", &["more than one channel"]);
}

#[test]
fn a_slack_url_is_a_credential_never_shown() {
    let slack = r#"
[[subscriptions]]
name = "chat"
events = ["job-dead"]
[subscriptions.slack]
url = "https://hooks.slack.com/services/T0AAA/B0BBB/s3cr3tt0k3n"
"#;
    let config = load_text(slack).unwrap();
    assert!(!format!("{config:?}").contains("s3cr3t"));
    let error = error_of(&slack.replace("https://hooks", "ftp://hooks"));
    assert!(error.contains("subscriptions[0].slack.url"), "{error}");
    assert!(!error.contains("s3cr3t"), "{error}");
    let error = error_of(&slack.replace("https://", "not a url s3cr3t"));
    assert!(error.contains("subscriptions[0].slack.url"), "{error}");
    assert!(!error.contains("s3cr3t"), "{error}");
}

#[test]
fn an_email_subscription_needs_the_relay_and_real_addresses() {
    let email = r#"
[[subscriptions]]
name = "on-call"
events = ["job-dead"]
[subscriptions.email]
to = ["On call <oncall@example.org>", "ops@example.org"]
"#;
    let config = load_text(&format!("{SMTP}{email}")).unwrap();
    assert_eq!(config.subscriptions[0].email.as_ref().unwrap().to.len(), 2);
    assert_eq!(
        config.smtp.as_ref().unwrap().password,
        Some(Secret::new("not-a-real-password"))
    );
    assert_names(email, "subscriptions[0].email", &["[smtp]"]);
    assert_names(
        &format!(
            "{SMTP}{}",
            email.replace("ops@example.org", "ops at example")
        ),
        "subscriptions[0].email.to[1]",
        &["ops at example"],
    );
    assert_names(
        &format!(
            "{SMTP}{}",
            email.replace(
                "[\"On call <oncall@example.org>\", \"ops@example.org\"]",
                "[]"
            )
        ),
        "subscriptions[0].email.to",
        &["recipient"],
    );
}

#[test]
fn times_are_positive_seconds() {
    let error = error_of(&HOOK.replace("timeout_secs = 20", "timeout_secs = 0"));
    assert!(error.contains("positive number of seconds"), "{error}");
    let config = load_text(&HOOK.replace("timeout_secs = 20", "digest_secs = 90")).unwrap();
    assert_eq!(
        config.subscriptions[0].digest,
        Some(Duration::from_secs(90))
    );
    let error = error_of(&HOOK.replace("timeout_secs = 20", "digest_secs = -1"));
    assert!(error.contains("positive number of seconds"), "{error}");
}

#[test]
fn an_unknown_key_is_named() {
    let error = error_of(&format!("{HOOK}colour = \"blue\"\n"));
    assert!(error.contains("colour"), "{error}");
    // The old top-level list is gone: a file still using it is told so.
    let error = error_of("[[webhooks]]\nname = \"x\"\n");
    assert!(error.contains("webhooks"), "{error}");
}

#[test]
fn delivery_settings_are_checked() {
    assert_names("[delivery]\nattempts = 0\n", "delivery.attempts", &[]);
    assert_names(
        "[delivery]\nredelivery_delays_secs = []\n",
        "delivery.redelivery_delays_secs",
        &[],
    );
    assert_names(
        "[delivery]\nmax_backoff_secs = 0.1\n",
        "delivery.max_backoff_secs",
        &[],
    );
    assert_names(
        "[delivery]\ndigest_max_events = 0\n",
        "delivery.digest_max_events",
        &[],
    );
}

#[test]
fn severities_are_read_by_name() {
    let alerts = r#"
[[subscriptions]]
name = "on-call"
events = ["alert", "job-dead"]
min_severity = "critical"
alert_kinds = ["feed-stalled"]
[subscriptions.webhook]
url = "https://hooks.example.org/nrt"
secrets = ["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"]
"#;
    let config = load_text(alerts).unwrap();
    assert_eq!(
        config.subscriptions[0].min_severity,
        Some(Severity::Critical)
    );
}
