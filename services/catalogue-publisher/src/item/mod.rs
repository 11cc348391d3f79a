//! From a succeeded job to its STAC item.

mod coverage;
#[cfg(test)]
mod coverage_tests;
#[cfg(test)]
mod tests;

use nrt_events::{JobOutput, JobSucceeded};
use serde_json::{Map, Value, json};
use stac::{Asset, Item, Link};

pub use coverage::ItemTime;

use crate::{
    config::{CollectionSettings, check_path_segment},
    layout::{self, Layout},
};

/// The STAC file extension: `file:size` and `file:checksum` on assets.
pub const FILE_EXTENSION: &str = "https://stac-extensions.github.io/file/v2.1.0/schema.json";
/// The STAC processing extension: `processing:*` on the item.
pub const PROCESSING_EXTENSION: &str =
    "https://stac-extensions.github.io/processing/v1.2.0/schema.json";

/// What an item needs to know beyond the job: its collection and where things are.
#[derive(Debug, Clone, Copy)]
pub struct ItemContext<'a> {
    pub collection: &'a CollectionSettings,
    pub layout: &'a Layout,
    /// The output path of the processor's metadata sidecar.
    pub sidecar_path: &'a str,
}

/// The item id: `<processor>-<input key>` for a job of one input, `<processor>-<job id>` otherwise.
pub fn item_id(job: &JobSucceeded) -> String {
    match job.inputs.as_slice() {
        [only] => format!("{}-{}", job.processor, only.key),
        _ => format!("{}-{}", job.processor, job.job_id),
    }
}

/// Builds the one STAC 1.1.0 item of a succeeded job: every output file of the job is one of its
/// assets. (A later change may split outputs into several items when a sidecar asks for it.)
///
/// Geometry and time come from the processor's sidecar when it gives them (its fields
/// `geometry`, `datetime`, `start_datetime`, `end_datetime`), else from the inputs: one
/// footprint, or the union of several; the sensing window, an instant when it has no length.
/// The item links to its collection and the root catalog relatively, to itself absolutely, and
/// to each input with a `derived_from` link. The same job always gives the same item, so writing
/// it again is harmless.
///
/// Errors are reasons the job cannot be catalogued as it is.
pub fn build_item(job: &JobSucceeded, context: &ItemContext<'_>) -> Result<Item, String> {
    let id = item_id(job);
    check_path_segment(&id).map_err(|reason| format!("its item id is unusable: {reason}"))?;
    if job.outputs.is_empty() {
        return Err("it has no outputs, so there is nothing to catalogue".into());
    }
    let collection = &context.collection.id;
    let mut item = Item::new(&id).collection(collection);
    item.extensions = vec![FILE_EXTENSION.to_owned(), PROCESSING_EXTENSION.to_owned()];
    item.set_geometry(coverage::geometry(job)?)
        .map_err(|error| format!("its geometry cannot be used: {error}"))?;
    set_time(&mut item, coverage::time(job)?);
    item.properties.created = Some(rfc3339(job.finished_at));
    item.properties.additional_fields = processing_properties(job, context.collection);
    for (key, asset) in assets(job, context)? {
        item.assets.insert(key, asset);
    }
    let item_href = context
        .layout
        .catalogue_href(&context.layout.item_key(collection, &id));
    item.links = vec![
        Link::self_(item_href).geojson(),
        Link::root(layout::ITEM_TO_CATALOG).json(),
        Link::parent(layout::ITEM_TO_COLLECTION).json(),
        Link::collection(layout::ITEM_TO_COLLECTION).json(),
    ];
    item.links.extend(job.inputs.iter().filter_map(|input| {
        let href = input.href.as_ref().or(input.s3_uri.as_ref())?;
        Some(Link::new(href, "derived_from").title(Some(input.name.clone())))
    }));
    Ok(item)
}

