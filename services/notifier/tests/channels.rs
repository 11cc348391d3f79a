//! Chat and e-mail subscriptions over a real nats-server: a Slack-compatible receiver and a real
//! SMTP server (aiosmtpd) that requires STARTTLS and AUTH.

mod support;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Json, Router, extract::State, routing::post};
use notifier::{
    SubscriptionConfig,
    config::{EmailConfig, SlackConfig},
    email::{SmtpConfig, StartTls},
    notification::EventKind,
};
use nrt_events::DeadLetter;
use nrt_nats::{EventTap, NatsServer};
use nrt_runtime::Secret;
use nrt_smtp_server::{PASSWORD, SmtpServer, USER};
use support::{Running, WAIT, config, delivery, events, eventually, webhook};

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

/// An incoming-webhook endpoint as Slack and Mattermost offer: it takes `{"text": …}`.
struct ChatChannel {
    url: String,
    posted: Arc<Mutex<Vec<serde_json::Value>>>,
    server: tokio::task::JoinHandle<()>,
}

impl ChatChannel {
    async fn start() -> Self {
        let posted = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route(
                "/services/T0/B0/secret",
                post(
                    |State(posted): State<Arc<Mutex<Vec<serde_json::Value>>>>,
                     Json(body): Json<serde_json::Value>| async move {
                        posted.lock().unwrap().push(body);
                        "ok"
                    },
                ),
            )
            .with_state(posted.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/services/T0/B0/secret",
            listener.local_addr().unwrap()
        );
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url,
            posted,
            server,
        }
    }
}

impl Drop for ChatChannel {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn through(mut subscription: SubscriptionConfig) -> SubscriptionConfig {
    subscription.webhook = None;
    subscription
}

#[tokio::test]
async fn a_chat_channel_gets_readable_text_with_the_link_and_the_trace_id() {
    let chat = ChatChannel::start().await;
    let mut subscription = through(webhook(
        "ops-chat",
        "http://unused.invalid/",
        &[EventKind::ItemPublished],
    ));
    subscription.slack = Some(SlackConfig {
        url: Secret::new(chat.url.clone()),
    });
    let running = Running::start(delivery(3, 5), vec![subscription]).await;

    let mut item = events::item("snow");
    item.item_href = format!(
        "https://stac.example.org/collections/snow/items/{}",
        item.item_id
    );
    let event = running
        .publish_traced("/nrt-mesh/catalogue-publisher", item.clone(), TRACEPARENT)
        .await;

    eventually("a chat message", || async {
        !chat.posted.lock().unwrap().is_empty()
    })
    .await;
    let [message] = chat.posted.lock().unwrap().clone().try_into().unwrap();
    let text = message["text"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("Published: snow item {}\n", item.item_id)),
        "{text}"
    );
    assert!(text.contains("\nCollection: snow\n"), "{text}");
    assert!(text.contains("\nProcessor: snow-cover (job "), "{text}");
    assert!(
        text.contains(&format!("\nTrace id: `{TRACE_ID}`")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "\nTime: {}",
            event.time.format("%Y-%m-%dT%H:%M:%SZ")
        )),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("\n<{}|Open in the catalogue>", item.item_href)),
        "{text}"
    );
    running.stop().await;
}

fn relay(server: &SmtpServer) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".to_owned(),
        port: server.port(),
        starttls: StartTls::Required,
        username: Some(USER.to_owned()),
        password: Some(Secret::new(PASSWORD)),
        from: "NRT mesh <nrt@example.org>".to_owned(),
        timeout: Duration::from_secs(20),
        ca_file: Some(server.ca_file().to_owned()),
    }
}

async fn mailing(to: &str, smtp: &SmtpServer) -> Running {
    let mut subscription = through(webhook(
        "on-call",
        "http://unused.invalid/",
        &[EventKind::JobDead],
    ));
    subscription.email = Some(EmailConfig {
        to: vec![to.to_owned()],
    });
    let nats = NatsServer::start().await;
    let mut config = config(nats.url(), delivery(2, 5), vec![subscription]);
    config.smtp = Some(relay(smtp));
    Running::start_on(nats, config).await
}

#[tokio::test]
async fn an_email_subscription_sends_a_readable_message_over_starttls() {
    let smtp = SmtpServer::start().await;
    let running = mailing("On call <oncall@example.org>", &smtp).await;

    running
        .publish_traced(
            "/nrt-mesh/processor-launcher",
            events::job_dead(),
            TRACEPARENT,
        )
        .await;

    eventually("a mail", || async { !smtp.received().is_empty() }).await;
    let [mail] = smtp.received().try_into().unwrap();
    assert!(mail.over_tls && mail.authenticated, "{mail:?}");
    assert_eq!(mail.rcpt_tos, ["oncall@example.org"]);
    assert_eq!(
        mail.header("Subject"),
        Some("Job dead: snow-cover after 3 attempts")
    );
    let body = mail.body.replace("\r\n", "\n");
    assert!(
        body.starts_with("Processor snow-cover gave up after 3 attempts: used its 3 attempts."),
        "{body}"
    );
    assert!(body.contains("\nProcessor: snow-cover 1.2.0\n"), "{body}");
    assert!(
        body.contains(
            "\nInputs:    S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505\n"
        ),
        "{body}"
    );
    assert!(
        body.contains(&format!("\nTrace id:  {TRACE_ID}\n")),
        "{body}"
    );
    running.stop().await;
}

#[tokio::test]
async fn a_recipient_the_relay_refuses_is_dead_lettered_at_once() {
    let smtp = SmtpServer::start().await;
    let running = mailing("unknown@example.org", &smtp).await;
    let mut dead_letters = EventTap::open(&running.js, "DLQ", "dlq.notifier")
        .await
        .unwrap();

    running
        .publish("/nrt-mesh/processor-launcher", events::job_dead())
        .await;

    let letter = dead_letters.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert!(
        letter
            .error
            .starts_with("subscription on-call: email not delivered: "),
        "{}",
        letter.error
    );
    assert!(letter.error.contains("550"), "{}", letter.error);
    assert!(letter.error.ends_with("; not retried"), "{}", letter.error);
    assert!(smtp.received().is_empty());
    running.stop().await;
}
