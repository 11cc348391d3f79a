//! CDSE's subscription endpoints and product lookup by id, as the replay plays them:
//! `GET /odata/v1/Products(<id>)` answers one product; a pull subscription is a queue read with
//! `GET /odata/v1/Subscriptions(<id>)/Read?$top=N` (at most 20, left queued) and emptied with
//! `POST /odata/v1/Subscriptions(<id>)/Ack?$ackid=<AckId>`, which removes that notification and
//! every one before it. Any other subscription id answers CDSE's 404.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use axum::{
    extract::{OriginalUri, Path, RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine;
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json, value::RawValue};

use crate::{Fault, fault::FaultQueue, server::ServerState};

/// The most notifications one `Read` answers, as CDSE documents.
pub const MAX_READ_TOP: usize = 20;

/// The replay's one pull subscription (CDSE allows one running subscription per user).
#[derive(Debug, Default)]
pub(crate) struct Subscription {
    id: Mutex<Option<String>>,
    queue: Mutex<VecDeque<Queued>>,
    acknowledgements: Mutex<Vec<Acknowledgement>>,
    ack_faults: FaultQueue,
    /// Numbers the AckIds, as CDSE's stream ids do.
    sequence: AtomicU64,
}

#[derive(Debug)]
struct Queued {
    /// `None` for a notification queued without one: only a later AckId can remove it.
    ack_id: Option<String>,
    notification: Box<RawValue>,
}

/// An acknowledgement the replay applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub ack_id: String,
    /// How many notifications it removed: its own and every one queued before it.
    pub removed: usize,
    pub received_at: Instant,
    pub received_at_utc: chrono::DateTime<Utc>,
}

impl Subscription {
    pub fn open(&self, id: &str) {
        *self.id.lock().expect("subscription lock") = Some(id.to_owned());
    }

    /// Queues a notification as given; its `AckId`, if any, is what acknowledges it.
    pub fn enqueue(&self, notification: Box<RawValue>) {
        let ack_id = serde_json::from_str::<Value>(notification.get())
            .ok()
            .and_then(|value| value.get("AckId")?.as_str().map(str::to_owned));
        self.queue.lock().expect("queue lock").push_back(Queued {
            ack_id,
            notification,
        });
    }

    /// A `created` notification for `entity`, as CDSE queues it: with the entity as `value`,
    /// or (`with_entity` false) as it reads after CDSE's three-day retention, id only.
    pub fn notify_created(&self, entity: &RawValue, with_entity: bool) -> String {
        let subscription = self
            .id
            .lock()
            .expect("subscription lock")
            .clone()
            .unwrap_or_default();
        let sequence = self.sequence.fetch_add(1, Ordering::SeqCst);
        // CDSE's AckIds are base64 of `<stream id>:<subscription id>`.
        let ack_id = base64::engine::general_purpose::STANDARD
            .encode(format!("{}-0:{subscription}", 1_710_756_706_532 + sequence));
        let value: Value = serde_json::from_str(entity.get()).expect("served entities are JSON");
        let mut notification = json!({
            "@odata.context": "$metadata#Notification/$entity",
            "SubscriptionEvent": "created",
            "ProductId": value["Id"],
            "ProductName": value["Name"],
            "SubscriptionId": subscription,
            "NotificationDate": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            "AckId": ack_id,
        });
        if with_entity {
            notification["value"] = value;
        } else {
            notification
                .as_object_mut()
                .expect("an object")
                .remove("ProductName");
        }
        self.enqueue(serde_json::value::to_raw_value(&notification).expect("JSON serialises"));
        ack_id
    }

    pub fn fail_acks(&self, fault: Fault, responses: usize) {
        self.ack_faults.push(fault, responses)
    }

    pub fn acknowledgements(&self) -> Vec<Acknowledgement> {
        self.acknowledgements
            .lock()
            .expect("acknowledgement lock")
            .clone()
    }

    pub fn queued(&self) -> usize {
        self.queue.lock().expect("queue lock").len()
    }

    fn is(&self, id: &str) -> bool {
        self.id.lock().expect("subscription lock").as_deref() == Some(id)
    }

    fn read(&self, top: usize) -> Vec<u8> {
        let queue = self.queue.lock().expect("queue lock");
        let page: Vec<&RawValue> = queue
            .iter()
            .take(top)
            .map(|queued| queued.notification.as_ref())
            .collect();
        serde_json::to_vec(&page).expect("notifications serialise")
    }

