//! E-mail through an SMTP relay: one plain-text UTF-8 message per call, over STARTTLS with AUTH,
//! and an outcome that says whether trying again can help.

mod config;

use std::{error::Error as _, time::Duration};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::{
        self,
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};
use nrt_runtime::config::ConfigError;

pub use config::{SmtpConfig, StartTls};

use config::{root_certificates, sender};

/// Why an [`EmailSender`] could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not set up TLS for the SMTP relay {host}")]
    Tls {
        host: String,
        #[source]
        source: smtp::Error,
    },
}

/// How sending one message ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailOutcome {
    /// The relay accepted the message for every recipient.
    Delivered,
    /// Sending again will fail the same way until someone changes the configuration or the
    /// recipients: a 5xx reply, a bad address, a relay that will not encrypt or whose
    /// certificate is not trusted. Nothing was delivered.
    Rejected { reason: String },
    /// Worth another try later: a 4xx reply, no connection, no answer in time.
    Unreachable { reason: String },
}

/// Sends through one relay; each message on a connection of its own.
#[derive(Debug, Clone)]
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    relay: String,
    timeout: Duration,
}

impl EmailSender {
    pub fn new(config: &SmtpConfig) -> Result<Self, EmailError> {
        config.validate()?;
        // Every setting is explicit here, which is what lettre's "dangerous" builder means.
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls(config)?)
            .timeout(Some(config.timeout));
        if let (Some(username), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(
                username.clone(),
                password.expose().to_owned(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from: sender(&config.from)?,
            relay: format!("{}:{}", config.host, config.port),
            timeout: config.timeout,
        })
    }

    /// Sends `text_body` to every address in `to` (each `"Name <a@b.org>"` or `"a@b.org"`) in
    /// one message. A bad address is rejected before connecting.
    pub async fn send(&self, to: &[String], subject: &str, text_body: &str) -> EmailOutcome {
        let message = match self.message(to, subject, text_body) {
            Ok(message) => message,
            Err(reason) => return EmailOutcome::Rejected { reason },
        };
        // lettre's own timeout bounds only the connect; a relay that stops answering later
        // would hold the event for ever.
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_)) => EmailOutcome::Delivered,
            Ok(Err(error)) => self.judge(&error),
            Err(_) => self.no_answer(),
        }
    }

    fn message(&self, to: &[String], subject: &str, text_body: &str) -> Result<Message, String> {
        if to.is_empty() {
            return Err("the message has no recipients".to_owned());
        }
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(one_line(subject))
            .date_now()
            .message_id(None)
            .header(ContentType::TEXT_PLAIN);
        for address in to {
            let mailbox: Mailbox = address.parse().map_err(|error| {
                format!("recipient {address:?} is not an e-mail address: {error}")
            })?;
            builder = builder.to(mailbox);
        }
        // lettre ends the body with a line break of its own: a second one adds a blank line.
        let text_body = text_body
            .strip_suffix("\r\n")
            .or_else(|| text_body.strip_suffix('\n'))
            .unwrap_or(text_body);
        builder
            .body(text_body.to_owned())
            .map_err(|error| format!("could not build the message: {error}"))
    }

    fn judge(&self, error: &smtp::Error) -> EmailOutcome {
        let relay = &self.relay;
        if let Some(code) = error.status() {
            let text = error.source().map(ToString::to_string).unwrap_or_default();
            let reason = format!("{relay} answered {code} {text}");
            return if error.is_permanent() {
                EmailOutcome::Rejected { reason }
            } else {
                EmailOutcome::Unreachable { reason }
            };
        }
        if error.is_timeout() {
            return self.no_answer();
        }
        // A relay that answers but fails the handshake presents a certificate we do not trust
        // (or speaks no TLS we accept): retrying only delays the alert an operator needs.
        if let Some(tls) = tls_failure(error) {
            return EmailOutcome::Rejected {
                reason: format!("TLS with {relay} failed: {tls}"),
            };
        }
        // lettre refused to go on: no STARTTLS offered, no AUTH mechanism in common. Its own
        // words for these begin "internal client error", which misleads an operator.
        if error.is_client() || error.is_tls() {
            let cause = error
                .source()
                .map_or_else(|| error.to_string(), ToString::to_string);
            return EmailOutcome::Rejected {
                reason: format!("{relay}: {cause}"),
            };
        }
        EmailOutcome::Unreachable {
            reason: format!("{relay}: {error}"),
        }
    }

    fn no_answer(&self) -> EmailOutcome {
        EmailOutcome::Unreachable {
            reason: format!("{}: no answer within {:?}", self.relay, self.timeout),
        }
    }
}

fn tls(config: &SmtpConfig) -> Result<Tls, EmailError> {
    if config.starttls == StartTls::None {
        return Ok(Tls::None);
    }
    let mut parameters = TlsParameters::builder(config.host.clone());
    if let Some(ca_file) = &config.ca_file {
        for certificate in root_certificates(ca_file)? {
            parameters = parameters.add_root_certificate(certificate);
        }
    }
    let parameters = parameters.build().map_err(|source| EmailError::Tls {
        host: config.host.clone(),
        source,
    })?;
    Ok(Tls::Required(parameters))
}

/// The rustls error behind a failed handshake, which tokio-rustls wraps in an `io::Error`; a
/// connection that broke during the handshake has none.
fn tls_failure(error: &smtp::Error) -> Option<&rustls::Error> {
    let mut cause = error.source();
    while let Some(current) = cause {
        let wrapped = current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref);
        if let Some(tls) = wrapped.and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            return Some(tls);
        }
        cause = current.source();
    }
    None
}

/// A subject taken from event data must not end its header line and start another one.
fn one_line(subject: &str) -> String {
    subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests;
