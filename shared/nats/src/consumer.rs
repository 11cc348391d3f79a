//! The consumer runner: pull, handle, then acknowledge according to the outcome.
//!
//! - handled: ack, after the handler published its outputs (a crash in between redelivers, and
//!   the outputs' deterministic ids make the repeat harmless);
//! - transient failure: NAK with the consumer's retry delay (never a bare NAK, which redelivers at
//!   once), until `max_deliver`, then dead-letter;
//! - permanent failure (undecodable, invalid): dead-letter with the reason, then terminate.
//!
//! While a handler works the runner sends progress acks, so `ack_wait` measures a crashed replica,
//! not a slow handler. On shutdown it stops pulling and drains what it holds.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use async_nats::{
    HeaderMap,
    jetstream::{AckKind, Message, consumer::PullConsumer},
};
use bytes::Bytes;
use futures::StreamExt;
use nrt_runtime::{Readiness, Shutdown};
use tokio::{sync::Semaphore, task::JoinSet};
use tracing::{Instrument, info_span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{ConsumerSpec, DeadLetterer, describe_error};

/// One delivered message, detached from the transport so handlers are plain functions.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub subject: String,
    pub payload: Bytes,
    pub headers: Option<HeaderMap>,
    pub stream_sequence: u64,
    /// 1 on first delivery.
    pub attempt: u64,
}

impl Delivery {
    /// The delivery a JetStream message is; `None` when it carries no JetStream metadata.
    pub fn of(message: &Message) -> Option<Self> {
        let info = message.info().ok()?;
        Some(Self {
            subject: message.subject.to_string(),
            payload: message.payload.clone(),
            headers: message.headers.clone(),
            stream_sequence: info.stream_sequence,
            attempt: u64::try_from(info.delivered).unwrap_or(1),
        })
    }
}

/// What the runner needs to know of a handler's error.
pub trait HandlerError: std::error::Error + Send + Sync + 'static {
    /// Worth redelivering: the same message may succeed later.
    fn is_transient(&self) -> bool;

    /// A delay the handler knows better than the consumer's schedule (e.g. a Retry-After).
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

pub trait Handler: Send + Sync + 'static {
    type Error: HandlerError;

    fn handle(&self, delivery: &Delivery) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

#[derive(Clone)]
pub struct ConsumerOptions {
    pub service: String,
    /// Messages handled at once by this replica.
    pub concurrency: usize,
    /// How long one pull request waits for messages; also bounds how long shutdown waits for it.
    pub pull_expiry: Duration,
    /// How long shutdown waits for in-flight handlers before handing their messages back.
    pub drain_timeout: Duration,
    pub dead_letters: DeadLetterer,
    pub readiness: Readiness,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("consumer {consumer} stopped: the NATS connection is closed")]
    Closed { consumer: String },
}

/// Runs `handler` over `consumer` until `shutdown`, then drains.
pub async fn run_consumer<H: Handler>(
    consumer: PullConsumer,
    spec: ConsumerSpec,
    handler: Arc<H>,
    options: ConsumerOptions,
    shutdown: Shutdown,
) -> Result<(), ConsumerError> {
    let readiness_key = format!("consumer {}", spec.durable);
    options.readiness.register(&readiness_key);
    let slots = Arc::new(Semaphore::new(options.concurrency.max(1)));
    // Handed to in-flight handlers when the drain times out, so they return their messages.
    let (hand_back, hand_back_requested) = nrt_runtime::shutdown::manual();
    let context = Arc::new(Context {
        spec,
        options,
        handler,
        hand_back: hand_back_requested,
    });
    let mut in_flight = JoinSet::new();
    let mut failures = 0u32;

    while !shutdown.is_requested() {
        let first_slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("semaphore is never closed"),
            () = shutdown.requested() => break,
        };
        let batch_size = 1 + slots.available_permits();
        let pull = consumer
            .batch()
            .max_messages(batch_size)
            .expires(context.options.pull_expiry)
            .messages()
            .await;
        let mut batch = match pull {
            Ok(batch) => batch,
            Err(error) => {
                failures += 1;
                context.options.readiness.set(&readiness_key, false);
                tracing::warn!(consumer = context.spec.durable, error = %describe_error(&error), "Pull failed; retrying.");
                let pause = Duration::from_millis(200 * 2u64.pow(failures.min(5)));
                tokio::select! {
                    () = tokio::time::sleep(pause) => continue,
                    () = shutdown.requested() => break,
                }
            }
        };
        failures = 0;
        context.options.readiness.set(&readiness_key, true);
        let mut first_slot = Some(first_slot);
        // A lost server never ends a batch on its own: bound it by the expiry plus a margin.
        let deadline =
            tokio::time::Instant::now() + context.options.pull_expiry + Duration::from_secs(2);
        // Messages in this batch were delivered to this replica: handle them even during shutdown.
        while let Ok(Some(next)) = tokio::time::timeout_at(deadline, batch.next()).await {
            let message = match next {
                Ok(message) => message,
                Err(error) => {
                    tracing::debug!(consumer = context.spec.durable, error = %error, "Pull batch ended.");
                    break;
                }
            };
            let slot = match first_slot.take() {
                Some(slot) => slot,
                None => slots
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore is never closed"),
            };
            let context = context.clone();
            in_flight.spawn(async move {
                context.process(message).await;
                drop(slot);
            });
        }
        while in_flight.try_join_next().is_some() {}
    }

    drain(&mut in_flight, &context.options, &hand_back).await;
    context.options.readiness.set(&readiness_key, false);
    Ok(())
}

