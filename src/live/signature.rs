//! Telnyx's webhook signature (API v2): Ed25519 over `{telnyx-timestamp}|{raw body}`, with the
//! account's public key (base64 of its 32 bytes, `TELNYX_PUBLIC_KEY` as in Telnyx's SDKs). The
//! cryptography is ed25519-dalek's; this only assembles the message and checks the clock.

use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};

/// The header carrying the base64 signature.
pub const SIGNATURE_HEADER: &str = "telnyx-signature-ed25519";
/// The header carrying the Unix time the signature was made at.
pub const TIMESTAMP_HEADER: &str = "telnyx-timestamp";

/// The public key webhooks are checked with.
#[derive(Clone)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Reads base64 of the raw 32-byte key; the error says what is wrong, never the key.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| "TELNYX_PUBLIC_KEY is not base64".to_owned())?;
        let bytes: [u8; 32] =
            bytes.try_into().map_err(|_| "TELNYX_PUBLIC_KEY is not 32 bytes (an Ed25519 public key)".to_owned())?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|_| "TELNYX_PUBLIC_KEY is not a valid Ed25519 public key".to_owned())
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublicKey")
    }
}

/// Which check a delivery failed (the metrics label and the answer's body; never a secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No `telnyx-signature-ed25519` header.
    #[error("missing telnyx-signature-ed25519 header")]
    MissingSignature,
    /// No `telnyx-timestamp` header.
    #[error("missing telnyx-timestamp header")]
    MissingTimestamp,
    /// The timestamp is not Unix seconds.
    #[error("telnyx-timestamp is not a Unix time in seconds")]
    MalformedTimestamp,
    /// The timestamp is further from now than the tolerance (a replay, or a wrong clock).
    #[error("telnyx-timestamp is outside the tolerance")]
    StaleTimestamp,
    /// The signature is not base64 of 64 bytes.
    #[error("telnyx-signature-ed25519 is not a base64 Ed25519 signature")]
    MalformedSignature,
    /// The signature does not match the key, timestamp and body.
    #[error("the signature does not match")]
    BadSignature,
}

impl Rejection {
    /// A stable label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::MissingSignature => "missing_signature",
            Self::MissingTimestamp => "missing_timestamp",
            Self::MalformedTimestamp => "malformed_timestamp",
            Self::StaleTimestamp => "stale_timestamp",
            Self::MalformedSignature => "malformed_signature",
            Self::BadSignature => "bad_signature",
        }
    }
}

/// Checks one delivery: `signature` and `timestamp` as the headers gave them, `body` exactly as
/// received, `now` in Unix seconds, `tolerance` in seconds either way.
pub fn verify(
    key: &PublicKey,
    signature: Option<&[u8]>,
    timestamp: Option<&[u8]>,
    body: &[u8],
    now: i64,
    tolerance: u64,
) -> Result<(), Rejection> {
    let signature = signature.ok_or(Rejection::MissingSignature)?;
    let timestamp = timestamp.ok_or(Rejection::MissingTimestamp)?;
    let seconds: i64 = std::str::from_utf8(timestamp)
        .ok()
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse().ok())
        .ok_or(Rejection::MalformedTimestamp)?;
    if now.abs_diff(seconds) > tolerance {
        return Err(Rejection::StaleTimestamp);
    }
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or(Rejection::MalformedSignature)?;
    let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
    message.extend_from_slice(timestamp);
    message.push(b'|');
    message.extend_from_slice(body);
    key.0.verify_strict(&message, &signature).map_err(|_| Rejection::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    const NOW: i64 = 1_764_496_000;

    fn keys(seed: u8) -> (SigningKey, PublicKey) {
        let signing = SigningKey::from_bytes(&[seed; 32]);
        let public = base64::engine::general_purpose::STANDARD.encode(signing.verifying_key().as_bytes());
        (signing, PublicKey::from_base64(&public).unwrap())
    }

    fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
        let message = [timestamp.as_bytes(), b"|", body].concat();
        base64::engine::general_purpose::STANDARD.encode(key.sign(&message).to_bytes())
    }

    #[test]
    fn a_delivery_signed_with_the_key_over_timestamp_and_body_is_accepted() {
        let (signing, public) = keys(7);
        let body = br#"{"data":{"id":"e1"}}"#;
        let ts = NOW.to_string();
        let sig = sign(&signing, &ts, body);
        assert_eq!(verify(&public, Some(sig.as_bytes()), Some(ts.as_bytes()), body, NOW + 299, 300), Ok(()));
    }

    #[test]
    fn every_other_delivery_is_refused_saying_which_check_failed() {
        let (signing, public) = keys(7);
        let (other, _) = keys(8);
        let body = br#"{"data":{"id":"e1"}}"#;
        let ts = NOW.to_string();
        let sig = sign(&signing, &ts, body);
        let check = |sig: Option<&str>, ts: Option<&str>, body: &[u8], now: i64| {
            verify(&public, sig.map(str::as_bytes), ts.map(str::as_bytes), body, now, 300)
        };
        assert_eq!(check(None, Some(&ts), body, NOW), Err(Rejection::MissingSignature));
        assert_eq!(check(Some(&sig), None, body, NOW), Err(Rejection::MissingTimestamp));
        assert_eq!(check(Some(&sig), Some("-5"), body, NOW), Err(Rejection::MalformedTimestamp));
        assert_eq!(check(Some(&sig), Some(&ts), body, NOW + 301), Err(Rejection::StaleTimestamp));
        assert_eq!(check(Some(&sig), Some(&ts), body, NOW - 301), Err(Rejection::StaleTimestamp), "future");
        assert_eq!(check(Some("not base64!"), Some(&ts), body, NOW), Err(Rejection::MalformedSignature));
        let altered = br#"{"data":{"id":"e2"}}"#;
        assert_eq!(check(Some(&sig), Some(&ts), altered, NOW), Err(Rejection::BadSignature), "one byte changed");
        let wrong_key = sign(&other, &ts, body);
        assert_eq!(check(Some(&wrong_key), Some(&ts), body, NOW), Err(Rejection::BadSignature));
        // The timestamp is part of what is signed: moving it breaks the signature.
        let moved = (NOW + 1).to_string();
        assert_eq!(check(Some(&sig), Some(&moved), body, NOW), Err(Rejection::BadSignature));
    }

    #[test]
    fn a_public_key_that_is_not_32_base64_bytes_is_refused() {
        assert!(PublicKey::from_base64("!!").is_err());
        assert!(PublicKey::from_base64("AAAA").is_err());
    }
}
