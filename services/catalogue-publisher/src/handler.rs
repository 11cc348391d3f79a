//! Publishing one succeeded job: its item, then the links to it, then the fact.

use bytes::Bytes;
use chrono::Utc;
use nrt_events::{ItemPublished, JobSucceeded};
use stac::Item;

use crate::{
    Error, catalogue,
    config::{CollectionSettings, Config, RetractionPolicy, Target, check_path_segment},
    derivations::{Derivations, ItemRef},
    item::{ItemContext, ItemTime, build_item, item_time},
    layout::Layout,
    retraction,
    stac_api::StacApi,
    store::ObjectStore,
};

pub(crate) const GEOJSON: &str = "application/geo+json";

/// The catalogues one replica publishes to: the static catalogue in S3, a STAC API, or both.
#[derive(Clone)]
pub struct Catalogue<S> {
    pub(crate) store: S,
    pub(crate) layout: Layout,
    pub(crate) config: Config,
    pub(crate) stac_api: Option<StacApi>,
    derivations: Option<Derivations>,
}

impl<S: ObjectStore> Catalogue<S> {
    /// Publishes to the targets `config` names; the static catalogue lives in `store`.
    pub fn new(store: S, config: &Config) -> Self {
        Self {
            store,
            layout: layout_of(config),
            config: config.clone(),
            stac_api: config
                .stac_api_url()
                .map(|url| StacApi::new(url, &config.stac_api)),
            derivations: None,
        }
    }

    /// Records which inputs each item derives from, so that a retraction finds the item.
    pub fn with_derivations(mut self, derivations: Derivations) -> Self {
        self.derivations = Some(derivations);
        self
    }

    /// Publishes the job's item to every target and returns the event that says so. In the
    /// static catalogue: writes the item, verifies it reads back identically, links it from its
    /// collection (and the collection from the root catalog). In a STAC API: see [`StacApi`].
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
        let mut item =
            build_item(job, &context).map_err(|reason| Error::invalid_job(&job.job_id, reason))?;
        // Recorded before the item is written: a retraction of an input either finds the item
        // to mark, or is found here.
        self.record_derivation(job, &collection, &mut item).await?;
        if self.config.publishes_to(Target::S3) {
            self.write_static(&collection, &item).await?;
        }
        if let Some(api) = &self.stac_api {
            api.publish(&collection, &item).await?;
        }

        let published = ItemPublished {
            item_id: item.id.clone(),
            collection: collection.id.clone(),
            item_href: self.item_href(&collection.id, &item.id),
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

    /// Records the item as derived from each input; an input already retracted marks it, so a
    /// job replayed after the retraction leaves the item marked.
    async fn record_derivation(
        &self,
        job: &JobSucceeded,
        collection: &CollectionSettings,
        item: &mut Item,
    ) -> Result<(), Error> {
        let Some(derivations) = &self.derivations else {
            return Ok(());
        };
        let inputs: Vec<&str> = job.inputs.iter().map(|input| input.key.as_str()).collect();
        let derived = ItemRef {
            collection: collection.id.clone(),
            item_id: item.id.clone(),
        };
        if let Some(retraction) = derivations.record(&inputs, &derived).await?
            && self.config.retractions == RetractionPolicy::Mark
        {
            retraction::mark(&mut item.properties.additional_fields, &retraction);
        }
        Ok(())
    }

    /// The item first: nothing links to it before it is complete.
    async fn write_static(
        &self,
        collection: &CollectionSettings,
        item: &Item,
    ) -> Result<(), Error> {
        let item_key = self.layout.item_key(&collection.id, &item.id);
        let body = Bytes::from(serde_json::to_vec_pretty(item).expect("STAC items serialise"));
        self.store.put(&item_key, body.clone(), GEOJSON).await?;
        self.verify(&item_key, &body).await?;
        let catalog = catalogue::ensure_catalog(&self.store, &self.layout).await?;
        catalogue::add_item(&self.store, &self.layout, collection, item).await?;
        if !catalogue::links_collection(&catalog, &collection.id) {
            catalogue::link_collection(&self.store, &self.layout, collection).await?;
        }
        Ok(())
    }

    /// The static catalogue's item when it is a target, else the API's.
    fn item_href(&self, collection: &str, item_id: &str) -> String {
        match &self.stac_api {
            Some(api) if !self.config.publishes_to(Target::S3) => {
                api.item_url(collection, item_id).to_string()
            }
            _ => self
                .layout
                .catalogue_href(&self.layout.item_key(collection, item_id)),
        }
    }

    /// A written item that reads back differently was not published.
    pub(crate) async fn verify(&self, key: &str, written: &Bytes) -> Result<(), Error> {
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
