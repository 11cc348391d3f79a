//! The consumer runner over a real nats-server: acks, retries, dead letters, drain, dedup,
//! server restarts and trace propagation.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use chrono::Utc;
use nrt_events::{Alert, DeadLetter, Envelope, Severity, streams};
use nrt_nats::{
    ConsumerOptions, ConsumerSpec, DeadLetterer, Delivery, EventTap, Handler, HandlerError,
    NatsServer, Publisher, TopologyOptions, apply_topology, ensure_consumer, run_consumer,
};
use nrt_runtime::{Readiness, shutdown};

const WAIT: Duration = Duration::from_secs(10);

/// A test consumer on ALERTS: any event type serves, alerts are the simplest.
const SPEC: ConsumerSpec = ConsumerSpec {
    stream: streams::ALERTS,
    durable: "runner-test",
    filter_subjects: &["alerts.info.>"],
    ack_wait: Duration::from_secs(3),
    max_deliver: 3,
    retry_delays: &[Duration::from_millis(100)],
    max_ack_pending: 100,
};

fn alert(about: &str) -> Alert {
    Alert {
        severity: Severity::Info,
        kind: "test".into(),
        service: "test".into(),
        message: "test".into(),
        about: about.into(),
        raised_at: Utc::now(),
    }
}

#[derive(Debug, thiserror::Error)]
enum TestError {
    #[error("still warming up")]
    Transient,
    #[error("message {0} is poison")]
    Poison(String),
}

impl HandlerError for TestError {
    fn is_transient(&self) -> bool {
        matches!(self, Self::Transient)
    }
}

/// Behaves by the alert's `about`: `ok`, `flaky` (fails once), `poison`, `always-transient`, `slow`.
#[derive(Default)]
struct Scripted {
    handled: Mutex<Vec<(String, u64)>>,
    flaky_failures: AtomicU32,
}

impl Handler for Scripted {
    type Error = TestError;

    async fn handle(&self, delivery: &Delivery) -> Result<(), TestError> {
        let event = Envelope::<Alert>::from_json(&delivery.payload).expect("test publishes alerts");
        let about = event.data.about;
        let outcome = match about.as_str() {
            "flaky" if self.flaky_failures.fetch_add(1, Ordering::SeqCst) == 0 => {
                Err(TestError::Transient)
            }
            "poison" => Err(TestError::Poison(about.clone())),
            "always-transient" => Err(TestError::Transient),
            slow if slow.starts_with("slow") => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                Ok(())
            }
            _ => Ok(()),
        };
        self.handled.lock().unwrap().push((about, delivery.attempt));
        outcome
    }
}

struct Harness {
    server: NatsServer,
    publisher: Publisher,
    handler: Arc<Scripted>,
    stop: shutdown::Trigger,
    runner: tokio::task::JoinHandle<()>,
}

async fn start(concurrency: usize) -> Harness {
    let server = NatsServer::start().await;
    let js = server.jetstream().await;
    apply_topology(&js, TopologyOptions::default())
        .await
        .unwrap();
    let publisher = Publisher::new(js.clone(), "test");
    let handler = Arc::new(Scripted::default());
    let (stop, shutdown) = shutdown::manual();
    let consumer = ensure_consumer(&js, &SPEC).await.unwrap();
    let options = ConsumerOptions {
        service: "test".into(),
        concurrency,
        pull_expiry: Duration::from_millis(500),
        drain_timeout: Duration::from_secs(10),
        dead_letters: DeadLetterer::new(publisher.clone(), "test"),
        readiness: Readiness::default(),
    };
    let runner = tokio::spawn({
        let handler = handler.clone();
        async move {
            run_consumer(consumer, SPEC, handler, options, shutdown)
                .await
                .unwrap()
        }
    });
    Harness {
        server,
        publisher,
        handler,
        stop,
        runner,
    }
}

impl Harness {
    async fn wait_handled(&self, about: &str, times: usize) -> Vec<u64> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let attempts: Vec<u64> = self
                .handler
                .handled
                .lock()
                .unwrap()
                .iter()
                .filter(|(a, _)| a == about)
                .map(|(_, attempt)| *attempt)
                .collect();
            if attempts.len() >= times {
                return attempts;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{about} handled {attempts:?}, wanted {times} times"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn pending(&self) -> (u64, usize) {
        let js = self.server.jetstream().await;
        let mut consumer = js
            .get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(
                SPEC.durable,
                SPEC.stream.name,
            )
            .await
            .unwrap();
        let info = consumer.info().await.unwrap();
        (info.num_pending, info.num_ack_pending)
    }
}

