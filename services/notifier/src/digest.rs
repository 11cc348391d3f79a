//! Digest mode: what arrives for a subscription during its window (up to a cap per stream) goes
//! out as one message; the events are then acknowledged together, or handed back together.
//!
//! With several replicas, each gathers its own share of the events, so a window may end in one
//! digest per replica.

use std::time::Duration;

use futures::{StreamExt, future::join_all};
use nrt_events::streams::StreamDef;
use nrt_nats::{
    Delivery,
    async_nats::jetstream::{AckKind, Message, consumer::PullConsumer},
    describe_error,
};
use nrt_runtime::Shutdown;
use tracing::Instrument;

use crate::{
    Error,
    channel::Outcome,
    consumers::{self, ACK_WAIT},
    delivery::count,
    notification::Notification,
    subscription::{Runtime, Subscription},
    verdict::{Verdict, verdict},
};

/// An event this replica holds for a digest.
struct Held {
    message: Message,
    delivery: Delivery,
    stream: &'static str,
}

/// Gathers and sends digests until `shutdown`.
pub async fn deliver_digests(
    subscription: &Subscription,
    window: Duration,
    consumers: &[(StreamDef, PullConsumer)],
    runtime: &Runtime,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let readiness = format!("consumer {}", consumers::durable_name(&subscription.name));
    runtime.options.readiness.register(&readiness);
    let disabled = &runtime.deliverer.disabled;
    while !shutdown.is_requested() {
        tokio::select! {
            () = disabled.until_enabled(&subscription.name) => {}
            () = shutdown.requested() => break,
        }
        let gathering = gather(
            &subscription.name,
            consumers,
            window,
            runtime.digest_max_events,
            &shutdown,
        );
        let held = match gathering.await {
            Ok(held) => held,
            Err(error) => {
                runtime.options.readiness.set(&readiness, false);
                tracing::warn!(subscription = %subscription.name, error = %describe_error(&error), "Pull failed; retrying.");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    () = shutdown.requested() => break,
                }
            }
        };
        runtime.options.readiness.set(&readiness, true);
        if shutdown.is_requested() {
            // Handed back at once: another replica (or this one, restarted) sends them.
            for held in &held {
                ack(&held.message, AckKind::Nak(None)).await;
            }
            break;
        }
        let span =
            tracing::info_span!("digest", subscription = %subscription.name, events = held.len());
        send(subscription, held, runtime, &shutdown)
            .instrument(span)
            .await;
    }
    runtime.options.readiness.set(&readiness, false);
    Ok(())
}

/// Pulls from every consumer at once until the window ends, a consumer's cap is reached, or
/// shutdown; what arrived is kept either way.
async fn gather(
    subscription: &str,
    consumers: &[(StreamDef, PullConsumer)],
    window: Duration,
    cap: usize,
    shutdown: &Shutdown,
) -> Result<Vec<Held>, Error> {
    let pulls = consumers.iter().map(|(stream, consumer)| async move {
        let mut batch = consumer
            .batch()
            .max_messages(cap)
            .expires(window)
            .messages()
            .await
            .map_err(|source| Error::Pull {
                subscription: subscription.to_owned(),
                stream: stream.name,
                source: source.into(),
            })?;
        let mut held = Vec::new();
        // A lost server never ends a batch on its own: bound it by the window plus a margin.
        let deadline = tokio::time::Instant::now() + window + Duration::from_secs(2);
        loop {
            let next = tokio::select! {
                next = tokio::time::timeout_at(deadline, batch.next()) => next,
                () = shutdown.requested() => break,
            };
            let message = match next {
                Ok(Some(Ok(message))) => message,
                Ok(Some(Err(error))) => {
                    tracing::debug!(error = %error, "Pull batch ended.");
                    break;
                }
                Ok(None) | Err(_) => break,
            };
            if let Some(delivery) = Delivery::of(&message) {
                held.push(Held {
                    message,
                    delivery,
                    stream: stream.name,
                });
            }
        }
        Ok::<_, Error>(held)
    });
    let mut all = Vec::new();
    for pulled in join_all(pulls).await {
        all.extend(pulled?);
    }
    Ok(all)
}

