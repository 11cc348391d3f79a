//! JetStream plumbing every nrt-mesh service shares: connecting, declaring the streams, consumers
//! and buckets, publishing events so that repeats are dropped and traces continue, running a
//! consumer that acknowledges only after the handler's work is done, and starting a real
//! `nats-server` for development and tests.

mod config;
mod consumer;
mod dead_letter;
mod mesh;
mod publish;
pub mod server;
mod tap;
mod topology;

pub use async_nats;
pub use config::{NatsConfig, connect};
pub use consumer::{ConsumerError, ConsumerOptions, Delivery, Handler, HandlerError, run_consumer};
pub use dead_letter::{DeadLetterer, letter_for};
pub use mesh::{Mesh, MeshError};
/// Re-exported where the services have always found it.
pub use nrt_runtime::describe_error;
pub use publish::{PublishError, Publisher};
pub use server::{NatsServer, ServerError, ServerOptions, SyncInterval};
pub use tap::{EventTap, TapError};
pub use topology::{
    ConsumerSpec, TopologyError, TopologyOptions, apply_topology, ensure_consumer, key_value,
};
