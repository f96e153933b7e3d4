//! The spans the service records, named and attributed after OpenTelemetry's semantic
//! conventions, and the W3C trace context they continue and pass on. Each constructor returns
//! [`Span::none`] when traces are off, so nothing is allocated or recorded then.
//!
//! What is never recorded: variables, argument values, the document text (only its SHA-256),
//! credentials, full URLs or query strings (upstream spans carry the route template),
//! webhook signatures and bodies.

use std::future::Future;

use async_graphql::parser::types::OperationType;
use axum::extract::MatchedPath;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry::KeyValue;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::field::Empty;
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::registry::LookupSpan;

use super::traces::{in_errors, on};

/// W3C Trace Context's header, as a name: looking a header up, or adding one, by a string
/// parses the name each time (and copies a name that is not a standard one).
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The request's trace and span ids, kept on its server span for the JSON log lines.
#[derive(Debug, Clone)]
pub(super) struct TraceIds {
    pub(super) trace_id: String,
    pub(super) span_id: String,
}

/// The HTTP server span of `request`, a child of the caller's span when it sent a valid
/// `traceparent` (and `tracestate`).
pub fn server(request: &axum::extract::Request) -> Span {
    if !on() {
        return Span::none();
    }
    let method = request.method().as_str();
    let route = request.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    let span = tracing::info_span!(
        "request",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        url.path = request.uri().path(),
        url.scheme = "http",
        http.route = route,
        http.response.status_code = Empty,
    );
    let _ = span.set_parent(TraceContextPropagator::new().extract(&HeaderExtractor(request.headers())));
    let context = span.context();
    let ids = context.span().span_context().clone();
    if ids.is_valid() {
        let ids = TraceIds { trace_id: ids.trace_id().to_string(), span_id: ids.span_id().to_string() };
        span.with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>();
            if let Some(data) = registry.and_then(|registry| registry.span(id)) {
                data.extensions_mut().insert(ids);
            }
        });
    }
    span
}

/// Records the response's status on a server span (5xx is an error, 4xx is the caller's).
pub fn server_status(span: &Span, status: u16) {
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
}

/// The span of one GraphQL operation: its name and type (`describe` is asked only when
/// traces are on) and the SHA-256 of its document.
pub fn operation(describe: impl FnOnce() -> (Option<String>, Option<OperationType>), document: &str) -> Span {
    if !on() {
        return Span::none();
    }
    let (name, kind) = describe();
    let kind = match kind {
        Some(OperationType::Query) => "query",
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        None => "unknown",
    };
    let otel_name = match &name {
        Some(name) => format!("{kind} {name}"),
        None => kind.to_owned(),
    };
    let hash = (!document.is_empty()).then(|| crate::auth::sha256_hex(document.as_bytes()));
    tracing::info_span!(
        "operation",
        otel.name = otel_name,
        otel.kind = "internal",
        graphql.operation.name = name,
        graphql.operation.type = kind,
        graphql.document.hash = hash,
    )
}

/// The client span of one attempt at an upstream request: a child of the current span, or
/// of `parent` (the request's server span, as a `traceparent`) where the current span is lost
/// (a task the request spawned).
pub fn client(method: &str, route: &'static str, host: &str, resend_count: u32, deadline_left_ms: u64) -> Span {
    if !on() {
        return Span::none();
    }
    tracing::info_span!(
        "upstream",
        otel.name = format!("{method} {route}"),
        otel.kind = "client",
        otel.status_code = Empty,
        http.request.method = method,
        url.template = route,
        server.address = host,
        http.request.resend_count = (resend_count > 0).then_some(resend_count),
        telnyx.deadline_left_ms = deadline_left_ms,
        http.response.status_code = Empty,
        error.type = Empty,
    )
}

/// The span of a webhook's signature check, under the webhook's server span. Records only the
/// outcome ([`webhook_outcome`]): never the signature, the timestamp or the body.
pub fn webhook_verify() -> Span {
    if !on() {
        return Span::none();
    }
    tracing::info_span!(
        "webhook_verify",
        otel.name = "webhook verify",
        otel.kind = "internal",
        otel.status_code = Empty,
        telnyx.webhook.outcome = Empty,
    )
}

/// The span of handing a verified event to the fan-out (with Redis, the dedupe and the
/// `XADD`): the event's type and, through [`webhook_outcome`], `new`, `duplicate` or `failed`.
pub fn webhook_publish(event_type: &'static str) -> Span {
    if !on() {
        return Span::none();
    }
    tracing::info_span!(
        "webhook_publish",
        otel.name = "webhook publish",
        otel.kind = "producer",
        otel.status_code = Empty,
        messaging.operation.type = "send",
        telnyx.event.type = event_type,
        telnyx.webhook.outcome = Empty,
    )
}

