use nrt_nats::{ConsumerError, HandlerError, MeshError, PublishError, TopologyError};
use nrt_registry::RegistryError;

/// What can go wrong in the trigger: at start (files, NATS) and per product (decode, publish).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read rules file {file}")]
    ReadRules {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("rules file {file} is not valid TOML")]
    RulesSyntax {
        file: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("rules file {file}: {reason}")]
    RulesFile { file: String, reason: String },
    #[error("cannot read the rules from key {key} of bucket {bucket}")]
    ReadRulesKv {
        bucket: &'static str,
        key: &'static str,
        #[source]
        source: nrt_nats::async_nats::jetstream::kv::EntryError,
    },
    #[error(
        "key {key} of bucket {bucket} holds no rules; put them there with `nrtmesh rules publish`"
    )]
    NoRulesKv {
        bucket: &'static str,
        key: &'static str,
    },
    #[error("rules file {file}: rule {rule}, field {field}: {reason}")]
    InvalidRule {
        file: String,
        rule: String,
        field: String,
        reason: String,
    },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("rule {rule} names processor {processor}, which the registry does not have")]
    UnknownProcessor { rule: String, processor: String },
    #[error("rule {rule} made a job without inputs")]
    NoInputs { rule: String },
    #[error("rule {rule} cannot fill parameter {parameter}: {reason}")]
    Parameter {
        rule: String,
        parameter: String,
        reason: String,
    },
    #[error("message is not a {expected} event this service reads")]
    Decode {
        /// The event the consumer reads, e.g. `product.discovered`.
        expected: &'static str,
        #[source]
        source: nrt_events::DecodeError,
    },
    #[error("could not request job {job_id} of rule {rule}")]
    Publish {
        job_id: String,
        rule: String,
        #[source]
        source: PublishError,
    },
    #[error("could not raise alert {kind} about {about}")]
    RaiseAlert {
        kind: String,
        about: String,
        #[source]
        source: PublishError,
    },
    #[error("could not {operation} {key} in bucket {bucket}: {reason}")]
    Store {
        bucket: String,
        key: String,
        operation: &'static str,
        reason: String,
    },
    #[error("entry {key} of bucket {bucket} is not in a form this trigger reads")]
    UnreadableEntry {
        bucket: String,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("entry {key} kept changing under compare-and-set; will try again")]
    Contended { key: String },
    #[error("could not serve the health endpoints")]
    Health(#[source] std::io::Error),
    #[error(transparent)]
    Mesh(#[from] MeshError),
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
}

impl Error {
    /// Worth redelivering: the same product may be handled next time. Only publishing can heal;
    /// a body that does not decode never will.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Publish { source, .. } | Self::RaiseAlert { source, .. } => source.is_transient(),
            Self::Store { .. } | Self::Contended { .. } => true,
            _ => false,
        }
    }
}

impl HandlerError for Error {
    fn is_transient(&self) -> bool {
        Error::is_transient(self)
    }
}
