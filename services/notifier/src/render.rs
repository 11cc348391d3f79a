//! Messages people read: what happened, where, the catalogue link, the trace id and the time, for
//! chat and e-mail. Webhooks get the CloudEvent itself instead.

use chrono::{DateTime, SecondsFormat, Utc};
use nrt_events::{Alert, ItemPublished, JobDead, JobFailed};

use crate::notification::{Event, Notification};

/// One event, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// One line: an e-mail subject, the first line of a chat message.
    pub subject: String,
    /// What happened, in a sentence or two.
    pub summary: String,
    /// Labelled facts in reading order; a value may span lines (a log tail).
    pub facts: Vec<(&'static str, String)>,
    /// Where to see the result: the item in the catalogue.
    pub link: Option<String>,
}

/// Several events in one message (a digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub subject: String,
    pub messages: Vec<Message>,
}

/// The label of [`Message::link`] in plain text.
pub const LINK_LABEL: &str = "Catalogue";
/// The label of the trace id, which the chat rendering leaves as code.
pub const TRACE_LABEL: &str = "Trace id";

pub fn render(notification: &Notification) -> Message {
    let mut message = match &notification.event {
        Event::ItemPublished(item) => item_published(item),
        Event::JobFailed(job) => job_failed(job),
        Event::JobDead(job) => job_dead(job),
        Event::Alert(alert) => alert_raised(alert),
    };
    message.facts.push(("Time", timestamp(notification.time)));
    if let Some(trace_id) = &notification.trace_id {
        message.facts.push((TRACE_LABEL, trace_id.clone()));
    }
    message
}

pub fn render_digest(subscription: &str, notifications: &[Notification]) -> Digest {
    let count = notifications.len();
    Digest {
        subject: format!(
            "{count} notification{} for {subscription}",
            if count == 1 { "" } else { "s" }
        ),
        messages: notifications.iter().map(render).collect(),
    }
}

fn item_published(item: &ItemPublished) -> Message {
    let mut facts = vec![
        ("Collection", item.collection.clone()),
        ("Item", item.item_id.clone()),
        (
            "Processor",
            format!("{} (job {})", item.processor, item.job_id),
        ),
    ];
    if let Some(bbox) = &item.bbox {
        facts.push(("Area", describe_bbox(bbox)));
    }
    facts.push(("Inputs", item.input_keys.join("\n")));
    if let Some(datetime) = item.datetime {
        facts.push(("Acquired", timestamp(datetime)));
    }
    Message {
        subject: format!("Published: {} item {}", item.collection, item.item_id),
        summary: format!(
            "A new item is in the catalogue: {} in collection {}, made by {}.",
            item.item_id, item.collection, item.processor
        ),
        facts,
        link: Some(item.item_href.clone()),
    }
}

fn job_failed(job: &JobFailed) -> Message {
    let next = if job.will_retry {
        "It will be tried again."
    } else {
        "It will not be tried again."
    };
    let mut facts = job_facts(
        &job.processor,
        &job.processor_version,
        &job.job_id,
        &job.rule,
    );
    facts.push(("Inputs", job.input_keys.join("\n")));
    if let Some(code) = job.exit_code {
        facts.push(("Exit code", code.to_string()));
    }
    if !job.log_tail.is_empty() {
        facts.push(("Log", job.log_tail.join("\n")));
    }
    Message {
        subject: format!("Job failed: {} (attempt {})", job.processor, job.attempt),
        summary: format!(
            "Processor {} failed on attempt {}: {}. {next}",
            job.processor, job.attempt, job.reason
        ),
        facts,
        link: None,
    }
}

fn job_dead(job: &JobDead) -> Message {
    let mut facts = job_facts(
        &job.processor,
        &job.processor_version,
        &job.job_id,
        &job.rule,
    );
    facts.push(("Inputs", job.input_keys.join("\n")));
    Message {
        subject: format!(
            "Job dead: {} after {} attempts",
            job.processor, job.attempts
        ),
        summary: format!(
            "Processor {} gave up after {} attempts: {}. Nothing more is tried until an operator \
             retries it (nrtmesh retry).",
            job.processor, job.attempts, job.reason
        ),
        facts,
        link: None,
    }
}

fn job_facts(
    processor: &str,
    version: &str,
    job_id: &str,
    rule: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("Processor", format!("{processor} {version}")),
        ("Job", job_id.to_owned()),
        ("Rule", rule.to_owned()),
    ]
}

fn alert_raised(alert: &Alert) -> Message {
    Message {
        subject: format!(
            "[{}] {}: {}",
            alert.severity.as_str().to_uppercase(),
            alert.kind,
            alert.about
        ),
        summary: alert.message.clone(),
        facts: vec![
            ("Severity", alert.severity.as_str().to_owned()),
            ("Kind", alert.kind.clone()),
            ("About", alert.about.clone()),
            ("Raised by", alert.service.clone()),
            ("Raised at", timestamp(alert.raised_at)),
        ],
        link: None,
    }
}

fn describe_bbox(bbox: &[f64]) -> String {
    match *bbox {
        [west, south, east, north] | [west, south, _, east, north, _] => {
            format!("west {west}, south {south}, east {east}, north {north}")
        }
        _ => format!("{bbox:?}"),
    }
}

fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Message {
    /// The body of an e-mail: the summary, then the facts in aligned columns.
    pub fn plain_text(&self) -> String {
        let mut facts = self.facts.clone();
        if let Some(link) = &self.link {
            // Right after what is being linked to, before time and trace.
            let at = facts
                .iter()
                .position(|(label, _)| *label == "Time")
                .unwrap_or(facts.len());
            facts.insert(at, (LINK_LABEL, link.clone()));
        }
        let width = facts
            .iter()
            .map(|(label, _)| label.len())
            .max()
            .unwrap_or(0)
            + 1;
        let mut text = format!("{}\n\n", self.summary);
        for (label, value) in &facts {
            let indent = " ".repeat(width + 1);
            let value = value.replace('\n', &format!("\n{indent}"));
            text.push_str(&format!("{:<width$} {value}\n", format!("{label}:")));
        }
        text
    }
}

impl Digest {
    /// Each message under its subject, separated by blank lines.
    pub fn plain_text(&self) -> String {
        let sections: Vec<String> = self
            .messages
            .iter()
            .enumerate()
            .map(|(index, message)| {
                format!(
                    "{}. {}\n{}",
                    index + 1,
                    message.subject,
                    message.plain_text()
                )
            })
            .collect();
        format!("{}\n\n{}", self.subject, sections.join("\n"))
    }
}

#[cfg(test)]
mod tests;
