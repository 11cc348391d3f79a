//! Which events a subscription wants, and the subjects its consumers read them from.

use std::collections::{BTreeMap, BTreeSet};

use nrt_events::{Severity, subject_token};

use crate::{
    SERVICE,
    area::Area,
    config::SubscriptionConfig,
    notification::{EventKind, Notification},
};

/// A subscription's filters; every one that is set must match.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    subscription: String,
    events: BTreeSet<EventKind>,
    collections: Option<BTreeSet<String>>,
    processors: Option<BTreeSet<String>>,
    area: Option<Area>,
    min_severity: Option<Severity>,
    alert_kinds: Option<BTreeSet<String>>,
}

impl Filter {
    /// The filters of a validated subscription; the reason for a refusal concerns its
    /// `area_of_interest`.
    pub fn new(config: &SubscriptionConfig) -> Result<Self, String> {
        Ok(Self {
            subscription: config.name.clone(),
            events: config.events.clone(),
            collections: config.collections.clone(),
            processors: config.processors.clone(),
            area: config
                .area_of_interest
                .as_ref()
                .map(Area::new)
                .transpose()?,
            min_severity: config.min_severity,
            alert_kinds: config.alert_kinds.clone(),
        })
    }

    pub fn accepts(&self, notification: &Notification) -> bool {
        let area_matches = self.area.as_ref().is_none_or(|area| {
            notification
                .bbox()
                .is_some_and(|bbox| area.meets_bbox(bbox))
        });
        let severity_matches = self.min_severity.is_none_or(|min| {
            notification
                .severity()
                .is_some_and(|severity| rank(severity) >= rank(min))
        });
        let alert_kind_matches = match (&self.alert_kinds, notification.alert()) {
            (Some(kinds), Some(alert)) => kinds.contains(&alert.kind),
            _ => true,
        };
        self.events.contains(&notification.kind())
            && is_in(&self.collections, notification.collection())
            && is_in(&self.processors, notification.processor())
            && area_matches
            && severity_matches
            && alert_kind_matches
            && !self.is_own_failure(notification)
    }

    /// An alert the notifier raised about this very subscription (it is gone, or an event was
    /// dead-lettered). Sent to it, a failing endpoint would raise another one about itself for
    /// ever; other subscriptions get it.
    fn is_own_failure(&self, notification: &Notification) -> bool {
        notification
            .alert()
            .is_some_and(|alert| alert.service == SERVICE && alert.about == self.subscription)
    }

    /// The subjects to read, per stream: the narrowest the filters allow, so that a consumer
    /// is not handed events only to drop them. Collections, processors of jobs and alert
    /// severities are subject tokens; the handler still applies every filter.
    pub fn subjects(&self) -> BTreeMap<&'static str, BTreeSet<String>> {
        let mut subjects: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
        for &kind in &self.events {
            let prefix = kind.subject_prefix();
            let tokens: Vec<String> = match kind {
                EventKind::ItemPublished => tokens_or_all(&self.collections),
                EventKind::JobFailed | EventKind::JobDead => tokens_or_all(&self.processors),
                EventKind::Alert => self.alert_tokens(),
            };
            subjects
                .entry(kind.stream().name)
                .or_default()
                .extend(tokens.into_iter().map(|token| format!("{prefix}{token}")));
        }
        subjects
    }

    /// `<severity>.<kind>` tails of alert subjects.
    fn alert_tokens(&self) -> Vec<String> {
        let severities: Vec<&str> = match self.min_severity {
            None => vec!["*"],
            Some(min) => [Severity::Info, Severity::Warning, Severity::Critical]
                .into_iter()
                .filter(|severity| rank(*severity) >= rank(min))
                .map(Severity::as_str)
                .collect(),
        };
        let kinds = tokens_or_all(&self.alert_kinds);
        severities
            .iter()
            .flat_map(|severity| kinds.iter().map(move |kind| format!("{severity}.{kind}")))
            .collect()
    }
}

fn is_in(wanted: &Option<BTreeSet<String>>, value: Option<&str>) -> bool {
    match (wanted, value) {
        (None, _) => true,
        (Some(wanted), Some(value)) => wanted.contains(value),
        // A filter cannot be satisfied by an event that names nothing it could match.
        (Some(_), None) => false,
    }
}

fn tokens_or_all(values: &Option<BTreeSet<String>>) -> Vec<String> {
    match values {
        None => vec![">".to_owned()],
        // Two values may share a token ("a.b", "a_b"): the set keeps the subject once.
        Some(values) => values
            .iter()
            .map(|value| subject_token(value))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    }
}

/// Severities in order; `nrt_events::Severity` has no order of its own.
pub fn rank(severity: Severity) -> u8 {
    match severity {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Critical => 2,
    }
}

#[cfg(test)]
mod tests;
