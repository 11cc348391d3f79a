use std::collections::BTreeMap;

use chrono::Utc;
use nrt_events::{Alert, DeadLetter, EventData, Severity};

use crate::{Delivery, PublishError, Publisher};

/// The dead letter of `delivery`, read from `stream`: the message whole (headers first values),
/// where it was, how often it was tried, and `reason`.
pub fn letter_for(service: &str, delivery: &Delivery, stream: &str, reason: &str) -> DeadLetter {
    let headers = delivery
        .headers
        .iter()
        .flat_map(|headers| headers.iter())
        .filter_map(|(name, values)| Some((name.to_string(), values.first()?.to_string())))
        .collect();
    let (payload, payload_base64) = DeadLetter::payload_from(&delivery.payload);
    DeadLetter {
        service: service.to_owned(),
        subject: delivery.subject.clone(),
        stream: Some(stream.to_owned()),
        stream_sequence: Some(delivery.stream_sequence),
        deliveries: Some(delivery.attempt),
        error: reason.to_owned(),
        payload,
        payload_base64,
        headers,
        dead_lettered_at: Utc::now(),
    }
}

/// Copies what a service cannot handle to `dlq.<service>`, whole and with the reason, and raises
/// a poison-message alert.
#[derive(Clone)]
pub struct DeadLetterer {
    publisher: Publisher,
    service: String,
}

impl DeadLetterer {
    pub fn new(publisher: Publisher, service: &str) -> Self {
        Self {
            publisher,
            service: service.to_owned(),
        }
    }

    /// Dead-letters a delivery from a stream.
    pub async fn delivery(
        &self,
        delivery: &Delivery,
        stream: &str,
        reason: &str,
    ) -> Result<(), PublishError> {
        self.send(letter_for(&self.service, delivery, stream, reason))
            .await
    }

    /// Dead-letters something that did not come from a stream: a feed entry, an HTTP body.
    pub async fn raw(&self, origin: &str, body: &[u8], reason: &str) -> Result<(), PublishError> {
        let (payload, payload_base64) = DeadLetter::payload_from(body);
        self.send(DeadLetter {
            service: self.service.clone(),
            subject: origin.to_owned(),
            stream: None,
            stream_sequence: None,
            deliveries: None,
            error: reason.to_owned(),
            payload,
            payload_base64,
            headers: BTreeMap::new(),
            dead_lettered_at: Utc::now(),
        })
        .await
    }

    async fn send(&self, letter: DeadLetter) -> Result<(), PublishError> {
        tracing::warn!(subject = %letter.subject, error = %letter.error, "Dead-lettered.");
        let about = letter.event_id();
        let message = format!(
            "{} could not handle a message from {}: {}",
            self.service, letter.subject, letter.error
        );
        self.publisher.publish(letter).await?;
        self.publisher
            .publish(Alert {
                severity: Severity::Warning,
                kind: "poison-message".into(),
                service: self.service.clone(),
                message,
                about,
                raised_at: Utc::now(),
            })
            .await?;
        metrics::counter!("nrt_dead_letters_total", "service" => self.service.clone()).increment(1);
        Ok(())
    }
}
