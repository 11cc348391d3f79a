use std::time::Duration;

use async_nats::{Client, jetstream};
use nrt_runtime::Readiness;

use crate::{
    ConsumerOptions, DeadLetterer, NatsConfig, Publisher, TopologyError, TopologyOptions,
    apply_topology,
};

/// A service's place in the mesh: its NATS connection, JetStream with every stream and bucket
/// declared, and a publisher and dead-letterer speaking as the service.
#[derive(Clone)]
pub struct Mesh {
    pub service: String,
    pub client: Client,
    pub js: jetstream::Context,
    pub publisher: Publisher,
    pub dead_letters: DeadLetterer,
    pub readiness: Readiness,
    replicas: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    #[error("could not connect to NATS at {url}")]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error(transparent)]
    Topology(#[from] TopologyError),
}

impl Mesh {
    /// Connects as `service` and declares the topology; ready once both are done.
    pub async fn connect(
        service: &str,
        config: &NatsConfig,
        readiness: Readiness,
    ) -> Result<Self, MeshError> {
        readiness.register("nats");
        let client =
            crate::connect(config, service)
                .await
                .map_err(|source| MeshError::Connect {
                    url: config.url.clone(),
                    source,
                })?;
        let js = jetstream::new(client.clone());
        apply_topology(
            &js,
            TopologyOptions {
                replicas: config.replicas,
                ..TopologyOptions::default()
            },
        )
        .await?;
        readiness.set("nats", true);
        let publisher = Publisher::new(js.clone(), service);
        let dead_letters = DeadLetterer::new(publisher.clone(), service);
        Ok(Self {
            service: service.to_owned(),
            client,
            js,
            publisher,
            dead_letters,
            readiness,
            replicas: config.replicas,
        })
    }

    /// Opens a key-value bucket of the mesh.
    pub async fn key_value(&self, bucket: &str) -> Result<jetstream::kv::Store, TopologyError> {
        crate::key_value(&self.js, bucket, self.replicas).await
    }

    /// Runner options for this service's consumers.
    pub fn consumer_options(&self, concurrency: usize) -> ConsumerOptions {
        ConsumerOptions {
            service: self.service.clone(),
            concurrency,
            pull_expiry: Duration::from_secs(2),
            drain_timeout: Duration::from_secs(25),
            dead_letters: self.dead_letters.clone(),
            readiness: self.readiness.clone(),
        }
    }
}
