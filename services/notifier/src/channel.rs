//! Where a subscription's notifications go (a signed webhook, a chat incoming webhook, e-mail)
//! and how one delivery ended, after a few quick attempts.

mod http;
mod mail;
mod retry;
mod slack;
mod webhook;

use std::{sync::Arc, time::Duration};

use nrt_runtime::config::ConfigError;

pub use retry::QuickRetries;
pub use webhook::{DIGEST_CONTENT_TYPE, digest_id};

use self::{mail::Mail, slack::Slack, webhook::Webhook};
use crate::{
    config::{Config, SubscriptionConfig},
    email::{EmailError, EmailSender},
    notification::Notification,
    render::{render, render_digest},
};

/// How delivering one notification (or one digest) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// HTTP 410: the endpoint was removed and asks not to be called again.
    Gone {
        reason: String,
    },
    /// Refused in a way that asking again will not change (another 4xx, a 3xx, a 5xx SMTP reply).
    Rejected {
        reason: String,
    },
    /// Failed on every quick attempt in a way that may heal: try again later.
    Unreachable {
        reason: String,
        /// What the endpoint asked for with `Retry-After`, if it did.
        retry_after: Option<Duration>,
    },
}

/// What every channel of a replica shares: one HTTP client, one SMTP relay, one retry policy.
#[derive(Clone)]
pub struct Senders {
    http: reqwest::Client,
    email: Option<Arc<EmailSender>>,
    retries: QuickRetries,
}

#[derive(Debug, thiserror::Error)]
pub enum SendersError {
    #[error("could not build the HTTP client")]
    Http(#[source] reqwest::Error),
    #[error("could not set up the SMTP relay")]
    Email(#[source] EmailError),
}

impl Senders {
    pub fn new(config: &Config) -> Result<Self, SendersError> {
        let http = reqwest::Client::builder()
            // The Standard Webhooks specification counts a 3xx as a failure: the URL should be
            // updated instead. Chat webhooks do not redirect either.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("nrt-mesh-notifier/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(SendersError::Http)?;
        let email = config
            .smtp
            .as_ref()
            .map(|smtp| EmailSender::new(smtp).map(Arc::new))
            .transpose()
            .map_err(SendersError::Email)?;
        Ok(Self {
            http,
            email,
            retries: QuickRetries::new(&config.delivery),
        })
    }
}

/// One subscription's channel, ready to send.
pub struct Channel {
    target: Target,
    retries: QuickRetries,
}

enum Target {
    Webhook(Webhook),
    Slack(Slack),
    Email(Mail),
}

impl Channel {
    /// The channel of the `index`-th subscription, validated before.
    pub fn new(
        config: &SubscriptionConfig,
        index: usize,
        senders: &Senders,
    ) -> Result<Self, ConfigError> {
        let key = |channel: &str| format!("subscriptions[{index}].{channel}");
        let target = if let Some(webhook) = &config.webhook {
            Target::Webhook(Webhook {
                http: senders.http.clone(),
                url: webhook.url.clone(),
                keys: webhook.keys(&key("webhook"))?,
                timeout: config.timeout,
            })
        } else if let Some(slack) = &config.slack {
            let url = slack.parsed_url().map_err(|_| {
                ConfigError::invalid(key("slack.url"), "is not a URL (not shown: a credential)")
            })?;
            Target::Slack(Slack {
                http: senders.http.clone(),
                url,
                timeout: config.timeout,
            })
        } else if let Some(email) = &config.email {
            let sender = senders
                .email
                .clone()
                .ok_or_else(|| ConfigError::invalid(key("email"), "needs the [smtp] section"))?;
            Target::Email(Mail {
                sender,
                to: email.to.clone(),
            })
        } else {
            return Err(ConfigError::invalid(
                format!("subscriptions[{index}]"),
                "has no channel",
            ));
        };
        Ok(Self {
            target,
            retries: senders.retries.clone(),
        })
    }

    /// `webhook`, `slack` or `email`: for logs, metrics and reasons.
    pub fn kind(&self) -> &'static str {
        match self.target {
            Target::Webhook(_) => "webhook",
            Target::Slack(_) => "slack",
            Target::Email(_) => "email",
        }
    }

    /// Sends one notification: the CloudEvent to a webhook, a rendered message elsewhere.
    pub async fn send(&self, notification: &Notification) -> Outcome {
        match &self.target {
            Target::Webhook(webhook) => {
                let body = notification.body.clone();
                let post = || webhook.post(&notification.id, "application/json", body.clone());
                self.retries.run(post).await
            }
            Target::Slack(slack) => {
                let text = slack::text(&render(notification));
                self.retries.run(|| slack.post(&text)).await
            }
            Target::Email(mail) => {
                let message = render(notification);
                let body = message.plain_text();
                self.retries
                    .run(|| mail.send(&message.subject, &body))
                    .await
            }
        }
    }

    /// Sends several notifications as one message: a JSON array of the CloudEvents to a
    /// webhook, one summary elsewhere.
    pub async fn send_digest(&self, subscription: &str, notifications: &[Notification]) -> Outcome {
        match &self.target {
            Target::Webhook(webhook) => {
                let id = digest_id(notifications);
                let body = webhook::digest_body(notifications);
                let post = || webhook.post(&id, DIGEST_CONTENT_TYPE, body.clone());
                self.retries.run(post).await
            }
            Target::Slack(slack) => {
                let text = slack::digest_text(&render_digest(subscription, notifications));
                self.retries.run(|| slack.post(&text)).await
            }
            Target::Email(mail) => {
                let digest = render_digest(subscription, notifications);
                let body = digest.plain_text();
                self.retries.run(|| mail.send(&digest.subject, &body)).await
            }
        }
    }
}
