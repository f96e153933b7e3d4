//! Client tokens: JWTs shaped like Telnyx's, signed with a key only this upstream knows.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Telnyx's `aud` and `iss` for room client tokens.
const ISSUER: &str = "telnyx_access_token";

/// What a token is for: joining a room, or getting new join tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Kind {
    Access,
    Refresh,
}

/// The claims of Telnyx's example tokens, minus the user subject the fake has no use for.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    aud: String,
    iss: String,
    jti: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    typ: Kind,
    grants_version: String,
    grants: Vec<Grant>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Grant {
    actions: Vec<String>,
    resources: Vec<String>,
}

/// The grant resource naming a room, as in Telnyx's tokens.
fn resource(room_id: &str) -> String {
    format!("telnyx:video:rooms:{room_id}")
}

/// A token and when it expires, in whole seconds like Telnyx's `*_expires_at`.
pub(super) struct Issued {
    pub(super) token: String,
    pub(super) expires_at: String,
}

/// Signs and checks client tokens with HS256 under a random per-upstream key, so a refresh
/// token verifies only at the upstream that issued it, and only until it expires.
#[derive(Debug)]
pub(super) struct Signer {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Signer {
    pub(super) fn random() -> Self {
        let key: [u8; 32] = rand::random();
        // Only an empty secret is refused.
        let encoding = EncodingKey::from_secret(&key).expect("a 32-byte HMAC key");
        let decoding = DecodingKey::from_secret(&key).expect("a 32-byte HMAC key");
        Self { encoding, decoding }
    }

    /// A `kind` token for `room_id` with id `jti`, valid for `ttl_secs` from `now`.
    pub(super) fn issue(&self, kind: Kind, room_id: &str, jti: String, now: DateTime<Utc>, ttl_secs: u32) -> Issued {
        let (iat, exp) = (now.timestamp(), now.timestamp() + i64::from(ttl_secs));
        let grants = vec![Grant { actions: vec!["join".into()], resources: vec![resource(room_id)] }];
        let (aud, iss, grants_version) = (ISSUER.into(), ISSUER.into(), "1.0.0".into());
        let claims = Claims { aud, iss, jti, iat, nbf: iat - 1, exp, typ: kind, grants_version, grants };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("claims of strings and numbers serialize");
        let expires_at = DateTime::from_timestamp(exp, 0).expect("TTLs are bounded").format("%Y-%m-%dT%H:%M:%SZ");
        Issued { token, expires_at: expires_at.to_string() }
    }

    /// Whether `token` is a refresh token this signer issued for `room_id` that has not expired.
    pub(super) fn is_live_refresh_token(&self, token: &str, room_id: &str) -> bool {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_audience(&[ISSUER]);
        validation.set_issuer(&[ISSUER]);
        let Ok(decoded) = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation) else {
            return false;
        };
        let claims = decoded.claims;
        claims.typ == Kind::Refresh && claims.grants.iter().any(|grant| grant.resources.contains(&resource(room_id)))
    }
}
