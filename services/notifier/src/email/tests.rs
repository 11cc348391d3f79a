//! The `[smtp]` table as an operator writes it, and the message built from a call, without a
//! network.

use serde::Deserialize;

use super::*;

const RELAY: &str = r#"
[smtp]
host = "smtp.example.org"
username = "nrt"
password = "hunter2-but-longer"
from = "NRT mesh <nrt@example.org>"
"#;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Holder {
    smtp: SmtpConfig,
}

fn load(text: &str) -> Result<SmtpConfig, String> {
    // The text stands in for the defaults: no file, and a prefix no environment sets.
    let holder: Holder = nrt_runtime::config::load(text, None, "NRT_TEST_SMTP_UNSET")
        .map_err(|error| nrt_nats::describe_error(&error))?;
    holder
        .smtp
        .validate()
        .map_err(|error| nrt_nats::describe_error(&error))?;
    Ok(holder.smtp)
}

fn error_of(text: &str) -> String {
    load(text).unwrap_err()
}

#[test]
fn a_relay_gets_the_submission_port_starttls_and_thirty_seconds() {
    let config = load(RELAY).unwrap();
    assert_eq!(config.port, 587);
    assert_eq!(config.starttls, StartTls::Required);
    assert_eq!(config.timeout, Duration::from_secs(30));
    assert_eq!(config.ca_file, None);
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[test]
fn reads_the_password_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("password");
    std::fs::write(&secret, "from-a-file\n").unwrap();
    let text = RELAY.replace(
        "\"hunter2-but-longer\"",
        &format!("{{ file = {:?} }}", secret.display().to_string()),
    );
    let config = load(&text).unwrap();
    assert_eq!(config.password.unwrap().expose(), "from-a-file");
}

#[test]
fn an_unknown_key_is_named() {
    let error = error_of(&format!("{RELAY}tls = \"yes\"\n"));
    assert!(error.contains("tls"), "{error}");
}

#[test]
fn plain_text_is_refused_to_a_remote_relay() {
    let error = error_of(&format!("{RELAY}starttls = \"none\"\n"));
    assert!(error.contains("smtp.starttls"), "{error}");
    assert!(error.contains("smtp.example.org"), "{error}");
}

#[test]
fn plain_text_is_allowed_to_this_host() {
    for host in ["localhost", "127.0.0.1", "::1"] {
        let text = RELAY.replace("smtp.example.org", host);
        load(&format!("{text}starttls = \"none\"\n")).unwrap();
    }
}

#[test]
fn a_username_needs_a_password() {
    let error = error_of(&RELAY.replace("password = \"hunter2-but-longer\"\n", ""));
    assert!(error.contains("smtp.password"), "{error}");
}

#[test]
fn a_password_needs_a_username() {
    let error = error_of(&RELAY.replace("username = \"nrt\"\n", ""));
    assert!(error.contains("smtp.username"), "{error}");
}

#[test]
fn the_sender_must_be_a_mailbox() {
    let error = error_of(&RELAY.replace("<nrt@example.org>", "<nrt at example.org>"));
    assert!(error.contains("smtp.from"), "{error}");
    assert!(error.contains("nrt at example.org"), "{error}");
}

#[test]
fn a_zero_timeout_is_refused() {
    let error = error_of(&format!("{RELAY}timeout_secs = 0\n"));
    assert!(error.contains("timeout_secs"), "{error}");
}

#[test]
fn a_missing_ca_file_is_named_with_its_path() {
    let error = error_of(&format!("{RELAY}ca_file = \"/nonexistent/relay-ca.pem\"\n"));
    assert!(error.contains("smtp.ca_file"), "{error}");
    assert!(error.contains("/nonexistent/relay-ca.pem"), "{error}");
}

#[test]
fn a_ca_file_without_certificates_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, "not a certificate\n").unwrap();
    let error = error_of(&format!(
        "{RELAY}ca_file = {:?}\n",
        ca_file.display().to_string()
    ));
    assert!(error.contains("smtp.ca_file"), "{error}");
    assert!(error.contains("no PEM certificate"), "{error}");
}

fn sender() -> EmailSender {
    EmailSender::new(&load(RELAY).unwrap()).unwrap()
}

#[test]
fn builds_a_plain_text_utf8_message_with_date_and_message_id() {
    let to = [
        "Ops <ops@example.org>".to_owned(),
        "snow@example.org".to_owned(),
    ];
    let message = sender()
        .message(
            &to,
            "Schnee über Tirol",
            "Neue Schneekarte: 12 % mehr Fläche.\n",
        )
        .unwrap();
    let text = String::from_utf8(message.formatted()).unwrap();
    // Encoded for any relay, 8BITMIME or not; the SMTP test decodes it back.
    assert!(text.is_ascii(), "{text}");
    let headers = text.split("\r\n\r\n").next().unwrap();
    for expected in [
        "From: \"NRT mesh\" <nrt@example.org>",
        "To: Ops <ops@example.org>, snow@example.org",
        "Content-Type: text/plain; charset=utf-8",
    ] {
        assert!(
            headers.contains(expected),
            "{expected} missing in\n{headers}"
        );
    }
    assert!(headers.contains("Subject: Schnee =?utf-8?"), "{headers}");
    assert!(headers.contains("\r\nDate: "), "{headers}");
    assert!(headers.contains("\r\nMessage-ID: <"), "{headers}");
    let recipients: Vec<String> = message
        .envelope()
        .to()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(recipients, ["ops@example.org", "snow@example.org"]);
}

#[test]
fn a_line_break_in_the_subject_cannot_add_a_header() {
    let message = sender()
        .message(
            &["ops@example.org".to_owned()],
            "Job failed\r\nBcc: attacker@example.com",
            "body",
        )
        .unwrap();
    let text = String::from_utf8(message.formatted()).unwrap();
    assert!(!text.contains("\r\nBcc:"), "{text}");
    assert!(
        text.contains("Subject: Job failed  Bcc: attacker@example.com"),
        "{text}"
    );
}

#[test]
fn a_bad_recipient_is_named() {
    let to = [
        "ops@example.org".to_owned(),
        "ops at example.org".to_owned(),
    ];
    let reason = sender().message(&to, "s", "b").unwrap_err();
    assert!(reason.contains("\"ops at example.org\""), "{reason}");
}

#[test]
fn a_message_needs_a_recipient() {
    let reason = sender().message(&[], "s", "b").unwrap_err();
    assert!(reason.contains("no recipients"), "{reason}");
}

#[test]
fn a_sender_never_prints_the_password() {
    assert!(!format!("{:?}", sender()).contains("hunter2"));
}
