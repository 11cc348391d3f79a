//! The HTTP side: `GET /odata/v1/Products` answered from a [`ReplayFeed`] as CDSE answers it,
//! with injected faults and a log of every request.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Form, Router,
    extract::{OriginalUri, RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::Utc;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{
    Fault, ReleaseSchedule, ReplayError, ReplayFeed,
    account::{Account, Grant, GrantOutcome, Tokens},
    deletions::{self, Deletion},
    fault::FaultQueue,
    query::{self, EntitySet, ProductQuery},
    release::Release,
    subscription::{self, Acknowledgement, Subscription},
};

/// How a replay runs.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    pub schedule: ReleaseSchedule,
    /// Port on 127.0.0.1; `None` picks a free one.
    pub port: Option<u16>,
    /// When set, the entity sets answer only requests bearing a token from `/auth/token`.
    pub account: Option<Account>,
}

/// A request the replay received, for tests to check what a client asked and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The absolute URL as requested, query included.
    pub url: String,
    pub received_at: Instant,
    /// The status the replay answered with.
    pub status: u16,
}

/// A replay serving on 127.0.0.1; stops when dropped.
pub struct RunningReplay {
    address: SocketAddr,
    state: Arc<ServerState>,
    stop: CancellationToken,
    server: Option<JoinHandle<()>>,
}

pub(crate) struct ServerState {
    pub(crate) feed: ReplayFeed,
    /// `http://127.0.0.1:PORT`, to log requests as absolute URLs.
    origin: String,
    /// `http://127.0.0.1:PORT/odata/v1`, the base of every `@odata.nextLink`.
    base_url: String,
    release: Release,
    faults: FaultQueue,
    requests: Mutex<Vec<RecordedRequest>>,
    next_request_id: AtomicU64,
    account: Option<Account>,
    tokens: Tokens,
    pub(crate) deletions: Mutex<Vec<Deletion>>,
    pub(crate) subscription: Subscription,
}

impl ReplayFeed {
    /// Serves the feed on 127.0.0.1 until the returned replay is dropped or stopped.
    pub async fn start(self, options: ReplayOptions) -> Result<RunningReplay, ReplayError> {
        let port = options.port.unwrap_or(0);
        let bind_error = |source| ReplayError::Bind { port, source };
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        let state = Arc::new(ServerState {
            release: Release::new(options.schedule, self.product_count()),
            feed: self,
            origin: format!("http://{address}"),
            base_url: format!("http://{address}/odata/v1"),
            faults: FaultQueue::default(),
            requests: Mutex::default(),
            next_request_id: AtomicU64::new(1),
            account: options.account,
            tokens: Tokens::default(),
            deletions: Mutex::default(),
            subscription: Subscription::default(),
        });
        let app = Router::new()
            .route("/odata/v1/Products", get(products))
            .route("/odata/v1/DeletedProducts", get(deleted_products))
            .route("/odata/v1/{entity}", get(subscription::by_key))
            .route(
                "/odata/v1/{subscription}/{action}",
                get(subscription::read).post(subscription::ack),
            )
            .route("/auth/token", post(token))
            .fallback(not_served)
            .with_state(state.clone());
        let stop = CancellationToken::new();
        let stopped = stop.clone().cancelled_owned();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(stopped);
            if let Err(error) = serve.await {
                tracing::error!(%error, "CDSE replay stopped.");
            }
        });
        tracing::info!(url = %state.base_url, products = state.feed.product_count(), "CDSE replay serving.");
        Ok(RunningReplay {
            address,
            state,
            stop,
            server: Some(server),
        })
    }
}

