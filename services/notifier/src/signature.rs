//! Standard Webhooks signatures (<https://www.standardwebhooks.com>, spec 1.0.0): an HMAC-SHA256
//! over `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the endpoint's `whsec_` secret and
//! sent as `v1,<base64>` in `webhook-signature`. The notifier signs with [`sign`]; receivers (the
//! e2e tests, `nrtmesh dev`, any Rust consumer) check with [`verify`].

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
pub fn sign(key: &SigningKey, id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = key
        .mac(id, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("{VERSION_PREFIX}{}", general_purpose::STANDARD.encode(tag))
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
mod tests {
    use super::*;

    // The known vector of the Standard Webhooks reference library's own test suite
    // (github.com/standard-webhooks/standard-webhooks, libraries/rust/src/lib.rs, `test_sign`);
    // recomputed independently with Python's hmac module before use.
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TIMESTAMP: i64 = 1_649_367_553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const EXPECTED: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn key() -> SigningKey {
        SECRET.parse().unwrap()
    }

    fn at(unix: i64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap())
    }

    fn headers(id: &str, timestamp: &str, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ID_HEADER, id.parse().unwrap());
        headers.insert(TIMESTAMP_HEADER, timestamp.parse().unwrap());
        headers.insert(SIGNATURE_HEADER, signature.parse().unwrap());
        headers
    }

    fn check(headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
        verify(&key(), headers, body, at(TIMESTAMP + 10), DEFAULT_TOLERANCE)
    }

    #[test]
    fn signs_the_reference_vector_of_the_specification() {
        assert_eq!(sign(&key(), ID, TIMESTAMP, BODY), EXPECTED);
    }

    #[test]
    fn accepts_the_reference_vector() {
        check(&headers(ID, &TIMESTAMP.to_string(), EXPECTED), BODY).unwrap();
    }

    #[test]
    fn rejects_a_tampered_body() {
        let tampered = br#"{"email":"test@example.com","username":"test_user2"}"#;
        let result = check(&headers(ID, &TIMESTAMP.to_string(), EXPECTED), tampered);
        assert_eq!(result, Err(VerifyError::Mismatch));
    }

    #[test]
    fn rejects_a_changed_id_or_timestamp() {
        let other_id = check(
            &headers("msg_other", &TIMESTAMP.to_string(), EXPECTED),
            BODY,
        );
        assert_eq!(other_id, Err(VerifyError::Mismatch));
        let other_time = check(&headers(ID, &(TIMESTAMP + 1).to_string(), EXPECTED), BODY);
        assert_eq!(other_time, Err(VerifyError::Mismatch));
    }

    #[test]
    fn rejects_a_signature_made_with_another_key() {
        let other: SigningKey = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap();
        let signature = sign(&other, ID, TIMESTAMP, BODY);
        let result = check(&headers(ID, &TIMESTAMP.to_string(), &signature), BODY);
        assert_eq!(result, Err(VerifyError::Mismatch));
    }

    #[test]
    fn rejects_a_stale_timestamp_and_names_its_age() {
        let now = at(TIMESTAMP + 301);
        let result = verify(
            &key(),
            &headers(ID, &TIMESTAMP.to_string(), EXPECTED),
            BODY,
            now,
            DEFAULT_TOLERANCE,
        );
        assert_eq!(
            result,
            Err(VerifyError::Stale {
                timestamp: TIMESTAMP,
                age_secs: 301,
                tolerance_secs: 300
            })
        );
        assert!(result.unwrap_err().to_string().contains("301s old"));
    }

    #[test]
    fn rejects_a_timestamp_from_the_future() {
        let result = verify(
            &key(),
            &headers(ID, &TIMESTAMP.to_string(), EXPECTED),
            BODY,
            at(TIMESTAMP - 301),
            DEFAULT_TOLERANCE,
        );
        assert!(
            matches!(
                result,
                Err(VerifyError::FromTheFuture {
                    ahead_secs: 301,
                    ..
                })
            ),
            "{result:?}"
        );
    }

    #[test]
    fn accepts_timestamps_at_the_edges_of_the_tolerance() {
        for now in [TIMESTAMP - 300, TIMESTAMP + 300] {
            verify_parts(
                &key(),
                ID,
                &TIMESTAMP.to_string(),
                EXPECTED,
                BODY,
                at(now),
                DEFAULT_TOLERANCE,
            )
            .unwrap();
        }
    }

    #[test]
    fn names_each_missing_header() {
        for missing in [ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER] {
            let mut headers = headers(ID, &TIMESTAMP.to_string(), EXPECTED);
            headers.remove(missing);
            let result = check(&headers, BODY);
            assert_eq!(result, Err(VerifyError::MissingHeader(missing)));
            assert!(result.unwrap_err().to_string().contains(missing));
        }
    }

    #[test]
    fn rejects_a_timestamp_that_is_not_a_number() {
        let result = check(&headers(ID, "2022-04-07T21:39:13Z", EXPECTED), BODY);
        assert_eq!(
            result,
            Err(VerifyError::BadTimestamp("2022-04-07T21:39:13Z".into()))
        );
    }

    #[test]
    fn rejects_malformed_signatures() {
        let tag = EXPECTED.strip_prefix("v1,").unwrap();
        for malformed in [
            "",
            tag,                                      // no version
            &format!("v1={tag}"),                     // another delimiter
            "v1,not*base64",                          // not base64
            "v1,dGFn",                                // base64, but not 32 bytes
            &format!("v2,{tag}"),                     // unknown version
            &format!("v1a,{tag}"),                    // asymmetric: not ours
            &format!("v1,{}", &tag[..tag.len() - 4]), // truncated
        ] {
            let result = check(&headers(ID, &TIMESTAMP.to_string(), malformed), BODY);
            assert_eq!(
                result,
                Err(VerifyError::MalformedSignature),
                "{malformed:?}"
            );
        }
    }

    #[test]
    fn accepts_any_one_of_several_signatures() {
        let rotated = format!(
            "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ= v1a,aGVsbG8= {EXPECTED} v1,9DfC1c3eeOrXB6w/5dIDydLNQaEyww5KalE5jLBZucE="
        );
        check(&headers(ID, &TIMESTAMP.to_string(), &rotated), BODY).unwrap();
    }

    #[test]
    fn rejects_several_signatures_when_none_matches() {
        let wrong = "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ= v1,9DfC1c3eeOrXB6w/5dIDydLNQaEyww5KalE5jLBZucE=";
        let result = check(&headers(ID, &TIMESTAMP.to_string(), wrong), BODY);
        assert_eq!(result, Err(VerifyError::Mismatch));
    }

    #[test]
    fn a_secret_needs_the_prefix_valid_base64_and_a_sound_length() {
        assert_eq!(
            SigningKey::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
            Err(KeyError::MissingPrefix)
        );
        assert_eq!(
            SigningKey::parse("whsec_C2FVsBQI*hrscChlQIMV"),
            Err(KeyError::NotBase64)
        );
        assert_eq!(
            SigningKey::parse("whsec_c2hvcnQ="),
            Err(KeyError::WrongLength { bytes: 5 })
        );
        // 32 random bytes as most tools print them: with padding, and without.
        SigningKey::parse("whsec_q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=").unwrap();
        SigningKey::parse("whsec_q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA").unwrap();
    }

    #[test]
    fn neither_a_key_nor_a_key_error_prints_the_secret() {
        assert_eq!(format!("{:?}", key()), "SigningKey([redacted])");
        let error = SigningKey::parse("whsec_sup3r*secret").unwrap_err();
        assert!(!error.to_string().contains("sup3r"));
        assert!(!format!("{error:?}").contains("sup3r"));
    }
}
