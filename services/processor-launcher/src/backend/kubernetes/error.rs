//! Kubernetes client errors as [`BackendError`]s: what was asked, of which Job, and whether
//! asking again may help.

use kube::core::Status;

use crate::backend::BackendError;

pub(super) const BACKEND: &str = nrt_registry::Backend::Kubernetes.as_str();

/// The API server's answer to a refused request, from its `Status` object.
#[derive(Debug, thiserror::Error)]
#[error("the API server answered {code} {reason}: {message}")]
pub struct ApiRefusal {
    pub code: u16,
    pub reason: String,
    pub message: String,
}

impl ApiRefusal {
    fn from_status(status: &Status) -> Self {
        Self {
            code: status.code,
            reason: status.reason.clone(),
            message: status.message.clone(),
        }
    }
}

pub(super) fn backend_error(
    operation: &'static str,
    name: &str,
    error: kube::Error,
) -> BackendError {
    let transient = is_transient(&error);
    let source: Box<dyn std::error::Error + Send + Sync> = match &error {
        kube::Error::Api(status) => Box::new(ApiRefusal::from_status(status)),
        _ => Box::new(error),
    };
    BackendError {
        backend: BACKEND,
        operation,
        name: name.to_owned(),
        transient,
        source,
    }
}

/// A refusal from a watch stream (`ERROR` event) rather than an HTTP status.
pub(super) fn watch_refusal(name: &str, status: &Status) -> BackendError {
    BackendError {
        backend: BACKEND,
        operation: "watch",
        name: name.to_owned(),
        transient: is_transient_code(status.code),
        source: Box::new(ApiRefusal::from_status(status)),
    }
}

/// Unreachable, overloaded or failing servers may answer later; a refused request will not.
fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => is_transient_code(status.code),
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

fn is_transient_code(code: u16) -> bool {
    code == 429 || code >= 500
}

pub(super) fn is_status(error: &kube::Error, code: u16) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == code)
}
