use nrt_events::EventData;
use serde_json::json;

use super::*;
use crate::{
    handler::Catalogue,
    store::memory::MemoryStore,
    testing::{S2_T54PXA, assert_valid_item, config, job},
};

fn retraction(cause: Option<&str>) -> Retraction {
    Retraction {
        input: format!("{S2_T54PXA}.SAFE"),
        retracted_at: "2026-02-01T10:00:00Z".parse().unwrap(),
        cause: cause.map(str::to_owned),
    }
}

fn footprint_item(item_id: &str) -> ItemRef {
    ItemRef {
        collection: "footprint".into(),
        item_id: item_id.into(),
    }
}

#[test]
fn marking_adds_the_retraction_once_and_keeps_the_first() {
    let mut properties = Map::new();
    assert!(mark(
        &mut properties,
        &retraction(Some("Duplicated product"))
    ));
    assert_eq!(
        Value::Object(properties.clone()),
        json!({
            "nrt:retracted": true,
            "nrt:retracted_at": "2026-02-01T10:00:00Z",
            "nrt:retraction_cause": "Duplicated product",
            "nrt:retracted_input": format!("{S2_T54PXA}.SAFE"),
        })
    );
    let first = properties.clone();
    assert!(!mark(
        &mut properties,
        &retraction(Some("Corrupted product"))
    ));
    assert_eq!(properties, first);
}

#[test]
fn a_retraction_without_a_cause_adds_no_cause() {
    let mut properties = Map::new();
    assert!(mark(&mut properties, &retraction(None)));
    assert!(!properties.contains_key("nrt:retraction_cause"));
}

#[test]
fn the_alert_names_item_collection_input_and_cause() {
    let alert = alert(
        &footprint_item("footprint-X"),
        &retraction(Some("Duplicated product")),
    );
    assert_eq!(alert.severity, Severity::Warning);
    assert_eq!(alert.subject(), "alerts.warning.derived-item-retracted");
    assert_eq!(alert.about, "footprint-X");
    assert_eq!(alert.service, "catalogue-publisher");
    for part in [
        "footprint-X",
        "collection footprint",
        S2_T54PXA,
        "Duplicated product",
    ] {
        assert!(alert.message.contains(part), "{part:?}: {}", alert.message);
    }
}

#[tokio::test]
async fn a_published_item_is_marked_in_the_static_catalogue_once() {
    let store = MemoryStore::default();
    let catalogue = Catalogue::new(store.clone(), &config());
    let published = catalogue.publish(&job(&[S2_T54PXA])).await.unwrap();
    let item = footprint_item(&published.item_id);
    let key = format!("footprint/items/{}.json", published.item_id);

    let alerts = catalogue
        .mark_retracted(
            std::slice::from_ref(&item),
            &retraction(Some("Duplicated product")),
        )
        .await
        .unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].about, published.item_id);
    let marked: Value = serde_json::from_slice(&store.object(&key).unwrap()).unwrap();
    assert_valid_item(&marked);
    assert_eq!(marked["properties"]["nrt:retracted"], true);
    assert_eq!(
        marked["properties"]["nrt:retraction_cause"],
        "Duplicated product"
    );
    assert_eq!(
        marked["properties"]["nrt:job_id"],
        published.job_id.as_str()
    );

    // Redelivered: nothing is written again, and the alert (same id) is raised again.
    let etag = store.get_versioned(&key).await.unwrap().unwrap().etag;
    let again = catalogue
        .mark_retracted(&[item], &retraction(Some("Duplicated product")))
        .await
        .unwrap();
    assert_eq!(again[0].event_id(), alerts[0].event_id());
    assert_eq!(store.get_versioned(&key).await.unwrap().unwrap().etag, etag);
}

#[tokio::test]
async fn an_item_not_yet_in_the_catalogue_is_a_transient_error() {
    let catalogue = Catalogue::new(MemoryStore::default(), &config());
    let error = catalogue
        .mark_retracted(&[footprint_item("footprint-later")], &retraction(None))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::RetractedItemMissing { .. }),
        "{error}"
    );
    assert!(error.is_transient());
    assert!(
        error
            .to_string()
            .contains("s3://catalogue/footprint/items/footprint-later.json"),
        "{error}"
    );
}