impl RunningReplay {
    /// The OData base URL, e.g. `http://127.0.0.1:PORT/odata/v1`: what a feed's `url` is set to.
    pub fn url(&self) -> String {
        self.state.base_url.clone()
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// How many distinct products the replay holds, visible or not yet.
    pub fn product_count(&self) -> usize {
        self.state.feed.product_count()
    }

    /// How many products are visible now.
    pub fn visible_count(&self) -> usize {
        self.state.release.visible()
    }

    /// Makes `count` more products visible, whatever the schedule.
    pub fn release(&self, count: usize) {
        self.state.release.release(count)
    }

    /// Answers the next `responses` requests with `fault`, after any fault injected before.
    pub fn inject(&self, fault: Fault, responses: usize) {
        self.state.faults.push(fault, responses)
    }

    /// The token endpoint, when the replay has an account: what a feed's `token_url` is set to.
    pub fn token_url(&self) -> String {
        format!("{}/auth/token", self.state.origin)
    }

    /// The grant types asked of the token endpoint (`password`, `refresh_token`), in order.
    pub fn token_grants(&self) -> Vec<String> {
        self.state.tokens.grants()
    }

    /// Withdraws the product with feed id `id` for `cause`: it leaves `/Products` and appears in
    /// `/DeletedProducts`, deleted now. False when no such product is served.
    pub fn delete(&self, id: &str, cause: &str) -> bool {
        let Some(product) = self.state.feed.product(id) else {
            return false;
        };
        let deletion = Deletion::new(
            product.id.clone(),
            &product.entity,
            product.collection.clone(),
            product.product_type.clone(),
            Utc::now(),
            cause,
        );
        self.state
            .deletions
            .lock()
            .expect("deletions lock")
            .push(deletion);
        true
    }

    /// Serves the pull subscription `id`: its `Read` and `Ack` answer, any other id is 404.
    pub fn open_subscription(&self, id: &str) {
        self.state.subscription.open(id)
    }

    /// Queues a `created` notification for each product at `positions` (publication order),
    /// carrying its entity, or (`with_entity` false) only its id, as CDSE reads after three
    /// days. The AckIds, in queue order.
    pub fn notify_created(
        &self,
        positions: std::ops::Range<usize>,
        with_entity: bool,
    ) -> Vec<String> {
        let entities: Vec<&RawValue> = self.state.feed.entities().collect();
        entities[positions]
            .iter()
            .map(|entity| self.state.subscription.notify_created(entity, with_entity))
            .collect()
    }

    /// Queues `notification` exactly as given (an unreadable one, say); its `AckId`, if any,
    /// acknowledges it.
    pub fn enqueue(&self, notification: Box<RawValue>) {
        self.state.subscription.enqueue(notification)
    }

    /// Answers the next `responses` acknowledgements with `fault` (a status or a delay) instead.
    pub fn fail_acks(&self, fault: Fault, responses: usize) {
        self.state.subscription.fail_acks(fault, responses)
    }

    /// The acknowledgements applied so far, oldest first.
    pub fn acknowledgements(&self) -> Vec<Acknowledgement> {
        self.state.subscription.acknowledgements()
    }

    /// Notifications queued and not yet acknowledged.
    pub fn queued_notifications(&self) -> usize {
        self.state.subscription.queued()
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state
            .requests
            .lock()
            .expect("request log lock")
            .clone()
    }

    /// Stops serving and waits until the port is closed.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for RunningReplay {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn products(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw_query): RawQuery,
) -> Response {
    serve(state, EntitySet::Products, &headers, uri, raw_query).await
}

async fn deleted_products(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw_query): RawQuery,
) -> Response {
    serve(state, EntitySet::DeletedProducts, &headers, uri, raw_query).await
}

async fn token(State(state): State<Arc<ServerState>>, Form(grant): Form<Grant>) -> Response {
    let Some(account) = &state.account else {
        return state.error(StatusCode::NOT_FOUND, "the replay has no account");
    };
    match state.tokens.grant(account, &grant) {
        GrantOutcome::Granted(body) => axum::Json(body).into_response(),
        GrantOutcome::Refused(status, body) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            axum::Json(body),
        )
            .into_response(),
    }
}

async fn serve(
    state: Arc<ServerState>,
    set: EntitySet,
    headers: &HeaderMap,
    uri: axum::http::Uri,
    raw_query: Option<String>,
) -> Response {
    state
        .guarded(headers, &uri, async {
            let fault = state.faults.take();
            state
                .answer(set, raw_query.as_deref().unwrap_or_default(), fault)
                .await
        })
        .await
}

async fn not_served(State(state): State<Arc<ServerState>>, uri: OriginalUri) -> Response {
    state.error(
        StatusCode::NOT_FOUND,
        &format!("{} is not served by the CDSE replay", uri.0.path()),
    )
}

#[derive(Serialize)]
struct PageBody<'a> {
    #[serde(rename = "@odata.context")]
    context: String,
    #[serde(rename = "@odata.count", skip_serializing_if = "Option::is_none")]
    count: Option<usize>,
    value: Vec<&'a RawValue>,
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    next_link: Option<String>,
}

impl ServerState {
    /// `answer`, once the bearer token passes when the replay has an account; logged either way.
    pub(crate) async fn guarded(
        &self,
        headers: &HeaderMap,
        uri: &axum::http::Uri,
        answer: impl Future<Output = Response>,
    ) -> Response {
        let received_at = Instant::now();
        let url = format!("{}{uri}", self.origin);
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        let response = if self.account.is_some() && !self.tokens.admits(authorization) {
            let mut refused = self.error(StatusCode::UNAUTHORIZED, "Expired or invalid token");
            refused
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            refused
        } else {
            answer.await
        };
        tracing::debug!(%url, status = %response.status(), "CDSE replay answered.");
        self.requests
            .lock()
            .expect("request log lock")
            .push(RecordedRequest {
                url,
                received_at,
                status: response.status().as_u16(),
            });
        response
    }

