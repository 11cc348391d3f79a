//! The JetStream streams and key-value buckets of the mesh: names, subjects and purposes.
//! The `nrt-nats` crate turns these into server configuration.

use std::time::Duration;

/// A stream every service agrees on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamDef {
    pub name: &'static str,
    pub subjects: &'static [&'static str],
    pub description: &'static str,
    /// How long JetStream remembers message ids to drop repeats.
    pub duplicate_window: Duration,
}

const HOUR: Duration = Duration::from_secs(3600);

pub const PRODUCTS: StreamDef = StreamDef {
    name: "PRODUCTS",
    subjects: &["products.>"],
    description: "Products discovered in feeds",
    // A day: a feed re-polled after a long outage, or seen by a second source, still deduplicates.
    duplicate_window: Duration::from_secs(24 * 3600),
};

pub const OBJECTS: StreamDef = StreamDef {
    name: "OBJECTS",
    subjects: &["objects.>"],
    description: "S3 object events (AWS notification format)",
    duplicate_window: Duration::from_secs(120),
};

pub const JOBS: StreamDef = StreamDef {
    name: "JOBS",
    subjects: &["jobs.>"],
    description: "Job requests and lifecycle",
    duplicate_window: Duration::from_secs(24 * 3600),
};

pub const CATALOGUE: StreamDef = StreamDef {
    name: "CATALOGUE",
    subjects: &["catalogue.>"],
    description: "Items published in the catalogue",
    duplicate_window: HOUR,
};

pub const ALERTS: StreamDef = StreamDef {
    name: "ALERTS",
    subjects: &["alerts.>"],
    description: "Conditions operators must act on",
    duplicate_window: HOUR,
};

pub const DLQ: StreamDef = StreamDef {
    name: "DLQ",
    subjects: &["dlq.>"],
    description: "Events a service could not handle, with the reason",
    duplicate_window: HOUR,
};

pub const ALL: [StreamDef; 6] = [PRODUCTS, OBJECTS, JOBS, CATALOGUE, ALERTS, DLQ];

/// A key-value bucket every service agrees on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketDef {
    pub name: &'static str,
    /// How long an entry lives after its last write; `None` keeps it until deleted.
    pub max_age: Option<Duration>,
}

/// Per feed source: the publication time reached and the product ids seen at it.
pub const KV_INGEST_CURSORS: &str = "ingest-cursors";
/// One record per job id, changed only by compare-and-set.
pub const KV_JOBS: &str = "jobs";
/// The trigger's open and recently closed gatherings (joins and periodic rules), changed only by
/// compare-and-set so that any replica may add to or close any of them.
pub const KV_TRIGGER_JOINS: &str = "trigger-joins";
/// Per input product, the jobs the trigger requested with it: what a retraction must warn about.
pub const KV_TRIGGER_INPUTS: &str = "trigger-inputs";
/// The rules file the triggers run when they read their rules from the mesh (`rules publish`).
pub const KV_TRIGGER_RULES: &str = "trigger-rules";
/// The launchers' concurrency slots: `processor.<name>.<n>` and `global.<n>`, each held by one
/// running job under a lease, so limits hold across replicas.
pub const KV_LAUNCHER_SLOTS: &str = "launcher-slots";
/// Per input product, the catalogue items derived from it (collection and item id) and its
/// retraction once known: what a retraction must mark.
pub const KV_CATALOGUE_DERIVATIONS: &str = "catalogue-derivations";
/// The notifier's timeliness watchdog: per job, product and feed, what it saw and which alerts it
/// raised, changed only by compare-and-set so that replicas raise each alert once.
pub const KV_WATCHDOG: &str = "watchdog";
/// Notifier subscriptions switched off because their endpoint answered 410 Gone, by subscription
/// name, with the reason and time; deleting the key (`nats kv del notifier-disabled <name>`)
/// enables the subscription again.
pub const KV_NOTIFIER_DISABLED: &str = "notifier-disabled";
/// The key of [`KV_TRIGGER_RULES`] holding the rules text.
pub const KV_TRIGGER_RULES_KEY: &str = "rules";

pub const ALL_BUCKETS: [BucketDef; 9] = [
    BucketDef {
        name: KV_INGEST_CURSORS,
        max_age: None,
    },
    BucketDef {
        name: KV_JOBS,
        max_age: None,
    },
    BucketDef {
        name: KV_TRIGGER_JOINS,
        max_age: None,
    },
    BucketDef {
        name: KV_TRIGGER_INPUTS,
        // As long as the streams keep events: a retraction later than that finds no job to warn of
        // in JOBS either.
        max_age: Some(Duration::from_secs(30 * 24 * 3600)),
    },
    BucketDef {
        name: KV_TRIGGER_RULES,
        max_age: None,
    },
    BucketDef {
        name: KV_LAUNCHER_SLOTS,
        max_age: None,
    },
    BucketDef {
        name: KV_CATALOGUE_DERIVATIONS,
        // As long as the items: a feed may retract a product months after it was processed.
        max_age: None,
    },
    BucketDef {
        name: KV_WATCHDOG,
        // As long as the streams keep events: an overdue job never published is dropped then.
        max_age: Some(Duration::from_secs(30 * 24 * 3600)),
    },
    BucketDef {
        name: KV_NOTIFIER_DISABLED,
        max_age: None,
    },
];

/// The definition of the bucket named `name`.
pub fn bucket(name: &str) -> Option<BucketDef> {
    ALL_BUCKETS.into_iter().find(|def| def.name == name)
}
