//! The keys of the two subscription kinds. `cdse-push`: an endpoint CDSE POSTs notifications to,
//! guarded by the credentials registered on the subscription. `cdse-pull`: a subscription queue
//! read and acknowledged with the account that owns it. Both map products as a `cdse-odata` feed
//! of the same catalogue (`url`) would, and ask it for the products a notification only names.

use std::net::SocketAddr;

use nrt_runtime::{Secret, config::ConfigError};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{
    config::raw::Keys,
    odata::{OdataSource, credentials},
};

/// Every interface: in a pod, CDSE's requests arrive through the Service or Ingress on the pod's
/// own address, never on loopback. 8090 stays clear of the health server's 9090.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8090";
pub const DEFAULT_PATH: &str = "/notifications";
/// A notification is one product entity, tens of KB. Half a MiB leaves room and still fits,
/// escaped, in a dead letter (JetStream refuses messages over 1 MiB).
pub const DEFAULT_PUSH_MAX_BODY_BYTES: usize = 512 * 1024;
/// The most notifications CDSE's `Read` answers at once.
pub const MAX_READ_TOP: usize = 20;

/// Where CDSE pushes a subscription's notifications (`kind = "cdse-push"`).
#[derive(Debug, Clone, PartialEq)]
pub struct PushSource {
    /// The address the endpoint listens on (`listen`).
    pub listen: SocketAddr,
    /// The path CDSE POSTs to (`path`): the path of the subscription's `NotificationEndpoint`.
    pub path: String,
    /// The subscription's `NotificationEpUsername` and `NotificationEpPassword`, which CDSE sends
    /// as HTTP Basic credentials (`username`, `password`).
    pub username: String,
    pub password: Secret,
    /// The catalogue: base of the products' download links, and where a product is read when a
    /// notification carries only its id (`url`, `collection`, `product_type`, and the optional
    /// `catalogue_username` / `catalogue_password` when it needs a login).
    pub catalogue: OdataSource,
}

/// A subscription queue read and acknowledged on CDSE (`kind = "cdse-pull"`).
#[derive(Debug, Clone, PartialEq)]
pub struct PullSource {
    /// The subscription's `Id` (`subscription_id`), as CDSE answered its creation.
    pub subscription_id: String,
    /// Notifications asked per `Read` (`top`), 1 to 20.
    pub top: usize,
    /// Where the subscription lives and products are read (`url`), with the account that owns
    /// the subscription (`username`, `password`: required, CDSE's subscriptions need a login).
    pub catalogue: OdataSource,
}

impl PushSource {
    pub(crate) fn parse(keys: Map<String, Value>, at: &Keys) -> Result<Self, ConfigError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            listen: Option<String>,
            path: Option<String>,
            username: Option<String>,
            password: Option<Secret>,
            url: Option<String>,
            collection: Option<String>,
            product_type: Option<String>,
            catalogue_username: Option<String>,
            catalogue_password: Option<Secret>,
            token_url: Option<String>,
            client_id: Option<String>,
        }
        let raw: Raw = at.kind_keys(keys, "cdse-push")?;
        let listen = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let mut catalogue = OdataSource::new(at.url(&at.required(raw.url, "url")?, "url")?);
        catalogue.collection = raw.collection;
        catalogue.product_type = raw.product_type;
        catalogue.credentials = credentials(
            at,
            ["catalogue_username", "catalogue_password"],
            (raw.catalogue_username, raw.catalogue_password),
            raw.token_url,
            raw.client_id,
        )?;
        Ok(Self {
            listen: listen.parse().map_err(|_| {
                ConfigError::invalid(
                    at.key("listen"),
                    format!("{listen:?} is not a socket address such as {DEFAULT_LISTEN}"),
                )
            })?,
            path: raw.path.unwrap_or_else(|| DEFAULT_PATH.to_owned()),
            username: at.required(raw.username, "username")?,
            password: at.required(raw.password, "password")?,
            catalogue,
        })
    }

    pub(crate) fn validate(&self, key: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
        // A literal path: axum reads `{…}` and `*` as parameters, and CDSE posts to one URL.
        let is_literal = self.path.starts_with('/')
            && self
                .path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/-._~".contains(c));
        if !is_literal {
            return Err(ConfigError::invalid(
                key("path"),
                format!(
                    "{:?} must start with `/` and hold only letters, digits and -._~/",
                    self.path
                ),
            ));
        }
        // An endpoint that publishes into the mesh never takes anonymous posts.
        for (field, value) in [
            ("username", self.username.as_str()),
            ("password", self.password.expose()),
        ] {
            if value.is_empty() {
                return Err(ConfigError::invalid(key(field), "must not be empty"));
            }
        }
        self.catalogue.validate(key)
    }
}

impl PullSource {
    pub(crate) fn parse(keys: Map<String, Value>, at: &Keys) -> Result<Self, ConfigError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            url: Option<String>,
            subscription_id: Option<String>,
            top: Option<i64>,
            collection: Option<String>,
            product_type: Option<String>,
            username: Option<String>,
            password: Option<Secret>,
            token_url: Option<String>,
            client_id: Option<String>,
        }
        let raw: Raw = at.kind_keys(keys, "cdse-pull")?;
        let mut catalogue = OdataSource::new(at.url(&at.required(raw.url, "url")?, "url")?);
        catalogue.collection = raw.collection;
        catalogue.product_type = raw.product_type;
        catalogue.credentials = credentials(
            at,
            ["username", "password"],
            (raw.username, raw.password),
            raw.token_url,
            raw.client_id,
        )?;
        Ok(Self {
            subscription_id: at.required(raw.subscription_id, "subscription_id")?,
            top: at.count(raw.top, "top", MAX_READ_TOP)?,
            catalogue,
        })
    }

    pub(crate) fn validate(&self, key: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
        // It goes into the URL path: `Subscriptions(<id>)/Read`.
        let is_id = !self.subscription_id.is_empty()
            && self
                .subscription_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !is_id {
            return Err(ConfigError::invalid(
                key("subscription_id"),
                format!(
                    "{:?} is not a subscription id (a UUID such as 991c4730-cf6f-432a-9f6c-47be0230ff45)",
                    self.subscription_id
                ),
            ));
        }
        if !(1..=MAX_READ_TOP).contains(&self.top) {
            return Err(ConfigError::invalid(
                key("top"),
                format!("{} is not from 1 to {MAX_READ_TOP}", self.top),
            ));
        }
        if self.catalogue.credentials.is_none() {
            return Err(ConfigError::invalid(
                key("username"),
                "is required: CDSE serves subscriptions only to the account that owns them",
            ));
        }
        self.catalogue.validate(key)
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
