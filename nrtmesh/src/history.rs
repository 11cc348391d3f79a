//! The mesh's history as its streams hold it: every product and what became of it. `nrtmesh
//! trace` and the end of `nrtmesh dev` read it; nothing here keeps state of its own.

use async_nats::jetstream::{self, consumer::pull::OrderedConfig};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use nrt_events::{
    Envelope, ItemPublished, JobDead, JobFailed, JobRequested, JobStarted, JobSucceeded,
    ProductDiscovered, RawEvent, s3::S3Notification, streams,
};

/// Everything one product went through.
#[derive(Debug, Clone)]
pub struct Journey {
    pub product: Envelope<ProductDiscovered>,
    pub jobs: Vec<JobJourney>,
}

/// One job and its outcome.
#[derive(Debug, Clone)]
pub struct JobJourney {
    pub request: Envelope<JobRequested>,
    pub started: Vec<Envelope<JobStarted>>,
    pub failures: Vec<Envelope<JobFailed>>,
    pub succeeded: Option<Envelope<JobSucceeded>>,
    pub dead: Option<Envelope<JobDead>>,
    pub items: Vec<Envelope<ItemPublished>>,
    /// S3 object events for keys under the job's output prefix.
    pub object_events: usize,
}

/// The streams' content, decoded.
#[derive(Debug, Default)]
pub struct History {
    pub products: Vec<Envelope<ProductDiscovered>>,
    pub requests: Vec<Envelope<JobRequested>>,
    pub started: Vec<Envelope<JobStarted>>,
    pub failed: Vec<Envelope<JobFailed>>,
    pub succeeded: Vec<Envelope<JobSucceeded>>,
    pub dead: Vec<Envelope<JobDead>>,
    pub items: Vec<Envelope<ItemPublished>>,
    /// Decoded object keys of every S3 event, as `bucket/key`.
    pub object_keys: Vec<String>,
    pub dead_letters: usize,
    pub alerts: usize,
}

impl History {
    /// Reads every stream of the mesh from its first message to its last.
    pub async fn read(js: &jetstream::Context) -> anyhow::Result<Self> {
        let mut history = Self::default();
        for (subject, body) in read_stream(js, streams::PRODUCTS.name).await? {
            if subject.starts_with("products.discovered.") {
                history.products.extend(Envelope::from_json(&body).ok());
            }
        }
        for (_, body) in read_stream(js, streams::JOBS.name).await? {
            history.add_job_event(&body);
        }
        for (_, body) in read_stream(js, streams::CATALOGUE.name).await? {
            history.items.extend(Envelope::from_json(&body).ok());
        }
        for (_, body) in read_stream(js, streams::OBJECTS.name).await? {
            let Ok(notification) = serde_json::from_slice::<S3Notification>(&body) else {
                continue;
            };
            for record in notification.records {
                if let Ok(key) = record.s3.object.decoded_key() {
                    history
                        .object_keys
                        .push(format!("{}/{key}", record.s3.bucket.name));
                }
            }
        }
        history.dead_letters = read_stream(js, streams::DLQ.name).await?.len();
        history.alerts = read_stream(js, streams::ALERTS.name).await?.len();
        Ok(history)
    }

    fn add_job_event(&mut self, body: &[u8]) {
        let Ok(raw) = RawEvent::from_json(body) else {
            return;
        };
        match raw.ty.as_str() {
            ty if ty == <JobRequested as nrt_events::EventData>::TYPE => {
                self.requests.extend(raw.into_typed().ok())
            }
            ty if ty == <JobStarted as nrt_events::EventData>::TYPE => {
                self.started.extend(raw.into_typed().ok())
            }
            ty if ty == <JobFailed as nrt_events::EventData>::TYPE => {
                self.failed.extend(raw.into_typed().ok())
            }
            ty if ty == <JobSucceeded as nrt_events::EventData>::TYPE => {
                self.succeeded.extend(raw.into_typed().ok())
            }
            ty if ty == <JobDead as nrt_events::EventData>::TYPE => {
                self.dead.extend(raw.into_typed().ok())
            }
            _ => {}
        }
    }

    /// Every product's journey, in discovery order.
    pub fn journeys(&self) -> Vec<Journey> {
        self.products
            .iter()
            .map(|product| self.journey(product))
            .collect()
    }

