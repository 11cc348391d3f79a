//! A local webhook endpoint that checks every Standard Webhooks signature: where `nrtmesh dev`
//! and the end-to-end tests receive what the notifier sends.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::SystemTime,
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::post,
};
use notifier::signature::{DEFAULT_TOLERANCE, ID_HEADER, SigningKey, verify};
use tokio::{net::TcpListener, sync::Notify};

/// One request the receiver accepted: its signature verified.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// The path segment the notifier posted to, i.e. the webhook's name.
    pub endpoint: String,
    pub webhook_id: String,
    /// The CloudEvent as delivered.
    pub event: serde_json::Value,
    pub received_at: chrono::DateTime<chrono::Utc>,
}

impl Receipt {
    pub fn event_type(&self) -> &str {
        self.event["type"].as_str().unwrap_or_default()
    }
}

#[derive(Clone)]
struct Inbox {
    key: Arc<SigningKey>,
    accepted: Arc<Mutex<Vec<Receipt>>>,
    rejected: Arc<Mutex<Vec<String>>>,
    arrived: Arc<Notify>,
}

/// Receives webhooks on `POST /hooks/<name>`; answers 401 to a bad signature.
pub struct WebhookReceiver {
    address: SocketAddr,
    inbox: Inbox,
    server: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    /// Listens on a free loopback port, verifying with `secret` (`whsec_...`).
    pub async fn start(secret: &str) -> anyhow::Result<Self> {
        let key = SigningKey::parse(secret)?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let inbox = Inbox {
            key: Arc::new(key),
            accepted: Arc::default(),
            rejected: Arc::default(),
            arrived: Arc::default(),
        };
        let app = Router::new()
            .route("/hooks/{endpoint}", post(receive))
            .with_state(inbox.clone());
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "Webhook receiver stopped.");
            }
        });
        Ok(Self {
            address,
            inbox,
            server,
        })
    }

    /// The URL a webhook named `endpoint` should post to.
    pub fn url(&self, endpoint: &str) -> String {
        format!("http://{}/hooks/{endpoint}", self.address)
    }

    pub fn receipts(&self) -> Vec<Receipt> {
        self.inbox.accepted.lock().expect("inbox lock").clone()
    }

    /// Why each refused request was refused.
    pub fn rejections(&self) -> Vec<String> {
        self.inbox.rejected.lock().expect("inbox lock").clone()
    }

    /// Resolves at the next accepted or refused request.
    pub async fn arrival(&self) {
        self.inbox.arrived.notified().await
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(inbox): State<Inbox>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let outcome = verify(
        &inbox.key,
        &headers,
        &body,
        SystemTime::now(),
        DEFAULT_TOLERANCE,
    )
    .map_err(|error| error.to_string())
    .and_then(|()| {
        serde_json::from_slice(&body).map_err(|error| format!("body is not JSON: {error}"))
    });
    let status = match outcome {
        Ok(event) => {
            let webhook_id = headers
                .get(ID_HEADER)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            inbox.accepted.lock().expect("inbox lock").push(Receipt {
                endpoint,
                webhook_id,
                event,
                received_at: chrono::Utc::now(),
            });
            StatusCode::NO_CONTENT
        }
        Err(reason) => {
            inbox.rejected.lock().expect("inbox lock").push(reason);
            StatusCode::UNAUTHORIZED
        }
    };
    inbox.arrived.notify_waiters();
    status
}
