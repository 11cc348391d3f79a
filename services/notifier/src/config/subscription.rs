//! `[[subscriptions]]`: who is told of what, and through which channel.

use std::{collections::BTreeSet, time::Duration};

use lettre::message::Mailbox;
use nrt_events::Severity;
use nrt_runtime::{Secret, config::ConfigError};
use serde::{Deserialize, Deserializer};
use url::Url;

use super::{optional_seconds, seconds};
use crate::{area::AreaConfig, filter::Filter, notification::EventKind, signature::SigningKey};

/// One subscription: filters on the events, and exactly one channel.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionConfig {
    /// Unique; names its durable consumers (`notifier-<name>`), metrics, alerts and dead letters.
    pub name: String,
    /// Kinds of event sent: `item-published`, `job-failed`, `job-dead`, `alert`.
    pub events: BTreeSet<EventKind>,
    /// When set, only items of these collections.
    #[serde(default)]
    pub collections: Option<BTreeSet<String>>,
    /// When set, only items and jobs of these processors.
    #[serde(default)]
    pub processors: Option<BTreeSet<String>>,
    /// When set, only items whose bounding box meets this area.
    #[serde(default)]
    pub area_of_interest: Option<AreaConfig>,
    /// When set, only alerts and jobs at least this severe (a failed job is a warning, a dead
    /// one critical).
    #[serde(default, deserialize_with = "severity")]
    pub min_severity: Option<Severity>,
    /// When set, only alerts of these kinds (`feed-stalled`, `product-overdue`, …).
    #[serde(default)]
    pub alert_kinds: Option<BTreeSet<String>>,
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    #[serde(default)]
    pub slack: Option<SlackConfig>,
    #[serde(default)]
    pub email: Option<EmailConfig>,
    /// How long one attempt may take (HTTP request, or SMTP conversation up to the relay's
    /// timeout).
    #[serde(
        rename = "timeout_secs",
        default = "default_timeout",
        deserialize_with = "seconds"
    )]
    pub timeout: Duration,
    /// When set, events are gathered for this long and sent as one message.
    #[serde(rename = "digest_secs", default, deserialize_with = "optional_seconds")]
    pub digest: Option<Duration>,
}

/// `[subscriptions.webhook]`: the CloudEvent POSTed, signed the Standard Webhooks way.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http` or `https`; redirects are not followed.
    pub url: Url,
    /// `whsec_<base64 key>` secrets (or `{ file = "…" }`); each signs every request, so while a
    /// secret is rotated the receiver may hold either.
    pub secrets: Vec<Secret>,
}

/// `[subscriptions.slack]`: a Slack or Mattermost incoming webhook.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The incoming-webhook URL; a credential (anyone holding it can post), so kept as a secret.
    pub url: Secret,
}

/// `[subscriptions.email]`: a message through the `[smtp]` relay.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Recipients, `"Name <a@b.org>"` or `"a@b.org"`, all in one message.
    pub to: Vec<String>,
}

/// By name, with a message listing the names (the config crate's own names none).
fn severity<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Severity>, D::Error> {
    let name = String::deserialize(deserializer)?;
    [Severity::Info, Severity::Warning, Severity::Critical]
        .into_iter()
        .find(|severity| severity.as_str() == name)
        .map(Some)
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{name:?} is not a severity; use info, warning or critical"
            ))
        })
}

fn default_timeout() -> Duration {
    // The Standard Webhooks specification recommends 15 to 30 s so receivers have time.
    Duration::from_secs(15)
}

impl SubscriptionConfig {
    pub(super) fn validate(&self, index: usize, has_smtp: bool) -> Result<(), ConfigError> {
        let key = |field: &str| format!("subscriptions[{index}].{field}");
        self.validate_name(&key("name"))?;
        self.validate_filters(&key)?;
        Filter::new(self)
            .map_err(|reason| ConfigError::invalid(key("area_of_interest"), reason))?;
        match (&self.webhook, &self.slack, &self.email) {
            (Some(webhook), None, None) => webhook.validate(&key("webhook")),
            (None, Some(slack), None) => slack.validate(&key("slack")),
            (None, None, Some(email)) => email.validate(&key("email"), has_smtp),
            (None, None, None) => Err(ConfigError::invalid(
                format!("subscriptions[{index}]"),
                "has no channel; add one [subscriptions.webhook], [subscriptions.slack] or \
                 [subscriptions.email]",
            )),
            _ => Err(ConfigError::invalid(
                format!("subscriptions[{index}]"),
                "has more than one channel; give each channel a subscription of its own",
            )),
        }
    }

