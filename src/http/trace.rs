//! Trace context for upstream calls, the request's server span, and the one log line per
//! request.

use std::net::IpAddr;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::telemetry::{spans, REQUEST_LINE};

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
    // Written in place: `format!` with hex widths was most of this function's cost.
    let mut value = *b"00-00000000000000000000000000000000-0000000000000000-01";
    match parent {
        Some((trace, flags)) => {
            value[3..35].copy_from_slice(trace.as_bytes());
            value[53..55].copy_from_slice(flags.as_bytes());
            value.make_ascii_lowercase();
        }
        None => write_hex(&mut value[3..35], rand::random::<u128>().max(1)),
    }
    write_hex(&mut value[36..52], u128::from(rand::random::<u64>().max(1)));
    HeaderValue::from_bytes(&value).expect("hex is a valid header value")
}

/// Writes the low `out.len()` hex digits of `n` into `out`, lowercase.
fn write_hex(out: &mut [u8], mut n: u128) {
    for digit in out.iter_mut().rev() {
        *digit = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
    }
}

/// The request id's header, set by the request-id layer.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// One log line per request, with its request id (set by the request-id layer outside); with
/// traces on, the request runs in its server span, which the log line names.
pub async fn log_request(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let span = spans::server(&request);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let client = request.extensions().get::<super::ClientAddr>().map(|super::ClientAddr(addr)| *addr);
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    crate::telemetry::count_response(status);
    spans::server_status(&span, status);
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| log_line(&request_id, client, method.as_str(), &path, status, latency_ms));
    response
}

/// The request's log line ([`REQUEST_LINE`]: the JSON logs write it themselves).
pub(crate) fn log_line(
    request_id: &str,
    client: Option<IpAddr>,
    method: &str,
    path: &str,
    status: u16,
    latency_ms: f64,
) {
    tracing::info!(
        name: REQUEST_LINE,
        request_id,
        client = client.map(tracing::field::display),
        method = %method,
        path,
        status,
        latency_ms,
        "request"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines `f` logs through `format`, each timestamp checked and then blanked.
    fn logged<F>(format: F, f: impl FnOnce()) -> Vec<String>
    where
        F: tracing_subscriber::fmt::FormatEvent<
                tracing_subscriber::Registry,
                tracing_subscriber::fmt::format::JsonFields,
            > + Send
            + Sync
            + 'static,
    {
        use tracing_subscriber::layer::SubscriberExt;
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = buffer.clone();
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(format)
            .with_writer(move || Sink(sink.clone()));
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| {
                let (head, rest) = line.split_once(r#"{"timestamp":""#).expect("the timestamp first");
                let (timestamp, tail) = rest.split_once('"').unwrap();
                assert!(chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(), "{timestamp}");
                format!(r#"{head}{{"timestamp":"…"{tail}"#)
            })
            .collect()
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_request_line_is_written_as_tracing_subscribers_json_formatter_writes_it() {
        let lines = || {
            for (id, client, method, path, status, latency) in [
                (
                    "9588d8be-80bc-41b9-b972-5f05886d95d4",
                    Some("127.0.0.1"),
                    "POST",
                    "/graphql",
                    200,
                    30.060736000000002,
                ),
                ("", None, "GET", "/health", 503, 0.0),
                ("a \"quoted\" \\ id\t\u{1}é", Some("2001:db8::1"), "OPTIONS", "/graphql/ü", 404, 1e-7),
                ("x", Some("10.0.0.1"), "DELETE", "/", 65535, f64::NAN),
            ] {
                log_line(id, client.map(|c| c.parse().unwrap()), method, path, status, latency);
            }
        };
        let ours = logged(crate::telemetry::json_lines(), lines);
        let theirs = logged(
            tracing_subscriber::fmt::format().json().flatten_event(true).with_current_span(false).with_span_list(false),
            lines,
        );
        assert_eq!(ours.len(), 4);
        assert_eq!(ours, theirs, "byte for byte, keys in the same order");
        let first: serde_json::Value = serde_json::from_str(&ours[0]).unwrap();
        assert_eq!(first["message"], "request");
        assert_eq!(first["client"], "127.0.0.1");
        assert!(!ours[1].contains("client"));
        assert!(ours[3].contains(r#""latency_ms":null"#));
    }

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
    fn traceparent_is_written_lowercase_with_nonzero_ids() {
        let incoming = HeaderValue::from_static("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01");
        let child = child_traceparent(Some(&incoming));
        let parts: Vec<&str> = child.to_str().unwrap().split('-').collect();
        assert_eq!(parts[..2], ["00", "4bf92f3577b34da6a3ce929d0e0e4736"]);
        assert!(parts[2].len() == 16 && parts[2].bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        assert_ne!(parts[2], "0000000000000000");
        assert_eq!(parts[3], "01");
        let mut digits = [0u8; 8];
        write_hex(&mut digits, 0x1234_abcd);
        assert_eq!(&digits, b"1234abcd");
        write_hex(&mut digits, 0xf_0000_0001);
        assert_eq!(&digits, b"00000001", "only the low digits fit");
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
