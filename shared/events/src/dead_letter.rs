use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{EventData, subject_token};

/// An event a service could not handle, kept whole with the reason so nothing is lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub service: String,
    /// The subject the message arrived on (or, for feed entries, the feed URL).
    pub subject: String,
    pub stream: Option<String>,
    pub stream_sequence: Option<u64>,
    pub deliveries: Option<u64>,
    /// The error and its causes, outermost first.
    pub error: String,
    /// The original body: UTF-8 text when it is, else base64 with `payload_base64` set.
    pub payload: String,
    pub payload_base64: bool,
    pub headers: BTreeMap<String, String>,
    pub dead_lettered_at: DateTime<Utc>,
}

impl DeadLetter {
    /// Keeps `body` as text when it is UTF-8, else as base64.
    pub fn payload_from(body: &[u8]) -> (String, bool) {
        use base64::Engine;
        match std::str::from_utf8(body) {
            Ok(text) => (text.to_owned(), false),
            Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
        }
    }
}

impl EventData for DeadLetter {
    const TYPE: &'static str = "eu.nrtmesh.deadletter.v1";

    fn subject(&self) -> String {
        format!("dlq.{}", subject_token(&self.service))
    }

    fn event_id(&self) -> String {
        match (&self.stream, self.stream_sequence) {
            (Some(stream), Some(sequence)) => format!("dlq:{}:{stream}:{sequence}", self.service),
            // Feed entries have no stream position: the payload itself is their identity.
            _ => format!(
                "dlq:{}:{}",
                self.service,
                crate::stable_hash([self.payload.as_str()])
            ),
        }
    }

    fn about(&self) -> Option<String> {
        Some(self.subject.clone())
    }
}
