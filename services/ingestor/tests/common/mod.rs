//! What every ingestor integration test needs: a real nats-server, the CDSE replay, the
//! ingestor's `run` in a task, and ways to see what crossed the wire and what JetStream kept.

#![allow(dead_code)] // each test file uses its own subset

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use ingestor::{
    Config, FeedConfig, MeshSink, RetryPolicy, SourceConfig, cursor::Cursor, feed::Discovery,
    odata::OdataSource, sink::ProductSink, subscription::PushSource,
};
use nrt_cdse_replay::RunningReplay;
use nrt_events::{Alert, ProductDiscovered, RawEvent, streams};
use nrt_nats::{EventTap, NatsConfig, NatsServer, TopologyOptions, apply_topology, async_nats};
use nrt_runtime::{HealthConfig, Secret, shutdown};
use nrt_telemetry::TelemetryConfig;
use tokio::task::JoinHandle;
use url::Url;

/// Deadline for events the ingestor should produce promptly.
pub const WAIT: Duration = Duration::from_secs(20);
/// How long the wire must stay silent before a test concludes nothing else is coming.
pub const QUIET: Duration = Duration::from_secs(2);

/// The mesh's streams and buckets, declared before the ingestor so taps can open at once.
pub async fn nats() -> NatsServer {
    let nats = NatsServer::start().await;
    apply_topology(&nats.jetstream().await, TopologyOptions::default())
        .await
        .unwrap();
    nats
}

/// A feed on the replay, polled fast and retried briefly so that tests move quickly.
pub fn replay_feed(name: &str, replay: &RunningReplay) -> FeedConfig {
    let mut feed = quick(FeedConfig::cdse(name, Url::parse(&replay.url()).unwrap()));
    feed.start_from = Some("2000-01-01T00:00:00Z".parse().unwrap());
    feed.odata_mut().unwrap().page_size = 10;
    feed
}

/// `feed` polled fast, alerting after two failures, with brief retries.
pub fn quick(mut feed: FeedConfig) -> FeedConfig {
    feed.poll_interval = Duration::from_millis(100);
    feed.request_timeout = Duration::from_secs(2);
    feed.alert_after_failures = 2;
    feed.retry = brief_retries();
    feed
}

/// One retry within milliseconds: tests see a failing feed fail at once.
pub fn brief_retries() -> RetryPolicy {
    RetryPolicy {
        attempts: 1,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
    }
}

pub fn config(nats: &NatsServer, feeds: Vec<FeedConfig>) -> Config {
    Config {
        nats: NatsConfig::local(nats.url()),
        telemetry: TelemetryConfig::default(),
        health: HealthConfig { listen: None },
        feeds,
    }
}

/// `ingestor::run` in a task, stopped like SIGTERM would.
pub struct Ingestor {
    stop: shutdown::Trigger,
    task: JoinHandle<Result<(), ingestor::Error>>,
}

impl Ingestor {
    pub fn start(config: Config) -> Self {
        let (stop, shutdown) = shutdown::manual();
        Self {
            stop,
            task: tokio::spawn(ingestor::run(config, shutdown)),
        }
    }

    /// Requests shutdown and waits for `run` to return, which it must do cleanly.
    pub async fn stop(self) {
        self.stop.trigger();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the ingestor stops promptly")
            .unwrap()
            .unwrap();
    }
}

/// Every message published on `products.>`, repeats JetStream will drop included: a core
/// subscription sees what the ingestor sent, not what the stream kept.
pub struct WireTap(async_nats::Subscriber);

impl WireTap {
    pub async fn open(nats: &NatsServer) -> Self {
        let client = nats.client().await;
        let subscriber = client.subscribe("products.>").await.unwrap();
        client.flush().await.unwrap();
        Self(subscriber)
    }

    /// The keys of the products sent until the wire stays quiet for `QUIET`.
    pub async fn keys_until_quiet(&mut self) -> Vec<String> {
        let mut keys = Vec::new();
        while let Ok(Some(message)) = tokio::time::timeout(QUIET, self.0.next()).await {
            keys.push(product(&message.payload).key);
        }
        keys
    }
}

pub fn product(body: &[u8]) -> ProductDiscovered {
    RawEvent::from_json(body)
        .unwrap()
        .into_typed::<ProductDiscovered>()
        .unwrap()
        .data
}

/// The PRODUCTS stream read from the start.
pub async fn products_tap(nats: &NatsServer) -> EventTap {
    tap(nats, streams::PRODUCTS, "products.>").await
}

/// Every `products.retracted` event, from the first.
pub async fn retractions_tap(nats: &NatsServer) -> EventTap {
    tap(nats, streams::PRODUCTS, "products.retracted.>").await
}

/// What the ingestor dead-lettered, from the first.
pub async fn dead_letters_tap(nats: &NatsServer) -> EventTap {
    tap(nats, streams::DLQ, "dlq.ingestor").await
}

/// Every `feed-failing` alert, whatever its severity.
pub async fn failing_alerts_tap(nats: &NatsServer) -> EventTap {
    tap(nats, streams::ALERTS, "alerts.*.feed-failing").await
}

