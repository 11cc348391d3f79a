//! Signing and verification, against the reference vector and every way a request can be wrong.

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

#[test]
fn signing_with_two_secrets_satisfies_a_receiver_holding_either_and_no_other() {
    let old = key();
    let new: SigningKey = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap();
    let signatures = sign_with_each(&[old.clone(), new.clone()], ID, TIMESTAMP, BODY);
    let [first, second] = signatures
        .split(' ')
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    assert_eq!(first, EXPECTED);
    assert_eq!(second, sign(&new, ID, TIMESTAMP, BODY));
    let request = headers(ID, &TIMESTAMP.to_string(), &signatures);
    let verify_with =
        |receiver: &SigningKey| verify(receiver, &request, BODY, at(TIMESTAMP), DEFAULT_TOLERANCE);
    verify_with(&old).unwrap();
    verify_with(&new).unwrap();
    let unknown: SigningKey = "whsec_q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="
        .parse()
        .unwrap();
    assert_eq!(verify_with(&unknown), Err(VerifyError::Mismatch));
}
