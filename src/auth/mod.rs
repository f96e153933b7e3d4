//! Caller identity: who is calling, checked before anything else runs.
//!
//! In `passthrough` mode (the default) the caller's `Authorization` is a Telnyx key and is
//! forwarded as it is. In `jwt` mode it is an end user's token from the company's identity
//! provider: [`jwt::Verifier`] checks it locally against the provider's published keys
//! ([`jwks::KeySet`]) and the service calls Telnyx with its own key, so a browser never holds
//! one. This module knows JWTs and HTTP, never Telnyx or GraphQL.

pub mod jwks;
pub mod jwt;
pub mod rate_limit;
pub mod trusted_documents;

/// How callers are identified (`AUTH_MODE`).
pub enum Authenticator {
    /// The caller's `Authorization` is a Telnyx key, forwarded as it is.
    Passthrough,
    /// The caller's `Authorization` is an end-user JWT, checked here; Telnyx gets the
    /// server's key.
    Jwt(jwt::Verifier),
}

impl Authenticator {
    /// The caller of a request with this `Authorization` header, in `jwt` mode; `None` in
    /// `passthrough` mode, where Telnyx decides.
    pub async fn caller(&self, authorization: Option<&str>) -> Result<Option<Caller>, AuthError> {
        match self {
            Self::Passthrough => Ok(None),
            Self::Jwt(verifier) => {
                let token = authorization.and_then(bearer).ok_or(AuthError::Missing)?;
                verifier.verify(token).await.map(Some)
            }
        }
    }

    /// Whether callers' own credentials go upstream (else the server's key does).
    pub fn forwards_credentials(&self) -> bool {
        matches!(self, Self::Passthrough)
    }
}

/// The scope every field that reads from Telnyx requires (declared in the SDL with
/// `@requiresScopes`, enforced where the service calls Telnyx).
pub const READ_SCOPE: &str = "video:read";

/// The scope every mutation needs in `jwt` mode.
pub const WRITE_SCOPE: &str = "video:write";

/// A caller whose token checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's `sub`: who the caller is (for rate limits and logs; never the token).
    pub subject: String,
    /// Scopes from `scope` (space-separated) or `scp` (an array).
    pub scopes: Vec<String>,
    /// The only rooms the caller may see, if the token is room-scoped (`telnyx_room_ids`).
    pub rooms: Option<Vec<uuid::Uuid>>,
    /// When the token expires (`exp`, Unix seconds): subscriptions end then.
    pub expires_at: i64,
}

impl Caller {
    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|granted| granted == scope)
    }
}

/// Why a token was refused. The messages say which check failed and never quote the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer …` at all.
    #[error("no bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    /// Not a JWT, or claims of the wrong shape.
    #[error("the token is malformed")]
    Malformed,
    /// An algorithm this service does not accept (`none`, HS*, …).
    #[error("the token's algorithm {0} is not accepted (RS256, ES256 or EdDSA)")]
    Algorithm(String),
    /// No published key has the token's `kid` (after one refetch, when one was allowed).
    #[error("the token's key (kid) is not one of the identity provider's keys")]
    UnknownKey,
    /// The key's algorithm is not the token's.
    #[error("the token's algorithm does not match its key")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    Signature,
    /// `exp` has passed (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is still ahead (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("the token's issuer is not accepted")]
    Issuer,
    /// `aud` does not include the configured audience.
    #[error("the token's audience is not this service")]
    Audience,
    /// The room claim is not a list of room ids (UUIDs).
    #[error("the token's room claim is not a list of room ids")]
    RoomClaim,
    /// A claim every token must have is missing.
    #[error("the token has no `{0}` claim")]
    MissingClaim(String),
    /// The identity provider's keys could not be fetched, and none are known.
    #[error("the identity provider's keys are unavailable; try again later")]
    KeysUnavailable,
}

impl AuthError {
    /// The HTTP status: the caller's fault is 401, ours (no keys) 503.
    pub fn status(&self) -> u16 {
        match self {
            Self::KeysUnavailable => 503,
            Self::Missing
            | Self::Malformed
            | Self::Algorithm(_)
            | Self::UnknownKey
            | Self::KeyMismatch
            | Self::Signature
            | Self::Expired
            | Self::NotYetValid
            | Self::Issuer
            | Self::Audience
            | Self::RoomClaim
            | Self::MissingClaim(_) => 401,
        }
    }

    /// The `WWW-Authenticate` challenge (RFC 6750 §3): no error code when no token was sent.
    pub fn challenge(&self) -> String {
        match self {
            Self::Missing => "Bearer".to_owned(),
            other => format!("Bearer error=\"invalid_token\", error_description=\"{other}\""),
        }
    }
}

/// The lowercase hex SHA-256 of `text`: how documents are known by hash (as APQ keys them),
/// and how credentials are keyed for rate limits without being kept.
pub fn sha256_hex(text: impl AsRef<[u8]>) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(text.as_ref()))
}

/// The bearer token of an `Authorization` header value, if it is one.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_token_is_read_case_insensitively_and_nothing_else_is() {
        assert_eq!(bearer("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic dXNlcg=="), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("abc"), None);
    }

    #[test]
    fn challenges_follow_rfc_6750() {
        assert_eq!(AuthError::Missing.challenge(), "Bearer");
        assert_eq!(
            AuthError::Expired.challenge(),
            "Bearer error=\"invalid_token\", error_description=\"the token has expired\""
        );
        assert_eq!(AuthError::KeysUnavailable.status(), 503);
        assert_eq!(AuthError::Signature.status(), 401);
    }
}
