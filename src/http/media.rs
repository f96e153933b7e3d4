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

/// What a request's `Accept` asks for: the JSON type to answer with (`None`: neither is
/// acceptable) and whether to stream. The header is read once for both.
pub(super) fn negotiate(headers: &HeaderMap) -> (Option<Media>, Stream) {
    let accept = Accept::of(headers);
    (Media::of(accept.as_ref()), Stream::of(accept.as_ref()))
}

impl Media {
    pub(super) const GRAPHQL_RESPONSE: &'static str = "application/graphql-response+json";

    /// Picks the response type from `Accept`; `None` if the client accepts neither. The spec's
    /// own type wins whenever it is named; no `Accept`, or only wildcards (curl's `*/*`), mean
    /// the legacy `application/json`, as the spec asks during its watershed.
    fn of(accept: Option<&Accept>) -> Option<Self> {
        let Some(accept) = accept else { return Some(Self::Json) };
        if accept.explicit(Self::GRAPHQL_RESPONSE).0 > 0.0 {
            Some(Self::GraphQlResponse)
        } else if accept.quality("application/json").0 > 0.0 {
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

/// What a client's `Accept` says of an event stream (GraphQL over SSE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stream {
    /// `text/event-stream` is preferred over every JSON type (by q-value, then by order), as
    /// graphql-sse's client and a browser's `EventSource` ask: every operation streams.
    Preferred,
    /// Accepted, but a JSON type is preferred (urql lists both): a subscription streams, a
    /// query or mutation is answered with one JSON body, readable and cacheable.
    Accepted,
    /// Not accepted.
    No,
}

impl Stream {
    fn of(accept: Option<&Accept>) -> Self {
        let Some(accept) = accept else { return Self::No };
        // Only a range naming it asks for a stream: `*/*` is any client's default.
        let stream = accept.explicit("text/event-stream");
        if stream.0 <= 0.0 {
            return Self::No;
        }
        let json = [accept.explicit(Media::GRAPHQL_RESPONSE), accept.quality("application/json")];
        if json.iter().all(|json| stream.0 > json.0 || (stream.0 == json.0 && stream.1 < json.1)) {
            Self::Preferred
        } else {
            Self::Accepted
        }
    }
}

/// A request's `Accept` header(s), as media ranges.
struct Accept<'a>(Vec<Range<'a>>);

/// One media range: its type and subtype, and its q-value.
struct Range<'a> {
    media: &'a str,
    q: f32,
}

impl<'a> Accept<'a> {
    /// `None` without an `Accept` header (the client takes anything).
    fn of(headers: &'a HeaderMap) -> Option<Self> {
        let mut values = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).peekable();
        values.peek()?;
        let ranges = values.flat_map(|value| value.split(',')).filter_map(Range::parse).collect();
        Some(Self(ranges))
    }

    /// The q-value `media` (lowercase) gets from its most specific matching range (RFC 9110,
    /// 12.5.1), 0 if none matches, and that range's position (for ties).
    fn quality(&self, media: &str) -> (f32, usize) {
        let kind = media.split('/').next().unwrap_or(media);
        self.best(|range| match range.media.split_once('/') {
            _ if range.media.eq_ignore_ascii_case(media) => Some(2),
            Some((k, "*")) if k.eq_ignore_ascii_case(kind) => Some(1),
            Some(("*", "*")) => Some(0),
            _ => None,
        })
    }

    /// Like [`Accept::quality`], counting only a range that names `media` itself.
    fn explicit(&self, media: &str) -> (f32, usize) {
        self.best(|range| range.media.eq_ignore_ascii_case(media).then_some(0))
    }

    fn best(&self, specificity: impl Fn(&Range) -> Option<u8>) -> (f32, usize) {
        let matches = self.0.iter().enumerate().filter_map(|(i, r)| specificity(r).map(|s| (s, i, r.q)));
        // The most specific range decides; among equally specific ones, the first.
        matches.min_by_key(|&(s, i, _)| (std::cmp::Reverse(s), i)).map_or((0.0, usize::MAX), |(_, i, q)| (q, i))
    }
}

