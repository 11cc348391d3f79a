//! `/healthz` (the process is alive), `/readyz` (its dependencies are reachable) and `/metrics`
//! (Prometheus text format) for Kubernetes probes, Nomad checks and scraping.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex, OnceLock},
};

use axum::{Router, extract::State, http::StatusCode, routing::get};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::Shutdown;

/// Where a service serves its probes and metrics.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// e.g. `0.0.0.0:9090`; `None` serves nothing (when several services share one process).
    pub listen: Option<SocketAddr>,
}

/// Named readiness checks; the service is ready when every one is.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<Mutex<BTreeMap<String, bool>>>);

impl Readiness {
    /// Declares `component` not ready yet, so `/readyz` fails until it reports.
    pub fn register(&self, component: &str) {
        self.set(component, false)
    }

    pub fn set(&self, component: &str, ready: bool) {
        self.0
            .lock()
            .expect("readiness lock")
            .insert(component.to_owned(), ready);
    }

    pub fn is_ready(&self) -> bool {
        self.0
            .lock()
            .expect("readiness lock")
            .values()
            .all(|ready| *ready)
    }

    fn report(&self) -> String {
        let checks = self.0.lock().expect("readiness lock");
        checks
            .iter()
            .map(|(name, ready)| format!("{name}: {}\n", if *ready { "ok" } else { "not ready" }))
            .collect()
    }
}

/// The process-wide Prometheus recorder: installed once, shared by every service in the process.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .install_recorder()
                .expect("no other metrics recorder is installed in this process");
            let upkeep = handle.clone();
            // Histograms are drained on render; upkeep keeps memory bounded between scrapes.
            std::thread::spawn(move || {
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
            handle
        })
        .clone()
}

#[derive(Clone)]
struct AppState {
    readiness: Readiness,
    metrics: PrometheusHandle,
}

/// A running health server.
pub struct HealthServer {
    pub address: SocketAddr,
}

impl HealthServer {
    /// Starts the server when `config` asks for one.
    pub async fn start_configured(
        config: &HealthConfig,
        readiness: Readiness,
        shutdown: Shutdown,
    ) -> std::io::Result<Option<Self>> {
        match config.listen {
            Some(listen) => Ok(Some(Self::start(listen, readiness, shutdown).await?)),
            None => Ok(None),
        }
    }

    /// Binds `listen` and serves until `shutdown`.
    pub async fn start(
        listen: SocketAddr,
        readiness: Readiness,
        shutdown: Shutdown,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let address = listener.local_addr()?;
        let state = AppState {
            readiness,
            metrics: prometheus(),
        };
        let app = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz))
            .route(
                "/metrics",
                get(|State(state): State<AppState>| async move { state.metrics.render() }),
            )
            .with_state(state);
        tokio::spawn(async move {
            let serve = axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.requested().await });
            if let Err(error) = serve.await {
                tracing::error!(%error, "Health server stopped.");
            }
        });
        Ok(Self { address })
    }
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    let status = if state.readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, state.readiness.report())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ready_only_when_every_component_is() {
        let readiness = Readiness::default();
        readiness.register("nats");
        let (stop, shutdown) = crate::shutdown::manual();
        let server =
            HealthServer::start("127.0.0.1:0".parse().unwrap(), readiness.clone(), shutdown)
                .await
                .unwrap();
        let base = format!("http://{}", server.address);
        let client = reqwest::Client::new();

        assert_eq!(
            client
                .get(format!("{base}/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let not_ready = client.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(not_ready.status(), 503);
        assert_eq!(not_ready.text().await.unwrap(), "nats: not ready\n");

        readiness.set("nats", true);
        assert_eq!(
            client
                .get(format!("{base}/readyz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );

        metrics::counter!("nrt_test_events_total").increment(1);
        let text = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains("nrt_test_events_total 1"), "{text}");
        stop.trigger();
    }
}