/// When the item is, as its properties say it.
pub fn item_time(item: &Item) -> Option<ItemTime> {
    let properties = &item.properties;
    match (
        properties.datetime,
        properties.start_datetime,
        properties.end_datetime,
    ) {
        (Some(instant), _, _) => Some(ItemTime::Instant(instant)),
        (None, Some(start), Some(end)) => Some(ItemTime::Range { start, end }),
        _ => None,
    }
}

fn set_time(item: &mut Item, time: ItemTime) {
    let properties = &mut item.properties;
    match time {
        ItemTime::Instant(instant) => properties.datetime = Some(instant),
        ItemTime::Range { start, end } => {
            properties.datetime = None;
            properties.start_datetime = Some(start);
            properties.end_datetime = Some(end);
        }
    }
}

fn processing_properties(
    job: &JobSucceeded,
    collection: &CollectionSettings,
) -> Map<String, Value> {
    let inputs: Vec<&str> = job.inputs.iter().map(|input| input.name.as_str()).collect();
    let lineage = format!(
        "Produced by {} {} from {} by rule {} (job {}).",
        job.processor,
        job.processor_version,
        if inputs.is_empty() {
            "no input products".to_owned()
        } else {
            inputs.join(", ")
        },
        job.rule,
        job.job_id,
    );
    let mut properties = Map::new();
    properties.insert(
        "processing:software".into(),
        json!({ &job.processor: &job.processor_version }),
    );
    properties.insert("processing:lineage".into(), lineage.into());
    properties.insert(
        "processing:datetime".into(),
        rfc3339(job.finished_at).into(),
    );
    if let Some(level) = &collection.processing_level {
        properties.insert("processing:level".into(), level.clone().into());
    }
    properties.insert("nrt:job_id".into(), job.job_id.clone().into());
    properties.insert("nrt:rule".into(), job.rule.clone().into());
    properties
}

/// One asset per output, keyed by file name (by the relative path when two names collide).
fn assets(job: &JobSucceeded, context: &ItemContext<'_>) -> Result<Vec<(String, Asset)>, String> {
    let mut assets: Vec<(String, Asset)> = Vec::with_capacity(job.outputs.len());
    for output in &job.outputs {
        let asset = asset(output, context)?;
        let file_name = output.path.rsplit('/').next().unwrap_or_default();
        let key = if assets.iter().any(|(taken, _)| taken == file_name) {
            output.path.clone()
        } else {
            file_name.to_owned()
        };
        if key.is_empty() || assets.iter().any(|(taken, _)| *taken == key) {
            return Err(format!(
                "output path {:?} does not name a distinct file",
                output.path
            ));
        }
        assets.push((key, asset));
    }
    Ok(assets)
}

fn asset(output: &JobOutput, context: &ItemContext<'_>) -> Result<Asset, String> {
    nrt_s3::validate_key(&output.key)
        .map_err(|error| format!("output {}: {error}", output.path))?;
    if output.bucket.is_empty() {
        return Err(format!("output {} names no bucket", output.path));
    }
    let is_sha256 =
        output.sha256.len() == 64 && output.sha256.bytes().all(|b| b.is_ascii_hexdigit());
    if !is_sha256 {
        return Err(format!(
            "output {} has sha256 {:?}, not 64 hex digits",
            output.path, output.sha256
        ));
    }
    let role = if output.path == context.sidecar_path {
        "metadata"
    } else {
        "data"
    };
    let mut asset = Asset::new(context.layout.href(&output.bucket, &output.key)).role(role);
    asset.r#type = output.media_type.clone();
    asset
        .additional_fields
        .insert("file:size".into(), output.size.into());
    // Multihash: 0x12 is SHA2-256, 0x20 its length in bytes.
    asset.additional_fields.insert(
        "file:checksum".into(),
        format!("1220{}", output.sha256.to_ascii_lowercase()).into(),
    );
    Ok(asset)
}

fn rfc3339(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}
