//! What a request must pass before it runs: CSRF prevention, the caller's identity and rate
//! limit, trusted documents, and who may read the federation SDL.

use std::net::IpAddr;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde_json::json;

use crate::auth::trusted_documents::{Mode as TrustedMode, TrustedDocuments};
use crate::auth::{sha256_hex, AuthError, Caller};

use super::media::{request_error, Media};

/// Who may read `{ _service { sdl } }`.
#[derive(Clone)]
pub struct FederationSdl {
    /// Every caller.
    pub everyone: bool,
    /// Callers sending this in [`FederationSdl::TOKEN_HEADER`].
    pub token: Option<SecretString>,
}

impl FederationSdl {
    /// The header a gateway sends the token in.
    pub const TOKEN_HEADER: &'static str = "x-federation-sdl-token";

    pub(super) fn allows(&self, headers: &HeaderMap) -> bool {
        use secrecy::ExposeSecret;
        use sha2::{Digest, Sha256};
        self.everyone
            || self.token.as_ref().zip(headers.get(Self::TOKEN_HEADER)).is_some_and(|(token, sent)| {
                // Digests of equal length, so the comparison's time says nothing of the token.
                Sha256::digest(token.expose_secret().as_bytes()) == Sha256::digest(sent.as_bytes())
            })
    }
}

/// Headers that a browser sends cross-site only after a CORS preflight; any one of them, with
/// a value, shows the request was not forged (Apollo's and GraphQL Yoga's names). Names, not
/// strings: a lookup by string parses and lowercases the name first, as much again as the
/// lookup.
pub(super) const PREFLIGHT_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("apollo-require-preflight"),
    HeaderName::from_static("x-apollo-operation-name"),
    HeaderName::from_static("graphql-preflight"),
];

/// Fetch Metadata's `Sec-Fetch-Site`.
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// Whether a request could not have been sent by another site's page without the browser
/// asking us first (a CORS preflight, which only allowed origins pass): it carries
/// `Authorization`, a non-empty preflight header, or a `Content-Type` that HTML forms and
/// simple `fetch` calls cannot send (Apollo Server's `csrfPrevention` rule). Or the browser
/// itself says it comes from a page of this same origin (`Sec-Fetch-Site: same-origin`, Fetch
/// Metadata, which pages cannot forge), as an `EventSource` opened by GraphiQL's page does: it
/// can send no header of its own.
///
/// The content type is looked at first: nearly every request is JSON, which settles it.
pub(super) fn csrf_safe(headers: &HeaderMap) -> bool {
    let simple = headers.get(header::CONTENT_TYPE).is_none_or(|content_type| {
        let essence = content_type.to_str().unwrap_or("").split(';').next().unwrap_or("").trim();
        ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]
            .iter()
            .any(|form| essence.eq_ignore_ascii_case(form))
    });
    !simple
        || headers.contains_key(header::AUTHORIZATION)
        || PREFLIGHT_HEADERS.iter().any(|name| headers.get(name).is_some_and(|v| !v.is_empty()))
        || headers.get(SEC_FETCH_SITE).is_some_and(|site| site == "same-origin")
}

pub(super) fn csrf_blocked(media: Media) -> Response {
    let message = "blocked as a possible cross-site request forgery: send `Content-Type: application/json`, \
                   `Authorization`, or a non-empty `apollo-require-preflight`, `x-apollo-operation-name` or \
                   `graphql-preflight` header";
    request_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", message, media)
}

/// A request whose caller could not be identified: 401 (503 if the keys are unavailable)
/// with the RFC 6750 challenge, before anything runs.
pub(super) fn unauthenticated(error: &AuthError, media: Media) -> Response {
    let (status, code) = match error.status() {
        503 => (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"),
        _ => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
    };
    let mut response = request_error(status, code, &error.to_string(), media);
    if let Ok(challenge) = HeaderValue::from_str(&error.challenge()) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
    }
    response
}

/// Whom `CALLER_RATE_LIMIT` counts a request against: the JWT `sub`, else a hash of the
/// forwarded credential (so the limiter never holds one), else the client's address.
pub(super) fn caller_key(caller: Option<&Caller>, authorization: Option<&str>, peer: Option<IpAddr>) -> String {
    match (caller, authorization) {
        (Some(caller), _) => format!("sub:{}", caller.subject),
        (None, Some(authorization)) => format!("key:{}", sha256_hex(authorization)),
        (None, None) => format!("ip:{}", peer.map(|addr| addr.to_string()).unwrap_or_default()),
    }
}

