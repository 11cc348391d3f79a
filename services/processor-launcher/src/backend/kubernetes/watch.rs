//! `wait`: the Job's state from a GET, then a watch from that resourceVersion until the Job
//! has a final condition or is gone. A watch the server closes is resumed where it stopped;
//! one whose resourceVersion expired (410 Gone) starts again from a fresh GET.

use std::{pin::pin, time::Duration};

use futures::StreamExt;
use kube::{
    ResourceExt,
    api::{WatchEvent, WatchParams},
};
use tokio::time::{Instant, timeout_at};

use super::{
    KubernetesBackend,
    error::{backend_error, is_status, watch_refusal},
    outcome::{self, Final},
};
use crate::backend::{BackendError, BackendJob, Ended};

/// Asked of the server, which then ends the watch; it is resumed from the last version seen.
const WATCH_TIMEOUT_SECS: u32 = 290;
/// Past the server's timeout, a watch that sent nothing more is taken for a dropped
/// connection and resumed.
const DEAD_WATCH_GRACE: Duration = Duration::from_secs(15);
/// Kubernetes' code for a resourceVersion older than the server still remembers.
const GONE: u16 = 410;

/// What a GET says: the Job has ended, or runs as of this resourceVersion.
enum Seen {
    Ended(Final),
    RunningAt(String),
}

enum Watched {
    Ended(Final),
    /// The server ended the watch: resume from this resourceVersion.
    Closed(String),
    Expired,
}

pub(super) async fn until_ended(
    backend: &KubernetesBackend,
    job: &BackendJob,
) -> Result<Ended, BackendError> {
    loop {
        let mut resource_version = match current(backend, job).await? {
            Seen::Ended(state) => return ended(backend, job, state).await,
            Seen::RunningAt(resource_version) => resource_version,
        };
        loop {
            match watch_once(backend, job, &resource_version).await? {
                Watched::Ended(state) => return ended(backend, job, state).await,
                Watched::Closed(last_seen) => resource_version = last_seen,
                Watched::Expired => break,
            }
        }
    }
}

async fn current(backend: &KubernetesBackend, job: &BackendJob) -> Result<Seen, BackendError> {
    let found = backend
        .jobs
        .get_opt(&job.name)
        .await
        .map_err(|e| backend_error("get", &job.name, e))?;
    let Some(found) = found else {
        return Ok(Seen::Ended(Final::Gone));
    };
    Ok(match outcome::final_state(&found, &job.id) {
        Some(state) => Seen::Ended(state),
        None => Seen::RunningAt(found.resource_version().unwrap_or_default()),
    })
}

async fn watch_once(
    backend: &KubernetesBackend,
    job: &BackendJob,
    from_version: &str,
) -> Result<Watched, BackendError> {
    let params = WatchParams::default()
        .fields(&format!("metadata.name={}", job.name))
        .timeout(WATCH_TIMEOUT_SECS);
    let deadline =
        Instant::now() + Duration::from_secs(WATCH_TIMEOUT_SECS.into()) + DEAD_WATCH_GRACE;
    let events = match backend.jobs.watch(&params, from_version).await {
        Ok(events) => events,
        Err(e) if is_status(&e, GONE) => return Ok(Watched::Expired),
        Err(e) => return Err(backend_error("watch", &job.name, e)),
    };
    let mut events = pin!(events);
    let mut resource_version = from_version.to_owned();
    loop {
        let event = match timeout_at(deadline, events.next()).await {
            Ok(Some(Ok(event))) => event,
            Ok(None) | Err(_) => return Ok(Watched::Closed(resource_version)),
            // The connection broke mid-stream: nothing was refused, so pick up where it stopped.
            Ok(Some(Err(kube::Error::ReadEvents(_)))) => {
                return Ok(Watched::Closed(resource_version));
            }
            Ok(Some(Err(e))) if is_status(&e, GONE) => return Ok(Watched::Expired),
            Ok(Some(Err(e))) => return Err(backend_error("watch", &job.name, e)),
        };
        match event {
            WatchEvent::Added(seen) | WatchEvent::Modified(seen) => {
                if let Some(state) = outcome::final_state(&seen, &job.id) {
                    return Ok(Watched::Ended(state));
                }
                resource_version = seen.resource_version().unwrap_or(resource_version);
            }
            WatchEvent::Deleted(_) => return Ok(Watched::Ended(Final::Gone)),
            WatchEvent::Bookmark(bookmark) => {
                resource_version = bookmark.metadata.resource_version;
            }
            WatchEvent::Error(status) if status.code == GONE => return Ok(Watched::Expired),
            WatchEvent::Error(status) => return Err(watch_refusal(&job.name, &status)),
        }
    }
}

async fn ended(
    backend: &KubernetesBackend,
    job: &BackendJob,
    state: Final,
) -> Result<Ended, BackendError> {
    Ok(match state {
        Final::Succeeded => Ended::Succeeded,
        Final::Gone => Ended::Vanished,
        Final::Failed(condition) => {
            // The pod only adds detail to a failure that is already certain.
            let pods = backend.pods_of(&job.name).await.unwrap_or_else(|e| {
                tracing::warn!(job = %job.name, error = %e, "Could not read the failed Job's pod.");
                Vec::new()
            });
            outcome::failure(&condition, &pods)
        }
    })
}