#[tokio::test]
async fn a_handled_message_is_acked_once() {
    let harness = start(4).await;
    harness.publisher.publish(alert("ok")).await.unwrap();
    assert_eq!(harness.wait_handled("ok", 1).await, vec![1]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(harness.pending().await, (0, 0));
    assert_eq!(
        harness.wait_handled("ok", 1).await.len(),
        1,
        "handled exactly once"
    );
}

#[tokio::test]
async fn a_transient_failure_is_redelivered_after_the_retry_delay() {
    let harness = start(4).await;
    harness.publisher.publish(alert("flaky")).await.unwrap();
    assert_eq!(harness.wait_handled("flaky", 2).await, vec![1, 2]);
}

#[tokio::test]
async fn a_permanent_failure_is_dead_lettered_with_its_reason_and_not_redelivered() {
    let harness = start(4).await;
    let js = harness.server.jetstream().await;
    let mut dlq = EventTap::open(&js, streams::DLQ.name, "dlq.test")
        .await
        .unwrap();
    let mut alerts = EventTap::open(&js, streams::ALERTS.name, "alerts.warning.poison-message")
        .await
        .unwrap();
    harness.publisher.publish(alert("poison")).await.unwrap();

    let letter = dlq.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert_eq!(letter.error, "message poison is poison");
    assert_eq!(letter.subject, "alerts.info.test");
    assert_eq!(letter.stream.as_deref(), Some("ALERTS"));
    let original = Envelope::<Alert>::from_json(letter.payload.as_bytes()).unwrap();
    assert_eq!(original.data.about, "poison", "the whole message is kept");
    assert!(letter.headers.contains_key("Nats-Msg-Id"));
    let raised = alerts.next::<Alert>(WAIT).await.unwrap().data;
    assert!(
        raised.message.contains("message poison is poison"),
        "{}",
        raised.message
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        harness.wait_handled("poison", 1).await,
        vec![1],
        "terminated, not redelivered"
    );
    assert_eq!(harness.pending().await, (0, 0));
}

#[tokio::test]
async fn a_message_failing_transiently_every_time_is_dead_lettered_at_max_deliver() {
    let harness = start(4).await;
    let js = harness.server.jetstream().await;
    let mut dlq = EventTap::open(&js, streams::DLQ.name, "dlq.test")
        .await
        .unwrap();
    harness
        .publisher
        .publish(alert("always-transient"))
        .await
        .unwrap();
    let letter = dlq.next::<DeadLetter>(WAIT).await.unwrap().data;
    assert_eq!(letter.error, "gave up after 3 deliveries: still warming up");
    assert_eq!(letter.deliveries, Some(3));
    assert_eq!(
        harness.wait_handled("always-transient", 3).await,
        vec![1, 2, 3]
    );
}

#[tokio::test]
async fn the_same_event_published_twice_is_stored_once() {
    let harness = start(1).await;
    let event = Envelope::new("/nrt-mesh/test", alert("ok"));
    let first = harness.publisher.publish_envelope(&event).await.unwrap();
    let second = harness.publisher.publish_envelope(&event).await.unwrap();
    assert!(!first.duplicate);
    assert!(second.duplicate);
    assert_eq!(first.sequence, second.sequence);
    harness.wait_handled("ok", 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(harness.wait_handled("ok", 1).await.len(), 1);
}

#[tokio::test]
async fn shutdown_drains_in_flight_messages_before_returning() {
    let harness = start(4).await;
    harness.publisher.publish(alert("slow-1")).await.unwrap();
    harness.publisher.publish(alert("slow-2")).await.unwrap();
    // Both are in the handler (it sleeps 2 s) when shutdown comes.
    let deadline = tokio::time::Instant::now() + WAIT;
    while harness.pending().await.1 < 2 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    harness.stop.trigger();
    tokio::time::timeout(WAIT, harness.runner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(harness.handler.handled.lock().unwrap().len(), 2);
    let js = harness.server.jetstream().await;
    let mut consumer = js
        .get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(
            SPEC.durable,
            SPEC.stream.name,
        )
        .await
        .unwrap();
    let info = consumer.info().await.unwrap();
    assert_eq!(
        (info.num_pending, info.num_ack_pending),
        (0, 0),
        "both acked before exit"
    );
}

#[tokio::test]
async fn the_consumer_carries_on_after_the_server_restarts() {
    let mut harness = start(2).await;
    harness.publisher.publish(alert("before")).await.unwrap();
    harness.wait_handled("before", 1).await;
    harness.server.restart().await.unwrap();
    // The publisher's connection reconnects on its own; retry until it has.
    let deadline = tokio::time::Instant::now() + WAIT;
    while harness.publisher.publish(alert("after")).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "publisher never reconnected"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(harness.wait_handled("after", 1).await, vec![1]);
}

#[tokio::test(flavor = "current_thread")]
async fn the_handler_span_continues_the_publishers_trace() {
    use opentelemetry::trace::TracerProvider as _;
    use tracing::Instrument;
    use tracing_subscriber::layer::SubscriberExt;

    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );

    let harness = start(1).await;
    harness
        .publisher
        .publish(alert("traced"))
        .instrument(tracing::info_span!("produce"))
        .await
        .unwrap();
    harness.wait_handled("traced", 1).await;
    harness.stop.trigger();
    harness.runner.await.unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    let produce = spans
        .iter()
        .find(|s| s.name == "produce")
        .expect("producer span exported");
    let handle = spans
        .iter()
        .find(|s| s.name == "handle")
        .expect("consumer span exported");
    assert_eq!(
        handle.span_context.trace_id(),
        produce.span_context.trace_id()
    );
    assert_eq!(handle.parent_span_id, produce.span_context.span_id());
}
