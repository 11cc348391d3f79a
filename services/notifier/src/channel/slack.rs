//! A Slack incoming webhook, or Mattermost's, which reads the same payload: `{"text": …}` with
//! `<url|label>` links. Only markup both render is used (no `*bold*`: Mattermost wants `**`).

use std::time::Duration;

use url::Url;

use super::{Outcome, http};
use crate::render::{Digest, LINK_LABEL, Message, TRACE_LABEL};

pub(super) struct Slack {
    pub http: reqwest::Client,
    /// A credential: never logged.
    pub url: Url,
    pub timeout: Duration,
}

impl Slack {
    pub async fn post(&self, text: &str) -> Outcome {
        let request = self
            .http
            .post(self.url.clone())
            .json(&serde_json::json!({ "text": text }));
        http::send(request, self.timeout).await
    }
}

/// One event: subject, summary, facts, then the link.
pub(super) fn text(message: &Message) -> String {
    let mut lines = vec![escape(&message.subject), escape(&message.summary)];
    lines.extend(
        message
            .facts
            .iter()
            .map(|(label, value)| fact(label, value)),
    );
    lines.extend(message.link.as_deref().map(link));
    lines.join("\n")
}

/// Several events: each one's subject, link and trace id.
pub(super) fn digest_text(digest: &Digest) -> String {
    let mut lines = vec![escape(&digest.subject)];
    for message in &digest.messages {
        let mut entry = format!("• {}", escape(&message.subject));
        if let Some(href) = &message.link {
            entry.push_str(&format!(" — {}", link(href)));
        }
        if let Some((_, trace_id)) = message.facts.iter().find(|(l, _)| *l == TRACE_LABEL) {
            entry.push_str(&format!(" — trace `{}`", escape(trace_id)));
        }
        lines.push(entry);
    }
    lines.join("\n")
}

fn fact(label: &str, value: &str) -> String {
    let value = if label == TRACE_LABEL {
        // Code, so the id is copied whole into the tracing backend's search.
        format!("`{}`", escape(value))
    } else {
        escape(value).replace('\n', "\n    ")
    };
    format!("{label}: {value}")
}

/// A clickable link when the href is a web address; an `s3://` href is shown as text.
fn link(href: &str) -> String {
    let is_web = href.starts_with("https://") || href.starts_with("http://");
    if is_web && !href.contains(['<', '>', '|', ' ']) {
        format!("<{href}|Open in the catalogue>")
    } else {
        format!("{LINK_LABEL}: {}", escape(href))
    }
}

/// Slack's three control characters; Mattermost decodes the same entities.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests;
