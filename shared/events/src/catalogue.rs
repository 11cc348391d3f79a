use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{EventData, subject_token};

/// A STAC item is in the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemPublished {
    pub item_id: String,
    pub collection: String,
    /// Where the item document is, e.g. `s3://catalogue/footprint/items/x.json` or an HTTPS URL.
    pub item_href: String,
    pub job_id: String,
    pub processor: String,
    pub input_keys: Vec<String>,
    pub datetime: Option<DateTime<Utc>>,
    pub bbox: Option<Vec<f64>>,
    pub published_at: DateTime<Utc>,
}

impl EventData for ItemPublished {
    const TYPE: &'static str = "eu.nrtmesh.item.published.v1";

    fn subject(&self) -> String {
        format!("catalogue.published.{}", subject_token(&self.collection))
    }

    fn event_id(&self) -> String {
        format!(
            "item-published:{}:{}:{}",
            self.collection, self.item_id, self.job_id
        )
    }

    fn about(&self) -> Option<String> {
        Some(self.item_id.clone())
    }
}
