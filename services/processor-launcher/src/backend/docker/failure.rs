//! Engine errors as [`BackendError`]s: what failed, on which job, and whether trying again can
//! help.

use bollard::errors::Error as DockerError;

use crate::backend::{BackendError, ContainerAttempt};

use super::BACKEND;

#[derive(Debug, thiserror::Error)]
#[error("cannot use the Docker engine at {}", host.as_deref().unwrap_or("DOCKER_HOST or the local socket"))]
pub struct ConnectError {
    pub host: Option<String>,
    #[source]
    pub source: DockerError,
}

/// Puts the image in the error chain, which the engine's message may not name.
#[derive(Debug, thiserror::Error)]
#[error("image {image}")]
struct ImageError {
    image: String,
    #[source]
    source: DockerError,
}

/// The HTTP status of an error the engine answered with.
pub(super) fn status(error: &DockerError) -> Option<u16> {
    match error {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Worth trying again: the engine was unreachable, too slow, broke off a stream (a pull that
/// lost its registry) or failed itself. A refused request (4xx) is refused again.
fn is_transient(error: &DockerError) -> bool {
    match error {
        DockerError::DockerResponseServerError { status_code, .. } => {
            *status_code >= 500 || *status_code == 429
        }
        DockerError::HyperLegacyError { .. }
        | DockerError::HyperResponseError { .. }
        | DockerError::IOError { .. }
        | DockerError::RequestTimeoutError
        | DockerError::DockerStreamError { .. }
        | DockerError::SocketNotFoundError(_) => true,
        _ => false,
    }
}

/// An operation on one job that failed; becomes a [`BackendError`] with its cause.
pub(super) struct Failure<'a> {
    operation: &'static str,
    name: &'a str,
    image: Option<&'a str>,
    is_transient: bool,
}

impl<'a> Failure<'a> {
    pub(super) fn new(operation: &'static str, name: &'a str) -> Self {
        Self {
            operation,
            name,
            image: None,
            is_transient: false,
        }
    }

    /// A failure about the attempt's image, which the error then names.
    pub(super) fn image(operation: &'static str, attempt: &'a ContainerAttempt) -> Self {
        Self {
            image: Some(&attempt.image),
            ..Self::new(operation, &attempt.name)
        }
    }

    /// Transient whatever the cause.
    pub(super) fn transient(self) -> Self {
        Self {
            is_transient: true,
            ..self
        }
    }

    pub(super) fn of(self, error: DockerError) -> BackendError {
        let is_transient = self.is_transient || is_transient(&error);
        let source: Box<dyn std::error::Error + Send + Sync> = match self.image {
            Some(image) => Box::new(ImageError {
                image: image.to_owned(),
                source: error,
            }),
            None => Box::new(error),
        };
        self.error(is_transient, source)
    }

    pub(super) fn because(
        self,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> BackendError {
        let is_transient = self.is_transient;
        self.error(is_transient, cause.into())
    }

    fn error(
        self,
        transient: bool,
        source: Box<dyn std::error::Error + Send + Sync>,
    ) -> BackendError {
        BackendError {
            backend: BACKEND,
            operation: self.operation,
            name: self.name.to_owned(),
            transient,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status_code: u16) -> DockerError {
        DockerError::DockerResponseServerError {
            status_code,
            message: "engine says no".into(),
        }
    }

    #[test]
    fn engine_failures_and_lost_connections_are_transient_refusals_are_not() {
        assert!(is_transient(&answered(500)));
        assert!(is_transient(&answered(503)));
        assert!(is_transient(&answered(429)));
        assert!(is_transient(&DockerError::RequestTimeoutError));
        assert!(!is_transient(&answered(400)));
        assert!(!is_transient(&answered(404)));
        assert!(!is_transient(&answered(409)));
    }

    #[test]
    fn the_error_names_the_job_the_operation_and_keeps_the_engines_message() {
        let error = Failure::new("create", "nrt-abc-1").of(answered(400));
        assert_eq!(error.to_string(), "docker could not create nrt-abc-1");
        assert!(!error.transient);
        assert_eq!(
            error.source.to_string(),
            "Docker responded with status code 400: engine says no"
        );
    }
}
