use std::{path::PathBuf, time::Duration};

use async_nats::{Client, ConnectOptions, Event};
use nrt_runtime::Secret;
use serde::Deserialize;

/// How a service reaches NATS. Credentials come from the environment or files, never the image.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// One or more server URLs, comma-separated: `nats://nats-0:4222,nats://nats-1:4222`.
    pub url: String,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub token: Option<Secret>,
    /// A `.creds` file (JWT + NKey seed), the usual way to give each service its own user.
    pub credentials_file: Option<PathBuf>,
    /// Stream and bucket replicas: 1 on a single server, 3 on a production cluster.
    #[serde(default = "one")]
    pub replicas: usize,
}

fn one() -> usize {
    1
}

impl NatsConfig {
    pub fn local(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            user: None,
            password: None,
            token: None,
            credentials_file: None,
            replicas: 1,
        }
    }
}

/// Connects as `name`, retrying the first connection too: a service may start before NATS.
pub async fn connect(config: &NatsConfig, name: &str) -> Result<Client, async_nats::ConnectError> {
    let mut options = ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .event_callback(|event| async move {
            match event {
                Event::Connected => tracing::info!("Connected to NATS."),
                Event::Disconnected => tracing::warn!("Disconnected from NATS; reconnecting."),
                other => tracing::info!(event = %other, "NATS connection event."),
            }
        });
    if let Some(file) = &config.credentials_file {
        options = options.credentials_file(file).await?;
    }
    if let (Some(user), Some(password)) = (&config.user, &config.password) {
        options = options.user_and_password(user.clone(), password.expose().to_owned());
    }
    if let Some(token) = &config.token {
        options = options.token(token.expose().to_owned());
    }
    let servers: Vec<&str> = config
        .url
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .collect();
    options.connect(servers).await
}