    /// The journey of the product with this key, or of the product(s) a job with this id read.
    pub fn find(&self, id: &str) -> Vec<Journey> {
        let keys: Vec<&str> = match self
            .requests
            .iter()
            .find(|request| request.data.job_id == id)
        {
            Some(request) => request
                .data
                .inputs
                .iter()
                .map(|input| input.key.as_str())
                .collect(),
            None => vec![id],
        };
        self.products
            .iter()
            .filter(|product| keys.contains(&product.data.key.as_str()))
            .map(|product| self.journey(product))
            .collect()
    }

    fn journey(&self, product: &Envelope<ProductDiscovered>) -> Journey {
        let key = &product.data.key;
        let jobs = self
            .requests
            .iter()
            .filter(|request| request.data.inputs.iter().any(|input| &input.key == key))
            .map(|request| self.job(request))
            .collect();
        Journey {
            product: product.clone(),
            jobs,
        }
    }

    fn job(&self, request: &Envelope<JobRequested>) -> JobJourney {
        let id = &request.data.job_id;
        let of_job = |job_id: &String| job_id == id;
        let job_prefix = format!("/{id}/");
        JobJourney {
            request: request.clone(),
            started: self
                .started
                .iter()
                .filter(|e| of_job(&e.data.job_id))
                .cloned()
                .collect(),
            failures: self
                .failed
                .iter()
                .filter(|e| of_job(&e.data.job_id))
                .cloned()
                .collect(),
            succeeded: self
                .succeeded
                .iter()
                .find(|e| of_job(&e.data.job_id))
                .cloned(),
            dead: self.dead.iter().find(|e| of_job(&e.data.job_id)).cloned(),
            items: self
                .items
                .iter()
                .filter(|e| of_job(&e.data.job_id))
                .cloned()
                .collect(),
            object_events: self
                .object_keys
                .iter()
                .filter(|key| key.contains(&job_prefix))
                .count(),
        }
    }
}

/// Every message of a stream, in order, up to the last one present when the read began.
pub async fn read_stream(
    js: &jetstream::Context,
    name: &str,
) -> anyhow::Result<Vec<(String, Bytes)>> {
    let mut stream = js.get_stream(name).await?;
    let last = stream.info().await?.state.last_sequence;
    let mut messages = Vec::new();
    if last == 0 {
        return Ok(messages);
    }
    let consumer = stream.create_consumer(OrderedConfig::default()).await?;
    let mut delivered = consumer.messages().await?;
    while let Some(message) = delivered.next().await {
        let message = message?;
        let sequence = message
            .info()
            .map(|info| info.stream_sequence)
            .unwrap_or(last);
        messages.push((message.subject.to_string(), message.payload.clone()));
        if sequence >= last {
            break;
        }
    }
    Ok(messages)
}

impl Journey {
    /// What happened, when: one line per step, in time order.
    pub fn steps(&self) -> Vec<(DateTime<Utc>, String)> {
        let product = &self.product.data;
        let mut steps = vec![(
            self.product.time,
            format!(
                "discovered by the ingestor in feed {} (published there {})",
                product.feed, product.published_at
            ),
        )];
        for job in &self.jobs {
            let request = &job.request.data;
            let id = &request.job_id;
            steps.push((
                job.request.time,
                format!(
                    "job {id} requested by rule {}: {} {}",
                    request.rule, request.processor, request.processor_version
                ),
            ));
            for started in &job.started {
                steps.push((
                    started.time,
                    format!(
                        "attempt {} started ({} backend)",
                        started.data.attempt, started.data.backend
                    ),
                ));
            }
            for failed in &job.failures {
                steps.push((
                    failed.time,
                    format!(
                        "attempt {} failed: {}",
                        failed.data.attempt, failed.data.reason
                    ),
                ));
            }
            if let Some(succeeded) = &job.succeeded {
                let bytes: u64 = succeeded
                    .data
                    .outputs
                    .iter()
                    .map(|output| output.size)
                    .sum();
                let names: Vec<&str> = succeeded
                    .data
                    .outputs
                    .iter()
                    .map(|output| output.path.as_str())
                    .collect();
                steps.push((
                    succeeded.time,
                    format!(
                        "succeeded: {} ({bytes} bytes) staged to S3, {} object events",
                        names.join(", "),
                        job.object_events
                    ),
                ));
            }
            if let Some(dead) = &job.dead {
                steps.push((
                    dead.time,
                    format!(
                        "dead after {} attempts: {}",
                        dead.data.attempts, dead.data.reason
                    ),
                ));
            }
            for item in &job.items {
                steps.push((
                    item.time,
                    format!(
                        "item {} published in {}: {}",
                        item.data.item_id, item.data.collection, item.data.item_href
                    ),
                ));
            }
        }
        steps.sort_by_key(|(time, _)| *time);
        steps
    }
}
