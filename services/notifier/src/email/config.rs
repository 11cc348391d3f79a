//! `[smtp]`: which relay, how to reach it safely, and as whom; checked once, naming the key.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use lettre::{message::Mailbox, transport::smtp::client::Certificate};
use nrt_runtime::{Secret, config::ConfigError};
use rustls::pki_types::{CertificateDer, pem::PemObject};
use serde::{Deserialize, Deserializer};

/// `[smtp]`: the relay mail is submitted to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The relay's name, which its TLS certificate must carry.
    pub host: String,
    /// 587, the submission port, unless set.
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default)]
    pub starttls: StartTls,
    /// Log in as this user (AUTH PLAIN or LOGIN); no AUTH when unset.
    #[serde(default)]
    pub username: Option<String>,
    /// Required with `username`; the value or `{ file = "/run/secrets/…" }`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// The sender: `"NRT mesh <nrt@example.org>"` or `"nrt@example.org"`.
    pub from: String,
    /// How long one message may take, from connecting to the relay's last answer.
    #[serde(
        rename = "timeout_secs",
        default = "default_timeout",
        deserialize_with = "seconds"
    )]
    pub timeout: Duration,
    /// A PEM file of certificates to trust besides the system's roots: a private relay's CA or
    /// its self-signed certificate.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// Whether the connection is encrypted before credentials and mail are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartTls {
    /// Upgrade with STARTTLS and verify the certificate; a relay that does not offer it gets
    /// nothing, so a stripped STARTTLS cannot downgrade the connection.
    #[default]
    Required,
    /// Plain text throughout, only to a relay on this host (a local MTA or sidecar): elsewhere
    /// the password and the mail would cross the network readable and alterable by anyone on
    /// the path.
    None,
}

fn default_port() -> u16 {
    587
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(deserializer)?;
    match Duration::try_from_secs_f64(secs) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        _ => Err(serde::de::Error::custom(format!(
            "{secs} is not a positive number of seconds"
        ))),
    }
}

impl SmtpConfig {
    /// Checks what types cannot, naming the key (`smtp.from`, …); reads `ca_file`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.host.is_empty() || self.host.contains(char::is_whitespace) {
            return Err(ConfigError::invalid(
                "smtp.host",
                format!("{:?} is not a host name or address", self.host),
            ));
        }
        if self.port == 0 {
            return Err(ConfigError::invalid("smtp.port", "must not be 0"));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::invalid(
                "smtp.timeout_secs",
                "must be positive",
            ));
        }
        self.validate_encryption()?;
        self.validate_login()?;
        sender(&self.from)?;
        if let Some(ca_file) = &self.ca_file {
            root_certificates(ca_file)?;
        }
        Ok(())
    }

    fn validate_encryption(&self) -> Result<(), ConfigError> {
        if self.starttls != StartTls::None {
            return Ok(());
        }
        if !is_this_host(&self.host) {
            return Err(ConfigError::invalid(
                "smtp.starttls",
                format!(
                    "\"none\" sends the password and mail readable by anyone on the path, so it \
                     is allowed only to a relay on this host (localhost, 127.0.0.1, ::1), not \
                     to {}",
                    self.host
                ),
            ));
        }
        if self.ca_file.is_some() {
            return Err(ConfigError::invalid(
                "smtp.ca_file",
                "has no use with smtp.starttls = \"none\"; remove one of them",
            ));
        }
        Ok(())
    }

    fn validate_login(&self) -> Result<(), ConfigError> {
        match (&self.username, &self.password) {
            (Some(username), _) if username.is_empty() => Err(ConfigError::invalid(
                "smtp.username",
                "is empty; leave it out to send without AUTH",
            )),
            (Some(_), None) => Err(ConfigError::invalid(
                "smtp.password",
                "is required when smtp.username is set",
            )),
            (None, Some(_)) => Err(ConfigError::invalid(
                "smtp.username",
                "is required when smtp.password is set",
            )),
            _ => Ok(()),
        }
    }
}

fn is_this_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub(super) fn sender(from: &str) -> Result<Mailbox, ConfigError> {
    from.parse().map_err(|error| {
        ConfigError::invalid(
            "smtp.from",
            format!("{from:?} is not a mailbox like \"Name <name@example.org>\": {error}"),
        )
    })
}

/// Every certificate in the PEM file at `path`; at least one.
pub(super) fn root_certificates(path: &Path) -> Result<Vec<Certificate>, ConfigError> {
    let invalid = |reason: String| ConfigError::invalid("smtp.ca_file", reason);
    let pem = std::fs::read(path)
        .map_err(|error| invalid(format!("cannot read {}: {error}", path.display())))?;
    let ders = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(format!("{} is not valid PEM: {error}", path.display())))?;
    if ders.is_empty() {
        return Err(invalid(format!(
            "{} holds no PEM certificate",
            path.display()
        )));
    }
    ders.into_iter()
        .map(|der| {
            Certificate::from_der(der.to_vec())
                .map_err(|error| invalid(format!("{}: {error}", path.display())))
        })
        .collect()
}
