//! Events and webhooks the unit tests share.

use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use nrt_events::{Envelope, EventData, ItemPublished, JobDead, JobFailed};
use nrt_runtime::Secret;

use crate::{
    config::WebhookConfig,
    notification::{EventKind, Notification},
};

pub(crate) fn item(collection: &str, processor: &str) -> ItemPublished {
    ItemPublished {
        item_id: "S2B_MSIL2A_20260101T101329_N0511_R022_T32TMS_20260101T122025".into(),
        collection: collection.into(),
        item_href: "s3://catalogue/snow/items/x.json".into(),
        job_id: "0f3c5a1e9b7d4c2a8e6f1b3d5c7a9e0f".into(),
        processor: processor.into(),
        input_keys: vec!["S2B_MSIL2A_20260101T101329_N0511_R022_T32TMS_20260101T122025".into()],
        datetime: Some(Utc::now()),
        bbox: Some(vec![8.99, 45.04, 10.41, 46.05]),
        published_at: Utc::now(),
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
        log_tail: vec!["no snow mask".into()],
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

pub(crate) fn notification_of<T: EventData>(data: T) -> Notification {
    let event = Envelope::new("/nrt-mesh/test", data);
    Notification::decode(&event.subject(), Bytes::from(event.to_json())).unwrap()
}

pub(crate) fn webhook(name: &str, events: &[EventKind]) -> WebhookConfig {
    WebhookConfig {
        name: name.into(),
        url: "http://127.0.0.1:9/hook".parse().unwrap(),
        secret: Secret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
        events: events.iter().copied().collect(),
        collections: None,
        processors: None,
        timeout: Duration::from_secs(5),
    }
}