/// The events of `stream` on `subject`, from the first.
pub async fn tap(nats: &NatsServer, stream: streams::StreamDef, subject: &str) -> EventTap {
    EventTap::open(&nats.jetstream().await, stream.name, subject)
        .await
        .unwrap()
}

/// The next `count` products the stream holds, each awaited with a deadline.
pub async fn next_products(tap: &mut EventTap, count: usize) -> Vec<ProductDiscovered> {
    let mut products = Vec::with_capacity(count);
    for _ in 0..count {
        products.push(tap.next::<ProductDiscovered>(WAIT).await.unwrap().data);
    }
    products
}

/// Messages stored in PRODUCTS: repeats JetStream dropped are not among them.
pub async fn stored_product_count(nats: &NatsServer) -> u64 {
    let mut stream = nats
        .jetstream()
        .await
        .get_stream(streams::PRODUCTS.name)
        .await
        .unwrap();
    stream.info().await.unwrap().state.messages
}

pub async fn stored_cursor(nats: &NatsServer, feed: &str) -> Option<Cursor> {
    let bucket = nats
        .jetstream()
        .await
        .get_key_value(streams::KV_INGEST_CURSORS)
        .await
        .unwrap();
    let value = bucket.get(feed).await.unwrap()?;
    Some(serde_json::from_slice(&value).unwrap())
}

/// Golden products by key, as `testdata/products/generate.py` wrote them.
pub fn golden_products() -> BTreeMap<String, ProductDiscovered> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/products");
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let product: ProductDiscovered =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            (product.key.clone(), product)
        })
        .collect()
}

/// Waits until `condition` holds, checking every few milliseconds, or panics at the deadline.
pub async fn eventually(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The credentials a push subscription was registered with.
pub const PUSH_USERNAME: &str = "cdse-notifier";
pub const PUSH_PASSWORD: &str = "correct horse battery staple";

/// A recorded CDSE subscription payload.
pub fn subscription_fixture(name: &str) -> String {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/fixtures/cdse-subscriptions"
    );
    std::fs::read_to_string(format!("{dir}/{name}")).unwrap()
}

/// A push feed on a free local port, mapping products of `catalogue`.
pub fn push_feed(catalogue: &str) -> FeedConfig {
    let port = nrt_nats::server::free_port().unwrap();
    let source = PushSource {
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        path: "/notifications".into(),
        username: PUSH_USERNAME.into(),
        password: Secret::new(PUSH_PASSWORD),
        catalogue: OdataSource::new(Url::parse(catalogue).unwrap()),
    };
    let mut feed = FeedConfig::new("push", SourceConfig::CdsePush(source));
    feed.request_timeout = Duration::from_secs(2);
    feed.retry = brief_retries();
    feed
}

pub fn endpoint(feed: &FeedConfig) -> String {
    let SourceConfig::CdsePush(push) = &feed.source else {
        unreachable!()
    };
    format!("http://{}{}", push.listen, push.path)
}

/// POSTs `body` as CDSE does, once the endpoint listens (the ingestor connects to NATS first).
pub async fn post(
    url: &str,
    body: impl Into<reqwest::Body> + Clone,
    password: Option<&str>,
) -> reqwest::Response {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut request = client
            .post(url)
            .header("Content-Type", "application/json")
            .body(body.clone());
        if let Some(password) = password {
            request = request.basic_auth(PUSH_USERNAME, Some(password));
        }
        match request.send().await {
            Ok(response) => return response,
            Err(error) if error.is_connect() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("{url}: {error}"),
        }
    }
}

/// What JetStream said of one product: its key, new (or a repeat), and when the PubAck came.
pub type Verdict = (String, bool, std::time::Instant);

/// The mesh's sink, remembering JetStream's verdict on every product it publishes.
#[derive(Clone)]
pub struct RecordingSink {
    sink: MeshSink,
    pub verdicts: Arc<Mutex<Vec<Verdict>>>,
}

impl RecordingSink {
    pub fn new(sink: MeshSink) -> Self {
        Self {
            sink,
            verdicts: Arc::default(),
        }
    }

    /// The verdicts so far, forgotten here.
    pub fn take(&self) -> Vec<Verdict> {
        self.verdicts.lock().unwrap().drain(..).collect()
    }
}

impl ProductSink for RecordingSink {
    async fn publish(&self, discovery: Discovery) -> Result<bool, ingestor::Error> {
        let key = discovery.key().to_owned();
        let is_new = self.sink.publish(discovery).await?;
        let verdict = (key, is_new, std::time::Instant::now());
        self.verdicts.lock().unwrap().push(verdict);
        Ok(is_new)
    }

    async fn dead_letter(
        &self,
        origin: &str,
        entity: &[u8],
        reason: &str,
    ) -> Result<(), ingestor::Error> {
        self.sink.dead_letter(origin, entity, reason).await
    }

    async fn alert(&self, alert: Alert) -> Result<(), ingestor::Error> {
        self.sink.alert(alert).await
    }
}
