//! Jobs run outside the launcher: a processor writes its outputs straight into S3, then a
//! completion marker (`_SUCCESS`) beside them, last. The marker's object event on
//! `objects.<bucket>` (stream OBJECTS) turns its directory into a succeeded job, published and
//! announced like one from the launcher.
//!
//! The marker may be empty, or a JSON object saying what the launcher would have known:
//! `job_id`, `processor_version`, `inputs` (as in a job request; they give the item its
//! `derived_from` links, and its geometry and time when no sidecar does) and `parameters`.
//!
//! Other keys, removals and buckets not configured are passed over. A marker that is not valid
//! JSON, has no outputs beside it, or whose outputs say nowhere where they are, is refused: the
//! consumer runner dead-letters the notification with the bucket, key and reason. S3 out of
//! reach is worth a redelivery.

use std::{collections::BTreeSet, future::Future, sync::Arc};

use chrono::{DateTime, Utc};
use nrt_events::{
    JobInput, JobOutput, JobSucceeded,
    s3::{ChangeKind, NotificationError, ObjectChange, object_subject, read_object_changes},
    streams,
};
use nrt_nats::{
    ConsumerError, ConsumerSpec, Delivery, Handler, HandlerError, Mesh, Publisher, describe_error,
    ensure_consumer, run_consumer,
};
use nrt_runtime::Shutdown;
use nrt_s3::{OutputsError, aws_sdk_s3::Client};
use serde::Deserialize;
use serde_json::{Map, Value};

mod config;

pub use config::CompletionMarker;

use crate::{
    CONSUMER, Config, Error,
    config::check_path_segment,
    handler::{Catalogue, layout_of},
    item::{ItemContext, build_item},
    jetstream::publish_and_announce,
    store::ObjectStore,
};

/// The durable consumer of the configured buckets' object events.
pub const MARKER_CONSUMER: &str = "catalogue-publisher-markers";

/// A marker written where an entry expects one: its directory holds a finished job's outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion<'a> {
    pub entry: &'a CompletionMarker,
    pub bucket: String,
    pub key: String,
    pub directory: String,
    /// When the storage says the marker was written; the job's finish time.
    pub written_at: DateTime<Utc>,
}

/// The completion a change reports, if it wrote a marker an entry expects; the entry with the
/// longest prefix decides.
pub fn completion_of<'a>(
    entries: &'a [CompletionMarker],
    change: &ObjectChange,
) -> Option<Completion<'a>> {
    if change.kind != ChangeKind::Created {
        return None;
    }
    // Subjects are bucket names made safe for NATS, so two buckets can share one.
    let (entry, directory) = entries
        .iter()
        .filter(|entry| entry.bucket == change.bucket)
        .filter_map(|entry| Some((entry, entry.directory_of(&change.key)?)))
        .max_by_key(|(entry, _)| entry.prefix.trim_matches('/').len())?;
    Some(Completion {
        entry,
        bucket: change.bucket.clone(),
        key: change.key.clone(),
        directory: directory.to_owned(),
        // A sender that gives no time (some emulators) is dated by its arrival here.
        written_at: change.event_time.unwrap_or_else(Utc::now),
    })
}

/// What a marker says; an empty marker says nothing.
#[derive(Debug, Default, PartialEq, Deserialize)]
pub struct MarkerContent {
    pub job_id: Option<String>,
    pub processor_version: Option<String>,
    #[serde(default)]
    pub inputs: Vec<JobInput>,
    /// What the processor ran with, when it echoes its request. Checked to be an object; a
    /// succeeded job has no place for them, so the item does not carry them.
    pub parameters: Option<Map<String, Value>>,
}

/// Reads a marker's content; errors say what is wrong with it.
pub fn parse_marker(content: &[u8]) -> Result<MarkerContent, String> {
    if content.trim_ascii().is_empty() {
        return Ok(MarkerContent::default());
    }
    // An object first: serde would also read the fields from an array, by position.
    let value: Value = serde_json::from_slice(content)
        .map_err(|error| format!("its content is not valid JSON: {error}"))?;
    if !value.is_object() {
        return Err("its content is not a JSON object".into());
    }
    // Read again from the bytes, so that an error says where in them it is.
    let marker: MarkerContent = serde_json::from_slice(content)
        .map_err(|error| format!("its content is not a valid marker: {error}"))?;
    if let Some(job_id) = &marker.job_id {
        check_path_segment(job_id).map_err(|reason| format!("its job_id is unusable: {reason}"))?;
    }
    if marker
        .processor_version
        .as_ref()
        .is_some_and(|version| version.trim().is_empty())
    {
        return Err("its processor_version is empty".into());
    }
    Ok(marker)
}

