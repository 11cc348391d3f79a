//! What every nrt-mesh service process needs around its handlers: layered configuration,
//! graceful shutdown, secrets that never print, and the `/healthz`, `/readyz`, `/metrics` server.

pub mod clock;
pub mod config;
mod errors;
pub mod health;
mod secret;
pub mod shutdown;
pub mod tools;

pub use clock::Clock;
pub use errors::describe_error;
pub use health::{HealthConfig, HealthServer, Readiness};
pub use secret::Secret;
pub use shutdown::Shutdown;