/// Over `CALLER_RATE_LIMIT`: 429 with `Retry-After` (whole seconds, rounded up) and the same
/// in `extensions.retryAfter`, before anything runs.
pub(super) fn rate_limited(wait: Duration, media: Media) -> Response {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    crate::telemetry::count_operation(None, "RATE_LIMITED");
    let mut body = json!({ "errors": [{
        "message": format!("too many requests from this caller (CALLER_RATE_LIMIT); retry in {seconds} s"),
        "extensions": { "code": "RATE_LIMITED", "retryAfter": seconds },
    }] });
    if let Some(trace_id) = crate::telemetry::spans::error_trace_id() {
        body["errors"][0]["extensions"]["traceId"] = trace_id.into();
    }
    let headers = [(header::CONTENT_TYPE, media.content_type()), (header::RETRY_AFTER, HeaderValue::from(seconds))];
    (StatusCode::TOO_MANY_REQUESTS, headers, body.to_string()).into_response()
}

/// Resolves the persisted document a request names (by `documentId`/`doc_id`, or by APQ
/// hash when the manifest has it) and applies the trusted-documents mode: in `enforce`, a
/// document not in the manifest is refused, so APQ cannot register new ones either; in
/// `allow`, it runs and is counted.
pub(super) fn admit(
    trusted: Option<&TrustedDocuments>,
    request: &mut async_graphql::Request,
    id: Option<String>,
) -> Result<(), (&'static str, String)> {
    let Some(trusted) = trusted else {
        return match id {
            Some(_) => Err(("BAD_REQUEST", "persisted documents are not enabled on this server".into())),
            None => Ok(()),
        };
    };
    if let Some(id) = id {
        let Some(document) = trusted.by_id(&id) else {
            return Err(("PERSISTED_QUERY_NOT_FOUND", "no persisted document has this id".into()));
        };
        request.query = document.to_string();
        return Ok(());
    }
    let apq_hash = match request.extensions.get("persistedQuery") {
        Some(async_graphql::Value::Object(fields)) => match fields.get("sha256Hash") {
            Some(async_graphql::Value::String(hash)) => Some(hash.clone()),
            _ => None,
        },
        _ => None,
    };
    if request.query.is_empty() {
        if let Some(document) = apq_hash.as_deref().and_then(|hash| trusted.by_hash(hash)) {
            request.query = document.to_string();
            return Ok(());
        }
    }
    let listed = !request.query.is_empty() && trusted.by_hash(&sha256_hex(&request.query)).is_some();
    match (listed, trusted.mode) {
        (true, _) => Ok(()),
        (false, TrustedMode::Enforce) => {
            metrics::counter!("graphql_untrusted_documents_total", "outcome" => "refused").increment(1);
            Err(("PERSISTED_QUERY_NOT_IN_LIST", "only the trusted documents of this deployment run here".into()))
        }
        (false, TrustedMode::Allow) => {
            if !request.query.is_empty() {
                metrics::counter!("graphql_untrusted_documents_total", "outcome" => "allowed").increment(1);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_requests_a_page_cannot_forge_cross_site_run_without_authorization() {
        let with = |pairs: &[(&str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_static(value));
            }
            csrf_safe(&headers)
        };
        assert!(!with(&[]));
        assert!(!with(&[("content-type", "text/plain;charset=UTF-8")]));
        assert!(!with(&[("content-type", "Application/X-WWW-Form-Urlencoded")]));
        assert!(!with(&[("content-type", "multipart/form-data; boundary=x")]));
        assert!(!with(&[("apollo-require-preflight", "")]));
        assert!(!with(&[("sec-fetch-site", "cross-site")]));
        assert!(!with(&[("sec-fetch-site", "same-site")]), "another origin of the same site");
        assert!(!with(&[("sec-fetch-site", "none")]));
        assert!(with(&[("sec-fetch-site", "same-origin")]));
        assert!(with(&[("content-type", "application/json")]));
        assert!(with(&[("authorization", "Bearer k")]));
        for header in PREFLIGHT_HEADERS {
            assert!(with(&[(header.as_str(), "1"), ("content-type", "text/plain")]), "{header}");
        }
    }
}
