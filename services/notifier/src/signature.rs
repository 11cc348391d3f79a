//! Standard Webhooks signatures (<https://www.standardwebhooks.com>, spec 1.0.0): an HMAC-SHA256
//! over `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the endpoint's `whsec_` secret and
//! sent as `v1,<base64>` in `webhook-signature`. The notifier signs with [`sign_with_each`], one
//! signature per secret of the endpoint; receivers (the e2e tests, `nrtmesh dev`, any Rust
//! consumer) check with [`verify`], which accepts any one matching signature.

use std::{
    fmt,
    str::FromStr,
    time::{Duration, SystemTime},
};

use base64::{
    Engine,
    alphabet::STANDARD,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig, general_purpose},
};
use hmac::{KeyInit, Mac};
use http::HeaderMap;
use nrt_runtime::Secret;

/// The event's id: the same on every retry, so receivers can drop repeats.
pub const ID_HEADER: &str = "webhook-id";
/// When this attempt was made, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// One or more space-separated `v1,<base64>` signatures.
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// How far a timestamp may be from the receiver's clock: the specification's five minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

const SECRET_PREFIX: &str = "whsec_";
const VERSION_PREFIX: &str = "v1,";
/// The specification's bounds on a symmetric key: at least 192 bits, at most 512.
const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Secrets are written with or without base64 padding depending on the tool that made them.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// An endpoint's decoded HMAC key. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

/// Why a secret is not a Standard Webhooks `whsec_<base64>` secret. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("must start with \"whsec_\"")]
    MissingPrefix,
    // No source: base64's error quotes the offending character of the secret.
    #[error("is not valid base64 after \"whsec_\"")]
    NotBase64,
    #[error("decodes to {bytes} bytes; a key has 24 to 64 bytes")]
    WrongLength { bytes: usize },
}

impl SigningKey {
    /// Decodes a `whsec_<base64 key>` secret.
    pub fn parse(secret: &str) -> Result<Self, KeyError> {
        let encoded = secret
            .strip_prefix(SECRET_PREFIX)
            .ok_or(KeyError::MissingPrefix)?;
        let key = LENIENT_BASE64
            .decode(encoded)
            .map_err(|_| KeyError::NotBase64)?;
        if !KEY_BYTES.contains(&key.len()) {
            return Err(KeyError::WrongLength { bytes: key.len() });
        }
        Ok(Self(key))
    }

    /// Decodes the secret held in configuration.
    pub fn from_secret(secret: &Secret) -> Result<Self, KeyError> {
        Self::parse(secret.expose())
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        for part in [id.as_bytes(), b".", timestamp.as_bytes(), b".", body] {
            mac.update(part);
        }
        mac
    }
}

impl FromStr for SigningKey {
    type Err = KeyError;

    fn from_str(secret: &str) -> Result<Self, KeyError> {
        Self::parse(secret)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

/// The `webhook-signature` value for `body` sent as `id` at `timestamp` (Unix seconds).
///
/// The specification asks for ids without `.` so that `id.timestamp.body` splits one way only.
/// Event ids built from product keys can hold dots (`….EOF`); that stays unambiguous because
/// [`verify`] reads the timestamp as an integer near the receiver's clock and a CloudEvent body
/// starts with `{`, so no other split passes.
pub fn sign(key: &SigningKey, id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = key
        .mac(id, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("{VERSION_PREFIX}{}", general_purpose::STANDARD.encode(tag))
}

/// The `webhook-signature` value with one signature per key, space-separated: while a secret is
/// rotated the endpoint verifies with whichever key it holds, and any one match suffices.
pub fn sign_with_each(keys: &[SigningKey], id: &str, timestamp: i64, body: &[u8]) -> String {
    let signatures: Vec<String> = keys
        .iter()
        .map(|key| sign(key, id, timestamp, body))
        .collect();
    signatures.join(" ")
}

/// Why a request is not an authentic, fresh webhook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("header {0} is missing")]
    MissingHeader(&'static str),
    #[error("header {0} is not visible ASCII text")]
    UnreadableHeader(&'static str),
    #[error("webhook-timestamp {0:?} is not a whole number of Unix seconds")]
    BadTimestamp(String),
    #[error(
        "webhook-timestamp {timestamp} is {age_secs}s old, beyond the {tolerance_secs}s tolerance"
    )]
    Stale {
        timestamp: i64,
        age_secs: i64,
        tolerance_secs: u64,
    },
    #[error(
        "webhook-timestamp {timestamp} is {ahead_secs}s in the future, beyond the {tolerance_secs}s tolerance"
    )]
    FromTheFuture {
        timestamp: i64,
        ahead_secs: i64,
        tolerance_secs: u64,
    },
    #[error("webhook-signature holds no well-formed \"v1,<base64 of 32 bytes>\" signature")]
    MalformedSignature,
    #[error("no v1 signature matches: wrong key, or the id, timestamp or body was changed")]
    Mismatch,
}

/// Checks a received webhook: its three `webhook-*` headers, the body exactly as received, the
/// receiver's clock and the allowed clock difference (usually [`DEFAULT_TOLERANCE`]).
pub fn verify(
    key: &SigningKey,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let header = |name: &'static str| {
        headers
            .get(name)
            .ok_or(VerifyError::MissingHeader(name))?
            .to_str()
            .map_err(|_| VerifyError::UnreadableHeader(name))
    };
    verify_parts(
        key,
        header(ID_HEADER)?,
        header(TIMESTAMP_HEADER)?,
        header(SIGNATURE_HEADER)?,
        body,
        now,
        tolerance,
    )
}

/// [`verify`] for receivers that hold the header values rather than an `http::HeaderMap`.
/// Any one matching `v1` signature suffices, so a sender may sign with an old and a new key
/// while a secret is rotated; other versions (`v1a`) are skipped.
pub fn verify_parts(
    key: &SigningKey,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: SystemTime,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    check_freshness(timestamp, now, tolerance)?;
    let candidates: Vec<Vec<u8>> = signatures
        .split_ascii_whitespace()
        .filter_map(|entry| entry.strip_prefix(VERSION_PREFIX))
        .filter_map(|encoded| general_purpose::STANDARD.decode(encoded).ok())
        .filter(|tag| tag.len() == 32)
        .collect();
    if candidates.is_empty() {
        return Err(VerifyError::MalformedSignature);
    }
    // Signed over the timestamp text as received: that is what the sender signed.
    let expected = key.mac(id, timestamp, body);
    // verify_slice compares in constant time, so a mismatch leaks nothing about the tag.
    let matches = candidates
        .iter()
        .any(|tag| expected.clone().verify_slice(tag).is_ok());
    if matches {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

fn check_freshness(
    timestamp: &str,
    now: SystemTime,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let sent: i64 = timestamp
        .parse()
        .map_err(|_| VerifyError::BadTimestamp(timestamp.to_owned()))?;
    let now = unix_seconds(now);
    let tolerance_secs = tolerance.as_secs();
    let allowed = i64::try_from(tolerance_secs).unwrap_or(i64::MAX);
    let age = now.saturating_sub(sent);
    if age > allowed {
        return Err(VerifyError::Stale {
            timestamp: sent,
            age_secs: age,
            tolerance_secs,
        });
    }
    if -age > allowed {
        return Err(VerifyError::FromTheFuture {
            timestamp: sent,
            ahead_secs: -age,
            tolerance_secs,
        });
    }
    Ok(())
}

/// Seconds since the Unix epoch, as `webhook-timestamp` carries them.
pub fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests;