impl Completion<'_> {
    /// The succeeded job the directory holds. Without a `job_id` in the marker, the id is a hash
    /// of the bucket and directory, so a redelivered event publishes the same item.
    pub fn job(
        &self,
        marker: MarkerContent,
        outputs: Vec<JobOutput>,
        metadata: Option<Value>,
    ) -> JobSucceeded {
        JobSucceeded {
            job_id: marker.job_id.unwrap_or_else(|| {
                nrt_events::stable_hash([self.bucket.as_str(), &self.directory])
            }),
            rule: self.entry.rule.clone(),
            processor: self.entry.processor.clone(),
            processor_version: marker
                .processor_version
                .unwrap_or_else(|| self.entry.processor_version.clone()),
            attempt: 1,
            inputs: marker.inputs,
            outputs,
            metadata,
            // When the processor started is not known; the marker says when it finished.
            started_at: self.written_at,
            finished_at: self.written_at,
        }
    }

    fn refused(&self, reason: impl Into<String>) -> MarkerError {
        MarkerError::Refused {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            reason: reason.into(),
        }
    }
}

/// Why a completion marker was not published.
#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    #[error("unreadable object notification: {0}")]
    Unreadable(NotificationError),
    #[error("completion marker s3://{bucket}/{key} cannot be catalogued: {reason}")]
    Refused {
        bucket: String,
        key: String,
        reason: String,
    },
    #[error("completion marker s3://{bucket}/{key}: its directory cannot be read")]
    Storage {
        bucket: String,
        key: String,
        #[source]
        source: OutputsError,
    },
    #[error("completion marker s3://{bucket}/{key}: publishing job {job_id} failed")]
    Publish {
        bucket: String,
        key: String,
        job_id: String,
        #[source]
        source: Error,
    },
    /// Every marker of one notification that failed; the others were published.
    #[error("{}", .0.iter().map(|error| describe_error(error)).collect::<Vec<_>>().join("; "))]
    Several(Vec<MarkerError>),
}

impl HandlerError for MarkerError {
    fn is_transient(&self) -> bool {
        match self {
            Self::Storage { source, .. } => source.is_transient(),
            Self::Publish { source, .. } => source.is_transient(),
            // Redelivered whole: the markers already published are published again, unchanged.
            Self::Several(errors) => errors.iter().any(HandlerError::is_transient),
            Self::Unreadable(_) | Self::Refused { .. } => false,
        }
    }
}

/// Reads the marker and its directory: the job they make, or why they make none.
pub async fn read_job(
    s3: &Client,
    completion: &Completion<'_>,
    sidecar_path: &str,
) -> Result<JobSucceeded, MarkerError> {
    let unreadable = |source: OutputsError| MarkerError::Storage {
        bucket: completion.bucket.clone(),
        key: completion.key.clone(),
        source,
    };
    let content = nrt_s3::get_bytes(s3, &completion.bucket, &completion.key)
        .await
        .map_err(|error| unreadable(error.into()))?
        .ok_or_else(|| completion.refused("it no longer exists"))?;
    let marker = parse_marker(&content).map_err(|reason| completion.refused(reason))?;
    let directory = format!("{}/", completion.directory);
    let (mut outputs, metadata) =
        nrt_s3::collect_stored_outputs(s3, &completion.bucket, &directory, sidecar_path)
            .await
            .map_err(unreadable)?;
    outputs.retain(|output| output.path != completion.entry.marker);
    if outputs.is_empty() {
        return Err(completion.refused("there are no outputs beside it"));
    }
    Ok(completion.job(marker, outputs, metadata))
}

