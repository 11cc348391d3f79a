//! A CDSE account on the replay: a Keycloak-style token endpoint (password and refresh-token
//! grants, form-encoded) whose access tokens expire, and the bearer check on the entity sets.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use serde::Deserialize;

/// The one user the replay knows, and how long its tokens last (CDSE: 600 s and 3600 s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub username: String,
    pub password: String,
    pub access_lifetime: Duration,
    pub refresh_lifetime: Duration,
}

/// A form posted to the token endpoint.
#[derive(Debug, Deserialize)]
pub(crate) struct Grant {
    grant_type: String,
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
}

/// Tokens handed out, and the grants asked for (`password` or `refresh_token`), in order.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    issued: Mutex<Issued>,
}

#[derive(Debug, Default)]
struct Issued {
    access: HashMap<String, Instant>,
    refresh: HashMap<String, Instant>,
    grants: Vec<String>,
    next: u64,
}

/// What the token endpoint answers: the token JSON, or an OAuth error with its status.
pub(crate) enum GrantOutcome {
    Granted(serde_json::Value),
    Refused(u16, serde_json::Value),
}

impl Tokens {
    pub fn grant(&self, account: &Account, grant: &Grant) -> GrantOutcome {
        let mut issued = self.issued.lock().expect("token lock");
        issued.grants.push(grant.grant_type.clone());
        let refused = |status, error: &str, description: &str| {
            GrantOutcome::Refused(
                status,
                serde_json::json!({"error": error, "error_description": description}),
            )
        };
        if grant.client_id.as_deref() != Some("cdse-public") {
            return refused(
                401,
                "invalid_client",
                "Invalid client or Invalid client credentials",
            );
        }
        let now = Instant::now();
        match grant.grant_type.as_str() {
            "password" => {
                if grant.username.as_deref() != Some(&account.username)
                    || grant.password.as_deref() != Some(&account.password)
                {
                    return refused(401, "invalid_grant", "Invalid user credentials");
                }
            }
            "refresh_token" => {
                let valid = grant
                    .refresh_token
                    .as_ref()
                    .and_then(|token| issued.refresh.get(token))
                    .is_some_and(|until| *until > now);
                if !valid {
                    return refused(400, "invalid_grant", "Invalid refresh token");
                }
            }
            other => {
                return refused(
                    400,
                    "unsupported_grant_type",
                    &format!("Unsupported grant_type {other}"),
                );
            }
        }
        issued.next += 1;
        let access = format!("replay-access-{}", issued.next);
        let refresh = format!("replay-refresh-{}", issued.next);
        issued
            .access
            .insert(access.clone(), now + account.access_lifetime);
        issued
            .refresh
            .insert(refresh.clone(), now + account.refresh_lifetime);
        GrantOutcome::Granted(serde_json::json!({
            "access_token": access,
            "expires_in": account.access_lifetime.as_secs(),
            "refresh_token": refresh,
            "refresh_expires_in": account.refresh_lifetime.as_secs(),
            "token_type": "Bearer",
        }))
    }

    /// Whether `authorization` carries a token that has not expired.
    pub fn admits(&self, authorization: Option<&str>) -> bool {
        let Some(token) = authorization.and_then(|value| value.strip_prefix("Bearer ")) else {
            return false;
        };
        let issued = self.issued.lock().expect("token lock");
        issued
            .access
            .get(token)
            .is_some_and(|until| *until > Instant::now())
    }

    pub fn grants(&self) -> Vec<String> {
        self.issued.lock().expect("token lock").grants.clone()
    }
}
