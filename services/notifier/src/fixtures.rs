//! Events and subscriptions the unit tests share.

use std::{collections::BTreeSet, time::Duration};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use nrt_events::{Alert, Envelope, EventData, ItemPublished, JobDead, JobFailed, Severity};
use nrt_runtime::Secret;

use crate::{
    config::{SubscriptionConfig, WebhookConfig},
    notification::{EventKind, Notification},
};

pub(crate) const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// An item-published CloudEvent as the catalogue-publisher writes it to the wire, with the
/// CloudEvents distributed-tracing extension another producer might add.
pub(crate) const ITEM_EVENT: &str = r#"{
  "specversion": "1.0",
  "id": "item-published:footprint:S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505:6d1f",
  "source": "/nrt-mesh/catalogue-publisher",
  "type": "eu.nrtmesh.item.published.v1",
  "subject": "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505",
  "time": "2026-03-02T10:15:04.120Z",
  "traceparent": "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
  "datacontenttype": "application/json",
  "data": {
    "item_id": "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505",
    "collection": "footprint",
    "item_href": "s3://nrt-catalogue/stac/footprint/items/S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505.json",
    "job_id": "6d1f",
    "processor": "footprint",
    "input_keys": ["S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505"],
    "datetime": "2020-08-08T01:03:11.024Z",
    "bbox": [142.352793016856, 13.4725397858819, 142.943807935726, 14.188872888287],
    "published_at": "2026-03-02T10:15:04.100Z"
  }
}"#;

pub(crate) fn at(time: &str) -> DateTime<Utc> {
    time.parse().unwrap()
}

pub(crate) fn item(collection: &str, processor: &str) -> ItemPublished {
    ItemPublished {
        item_id: "S2B_MSIL2A_20260101T101329_N0511_R022_T32TMS_20260101T122025".into(),
        collection: collection.into(),
        item_href: "https://stac.example.org/collections/snow/items/x".into(),
        job_id: "0f3c5a1e9b7d4c2a8e6f1b3d5c7a9e0f".into(),
        processor: processor.into(),
        input_keys: vec!["S2B_MSIL2A_20260101T101329_N0511_R022_T32TMS_20260101T122025".into()],
        datetime: Some(at("2026-01-01T10:13:29Z")),
        // Tile 32TMS, in the Alps.
        bbox: Some(vec![8.99, 45.04, 10.41, 46.05]),
        published_at: at("2026-01-01T12:40:00Z"),
    }
}

pub(crate) fn job_failed(processor: &str) -> JobFailed {
    JobFailed {
        job_id: "0f3c5a1e9b7d4c2a8e6f1b3d5c7a9e0f".into(),
        rule: "snow-alps".into(),
        processor: processor.into(),
        processor_version: "1.2.0".into(),
        attempt: 1,
        input_keys: vec!["S2B_MSIL2A_20260101T101329".into()],
        reason: "exit code 3".into(),
        exit_code: Some(3),
        log_tail: vec!["reading bands".into(), "no snow mask".into()],
        will_retry: true,
    }
}

pub(crate) fn job_dead(processor: &str) -> JobDead {
    JobDead {
        job_id: "0f3c5a1e9b7d4c2a8e6f1b3d5c7a9e0f".into(),
        rule: "snow-alps".into(),
        processor: processor.into(),
        processor_version: "1.2.0".into(),
        attempts: 3,
        input_keys: vec!["S2B_MSIL2A_20260101T101329".into()],
        reason: "used its 3 attempts".into(),
    }
}

pub(crate) fn alert(severity: Severity, kind: &str) -> Alert {
    Alert {
        severity,
        kind: kind.into(),
        service: "ingestor".into(),
        message: "Feed cdse has not answered for 10 minutes.".into(),
        about: "cdse".into(),
        raised_at: at("2026-01-01T12:00:00Z"),
    }
}

pub(crate) fn notification_of<T: EventData>(data: T) -> Notification {
    let event = Envelope::new("/nrt-mesh/test", data);
    Notification::decode(&event.subject(), Bytes::from(event.to_json()), None).unwrap()
}

/// A webhook subscription to `events` with no other filter.
pub(crate) fn subscription(name: &str, events: &[EventKind]) -> SubscriptionConfig {
    SubscriptionConfig {
        name: name.into(),
        events: events.iter().copied().collect::<BTreeSet<_>>(),
        collections: None,
        processors: None,
        area_of_interest: None,
        min_severity: None,
        alert_kinds: None,
        webhook: Some(WebhookConfig {
            url: "http://127.0.0.1:9/hook".parse().unwrap(),
            secrets: vec![Secret::new(SECRET)],
        }),
        slack: None,
        email: None,
        timeout: Duration::from_secs(5),
        digest: None,
    }
}

/// [`ITEM_EVENT`], as the notifier receives it.
pub(crate) fn item_event() -> Notification {
    Notification::decode(
        "catalogue.published.footprint",
        Bytes::from_static(ITEM_EVENT.as_bytes()),
        None,
    )
    .unwrap()
}