impl<'a> Range<'a> {
    /// A range, or `None` for an empty one or one whose q-value is not a number (ignored, as
    /// if the client had not sent it).
    fn parse(text: &'a str) -> Option<Self> {
        let mut parts = text.split(';');
        let media = parts.next()?.trim();
        let q = match parts.filter_map(|p| p.split_once('=')).find(|(name, _)| name.trim().eq_ignore_ascii_case("q")) {
            Some((_, value)) => value.trim().parse::<f32>().ok().filter(|q| q.is_finite())?.clamp(0.0, 1.0),
            None => 1.0,
        };
        (!media.is_empty()).then_some(Self { media, q })
    }
}

/// An error answered before any GraphQL execution.
pub(super) fn request_error(status: StatusCode, code: &str, message: &str, media: Media) -> Response {
    crate::telemetry::count_operation(None, code);
    let mut body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    if let Some(trace_id) = crate::telemetry::spans::error_trace_id() {
        body["errors"][0]["extensions"]["traceId"] = trace_id.into();
    }
    (status, [(header::CONTENT_TYPE, media.content_type())], body.to_string()).into_response()
}

/// A mutation sent with GET: never run (GraphQL over HTTP).
pub(super) fn method_not_allowed(media: Media) -> Response {
    let message = "mutations are only accepted over POST";
    let mut response = request_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", message, media);
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// A stream asked for while this replica drains: the client (or the load balancer, with
/// `retry-on 503`) retries, and reaches another replica.
pub(super) fn draining() -> Response {
    let message = "this replica is shutting down; retry, and another one will serve the stream";
    let mut response = request_error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", message, Media::Json);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
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
        assert_eq!(negotiate(&HeaderMap::new()).0, Some(Media::Json));
        assert_eq!(negotiate(&accept("application/graphql-response+json")).0, Some(Media::GraphQlResponse));
        assert_eq!(
            negotiate(&accept("application/json, application/graphql-response+json;q=0.9")).0,
            Some(Media::GraphQlResponse)
        );
        assert_eq!(negotiate(&accept("application/json")).0, Some(Media::Json));
        assert_eq!(negotiate(&accept("*/*")).0, Some(Media::Json));
        assert_eq!(negotiate(&accept("application/graphql-response+json;q=0, application/json")).0, Some(Media::Json));
        assert_eq!(negotiate(&accept("text/plain")).0, None);
        assert_eq!(negotiate(&accept("application/*;q=0.2")).0, Some(Media::Json));
        assert_eq!(negotiate(&accept("application/json;q=0.000")).0, None);
        assert_eq!(negotiate(&accept("*/*, application/json;q=0")).0, None);
    }

    #[test]
    fn a_stream_is_preferred_only_over_every_json_type_by_q_value_then_order() {
        use Stream::{Accepted, No, Preferred};
        let cases = [
            // urql's default, and its `fetchSubscriptions` (the same header).
            (
                "application/graphql-response+json, application/graphql+json, application/json, \
                 text/event-stream, multipart/mixed",
                Accepted,
            ),
            // Apollo Client's HttpLink: no stream at all.
            ("application/graphql-response+json,application/json;q=0.9", No),
            // graphql-sse's client and a browser's EventSource.
            ("text/event-stream", Preferred),
            ("text/event-stream, application/json", Preferred),
            ("application/json;q=0.5, text/event-stream", Preferred),
            ("text/event-stream;q=0.5, application/json", Accepted),
            ("text/event-stream;q=0.5, */*;q=0.1", Preferred),
            ("*/*", No),
            ("text/*", No),
            ("text/event-stream;q=0", No),
            ("Text/Event-Stream", Preferred),
            ("text/event-stream;q=high, application/json", No),
        ];
        for (value, expected) in cases {
            assert_eq!(negotiate(&accept(value)).1, expected, "{value}");
        }
        assert_eq!(negotiate(&HeaderMap::new()).1, No);
    }
}
