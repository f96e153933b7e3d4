//! The identity provider's signing keys (a JWKS, RFC 7517), fetched over HTTP and cached.
//!
//! Keys are fetched on first use and again once they are older than the refresh interval
//! (periodic rotation). A token whose `kid` is unknown triggers an early refetch (a key
//! rotated in since), but at most one per `min_refetch`, so tokens with forged `kid`s cannot
//! make this service hammer the identity provider. A failed fetch keeps the keys already
//! known. Fetches are single-flight: concurrent requests wait for the one in progress.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

use super::AuthError;

/// The least time before fetching again after a failed fetch, so an identity provider that is
/// down is not asked on every request.
const RETRY_FLOOR: Duration = Duration::from_secs(1);

/// Where the keys come from and how often they are fetched.
#[derive(Debug, Clone)]
pub struct KeySetConfig {
    /// The JWKS URL (e.g. `https://idp.example.com/.well-known/jwks.json`).
    pub url: url::Url,
    /// Keys older than this are fetched again on next use.
    pub refresh: Duration,
    /// The least time between two fetches caused by unknown `kid`s.
    pub min_refetch: Duration,
    /// Bound on one fetch.
    pub timeout: Duration,
}

/// A verification key and the one algorithm it may be used with.
#[derive(Clone)]
pub struct Key {
    /// The key.
    pub key: DecodingKey,
    /// The algorithm it verifies.
    pub algorithm: Algorithm,
}

/// The cached key set.
pub struct KeySet {
    config: KeySetConfig,
    http: reqwest::Client,
    keys: RwLock<Keys>,
    /// Held while fetching, so that fetches are single-flight.
    fetching: Mutex<()>,
}

#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, Key>,
    /// Keys without a `kid`, usable by tokens without one when they are the only key.
    anonymous: Vec<Key>,
    fetched_at: Option<Instant>,
    /// The last fetch of any kind, successful or not.
    attempted_at: Option<Instant>,
    /// The last fetch an unknown `kid` caused.
    unknown_kid_at: Option<Instant>,
    /// The last fetch that failed.
    failed_at: Option<Instant>,
}

impl KeySet {
    /// A key set that fetches nothing until first used.
    pub fn new(config: KeySetConfig) -> Result<Arc<Self>, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(config.timeout).build()?;
        Ok(Arc::new(Self { config, http, keys: RwLock::default(), fetching: Mutex::new(()) }))
    }

    /// The key for `kid` (or the only key, for a token without one).
    pub async fn key(&self, kid: Option<&str>) -> Result<Key, AuthError> {
        let may_fetch = {
            let keys = self.keys.read().await;
            let fresh = keys.fetched_at.is_some_and(|at| at.elapsed() < self.config.refresh);
            // After a failed fetch, the provider is asked at most once a second.
            let tried_just_now = keys.failed_at.is_some_and(|at| at.elapsed() < RETRY_FLOOR);
            match keys.find(kid) {
                Some(key) if fresh => return Ok(key),
                // Stale keys: fetch again (keeping them if that fails).
                Some(_) => !tried_just_now,
                // An unknown kid: a key rotated in since, or a forgery; one refetch per window.
                None if fresh => {
                    !tried_just_now && keys.unknown_kid_at.is_none_or(|at| at.elapsed() >= self.config.min_refetch)
                }
                None => !tried_just_now,
            }
        };
        if may_fetch {
            self.refetch(kid).await;
        }
        let keys = self.keys.read().await;
        match keys.find(kid) {
            Some(key) => Ok(key),
            None if keys.fetched_at.is_none() => Err(AuthError::KeysUnavailable),
            None => Err(AuthError::UnknownKey),
        }
    }

    /// Fetches the set unless another caller just did while this one waited.
    async fn refetch(&self, kid: Option<&str>) {
        let started = Instant::now();
        let _flight = self.fetching.lock().await;
        if self.keys.read().await.attempted_at.is_some_and(|at| at >= started) {
            return;
        }
        let result = self.fetch().await;
        let mut keys = self.keys.write().await;
        let now = Instant::now();
        keys.attempted_at = Some(now);
        let fresh_enough = keys.fetched_at.is_some_and(|at| at.elapsed() < self.config.refresh);
        if fresh_enough && keys.find(kid).is_none() {
            keys.unknown_kid_at = Some(now);
        }
        match result {
            Ok(fresh) => {
                metrics::counter!("jwks_fetches_total", "outcome" => "ok").increment(1);
                *keys = Keys {
                    fetched_at: Some(now),
                    attempted_at: Some(now),
                    unknown_kid_at: keys.unknown_kid_at,
                    failed_at: None,
                    ..fresh
                };
            }
            Err(error) => {
                keys.failed_at = Some(now);
                metrics::counter!("jwks_fetches_total", "outcome" => "error").increment(1);
                tracing::warn!(url = %self.config.url, %error, "could not fetch the identity provider's keys; keeping those known");
            }
        }
    }

    async fn fetch(&self) -> Result<Keys, String> {
        let response = self.http.get(self.config.url.clone()).send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let set: JwkSet = response.json().await.map_err(|e| e.to_string())?;
        let mut keys = Keys::default();
        for jwk in &set.keys {
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            let Some(algorithm) = signing_algorithm(jwk) else { continue };
            let Ok(key) = DecodingKey::from_jwk(jwk) else { continue };
            let key = Key { key, algorithm };
            match &jwk.common.key_id {
                Some(kid) => {
                    keys.by_kid.insert(kid.clone(), key);
                }
                None => keys.anonymous.push(key),
            }
        }
        Ok(keys)
    }
}

impl Keys {
    fn find(&self, kid: Option<&str>) -> Option<Key> {
        match kid {
            Some(kid) => self.by_kid.get(kid).cloned(),
            None if self.by_kid.len() + self.anonymous.len() == 1 => {
                self.anonymous.first().or_else(|| self.by_kid.values().next()).cloned()
            }
            None => None,
        }
    }
}

/// The algorithm a JWK verifies, if it is one this service accepts: its `alg`, or else the
/// one its key type implies. HMAC and everything else are skipped.
fn signing_algorithm(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Algorithm> {
    let implied = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => Algorithm::EdDSA,
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(implied),
        Some(KeyAlgorithm::RS256) if implied == Algorithm::RS256 => Some(implied),
        Some(KeyAlgorithm::ES256) if implied == Algorithm::ES256 => Some(implied),
        Some(KeyAlgorithm::EdDSA) if implied == Algorithm::EdDSA => Some(implied),
        Some(_) => None,
    }
}