/// Records what became of a webhook step: `outcome` is a fixed label, an error when `failed`.
pub fn webhook_outcome(span: &Span, outcome: &'static str, failed: bool) {
    span.record("telnyx.webhook.outcome", outcome);
    if failed {
        span.record("otel.status_code", "ERROR");
    }
}

/// Runs one Redis command (or a pipeline, named by the command that matters) in a client span,
/// a child of the current span, recording how it failed: `operation` only (`EVALSHA`, `SET`,
/// `XADD`), never a key or a value, which could hold what callers sent.
pub async fn redis<T>(
    operation: &'static str,
    call: impl Future<Output = redis::RedisResult<T>>,
) -> redis::RedisResult<T> {
    if !on() {
        return call.await;
    }
    let span = tracing::info_span!(
        "redis",
        otel.name = operation,
        otel.kind = "client",
        otel.status_code = Empty,
        db.system.name = "redis",
        db.operation.name = operation,
        error.type = Empty,
    );
    let result = call.instrument(span.clone()).await;
    if let Err(error) = &result {
        let kind = if error.is_timeout() {
            "timeout"
        } else if error.is_connection_dropped() || error.is_io_error() || error.is_connection_refusal() {
            "connection"
        } else {
            "response"
        };
        span.record("error.type", kind);
        span.record("otel.status_code", "ERROR");
    }
    result
}

/// The span of resolving one live event for a subscription (one per event per credential:
/// subscribers with the same credential share its Telnyx requests, which it parents). A root
/// span, or a child of the webhook's hand-off when the event carries its `traceparent`.
pub fn event(event_type: &'static str, parent: Option<&HeaderValue>) -> Span {
    if !on() {
        return Span::none();
    }
    let span = tracing::info_span!(
        parent: None,
        "event",
        otel.name = format!("event {event_type}"),
        otel.kind = "consumer",
        messaging.operation.type = "process",
        telnyx.event.type = event_type,
    );
    if let Some(traceparent) = parent {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, traceparent.clone());
        let _ = span.set_parent(TraceContextPropagator::new().extract(&HeaderExtractor(&headers)));
    }
    span
}

/// Parents `span` on the span `traceparent` names, unless it already has a parent in this
/// process.
pub fn adopt(span: &Span, traceparent: Option<&HeaderValue>) {
    if !on() || !Span::current().is_none() {
        return;
    }
    if let Some(traceparent) = traceparent {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, traceparent.clone());
        let _ = span.set_parent(TraceContextPropagator::new().extract(&HeaderExtractor(&headers)));
    }
}

/// Records an upstream attempt's outcome: its status, or the kind of failure.
pub fn client_outcome(span: &Span, status: Option<u16>, error: Option<&str>) {
    if let Some(status) = status {
        span.record("http.response.status_code", status);
    }
    if let Some(error) = error {
        span.record("error.type", error);
        span.record("otel.status_code", "ERROR");
    }
}

/// Notes on an attempt's span that it will be retried, after `delay`.
pub fn retry_event(span: &Span, delay: std::time::Duration) {
    if on() {
        span.add_event("retry", vec![KeyValue::new("delay_ms", delay.as_millis() as i64)]);
    }
}

/// The id of the current span's trace for an error's `extensions.traceId`, when the
/// operator asked for it (`ERRORS_INCLUDE_TRACE_ID`) and the error happened in a trace.
pub fn error_trace_id() -> Option<String> {
    if !in_errors() {
        return None;
    }
    let span = Span::current();
    let ids = span.context().span().span_context().clone();
    ids.is_valid().then(|| ids.trace_id().to_string())
}

/// The W3C `traceparent` of the current span, when traces are on and it is recorded.
pub fn current_traceparent() -> Option<HeaderValue> {
    if !on() {
        return None;
    }
    traceparent(&Span::current())
}

/// The W3C `traceparent` naming `span`, when traces are on and it is recorded.
pub fn traceparent(span: &Span) -> Option<HeaderValue> {
    if !on() || span.is_none() {
        return None;
    }
    let context = span.context();
    let ids = context.span().span_context().clone();
    if !ids.is_valid() {
        return None;
    }
    let value = format!("00-{}-{}-{:02x}", ids.trace_id(), ids.span_id(), ids.trace_flags().to_u8());
    HeaderValue::from_str(&value).ok()
}
