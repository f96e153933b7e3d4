//! The caller's upstream credential, kept out of every log, error and debug print.

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

/// The `Authorization` header value sent to Telnyx.
///
/// Wrapped so that `Debug` prints `[REDACTED]` and the header is marked sensitive, which keeps
/// it out of hyper's and reqwest's own logs as well as ours.
#[derive(Clone)]
pub struct Credential(HeaderValue);

impl Credential {
    /// Forwards a client's `Authorization` header unchanged.
    pub fn from_header(value: &HeaderValue) -> Self {
        let mut value = value.clone();
        value.set_sensitive(true);
        Self(value)
    }

    /// Uses a configured API key as a bearer token; `None` if it can't be a header value.
    pub fn from_api_key(key: &SecretString) -> Option<Self> {
        let mut value = HeaderValue::try_from(format!("Bearer {}", key.expose_secret())).ok()?;
        value.set_sensitive(true);
        Some(Self(value))
    }

    pub(crate) fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secret() {
        let credential = Credential::from_api_key(&SecretString::from("KEY123secret")).unwrap();
        assert!(!format!("{credential:?}").contains("KEY123secret"));
        assert_eq!(credential.header_value().to_str().unwrap(), "Bearer KEY123secret");
    }
}