    async fn answer(&self, set: EntitySet, raw_query: &str, fault: Option<Fault>) -> Response {
        match fault {
            Some(Fault::Status(code)) => {
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return self.error(status, "injected fault");
            }
            Some(Fault::TooManyRequests { retry_after }) => {
                let mut response = self.error(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded");
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(whole_seconds(retry_after)),
                );
                return response;
            }
            Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
            _ => {}
        }
        let query = match query::parse_for(raw_query, set) {
            Ok(query) => query,
            Err(error) => return self.error(StatusCode::BAD_REQUEST, &error.to_string()),
        };
        let body = match fault {
            Some(Fault::MalformedBody) => {
                b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
                    .to_vec()
            }
            Some(Fault::MissingValue) => br#"{"@odata.context":"$metadata#Products"}"#.to_vec(),
            Some(Fault::TruncatedBody) => {
                let mut body = self.page(set, raw_query, &query, None);
                body.truncate(body.len() / 2);
                body
            }
            Some(Fault::OversizedBody { bytes }) => {
                // Still valid JSON: only its size is wrong.
                let mut body = self.page(set, raw_query, &query, None);
                body.resize(bytes.max(body.len()), b' ');
                body
            }
            Some(Fault::EntryWithout(field)) => self.page(set, raw_query, &query, Some(&field)),
            _ => self.page(set, raw_query, &query, None),
        };
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    }

    /// The JSON page `query` selects from `set`; `strip` removes a field from its first entry.
    fn page(
        &self,
        set: EntitySet,
        raw_query: &str,
        query: &ProductQuery,
        strip: Option<&str>,
    ) -> Vec<u8> {
        let deletions = self.deletions.lock().expect("deletions lock");
        let (matched, entities): (usize, Vec<&RawValue>) = match set {
            EntitySet::Products => {
                let deleted = deletions.iter().map(|d| d.id.clone()).collect();
                let (matched, products) = self.feed.select(self.release.visible(), query, &deleted);
                (
                    matched,
                    products.iter().map(|p| p.entity.as_ref()).collect(),
                )
            }
            EntitySet::DeletedProducts => {
                let (matched, deleted) = deletions::select(&deletions, query);
                (matched, deleted.iter().map(|d| d.entity.as_ref()).collect())
            }
        };
        let stripped = strip.and_then(|field| {
            let mut entity: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(entities.first()?.get()).ok()?;
            entity.remove(field);
            serde_json::value::to_raw_value(&entity).ok()
        });
        let mut value = entities;
        if let (Some(first), Some(stripped)) = (value.first_mut(), stripped.as_deref()) {
            *first = stripped;
        }
        let next_skip = query.skip + value.len();
        let body = PageBody {
            context: context(set, &query.expand),
            count: query.count.then_some(matched),
            next_link: (next_skip < matched && !value.is_empty())
                .then(|| self.next_link(set, raw_query, next_skip)),
            value,
        };
        serde_json::to_vec(&body).expect("a page serialises")
    }

    /// The same query with `$skip` advanced, absolute, encoded as CDSE encodes its links.
    fn next_link(&self, set: EntitySet, raw_query: &str, skip: usize) -> String {
        let mut serializer = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in url::form_urlencoded::parse(raw_query.as_bytes()) {
            if name != "$skip" {
                serializer.append_pair(&name, &value);
            }
        }
        serializer.append_pair("$skip", &skip.to_string());
        format!("{}/{}?{}", self.base_url, set.name(), serializer.finish())
    }

    /// A CDSE-shaped error: `{"detail": {"message": ..., "request_id": ...}}`.
    pub(crate) fn error(&self, status: StatusCode, message: &str) -> Response {
        let request_id = self.next_request_id.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::json!({
            "detail": { "message": message, "request_id": format!("replay-{request_id}") }
        });
        (status, axum::Json(body)).into_response()
    }
}

/// `$metadata#Products(Attributes(),Assets())`, as CDSE names what it expanded.
fn context(set: EntitySet, expand: &[String]) -> String {
    if expand.is_empty() {
        return format!("$metadata#{}", set.name());
    }
    let expanded: Vec<String> = expand.iter().map(|name| format!("{name}()")).collect();
    format!("$metadata#{}({})", set.name(), expanded.join(","))
}

fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}
