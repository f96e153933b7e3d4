//! Trace context for upstream calls, the request's server span, and the one log line per
//! request.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::telemetry::spans;

/// A W3C `traceparent` for our upstream calls. With traces on, the request's server span
/// (each upstream attempt's client span replaces it when sent); otherwise the caller's trace
/// with a new span id, or a new trace when the caller sent none (or an invalid one).
pub(super) fn child_traceparent(incoming: Option<&HeaderValue>) -> HeaderValue {
    spans::traceparent(&tracing::Span::current()).unwrap_or_else(|| invented_traceparent(incoming))
}

fn invented_traceparent(incoming: Option<&HeaderValue>) -> HeaderValue {
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let parent = incoming.and_then(|v| v.to_str().ok()).map(str::trim).and_then(|v| {
        let mut parts = v.split('-');
        match (parts.next(), parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(version), Some(trace), Some(span), Some(flags), None)
                if hex(version, 2)
                    && version != "ff"
                    && hex(trace, 32)
                    && hex(span, 16)
                    && hex(flags, 2)
                    && trace.bytes().any(|b| b != b'0') =>
            {
                Some((trace, flags))
            }
            _ => None,
        }
    });
    let span = rand::random::<u64>().max(1);
    let value = match parent {
        Some((trace, flags)) => format!("00-{}-{span:016x}-{}", trace.to_ascii_lowercase(), flags.to_ascii_lowercase()),
        None => format!("00-{:032x}-{span:016x}-01", rand::random::<u128>().max(1)),
    };
    HeaderValue::from_str(&value).expect("hex is a valid header value")
}

/// One log line per request, with its request id (set by the request-id layer outside); with
/// traces on, the request runs in its server span, which the log line names.
pub async fn log_request(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let span = spans::server(&request);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let client = request.extensions().get::<super::ClientAddr>().map(|super::ClientAddr(addr)| *addr);
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    metrics::counter!("http_requests_total", "status" => status.to_string()).increment(1);
    spans::server_status(&span, status);
    span.in_scope(|| {
        tracing::info!(
            request_id,
            client = client.map(tracing::field::display),
            %method,
            path,
            status,
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        )
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_continues_the_callers_trace_with_a_new_span() {
        let incoming = HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let child = child_traceparent(Some(&incoming));
        let child = child.to_str().unwrap();
        assert!(child.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(child.ends_with("-01"));
        assert_ne!(child, incoming.to_str().unwrap());
    }

    #[test]
    fn an_invalid_traceparent_starts_a_new_trace() {
        for bad in [
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            let child = child_traceparent(Some(&HeaderValue::from_static(bad)));
            let parts: Vec<&str> = child.to_str().unwrap().split('-').collect();
            assert_eq!(parts.len(), 4);
            assert_ne!(parts[1], "00000000000000000000000000000000");
            assert!(!bad.contains(parts[1]));
        }
    }
}
