//! `EmailSender` against a real SMTP server (aiosmtpd) that requires STARTTLS and AUTH: what
//! arrives, and what each kind of failure makes of the outcome.

use std::time::Duration;

use notifier::email::{EmailOutcome, EmailSender, SmtpConfig, StartTls};
use nrt_runtime::Secret;
use nrt_smtp_server::{PASSWORD, SmtpServer, USER};
use tokio::net::TcpListener;

const FROM: &str = "NRT mesh <nrt@example.org>";

/// The settings a deployment would use for `server`, trusting its certificate.
fn relay(server: &SmtpServer) -> SmtpConfig {
    SmtpConfig {
        ca_file: Some(server.ca_file().to_owned()),
        ..on_port(server.port())
    }
}

/// STARTTLS and the test user's login, to whatever is on `port` of this host.
fn on_port(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".to_owned(),
        port,
        starttls: StartTls::Required,
        username: Some(USER.to_owned()),
        password: Some(Secret::new(PASSWORD)),
        from: FROM.to_owned(),
        timeout: Duration::from_secs(20),
        ca_file: None,
    }
}

async fn send(config: &SmtpConfig, to: &str) -> EmailOutcome {
    EmailSender::new(config)
        .unwrap()
        .send(&[to.to_owned()], "Job failed", "See the job's log.\n")
        .await
}

fn rejection(outcome: EmailOutcome) -> String {
    match outcome {
        EmailOutcome::Rejected { reason } => reason,
        other => panic!("expected Rejected, got {other:?}"),
    }
}

fn unreachable(outcome: EmailOutcome) -> String {
    match outcome {
        EmailOutcome::Unreachable { reason } => reason,
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

/// A loopback port nothing listens on: bound, read, released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn delivers_over_starttls_after_login_with_headers_and_utf8_body_intact() {
    let server = SmtpServer::start().await;
    let sender = EmailSender::new(&relay(&server)).unwrap();
    let subject = "Schneekarte für Tirol veröffentlicht ❄";
    let body = "Neue Schneekarte: 87 % Bedeckung über 2000 m.\nGrüße, nrt-mesh\n";

    let outcome = sender
        .send(&["Snow team <snow@example.org>".to_owned()], subject, body)
        .await;

    assert_eq!(outcome, EmailOutcome::Delivered);
    let [message] = server.received().try_into().unwrap();
    assert!(message.over_tls && message.authenticated, "{message:?}");
    assert_eq!(message.mail_from, "nrt@example.org");
    assert_eq!(message.rcpt_tos, ["snow@example.org"]);
    assert_eq!(message.header("From"), Some(FROM));
    assert_eq!(message.header("To"), Some("Snow team <snow@example.org>"));
    assert_eq!(message.header("Subject"), Some(subject));
    assert!(
        message
            .raw
            .contains("\r\nContent-Type: text/plain; charset=utf-8\r\n"),
        "{}",
        message.raw
    );
    let date = message.header("Date").unwrap();
    chrono::DateTime::parse_from_rfc2822(date).unwrap_or_else(|e| panic!("{date:?}: {e}"));
    let id = message.header("Message-ID").unwrap();
    assert!(
        id.starts_with('<') && id.ends_with('>') && id.contains('@'),
        "{id}"
    );
    assert_eq!(message.body.replace("\r\n", "\n"), body);
}

#[tokio::test]
async fn a_wrong_password_is_rejected_with_the_servers_535_reply() {
    let server = SmtpServer::start().await;
    let config = SmtpConfig {
        password: Some(Secret::new("not the password")),
        ..relay(&server)
    };

    let reason = rejection(send(&config, "ops@example.org").await);

    assert!(reason.contains("535"), "{reason}");
    assert!(
        reason.contains("Authentication credentials invalid"),
        "{reason}"
    );
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_recipient_the_server_refuses_is_rejected_with_its_reply() {
    let server = SmtpServer::start().await;

    let reason = rejection(send(&relay(&server), "unknown@example.org").await);

    assert!(reason.contains("550"), "{reason}");
    assert!(reason.contains("unknown@example.org"), "{reason}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_temporary_refusal_is_worth_another_try() {
    let server = SmtpServer::start().await;

    let reason = unreachable(send(&relay(&server), "busy@example.org").await);

    assert!(reason.contains("451"), "{reason}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_server_not_listening_is_unreachable() {
    let port = closed_port();

    let reason = unreachable(send(&on_port(port), "ops@example.org").await);

    assert!(reason.contains(&format!("127.0.0.1:{port}")), "{reason}");
}

#[tokio::test]
async fn a_server_that_never_answers_is_unreachable_after_the_timeout() {
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    // Accepts and holds connections, never sending the greeting.
    let _holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = silent.accept().await {
            held.push(connection);
        }
    });
    let config = SmtpConfig {
        timeout: Duration::from_secs(1),
        ..on_port(port)
    };

    let reason = unreachable(send(&config, "ops@example.org").await);

    assert!(reason.contains("no answer within 1s"), "{reason}");
}

#[tokio::test]
async fn a_server_without_starttls_gets_no_credentials_and_no_mail() {
    let server = SmtpServer::start_plain().await;

    let reason = rejection(send(&relay(&server), "ops@example.org").await);

    assert!(reason.contains("STARTTLS"), "{reason}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn an_untrusted_certificate_is_rejected_as_misconfiguration() {
    let server = SmtpServer::start().await;
    let config = SmtpConfig {
        ca_file: None,
        ..relay(&server)
    };

    let reason = rejection(send(&config, "ops@example.org").await);

    assert!(reason.contains("TLS"), "{reason}");
    assert!(reason.contains("certificate"), "{reason}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_bad_address_is_rejected_by_name_before_connecting() {
    // Nothing listens: had the sender connected, the outcome would be Unreachable.
    let sender = EmailSender::new(&on_port(closed_port())).unwrap();

    let outcome = sender
        .send(
            &["ops@example.org".to_owned(), "ops@@example.org".to_owned()],
            "Job failed",
            "body",
        )
        .await;

    let reason = rejection(outcome);
    assert!(reason.contains("\"ops@@example.org\""), "{reason}");
}

#[tokio::test]
async fn plain_text_to_a_relay_on_this_host_delivers() {
    let server = SmtpServer::start_plain().await;
    let config = SmtpConfig {
        starttls: StartTls::None,
        username: None,
        password: None,
        ca_file: None,
        ..relay(&server)
    };

    assert_eq!(
        send(&config, "ops@example.org").await,
        EmailOutcome::Delivered
    );
    let [message] = server.received().try_into().unwrap();
    assert!(!message.over_tls && !message.authenticated, "{message:?}");
    assert_eq!(message.rcpt_tos, ["ops@example.org"]);
}
