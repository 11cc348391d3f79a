//! Logging in to CDSE: an OpenID Connect password grant whose access token lasts 600 s, renewed
//! with the refresh token before it runs out, and by a new login when the refresh token has too.

use std::time::Duration;

use nrt_runtime::Secret;
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;
use tokio::{sync::Mutex, time::Instant};
use url::Url;

use crate::{Error, http::excerpt};

/// A token is renewed this long before it expires (or at three quarters of a shorter life), so a
/// request never carries a dying one.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// A CDSE account: where to log in, and as whom.
#[derive(Debug, Clone, PartialEq)]
pub struct Credentials {
    pub token_url: Url,
    pub client_id: String,
    pub username: String,
    pub password: Secret,
}

/// Hands out a valid bearer token, logging in or refreshing as needed; shared by every request
/// of one feed.
pub struct TokenSource {
    client: reqwest::Client,
    credentials: Credentials,
    current: Mutex<Option<Tokens>>,
}

struct Tokens {
    access: Secret,
    /// When to stop using the access token: a margin before it expires.
    access_until: Instant,
    refresh: Option<(Secret, Instant)>,
}

/// The moment to stop using a token granted at `granted` that lasts `lifetime`.
fn renew_at(granted: Instant, lifetime: Duration) -> Instant {
    granted + lifetime - RENEW_BEFORE.min(lifetime / 4)
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Secret,
    expires_in: u64,
    refresh_token: Option<Secret>,
    refresh_expires_in: Option<u64>,
}

impl TokenSource {
    pub fn new(client: reqwest::Client, credentials: Credentials) -> Self {
        Self {
            client,
            credentials,
            current: Mutex::new(None),
        }
    }

    /// An access token with at least a minute (or a quarter of its life) left.
    pub async fn bearer(&self) -> Result<Secret, Error> {
        let mut current = self.current.lock().await;
        let now = Instant::now();
        if let Some(tokens) = current.as_ref()
            && tokens.access_until > now
        {
            return Ok(tokens.access.clone());
        }
        let refresh = current
            .as_ref()
            .and_then(|tokens| tokens.refresh.as_ref())
            .filter(|(_, until)| *until > now)
            .map(|(token, _)| token.clone());
        let renewed = match refresh {
            Some(refresh) => match self
                .grant(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.expose()),
                ])
                .await
            {
                Ok(tokens) => tokens,
                // A refresh token the server no longer honours (session ended, realm restarted):
                // log in again rather than fail the feed.
                Err(error) => {
                    tracing::warn!(error = %nrt_nats::describe_error(&error), "Token refresh refused; logging in again.");
                    self.log_in().await?
                }
            },
            None => self.log_in().await?,
        };
        let access = renewed.access.clone();
        *current = Some(renewed);
        Ok(access)
    }

    /// Forgets the current tokens: the server refused one, so the next request logs in afresh.
    pub async fn invalidate(&self) {
        *self.current.lock().await = None;
    }

    async fn log_in(&self) -> Result<Tokens, Error> {
        let credentials = &self.credentials;
        self.grant(&[
            ("grant_type", "password"),
            ("username", &credentials.username),
            ("password", credentials.password.expose()),
        ])
        .await
    }

    async fn grant(&self, form: &[(&str, &str)]) -> Result<Tokens, Error> {
        let url = &self.credentials.token_url;
        let failed = |detail: String| Error::Login {
            url: url.to_string(),
            username: self.credentials.username.clone(),
            detail,
        };
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .append_pair("client_id", &self.credentials.client_id)
            .finish();
        let asked_at = Instant::now();
        let response = self
            .client
            .post(url.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|error| failed(nrt_nats::describe_error(&error)))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            // Keycloak's error body names the reason (invalid_grant, ...) and never the password.
            return Err(failed(format!("{status}: {}", excerpt(&body))));
        }
        let token: TokenResponse = serde_json::from_str(&body)
            .map_err(|error| failed(format!("not a token response: {error}")))?;
        Ok(Tokens {
            access: token.access_token,
            access_until: renew_at(asked_at, Duration::from_secs(token.expires_in)),
            refresh: token.refresh_token.map(|refresh| {
                let lasts = token.refresh_expires_in.unwrap_or(token.expires_in);
                (refresh, renew_at(asked_at, Duration::from_secs(lasts)))
            }),
        })
    }
}
