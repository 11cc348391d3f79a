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
    #[error("message is not a product.discovered event this service reads")]
    Decode(#[from] nrt_events::DecodeError),
    #[error("could not request job {job_id} of rule {rule}")]
    Publish {
        job_id: String,
        rule: String,
        #[source]
        source: PublishError,
    },
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
            Self::Publish { source, .. } => source.is_transient(),
            _ => false,
        }
    }
}

impl HandlerError for Error {
    fn is_transient(&self) -> bool {
        Error::is_transient(self)
    }
}
