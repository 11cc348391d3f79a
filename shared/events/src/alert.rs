use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{EventData, subject_token};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// Something operators must know: a feed stalled, a job dead, a poison message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub severity: Severity,
    /// Short machine-readable kind: `job-dead`, `poison-message`, `feed-failing`, ...
    pub kind: String,
    /// The service that raised it.
    pub service: String,
    pub message: String,
    /// What the alert is about (a job id, a feed name, a stream sequence), part of its identity.
    pub about: String,
    pub raised_at: DateTime<Utc>,
}

impl EventData for Alert {
    const TYPE: &'static str = "eu.nrtmesh.alert.raised.v1";

    fn subject(&self) -> String {
        format!(
            "alerts.{}.{}",
            self.severity.as_str(),
            subject_token(&self.kind)
        )
    }

    fn event_id(&self) -> String {
        format!("alert:{}:{}:{}", self.service, self.kind, self.about)
    }

    fn about(&self) -> Option<String> {
        Some(self.about.clone())
    }
}
