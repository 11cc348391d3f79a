//! `[watchdog]`: how often the watchdog looks, how long it remembers, and what it expects of
//! feeds and collections. An empty `[watchdog]` table, or none, watches every job whose rule has
//! a deadline.

use std::{collections::BTreeMap, time::Duration};

use nrt_runtime::config::ConfigError;
use serde::{Deserialize, Deserializer};

/// The timeliness watchdog's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchdogConfig {
    /// Off: no deadline or feed is watched (`enabled`, default true).
    pub enabled: bool,
    /// How often deadlines and feed cadences are compared with the clock
    /// (`check_interval_secs`, default 30).
    #[serde(rename = "check_interval_secs", deserialize_with = "seconds")]
    pub check_interval: Duration,
    /// How long a published job or product is remembered, so a late repeat of its events finds
    /// it settled (`retain_secs`, default a day). Deadlines missed longer ago than this are not
    /// reported: they are history a new watchdog replays, not news.
    #[serde(rename = "retain_secs", deserialize_with = "seconds")]
    pub retain: Duration,
    /// Feeds that must deliver at a known cadence, by the ingestor's feed name
    /// (`[watchdog.feeds.<feed>]`).
    pub feeds: BTreeMap<String, FeedCadence>,
    /// Collections whose every product must be selected by some rule before a deadline
    /// (`[watchdog.collections.<collection>]`). Once a rule selects a product, the rule's own
    /// deadline applies to its job.
    pub collections: BTreeMap<String, CollectionDeadline>,
}

/// `[watchdog.feeds.<feed>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedCadence {
    /// Longest normal gap between two products of the feed (`expected_every_secs`).
    #[serde(rename = "expected_every_secs", deserialize_with = "seconds")]
    pub expected_every: Duration,
}

/// `[watchdog.collections.<collection>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionDeadline {
    /// Time from a product's publication in its feed until some rule must have selected it
    /// (`deadline_secs`).
    #[serde(rename = "deadline_secs", deserialize_with = "seconds")]
    pub deadline: Duration,
}

impl Default for WatchdogConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            check_interval: Duration::from_secs(30),
            retain: Duration::from_secs(24 * 3600),
            feeds: BTreeMap::new(),
            collections: BTreeMap::new(),
        }
    }
}

impl WatchdogConfig {
    /// Checks what types cannot, naming the key; `run` calls it too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("watchdog.check_interval_secs", self.check_interval)?;
        positive("watchdog.retain_secs", self.retain)?;
        for (feed, cadence) in &self.feeds {
            let is_plain = feed
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if feed.is_empty() || !is_plain {
                return Err(ConfigError::invalid(
                    format!("watchdog.feeds.{feed}"),
                    format!(
                        "{feed:?} is not a feed name: feeds are named with letters, digits, `-` or `_`"
                    ),
                ));
            }
            positive(
                &format!("watchdog.feeds.{feed}.expected_every_secs"),
                cadence.expected_every,
            )?;
        }
        for (collection, deadline) in &self.collections {
            if collection.is_empty() {
                return Err(ConfigError::invalid(
                    "watchdog.collections",
                    "a collection name is empty",
                ));
            }
            positive(
                &format!("watchdog.collections.{collection}.deadline_secs"),
                deadline.deadline,
            )?;
        }
        Ok(())
    }

    /// How long `feed` may stay silent, when it is watched.
    pub fn cadence(&self, feed: &str) -> Option<Duration> {
        self.feeds.get(feed).map(|cadence| cadence.expected_every)
    }

    /// How long after publication a product of `collection` must be selected, when watched.
    pub fn collection_deadline(&self, collection: &str) -> Option<Duration> {
        self.collections
            .get(collection)
            .map(|deadline| deadline.deadline)
    }
}

fn positive(key: &str, duration: Duration) -> Result<(), ConfigError> {
    if duration.is_zero() {
        return Err(ConfigError::invalid(key, "must be more than 0 seconds"));
    }
    Ok(())
}

fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(deserializer)?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| serde::de::Error::custom(format!("{secs} is not a number of seconds")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<WatchdogConfig, ConfigError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            #[serde(default)]
            watchdog: WatchdogConfig,
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notifier.toml");
        std::fs::write(&path, text).unwrap();
        let file: File = nrt_runtime::config::load("", Some(&path), "NRT_WATCHDOG_TEST")?;
        file.watchdog.validate()?;
        Ok(file.watchdog)
    }

    fn error_of(text: &str) -> String {
        nrt_nats::describe_error(&load(text).unwrap_err())
    }

    #[test]
    fn an_empty_table_or_none_watches_with_the_defaults() {
        assert_eq!(load("[watchdog]\n").unwrap(), WatchdogConfig::default());
        let none = load("").unwrap();
        assert!(none.enabled);
        assert_eq!(none.check_interval, Duration::from_secs(30));
        assert_eq!(none.retain, Duration::from_secs(86_400));
    }

    #[test]
    fn reads_feed_cadences_and_collection_deadlines_by_their_exact_names() {
        let config = load(
            "[watchdog]\nenabled = false\ncheck_interval_secs = 0.5\nretain_secs = 3600\n\
             [watchdog.feeds.cdse-s2]\nexpected_every_secs = 7200\n\
             [watchdog.collections.SENTINEL-2]\ndeadline_secs = 10800\n",
        )
        .unwrap();
        assert!(!config.enabled);
        assert_eq!(config.check_interval, Duration::from_millis(500));
        assert_eq!(config.cadence("cdse-s2"), Some(Duration::from_secs(7200)));
        assert_eq!(config.cadence("cdse-s1"), None);
        assert_eq!(
            config.collection_deadline("SENTINEL-2"),
            Some(Duration::from_secs(10_800))
        );
        assert_eq!(config.collection_deadline("sentinel-2"), None);
    }

    #[test]
    fn zero_durations_are_refused_naming_the_key() {
        assert!(
            error_of("[watchdog]\ncheck_interval_secs = 0\n")
                .contains("watchdog.check_interval_secs is invalid: must be more than 0 seconds")
        );
        assert!(
            error_of("[watchdog.feeds.cdse]\nexpected_every_secs = 0\n")
                .contains("watchdog.feeds.cdse.expected_every_secs is invalid")
        );
        assert!(
            error_of("[watchdog.collections.SENTINEL-1]\ndeadline_secs = 0\n")
                .contains("watchdog.collections.SENTINEL-1.deadline_secs is invalid")
        );
    }

    #[test]
    fn negative_durations_unknown_keys_and_odd_feed_names_are_refused() {
        assert!(
            error_of("[watchdog]\nretain_secs = -5\n").contains("-5 is not a number of seconds")
        );
        assert!(error_of("[watchdog]\ncheck_every = 5\n").contains("check_every"));
        assert!(
            error_of("[watchdog.feeds.cdse]\nexpected_every_secs = 60\ndeadline_secs = 1\n")
                .contains("deadline_secs")
        );
        let odd = error_of("[watchdog.feeds.\"cdse s2\"]\nexpected_every_secs = 60\n");
        assert!(odd.contains("watchdog.feeds.cdse s2 is invalid"), "{odd}");
    }
}
