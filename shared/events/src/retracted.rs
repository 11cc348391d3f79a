use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{EventData, subject_token};

/// A product a feed no longer offers: deleted, or replaced by a reprocessed version. Processors
/// that ran on it may have to be re-run or their outputs withdrawn; that decision is downstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductRetracted {
    /// The product's identity across feeds, as in `ProductDiscovered.key`.
    pub key: String,
    /// The feed's own id for the product (a CDSE UUID).
    pub feed_id: String,
    pub name: String,
    /// The mission collection when the feed says it; retractions often carry little else.
    pub collection: Option<String>,
    pub product_type: Option<String>,
    /// When the feed retracted it (CDSE's `DeletionDate`).
    pub retracted_at: DateTime<Utc>,
    /// Why, as the feed words it (CDSE's `DeletionCause`, e.g. `Duplicated product`).
    pub cause: Option<String>,
    /// The configured name of the feed that reported it.
    pub feed: String,
}

impl EventData for ProductRetracted {
    const TYPE: &'static str = "eu.nrtmesh.product.retracted.v1";

    fn subject(&self) -> String {
        format!(
            "products.retracted.{}.{}",
            subject_token(self.collection.as_deref().unwrap_or_default()),
            subject_token(self.product_type.as_deref().unwrap_or_default())
        )
    }

    /// One retraction per feed id: a product deleted, re-published under the same name and deleted
    /// again is two facts.
    fn event_id(&self) -> String {
        format!("product-retracted:{}:{}", self.key, self.feed_id)
    }

    fn about(&self) -> Option<String> {
        Some(self.name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Envelope;

    fn retracted() -> ProductRetracted {
        ProductRetracted {
            key: "S1A_IW_SLC__1SDV_20240101T000000".into(),
            feed_id: "0f4c4ec5-1b5e-4c0f-a9f6-2a3b4c5d6e7f".into(),
            name: "S1A_IW_SLC__1SDV_20240101T000000.SAFE".into(),
            collection: Some("SENTINEL-1".into()),
            product_type: None,
            retracted_at: "2024-02-01T10:00:00Z".parse().unwrap(),
            cause: Some("Duplicated product".into()),
            feed: "cdse".into(),
        }
    }

    #[test]
    fn a_retraction_without_product_type_keeps_the_subject_shape() {
        assert_eq!(retracted().subject(), "products.retracted.SENTINEL-1._");
    }

    #[test]
    fn a_retraction_survives_a_cloudevent_round_trip() {
        let event = Envelope::new("/test", retracted());
        let decoded = Envelope::<ProductRetracted>::from_json(&event.to_json()).unwrap();
        assert_eq!(decoded.data, retracted());
        assert_eq!(
            decoded.id,
            "product-retracted:S1A_IW_SLC__1SDV_20240101T000000:0f4c4ec5-1b5e-4c0f-a9f6-2a3b4c5d6e7f"
        );
    }
}
