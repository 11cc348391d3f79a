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

/// Per feed source: the publication time reached and the product ids seen at it.
pub const KV_INGEST_CURSORS: &str = "ingest-cursors";
/// One record per job id, changed only by compare-and-set.
pub const KV_JOBS: &str = "jobs";

pub const ALL_BUCKETS: [&str; 2] = [KV_INGEST_CURSORS, KV_JOBS];
