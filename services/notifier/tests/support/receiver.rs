//! A webhook endpoint that checks each request as a careful receiver does: the signature with
//! `notifier::signature::verify` (any one of several signatures, a timestamp within five
//! minutes), then the `webhook-id` against the ids it already processed. It answers from a
//! script, so tests can make it fail, ask for a pause, hang, or go away.

use std::{
    collections::{HashSet, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use notifier::signature::{self, SigningKey, VerifyError};
use tokio::{sync::Notify, time::Instant};

use super::WAIT;

/// What the receiver answers to a verified request; the last answer of a script repeats.
#[derive(Debug, Clone)]
pub enum Answer {
    Status(u16),
    StatusWithRetryAfter(u16, &'static str),
    /// Answers 200 only after this long.
    Hang(Duration),
}

/// What the receiver made of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Authentic, fresh, and not processed before.
    Fresh,
    /// Authentic, but its `webhook-id` was processed already: answered 200, not processed again.
    Replayed,
    /// Not authentic or not fresh: answered 401.
    Refused(VerifyError),
}

/// A request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub verdict: Verdict,
    pub answered: u16,
    pub at: Instant,
}

impl Received {
    pub fn id(&self) -> &str {
        self.headers[signature::ID_HEADER].to_str().unwrap()
    }

    /// Processed: fresh and answered with success.
    pub fn is_accepted(&self) -> bool {
        self.verdict == Verdict::Fresh && (200..300).contains(&self.answered)
    }
}

struct Inner {
    key: SigningKey,
    script: Mutex<VecDeque<Answer>>,
    processed: Mutex<HashSet<String>>,
    received: Mutex<Vec<Received>>,
    /// Answers sent, hanging ones included once their pause is over.
    completed: Mutex<usize>,
    arrived: Notify,
}

/// A local webhook endpoint on `POST /hook`.
pub struct Receiver {
    pub address: SocketAddr,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Receiver {
    /// Listens on a free port, verifying with `secret`.
    pub async fn start(secret: &str, script: &[Answer]) -> Self {
        Self::start_on(0, secret, script).await
    }

    /// Listens on `port` (0 for a free one).
    pub async fn start_on(port: u16, secret: &str, script: &[Answer]) -> Self {
        let inner = Arc::new(Inner {
            key: secret.parse().unwrap(),
            script: Mutex::new(script.iter().cloned().collect()),
            processed: Mutex::default(),
            received: Mutex::default(),
            completed: Mutex::default(),
            arrived: Notify::new(),
        });
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            address,
            inner,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// The `webhook-id`s processed, in order.
    pub fn accepted_ids(&self) -> Vec<String> {
        self.received()
            .iter()
            .filter(|r| r.is_accepted())
            .map(|r| r.id().to_owned())
            .collect()
    }

    pub fn completed(&self) -> usize {
        *self.inner.completed.lock().unwrap()
    }

    /// Answers `script` from now on.
    pub fn answer(&self, script: &[Answer]) {
        *self.inner.script.lock().unwrap() = script.iter().cloned().collect();
    }

    /// Waits until at least `count` requests arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        self.wait_until(&format!("{count} requests"), |received| {
            received.len() >= count
        })
        .await
    }

    /// Waits until `count` requests were processed.
    pub async fn wait_for_accepted(&self, count: usize) -> Vec<Received> {
        self.wait_until(&format!("{count} accepted requests"), |received| {
            received.iter().filter(|r| r.is_accepted()).count() >= count
        })
        .await
    }

    async fn wait_until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + WAIT;
        loop {
            let arrived = self.inner.arrived.notified();
            let received = self.received();
            if done(&received) {
                return received;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("{what}: only {} requests arrived", self.received().len());
            }
        }
    }
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let verified = signature::verify(
        &inner.key,
        &headers,
        &body,
        SystemTime::now(),
        signature::DEFAULT_TOLERANCE,
    );
    let (verdict, answer) = match verified {
        Err(error) => (Verdict::Refused(error), Answer::Status(401)),
        Ok(()) => {
            let answer = next_answer(&inner);
            let id = headers[signature::ID_HEADER].to_str().unwrap().to_owned();
            let succeeds = !matches!(answer, Answer::Status(status) | Answer::StatusWithRetryAfter(status, _) if !(200..300).contains(&status));
            let mut processed = inner.processed.lock().unwrap();
            if processed.contains(&id) {
                (Verdict::Replayed, Answer::Status(200))
            } else {
                if succeeds {
                    processed.insert(id);
                }
                (Verdict::Fresh, answer)
            }
        }
    };
    let (status, retry_after, pause) = match answer {
        Answer::Status(status) => (status, None, None),
        Answer::StatusWithRetryAfter(status, value) => (status, Some(value), None),
        Answer::Hang(pause) => (200, None, Some(pause)),
    };
    // Recorded before answering: a client that gives up on a hanging answer drops this future.
    inner.received.lock().unwrap().push(Received {
        headers,
        body,
        verdict,
        answered: status,
        at: Instant::now(),
    });
    inner.arrived.notify_waiters();
    if let Some(pause) = pause {
        tokio::time::sleep(pause).await;
    }
    *inner.completed.lock().unwrap() += 1;
    let mut response = StatusCode::from_u16(status).unwrap().into_response();
    if let Some(value) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static(value));
    }
    response
}

fn next_answer(inner: &Inner) -> Answer {
    let mut script = inner.script.lock().unwrap();
    if script.len() > 1 {
        script.pop_front().unwrap()
    } else {
        script.front().cloned().unwrap_or(Answer::Status(200))
    }
}
