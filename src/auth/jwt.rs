//! End-user JWTs, checked locally: algorithm, key, signature, expiry, issuer, audience.

use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use super::jwks::KeySet;
use super::{AuthError, Caller};

/// The algorithms accepted: asymmetric only, so a public key can never be used as an HMAC
/// secret, and `none` never.
const ACCEPTED: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// What a token must say to be accepted.
#[derive(Debug, Clone)]
pub struct Expectations {
    /// The `iss` tokens must carry.
    pub issuer: String,
    /// The `aud` tokens must include.
    pub audience: String,
    /// Seconds of clock skew allowed on `exp` and `nbf`.
    pub leeway_secs: u64,
    /// The claim listing the rooms a token is limited to (`telnyx_room_ids` by default).
    pub rooms_claim: String,
}

/// Checks tokens against the identity provider's keys and the expectations.
pub struct Verifier {
    keys: Arc<KeySet>,
    expected: Expectations,
}

impl Verifier {
    /// A verifier over `keys`.
    pub fn new(keys: Arc<KeySet>, expected: Expectations) -> Self {
        Self { keys, expected }
    }

    /// The caller a token names, if every check passes.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|error| match error.kind() {
            // `none` and other names jsonwebtoken does not know end up here.
            ErrorKind::Json(_) if unverified_alg(token).is_some() => {
                AuthError::Algorithm(unverified_alg(token).unwrap_or_default())
            }
            _ => AuthError::Malformed,
        })?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(AuthError::Algorithm(format!("{:?}", header.alg)));
        }
        let key = self.keys.key(header.kid.as_deref()).await?;
        if key.algorithm != header.alg {
            return Err(AuthError::KeyMismatch);
        }
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.expected.issuer]);
        validation.set_audience(&[&self.expected.audience]);
        validation.leeway = self.expected.leeway_secs;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data =
            jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key.key, &validation).map_err(|error| {
                match error.kind() {
                    ErrorKind::InvalidSignature => AuthError::Signature,
                    ErrorKind::ExpiredSignature => AuthError::Expired,
                    ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                    ErrorKind::InvalidIssuer => AuthError::Issuer,
                    ErrorKind::InvalidAudience => AuthError::Audience,
                    ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(claim.clone()),
                    ErrorKind::InvalidAlgorithm => AuthError::KeyMismatch,
                    _ => AuthError::Malformed,
                }
            })?;
        let claims = data.claims;
        let subject =
            claims.get("sub").and_then(|s| s.as_str()).ok_or_else(|| AuthError::MissingClaim("sub".into()))?;
        let scopes = match (claims.get("scope"), claims.get("scp")) {
            (Some(Value::String(scope)), _) => scope.split_whitespace().map(str::to_owned).collect(),
            (None, Some(Value::Array(scp))) => scp.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect(),
            (None, None) => Vec::new(),
            _ => return Err(AuthError::Malformed),
        };
        let rooms = match claims.get(&self.expected.rooms_claim) {
            None => None,
            Some(Value::Array(ids)) => Some(
                ids.iter()
                    .map(|id| id.as_str().and_then(|id| uuid::Uuid::try_parse(id).ok()))
                    .collect::<Option<Vec<_>>>()
                    .ok_or(AuthError::RoomClaim)?,
            ),
            Some(_) => return Err(AuthError::RoomClaim),
        };
        // `exp` is required and validated above; a long-lived connection closes when it passes.
        let expires_at = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        Ok(Caller { subject: subject.to_owned(), scopes, rooms, expires_at })
    }
}

/// The `alg` of a token's header read without any checks, for naming a refused algorithm
/// (bounded, so a hostile header cannot make the message long).
fn unverified_alg(token: &str) -> Option<String> {
    use base64::Engine;
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header.trim_end_matches('=')).ok()?;
    let header: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let alg = header.get("alg")?.as_str()?;
    Some(alg.chars().filter(|c| c.is_ascii_alphanumeric()).take(16).collect())
}
