//! E-mail through the `[smtp]` relay, with the sender the e-mail module provides.

use std::sync::Arc;

use super::Outcome;
use crate::email::{EmailOutcome, EmailSender};

pub(super) struct Mail {
    pub sender: Arc<EmailSender>,
    pub to: Vec<String>,
}

impl Mail {
    pub async fn send(&self, subject: &str, body: &str) -> Outcome {
        match self.sender.send(&self.to, subject, body).await {
            EmailOutcome::Delivered => Outcome::Delivered,
            EmailOutcome::Rejected { reason } => Outcome::Rejected { reason },
            EmailOutcome::Unreachable { reason } => Outcome::Unreachable {
                reason,
                retry_after: None,
            },
        }
    }
}