/// Sorts out what was gathered, sends the digest and settles every event by the outcome.
async fn send(
    subscription: &Subscription,
    held: Vec<Held>,
    runtime: &Runtime,
    shutdown: &Shutdown,
) {
    let mut wanted = Vec::new();
    for held in held {
        match Notification::decode(
            &held.delivery.subject,
            held.delivery.payload.clone(),
            held.delivery.headers.as_ref(),
        ) {
            Ok(notification) if subscription.filter.accepts(&notification) => {
                wanted.push((held, notification))
            }
            Ok(_) => ack(&held.message, AckKind::Ack).await,
            Err(error) => reject(&held, &Error::from(error), runtime).await,
        }
    }
    if wanted.is_empty() {
        return;
    }
    let notifications: Vec<Notification> = wanted.iter().map(|(_, n)| n.clone()).collect();
    loop {
        let sending = subscription
            .channel
            .send_digest(&subscription.name, &notifications);
        let outcome = with_progress(&wanted, sending).await;
        if let Outcome::Gone { reason } = &outcome {
            match runtime.deliverer.disable(subscription, reason).await {
                // Held, and sent again once an operator enables the subscription.
                Ok(()) => {
                    let enabled = with_progress(&wanted, async {
                        tokio::select! {
                            () = runtime.deliverer.disabled.until_enabled(&subscription.name) => true,
                            () = shutdown.requested() => false,
                        }
                    });
                    if enabled.await {
                        continue;
                    }
                    for (held, _) in &wanted {
                        ack(&held.message, AckKind::Nak(None)).await;
                    }
                    return;
                }
                Err(error) => {
                    tracing::error!(error = %describe_error(&error), "Could not disable; the events come back.")
                }
            }
        }
        return settle(subscription, &wanted, outcome, runtime).await;
    }
}

/// Acknowledges, hands back or dead-letters each event of a digest by the digest's outcome.
async fn settle(
    subscription: &Subscription,
    wanted: &[(Held, Notification)],
    outcome: Outcome,
    runtime: &Runtime,
) {
    let deliverer = &runtime.deliverer;
    for (held, _) in wanted {
        match verdict(outcome.clone(), held.delivery.attempt, &deliverer.schedule) {
            Verdict::Delivered => {
                count(subscription, "delivered", 1);
                ack(&held.message, AckKind::Ack).await
            }
            Verdict::Retry { reason, after } => {
                count(subscription, "retried", 1);
                tracing::warn!(subscription = %subscription.name, %reason, retry_in = ?after, "Digest not delivered; will retry.");
                ack(&held.message, AckKind::Nak(Some(after))).await
            }
            Verdict::DeadLetter { reason } => {
                count(subscription, "dead_lettered", 1);
                let dead_lettered = deliverer
                    .dead_letter(subscription, &held.delivery, held.stream, &reason)
                    .await;
                settle_dead_letter(held, dead_lettered, runtime).await
            }
            // The subscription could not be recorded as disabled: try again later.
            Verdict::Disable { .. } => {
                let delay = deliverer.schedule.delay_after(held.delivery.attempt);
                ack(&held.message, AckKind::Nak(Some(delay))).await
            }
        }
    }
}

/// Acknowledges what was dead-lettered; what could not be waits for a redelivery to try again.
async fn settle_dead_letter(held: &Held, dead_lettered: Result<(), Error>, runtime: &Runtime) {
    match dead_lettered {
        Ok(()) => ack(&held.message, AckKind::Term).await,
        Err(error) => {
            tracing::error!(error = %describe_error(&error), "Could not dead-letter; will retry.");
            let delay = runtime
                .deliverer
                .schedule
                .delay_after(held.delivery.attempt);
            ack(&held.message, AckKind::Nak(Some(delay))).await
        }
    }
}

/// An event nobody can deliver: the shared dead-letterer keeps one letter per event, whichever
/// subscription found it first.
async fn reject(held: &Held, error: &Error, runtime: &Runtime) {
    let reason = describe_error(error);
    let dead_lettered = runtime
        .options
        .dead_letters
        .delivery(&held.delivery, held.stream, &reason)
        .await;
    match dead_lettered {
        Ok(()) => ack(&held.message, AckKind::Term).await,
        // Not terminated: the message stays in the stream until the DLQ takes it.
        Err(error) => {
            tracing::error!(error = %describe_error(&error), "Could not dead-letter; will retry.")
        }
    }
}

/// Runs `sending`, telling the server every third of `ACK_WAIT` that the held events are still
/// being worked on.
async fn with_progress<T>(wanted: &[(Held, Notification)], sending: impl Future<Output = T>) -> T {
    tokio::pin!(sending);
    let mut progress = tokio::time::interval(ACK_WAIT / 3);
    progress.tick().await;
    loop {
        tokio::select! {
            outcome = &mut sending => return outcome,
            _ = progress.tick() => {
                for (held, _) in wanted {
                    ack(&held.message, AckKind::Progress).await;
                }
            }
        }
    }
}

async fn ack(message: &Message, kind: AckKind) {
    if let Err(error) = message.ack_with(kind).await {
        // The message comes back after ack_wait, and the outcome is decided again.
        tracing::warn!(%error, ?kind, "Could not acknowledge.");
    }
}
