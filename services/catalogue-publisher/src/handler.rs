//! Publishing one succeeded job: its item, then the links to it, then the fact.

use bytes::Bytes;
use chrono::Utc;
use nrt_events::{ItemPublished, JobSucceeded};

use crate::{
    Error, catalogue,
    config::{Config, check_path_segment},
    item::{ItemContext, ItemTime, build_item, item_time},
    layout::Layout,
    store::ObjectStore,
};

const GEOJSON: &str = "application/geo+json";

/// The static catalogue in S3, as one replica writes it.
pub struct Catalogue<S> {
    store: S,
    layout: Layout,
    config: Config,
}

impl<S: ObjectStore> Catalogue<S> {
    pub fn new(store: S, config: &Config) -> Self {
        Self {
            store,
            layout: layout_of(config),
            config: config.clone(),
        }
    }

    /// Writes the job's item, verifies it reads back identically, links it from its collection
    /// (and the collection from the root catalog), and returns the event that says so.
    ///
    /// Every step is idempotent: publishing the same job again rewrites the same item and adds
    /// no link twice, so a redelivered event is harmless.
    pub async fn publish(&self, job: &JobSucceeded) -> Result<ItemPublished, Error> {
        let collection = self.config.collection_for(&job.processor);
        check_path_segment(&collection.id).map_err(|reason| {
            Error::invalid_job(
                &job.job_id,
                format!("its collection id is unusable: {reason}"),
            )
        })?;
        let context = ItemContext {
            collection: &collection,
            layout: &self.layout,
            sidecar_path: &self.config.sidecar_path,
        };
        let item =
            build_item(job, &context).map_err(|reason| Error::invalid_job(&job.job_id, reason))?;
        let item_key = self.layout.item_key(&collection.id, &item.id);
        let body = Bytes::from(serde_json::to_vec_pretty(&item).expect("STAC items serialise"));

        // The item first: nothing links to it before it is complete.
        self.store.put(&item_key, body.clone(), GEOJSON).await?;
        self.verify(&item_key, &body).await?;
        let catalog = catalogue::ensure_catalog(&self.store, &self.layout).await?;
        catalogue::add_item(&self.store, &self.layout, &collection, &item).await?;
        if !catalogue::links_collection(&catalog, &collection.id) {
            catalogue::link_collection(&self.store, &self.layout, &collection).await?;
        }

        let published = ItemPublished {
            item_id: item.id.clone(),
            collection: collection.id.clone(),
            item_href: self.layout.catalogue_href(&item_key),
            job_id: job.job_id.clone(),
            processor: job.processor.clone(),
            input_keys: job.inputs.iter().map(|input| input.key.clone()).collect(),
            // A range is announced by its start: what a subscriber sorts and filters on.
            datetime: item_time(&item).map(|time| match time {
                ItemTime::Instant(instant) => instant,
                ItemTime::Range { start, .. } => start,
            }),
            bbox: item.bbox.map(Vec::from),
            published_at: Utc::now(),
        };
        record_latency(job, &published);
        Ok(published)
    }

    /// A written item that reads back differently was not published.
    async fn verify(&self, key: &str, written: &Bytes) -> Result<(), Error> {
        let found = match self.store.get(key).await? {
            None => "nothing",
            Some(read) if read != *written => "different bytes",
            Some(_) => return Ok(()),
        };
        Err(Error::ReadBack {
            uri: format!("s3://{}/{key}", self.layout.bucket()),
            found,
        })
    }
}

/// The catalogue's layout as configured.
pub fn layout_of(config: &Config) -> Layout {
    Layout::new(
        &config.catalogue_bucket,
        &config.catalogue_prefix,
        config.public_base_url.clone(),
    )
}

/// From the first input's publication in its feed to publication in the catalogue.
fn record_latency(job: &JobSucceeded, published: &ItemPublished) {
    metrics::counter!("nrt_items_published_total", "collection" => published.collection.clone())
        .increment(1);
    if let Some(first) = job.inputs.iter().map(|input| input.published_at).min() {
        let latency = (published.published_at - first)
            .to_std()
            .unwrap_or_default();
        metrics::histogram!("nrt_end_to_end_latency_seconds", "collection" => published.collection.clone())
            .record(latency.as_secs_f64());
    }
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