async fn drain(
    in_flight: &mut JoinSet<()>,
    options: &ConsumerOptions,
    hand_back: &nrt_runtime::shutdown::Trigger,
) {
    if in_flight.is_empty() {
        return;
    }
    tracing::info!(in_flight = in_flight.len(), "Draining in-flight messages.");
    let drained = tokio::time::timeout(options.drain_timeout, async {
        while in_flight.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            in_flight = in_flight.len(),
            "Drain timed out; handing messages back for redelivery."
        );
        hand_back.trigger();
        while in_flight.join_next().await.is_some() {}
    }
}

struct Context<H> {
    spec: ConsumerSpec,
    options: ConsumerOptions,
    handler: Arc<H>,
    hand_back: Shutdown,
}

impl<H: Handler> Context<H> {
    async fn process(&self, message: Message) {
        let delivery = match Delivery::of(&message) {
            Some(delivery) => delivery,
            None => {
                tracing::error!(subject = %message.subject, "Message without JetStream metadata; ignored.");
                return;
            }
        };
        let span = info_span!(
            "handle",
            otel.kind = "consumer",
            messaging.system = "nats",
            messaging.destination.name = %delivery.subject,
            messaging.consumer.group.name = self.spec.durable,
            stream_sequence = delivery.stream_sequence,
            attempt = delivery.attempt,
        );
        // Err only when tracing is off; the message is handled either way.
        let _ = span.set_parent(nrt_telemetry::extract_context(delivery.headers.as_ref()));
        async {
            let started = Instant::now();
            let outcome = tokio::select! {
                outcome = self.handle_with_progress(&message, &delivery) => outcome,
                () = self.hand_back.requested() => {
                    // Shutdown ran out of time: another replica takes the message right away.
                    let _ = message.ack_with(AckKind::Nak(None)).await;
                    return;
                }
            };
            metrics::histogram!("nrt_handler_seconds", "consumer" => self.spec.durable)
                .record(started.elapsed().as_secs_f64());
            self.settle(&message, &delivery, outcome).await;
        }
        .instrument(span)
        .await
    }

    /// Runs the handler, telling the server every third of `ack_wait` that the work goes on.
    async fn handle_with_progress(
        &self,
        message: &Message,
        delivery: &Delivery,
    ) -> Result<(), H::Error> {
        let handling = self.handler.handle(delivery);
        tokio::pin!(handling);
        let mut progress = tokio::time::interval(self.spec.ack_wait / 3);
        progress.tick().await;
        loop {
            tokio::select! {
                outcome = &mut handling => return outcome,
                _ = progress.tick() => {
                    if let Err(error) = message.ack_with(AckKind::Progress).await {
                        tracing::warn!(%error, "Could not extend the ack deadline.");
                    }
                }
            }
        }
    }

    async fn settle(&self, message: &Message, delivery: &Delivery, outcome: Result<(), H::Error>) {
        let consumer = self.spec.durable;
        let error = match outcome {
            Ok(()) => {
                metrics::counter!("nrt_events_handled_total", "consumer" => consumer, "outcome" => "ok").increment(1);
                if let Err(error) = message.ack().await {
                    // The message comes back and the handler's idempotence absorbs it.
                    tracing::warn!(%error, "Could not ack; the message will be redelivered.");
                }
                return;
            }
            Err(error) => error,
        };
        let reason = describe_error(&error);
        let last_delivery =
            delivery.attempt >= u64::try_from(self.spec.max_deliver).unwrap_or(u64::MAX);
        if error.is_transient() && !last_delivery {
            let delay = error
                .retry_after()
                .unwrap_or_else(|| self.spec.retry_delay(delivery.attempt));
            metrics::counter!("nrt_events_handled_total", "consumer" => consumer, "outcome" => "retry").increment(1);
            tracing::warn!(error = %reason, retry_in = ?delay, "Will retry after backoff.");
            if let Err(error) = message.ack_with(AckKind::Nak(Some(delay))).await {
                tracing::warn!(%error, "Could not NAK; the message returns after ack_wait.");
            }
            return;
        }
        let reason = if error.is_transient() {
            format!("gave up after {} deliveries: {reason}", delivery.attempt)
        } else {
            reason
        };
        metrics::counter!("nrt_events_handled_total", "consumer" => consumer, "outcome" => "dead_letter").increment(1);
        match self
            .options
            .dead_letters
            .delivery(delivery, self.spec.stream.name, &reason)
            .await
        {
            // Term, not NAK: the message is safe in the DLQ and would never succeed here.
            Ok(()) => {
                if let Err(error) = message.ack_with(AckKind::Term).await {
                    tracing::warn!(%error, "Could not terminate a dead-lettered message.");
                }
            }
            // Not terminated: the message stays in the stream until the DLQ takes it.
            Err(publish) => {
                tracing::error!(error = %describe_error(&publish), "Could not dead-letter; will retry.")
            }
        }
    }
}
