//! What went wrong talking to Nomad, and whether trying again can help.

use reqwest::{Method, StatusCode};

use super::spec::PAYLOAD_LIMIT;
use crate::backend::BackendError;

/// Nomad's RPC layer answers every uncoded error with a 500, so for these the message is all
/// there is to tell a refusal from an outage (nomad/job_endpoint.go, go-multierror's format).
const REFUSALS: &[&str] = &[
    "parameterized job not found",
    "is not a parameterized job",
    "is stopped",
    "Payload is not provided but required",
    "Payload provided but forbidden",
    "Payload exceeds maximum size",
    "did not provide required meta keys",
    "unpermitted metadata keys",
    "validation failed",
    "error occurred:",
    "errors occurred:",
];

/// The dispatch found no parameterized job to copy: deleted, stopped or never registered.
const MISSING_PARENT: &[&str] = &["parameterized job not found", "is stopped"];

#[derive(Debug, thiserror::Error)]
pub enum NomadError {
    #[error("nomad.address {address:?} is not a URL")]
    Address {
        address: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("nomad.token is not a valid HTTP header value")]
    Token,
    #[error("could not build the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error("{method} {path} did not reach Nomad")]
    Unreachable {
        method: Method,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "{method} {path}: Nomad refused the request ({status}: {message}); check the ACL token \
         (nomad.token or NOMAD_TOKEN) and its policy for this namespace"
    )]
    Forbidden {
        method: Method,
        path: String,
        status: StatusCode,
        message: String,
    },
    #[error("{method} {path}: Nomad answered {status}: {message}")]
    Status {
        method: Method,
        path: String,
        status: StatusCode,
        message: String,
    },
    #[error("{method} {path}: Nomad's answer could not be read")]
    Decode {
        method: Method,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "the manifest payload is {size} bytes, over Nomad's dispatch payload limit of \
         {PAYLOAD_LIMIT} bytes"
    )]
    PayloadTooLarge { size: usize },
    #[error("the attempt names no parameterized Nomad job (nomad_job)")]
    NoParentJob,
}

impl NomadError {
    /// Builds the error for a non-success answer from its status and plain-text body.
    pub fn from_answer(method: Method, path: String, status: StatusCode, body: &str) -> Self {
        let message = body.trim().to_owned();
        if status == StatusCode::FORBIDDEN {
            Self::Forbidden {
                method,
                path,
                status,
                message,
            }
        } else {
            Self::Status {
                method,
                path,
                status,
                message,
            }
        }
    }

    /// Worth trying again: Nomad was unreachable, rate-limited us or failed for a reason other
    /// than refusing what was asked.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Status {
                status, message, ..
            } => {
                *status == StatusCode::TOO_MANY_REQUESTS
                    || (status.is_server_error() && !mentions(message, REFUSALS))
            }
            _ => false,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Status { status, .. } if *status == StatusCode::NOT_FOUND)
    }

    /// A dispatch failed because its parameterized job is gone or stopped; registering it again
    /// fixes that.
    pub fn is_missing_parent(&self) -> bool {
        match self {
            Self::Status {
                status, message, ..
            } => *status == StatusCode::NOT_FOUND || mentions(message, MISSING_PARENT),
            _ => false,
        }
    }

    pub fn into_backend_error(self, operation: &'static str, name: &str) -> BackendError {
        BackendError {
            backend: nrt_registry::Backend::Nomad.as_str(),
            operation,
            name: name.to_owned(),
            transient: self.is_transient(),
            source: Box::new(self),
        }
    }
}

fn mentions(message: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|phrase| message.contains(phrase))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> NomadError {
        let status = StatusCode::from_u16(status).unwrap();
        NomadError::from_answer(
            Method::POST,
            "/v1/job/nrt-snow/dispatch".into(),
            status,
            body,
        )
    }

    #[test]
    fn outages_and_rate_limits_are_transient_refusals_are_not() {
        assert!(answer(500, "No cluster leader").is_transient());
        assert!(answer(503, "").is_transient());
        assert!(answer(429, "too many requests").is_transient());
        assert!(!answer(500, "parameterized job not found").is_transient());
        assert!(!answer(500, "1 error occurred:\n\t* Missing job datacenters\n\n").is_transient());
        assert!(!answer(400, "Job ID does not match").is_transient());
        assert!(!answer(403, "Permission denied").is_transient());
        assert!(!answer(404, "job not found").is_transient());
    }

    #[test]
    fn a_forbidden_answer_points_at_the_token() {
        let error = answer(403, "Permission denied\n").to_string();
        assert_eq!(
            error,
            "POST /v1/job/nrt-snow/dispatch: Nomad refused the request (403 Forbidden: \
             Permission denied); check the ACL token (nomad.token or NOMAD_TOKEN) and its \
             policy for this namespace"
        );
    }

    #[test]
    fn a_deleted_or_stopped_parent_is_recognised() {
        assert!(answer(500, "parameterized job not found").is_missing_parent());
        assert!(answer(500, "Specified job \"nrt-snow\" is stopped").is_missing_parent());
        assert!(!answer(500, "No cluster leader").is_missing_parent());
    }
}