    /// Removes `ack_id` and everything before it; how many, or `None` for an unknown id.
    fn ack(&self, ack_id: &str) -> Option<usize> {
        let mut queue = self.queue.lock().expect("queue lock");
        let position = queue
            .iter()
            .position(|queued| queued.ack_id.as_deref() == Some(ack_id))?;
        queue.drain(..=position);
        let removed = position + 1;
        self.acknowledgements
            .lock()
            .expect("acknowledgement lock")
            .push(Acknowledgement {
                ack_id: ack_id.to_owned(),
                removed,
                received_at: Instant::now(),
                received_at_utc: Utc::now(),
            });
        Some(removed)
    }
}

/// `GET /odata/v1/Products(<id>)`: the product, unless it was deleted.
pub(crate) async fn by_key(
    State(state): State<Arc<ServerState>>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    state
        .guarded(&headers, &uri, async {
            let Some(id) = segment
                .strip_prefix("Products(")
                .and_then(|rest| rest.strip_suffix(')'))
            else {
                return state.error(
                    StatusCode::NOT_FOUND,
                    &format!("{} is not served by the CDSE replay", uri.path()),
                );
            };
            let deleted = state
                .deletions
                .lock()
                .expect("deletions lock")
                .iter()
                .any(|deletion| deletion.id == id);
            match state.feed.product(id).filter(|_| !deleted) {
                Some(product) => (
                    [(header::CONTENT_TYPE, "application/json")],
                    product.entity.get().to_owned(),
                )
                    .into_response(),
                None => state.error(
                    StatusCode::NOT_FOUND,
                    &format!("Product with id {id} not found."),
                ),
            }
        })
        .await
}

/// `GET /odata/v1/Subscriptions(<id>)/Read?$top=N`.
pub(crate) async fn read(
    State(state): State<Arc<ServerState>>,
    Path((segment, action)): Path<(String, String)>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> Response {
    state
        .guarded(&headers, &uri, async {
            if let Some(refused) = state.refuse_subscription(&segment, &action, "Read") {
                return refused;
            }
            let mut top = 1; // CDSE reads one notification when `$top` is absent
            for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
                match (name.as_ref(), value.parse::<usize>()) {
                    ("$top", Ok(value)) if (1..=MAX_READ_TOP).contains(&value) => top = value,
                    ("$top", _) => {
                        return state.error(
                            StatusCode::BAD_REQUEST,
                            &format!("$top must be from 1 to {MAX_READ_TOP}, not {value}"),
                        );
                    }
                    (other, _) => {
                        return state.error(
                            StatusCode::BAD_REQUEST,
                            &format!("the replay does not support {other} on Read"),
                        );
                    }
                }
            }
            (
                [(header::CONTENT_TYPE, "application/json")],
                state.subscription.read(top),
            )
                .into_response()
        })
        .await
}

/// `POST /odata/v1/Subscriptions(<id>)/Ack?$ackid=<AckId>`.
pub(crate) async fn ack(
    State(state): State<Arc<ServerState>>,
    Path((segment, action)): Path<(String, String)>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> Response {
    state
        .guarded(&headers, &uri, async {
            if let Some(refused) = state.refuse_subscription(&segment, &action, "Ack") {
                return refused;
            }
            match state.subscription.ack_faults.take() {
                Some(Fault::Status(code)) => {
                    let status =
                        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    return state.error(status, "injected fault");
                }
                Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
                _ => {}
            }
            let ack_id = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .find(|(name, _)| name == "$ackid")
                .map(|(_, value)| value.into_owned());
            let Some(ack_id) = ack_id else {
                return state.error(StatusCode::BAD_REQUEST, "$ackid is required");
            };
            match state.subscription.ack(&ack_id) {
                Some(removed) => axum::Json(json!({
                    "@odata.context": "$metadata#Notification/$entity",
                    "AckMessagesNum": removed,
                    "CurrentQueueLength": state.subscription.queued(),
                    "MaxQueueLength": 100_000,
                }))
                .into_response(),
                None => state.error(
                    StatusCode::BAD_REQUEST,
                    &format!("no queued notification has AckId {ack_id}"),
                ),
            }
        })
        .await
}

impl ServerState {
    /// CDSE's answer unless `segment` is `Subscriptions(<the open id>)` and `action` is `wanted`.
    fn refuse_subscription(&self, segment: &str, action: &str, wanted: &str) -> Option<Response> {
        let Some(id) = segment
            .strip_prefix("Subscriptions(")
            .and_then(|rest| rest.strip_suffix(')'))
        else {
            return Some(self.error(
                StatusCode::NOT_FOUND,
                &format!("/odata/v1/{segment}/{action} is not served by the CDSE replay"),
            ));
        };
        if action != wanted {
            return Some(self.error(
                StatusCode::NOT_FOUND,
                &format!("{segment}/{action} is not served for this method by the CDSE replay"),
            ));
        }
        if !self.subscription.is(id) {
            return Some(self.error(
                StatusCode::NOT_FOUND,
                &format!("Subscription with id {id} not found."),
            ));
        }
        None
    }
}
