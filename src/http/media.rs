//! The response media types of GraphQL over HTTP, and errors answered before execution.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The response media types of the GraphQL-over-HTTP spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Media {
    GraphQlResponse,
    Json,
}

impl Media {
    pub(super) const GRAPHQL_RESPONSE: &'static str = "application/graphql-response+json";

    /// Picks the response type from `Accept`; `None` if the client accepts neither.
    pub(super) fn negotiate(headers: &HeaderMap) -> Option<Self> {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Some(Self::Json);
        };
        let ranges: Vec<&str> = accept
            .split(',')
            .filter(|range| !range.split(';').skip(1).any(|p| p.trim().replace(' ', "") == "q=0"))
            .map(|range| range.split(';').next().unwrap_or("").trim())
            .collect();
        let accepts = |wanted: &str| ranges.iter().any(|r| r.eq_ignore_ascii_case(wanted));
        if accepts(Self::GRAPHQL_RESPONSE) {
            Some(Self::GraphQlResponse)
        } else if accepts("application/json") || accepts("application/*") || accepts("*/*") {
            Some(Self::Json)
        } else {
            None
        }
    }

    pub(super) fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::GraphQlResponse => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        })
    }
}

/// An error answered before any GraphQL execution.
pub(super) fn request_error(status: StatusCode, code: &str, message: &str, media: Media) -> Response {
    metrics::counter!("graphql_operations_total", "operation" => "", "code" => code.to_owned()).increment(1);
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, [(header::CONTENT_TYPE, media.content_type())], body.to_string()).into_response()
}

pub(super) fn not_acceptable() -> Response {
    let message = "accept application/graphql-response+json or application/json";
    request_error(StatusCode::NOT_ACCEPTABLE, "NOT_ACCEPTABLE", message, Media::Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn accept_negotiation_follows_graphql_over_http() {
        assert_eq!(Media::negotiate(&HeaderMap::new()), Some(Media::Json));
        assert_eq!(Media::negotiate(&accept("application/graphql-response+json")), Some(Media::GraphQlResponse));
        assert_eq!(
            Media::negotiate(&accept("application/json, application/graphql-response+json;q=0.9")),
            Some(Media::GraphQlResponse)
        );
        assert_eq!(Media::negotiate(&accept("application/json")), Some(Media::Json));
        assert_eq!(Media::negotiate(&accept("*/*")), Some(Media::Json));
        assert_eq!(
            Media::negotiate(&accept("application/graphql-response+json;q=0, application/json")),
            Some(Media::Json)
        );
        assert_eq!(Media::negotiate(&accept("text/plain")), None);
    }
}