/// Whether the job makes an item with a place on the map: a marker's outputs are catalogued only
/// when their sidecar or inputs say where they are.
pub fn check_item(job: &JobSucceeded, config: &Config) -> Result<(), String> {
    let collection = config.collection_for(&job.processor);
    let layout = layout_of(config);
    let context = ItemContext {
        collection: &collection,
        layout: &layout,
        sidecar_path: &config.sidecar_path,
    };
    match build_item(job, &context)?.geometry {
        Some(_) => Ok(()),
        None => Err(format!(
            "neither its sidecar ({}, field `geometry`) nor its marker's inputs give a geometry",
            config.sidecar_path
        )),
    }
}

/// Publishes the directories completed by markers, as launched jobs are published.
pub struct CompletionMarkers<S> {
    config: Config,
    s3: Client,
    catalogue: Catalogue<S>,
    publisher: Publisher,
}

impl<S: ObjectStore> Handler for CompletionMarkers<S> {
    type Error = MarkerError;

    async fn handle(&self, delivery: &Delivery) -> Result<(), MarkerError> {
        let changes = read_object_changes(&delivery.payload).map_err(MarkerError::Unreadable)?;
        let mut failures = Vec::new();
        // Keys that are not markers, and other buckets sharing the subject, are passed over.
        for change in &changes {
            if let Some(completion) = completion_of(&self.config.completion_markers, change)
                && let Err(error) = self.publish(&completion).await
            {
                failures.push(error);
            }
        }
        match failures.len() {
            0 => Ok(()),
            1 => Err(failures.remove(0)),
            _ => Err(MarkerError::Several(failures)),
        }
    }
}

impl<S: ObjectStore> CompletionMarkers<S> {
    async fn publish(&self, completion: &Completion<'_>) -> Result<(), MarkerError> {
        let job = read_job(&self.s3, completion, &self.config.sidecar_path).await?;
        check_item(&job, &self.config).map_err(|reason| completion.refused(reason))?;
        tracing::debug!(bucket = %completion.bucket, marker = %completion.key, job_id = %job.job_id, "Completed directory read as a job.");
        publish_and_announce(&self.catalogue, &self.publisher, &job)
            .await
            .map_err(|source| MarkerError::Publish {
                bucket: completion.bucket.clone(),
                key: completion.key.clone(),
                job_id: job.job_id.clone(),
                source,
            })?;
        Ok(())
    }
}

/// The consumer of the configured buckets' object events; `None` when no entry is configured.
pub fn consumer_spec(entries: &[CompletionMarker]) -> Option<ConsumerSpec> {
    let subjects: BTreeSet<String> = entries
        .iter()
        .map(|entry| object_subject(&entry.bucket))
        .collect();
    if subjects.is_empty() {
        return None;
    }
    // ConsumerSpec holds 'static names, as the fixed consumers do. These are built once at
    // startup and live as long as the process, so leaking them costs a few bytes.
    let subjects: Vec<&'static str> = subjects
        .into_iter()
        .map(|subject| &*Box::leak(subject.into_boxed_str()))
        .collect();
    Some(ConsumerSpec {
        stream: streams::OBJECTS,
        durable: MARKER_CONSUMER,
        filter_subjects: Box::leak(subjects.into_boxed_slice()),
        // The same patience as for launched jobs: S3 outages heal within minutes.
        ..CONSUMER
    })
}

/// Declares the marker consumer when entries are configured, and returns it running until
/// `shutdown`; with no entries, a consumer that ends at once.
pub async fn consumer<S: ObjectStore>(
    mesh: &Mesh,
    config: &Config,
    catalogue: Catalogue<S>,
    shutdown: Shutdown,
) -> Result<impl Future<Output = Result<(), ConsumerError>>, Error> {
    let declared = match consumer_spec(&config.completion_markers) {
        None => None,
        Some(spec) => {
            let consumer = ensure_consumer(&mesh.js, &spec).await?;
            let handler = Arc::new(CompletionMarkers {
                config: config.clone(),
                s3: nrt_s3::client(&config.s3).await,
                catalogue,
                publisher: mesh.publisher.clone(),
            });
            Some((consumer, spec, handler))
        }
    };
    let options = mesh.consumer_options(config.concurrency);
    Ok(async move {
        let Some((consumer, spec, handler)) = declared else {
            return Ok(());
        };
        tracing::info!(subjects = ?spec.filter_subjects, "Publishing directories completed by markers.");
        run_consumer(consumer, spec, handler, options, shutdown).await
    })
}

#[cfg(test)]
mod tests;
