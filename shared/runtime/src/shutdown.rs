//! A shutdown signal that every task of a service can wait on.

use tokio_util::sync::CancellationToken;

/// Resolves when the service should stop taking work and drain what it holds.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(CancellationToken);

impl Shutdown {
    /// Waits until shutdown is requested.
    pub async fn requested(&self) {
        self.0.cancelled().await
    }

    pub fn is_requested(&self) -> bool {
        self.0.is_cancelled()
    }

    /// A shutdown that follows this one but can also be requested on its own, for a sub-task.
    pub fn child(&self) -> (Trigger, Shutdown) {
        let token = self.0.child_token();
        (Trigger(token.clone()), Shutdown(token))
    }
}

/// Requests a [`Shutdown`].
#[derive(Debug, Clone)]
pub struct Trigger(CancellationToken);

impl Trigger {
    pub fn trigger(&self) {
        self.0.cancel()
    }
}

/// A shutdown requested only through the returned trigger: for tests and embedding.
pub fn manual() -> (Trigger, Shutdown) {
    let token = CancellationToken::new();
    (Trigger(token.clone()), Shutdown(token))
}

/// A shutdown requested by SIGTERM (Kubernetes, Nomad, systemd) or SIGINT (Ctrl-C).
pub fn on_signal() -> Shutdown {
    let (trigger, shutdown) = manual();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("Shutdown requested: draining in-flight work.");
        trigger.trigger();
    });
    shutdown
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