    fn validate_name(&self, key: &str) -> Result<(), ConfigError> {
        let is_plain = self
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if self.name.is_empty() || !is_plain {
            return Err(ConfigError::invalid(
                key,
                format!(
                    "{:?} must be letters, digits, '-' or '_' (it names a JetStream consumer)",
                    self.name
                ),
            ));
        }
        Ok(())
    }

    fn validate_filters(&self, key: &impl Fn(&str) -> String) -> Result<(), ConfigError> {
        if self.events.is_empty() {
            return Err(ConfigError::invalid(
                key("events"),
                "subscribes to nothing; list item-published, job-failed, job-dead or alert",
            ));
        }
        for (field, filter) in [
            ("collections", &self.collections),
            ("processors", &self.processors),
            ("alert_kinds", &self.alert_kinds),
        ] {
            if filter.as_ref().is_some_and(BTreeSet::is_empty) {
                return Err(ConfigError::invalid(
                    key(field),
                    "an empty list accepts nothing; leave the key out to accept all",
                ));
            }
        }
        // A filter no event of a subscribed kind can pass is a mistake, not a way to mute it.
        let missing = |applies: fn(EventKind) -> bool| {
            self.events.iter().copied().find(|kind| !applies(*kind))
        };
        let lacking = [
            (
                "collections",
                self.collections.is_some(),
                missing(EventKind::is_an_item),
                "name no collection",
            ),
            (
                "area_of_interest",
                self.area_of_interest.is_some(),
                missing(EventKind::is_an_item),
                "have no bounding box",
            ),
            (
                "processors",
                self.processors.is_some(),
                missing(EventKind::has_processor),
                "name no processor",
            ),
            (
                "min_severity",
                self.min_severity.is_some(),
                missing(|kind| kind != EventKind::ItemPublished),
                "have no severity",
            ),
        ];
        for (field, is_set, kind, what) in lacking {
            if let (true, Some(kind)) = (is_set, kind) {
                return Err(ConfigError::invalid(
                    key(field),
                    format!(
                        "{} events {what}, so this subscription would never get them; give them \
                         a subscription of their own",
                        kind.as_str()
                    ),
                ));
            }
        }
        if self.alert_kinds.is_some() && !self.events.contains(&EventKind::Alert) {
            return Err(ConfigError::invalid(
                key("alert_kinds"),
                "filters alerts, but events does not list alert",
            ));
        }
        if self.min_severity == Some(Severity::Critical)
            && self.events.contains(&EventKind::JobFailed)
        {
            return Err(ConfigError::invalid(
                key("min_severity"),
                "a failed job is a warning, so critical would never let job-failed through",
            ));
        }
        Ok(())
    }
}

fn check_http_url(url: &Url, key: &str, shown: &str) -> Result<(), ConfigError> {
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::invalid(
            key,
            format!("{shown} is not an http or https URL with a host"),
        ));
    }
    Ok(())
}

impl WebhookConfig {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        check_http_url(&self.url, &format!("{key}.url"), self.url.as_str())?;
        if self.secrets.is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.secrets"),
                "needs at least one whsec_ secret",
            ));
        }
        self.keys(key).map(drop)
    }

    /// The decoded signing keys; `key` is this section's, for errors.
    pub fn keys(&self, key: &str) -> Result<Vec<SigningKey>, ConfigError> {
        let decode = |(index, secret)| {
            // The reason never quotes the secret.
            SigningKey::from_secret(secret).map_err(|error| {
                ConfigError::invalid(format!("{key}.secrets[{index}]"), error.to_string())
            })
        };
        self.secrets.iter().enumerate().map(decode).collect()
    }
}

impl SlackConfig {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let key = format!("{key}.url");
        // Neither the URL nor the parser's message (which may quote it) is shown.
        let url = self.parsed_url().map_err(|_| {
            ConfigError::invalid(&key, "is not a URL (not shown: it is a credential)")
        })?;
        check_http_url(&url, &key, "the incoming-webhook URL (not shown)")
    }

    pub fn parsed_url(&self) -> Result<Url, url::ParseError> {
        self.url.expose().parse()
    }
}

impl EmailConfig {
    fn validate(&self, key: &str, has_smtp: bool) -> Result<(), ConfigError> {
        if !has_smtp {
            return Err(ConfigError::invalid(
                key,
                "sends through the [smtp] relay, which is not configured",
            ));
        }
        if self.to.is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.to"),
                "needs at least one recipient",
            ));
        }
        for (index, address) in self.to.iter().enumerate() {
            address.parse::<Mailbox>().map_err(|error| {
                ConfigError::invalid(
                    format!("{key}.to[{index}]"),
                    format!("{address:?} is not an e-mail address: {error}"),
                )
            })?;
        }
        Ok(())
    }
}
