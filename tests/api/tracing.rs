//! OpenTelemetry traces, end to end: the real binary configured only by `OTEL_*` variables
//! (the tracer provider is process-wide, so each test gets a process of its own), exporting
//! to an in-process OTLP/HTTP collector that decodes what it receives with
//! `opentelemetry-proto`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::spawn_app_with;
use crate::live::{live_public_key, signed_headers};
use crate::process::{free_addr, Service};

const SESSION: &str = "7b61621f-5fe4-4aad-ab11-9fd19e272e73";
const PARTICIPANT: &str = "e3b0c442-98fc-4c14-9afb-f4c8996fb924";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const QUERY: &str = "query Probe($id: ID!, $context: String) { roomSession(id: $id) { participants(first: 2, filter: { context: $context }) { nodes { id } } } }";
/// A variable value and a credential that must never reach an attribute.
const VARIABLE: &str = "SECRET_VARIABLE_VALUE";
const TOKEN: &str = "KEYtracing_token_secret";

/// One exported span, flattened.
#[derive(Debug, Clone)]
struct Span {
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    kind: i32,
    attributes: Vec<(String, String)>,
    events: Vec<String>,
}

impl Span {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// An OTLP/HTTP collector on a loopback port, keeping every span it is sent.
struct Collector {
    endpoint: String,
    spans: Arc<Mutex<Vec<Span>>>,
}

impl Collector {
    async fn start() -> Self {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = spans.clone();
        let receive = move |body: Bytes| {
            let kept = kept.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export");
                let mut kept = kept.lock().unwrap();
                for span in request.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans) {
                    let attributes = span
                        .attributes
                        .iter()
                        .map(|kv| {
                            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                                Some(any_value::Value::StringValue(s)) => s.clone(),
                                Some(any_value::Value::IntValue(i)) => i.to_string(),
                                Some(any_value::Value::BoolValue(b)) => b.to_string(),
                                Some(any_value::Value::DoubleValue(d)) => d.to_string(),
                                other => format!("{other:?}"),
                            };
                            (kv.key.clone(), value)
                        })
                        .collect();
                    kept.push(Span {
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        name: span.name.clone(),
                        kind: span.kind,
                        attributes,
                        events: span.events.iter().map(|e| e.name.clone()).collect(),
                    });
                }
                ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
            }
        };
        let router = axum::Router::new().route("/v1/traces", axum::routing::post(receive));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { endpoint, spans }
    }

    /// The spans of `trace`, once `done` holds of them (the exporter batches every second).
    async fn trace(&self, trace: &str, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        let started = Instant::now();
        loop {
            let spans: Vec<Span> = self.spans.lock().unwrap().iter().filter(|s| s.trace_id == trace).cloned().collect();
            if done(&spans) {
                return spans;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "the trace never arrived whole: {spans:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({ "data": [{ "id": PARTICIPANT }], "meta": { "total_results": 1 } }))
}

/// Posts `event`, signed as Telnyx signs it, as a request in the caller's trace `trace`.
async fn deliver_traced(http: &reqwest::Client, service: &Service, trace: &str, event: &[u8]) -> reqwest::StatusCode {
    let mut webhook = http
        .post(service.url("/webhooks/telnyx"))
        .header("traceparent", format!("00-{trace}-{CALLER_SPAN}-01"))
        .header("content-type", "application/json");
    for (name, value) in signed_headers(event) {
        webhook = webhook.header(name, value);
    }
    webhook.body(event.to_vec()).send().await.unwrap().status()
}

/// The binary, tracing to `endpoint`, in front of `upstream`.
fn traced_service(name: &str, endpoint: &str, upstream: &str, more: &[(&str, &str)]) -> Service {
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_SERVICE_NAME", "rooms-under-test"),
        ("LOG_FORMAT", "json"),
        ("TELNYX_API_BASE_URL", upstream),
    ];
    env.extend_from_slice(more);
    Service::start(name, &[], &env)
}

fn of_kind(spans: &[Span], kind: SpanKind) -> Vec<&Span> {
    spans.iter().filter(|s| s.kind == kind as i32).collect()
}

#[tokio::test]
async fn a_query_with_a_traceparent_is_traced_under_the_callers_span_with_one_client_span_per_upstream_request() {
    // Arrange
    let collector = Collector::start().await;
    let upstream = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ok()).mount(&upstream).await;
    let service = traced_service("traced-query", &collector.endpoint, &upstream.uri(), &[]);
    service.until_healthy().await;

    // Act
    let variables = json!({ "id": SESSION, "context": VARIABLE });
    let response = reqwest::Client::new()
        .post(service.url("/graphql"))
        .header("traceparent", format!("00-{TRACE}-{CALLER_SPAN}-01"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .json(&json!({ "query": QUERY, "variables": variables }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let spans = collector
        .trace(TRACE, |spans| {
            !of_kind(spans, SpanKind::Server).is_empty() && !of_kind(spans, SpanKind::Client).is_empty()
        })
        .await;

    // Assert: server span under the caller's, the operation under it, the client span under that.
    assert!(body.get("errors").is_none(), "{body}");
    let server = of_kind(&spans, SpanKind::Server);
    assert_eq!(server.len(), 1, "{spans:#?}");
    let server = server[0];
    assert_eq!(server.parent_span_id, CALLER_SPAN);
    assert_eq!(server.name, "POST /graphql");
    assert_eq!(server.attribute("http.request.method"), Some("POST"));
    assert_eq!(server.attribute("http.route"), Some("/graphql"));
    assert_eq!(server.attribute("url.path"), Some("/graphql"));
    assert_eq!(server.attribute("http.response.status_code"), Some("200"));

    let operation: Vec<&Span> = spans.iter().filter(|s| s.attribute("graphql.operation.name").is_some()).collect();
    assert_eq!(operation.len(), 1, "{spans:#?}");
    let operation = operation[0];
    assert_eq!(operation.parent_span_id, server.span_id);
    assert_eq!(operation.name, "query Probe");
    assert_eq!(operation.attribute("graphql.operation.type"), Some("query"));
    assert_eq!(operation.attribute("graphql.document.hash"), Some(format!("{:x}", Sha256::digest(QUERY)).as_str()));

    let received = upstream.received_requests().await.unwrap();
    let clients = of_kind(&spans, SpanKind::Client);
    assert_eq!(clients.len(), received.len(), "one client span per upstream request: {spans:#?}");
    let client = clients[0];
    assert_eq!(client.parent_span_id, operation.span_id);
    assert_eq!(client.name, "GET /room_sessions/{room_session_id}/participants");
    assert_eq!(client.attribute("url.template"), Some("/room_sessions/{room_session_id}/participants"));
    assert_eq!(client.attribute("http.response.status_code"), Some("200"));
    let sent = received[0].headers.get("traceparent").unwrap().to_str().unwrap();
    assert_eq!(sent, format!("00-{TRACE}-{}-01", client.span_id), "Telnyx sees the client span as its parent");

    for span in &spans {
        for (key, value) in &span.attributes {
            for secret in [VARIABLE, TOKEN, SESSION] {
                assert!(!value.contains(secret), "{secret} in {key} of {}", span.name);
            }
        }
    }
    let resource_checked = spans.iter().all(|s| s.trace_id == TRACE);
    assert!(resource_checked);

    // ... and the request's log line names the trace and the server span.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (stdout, _) = service.output();
    let line: Value = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["message"] == "request" && line["path"] == "/graphql")
        .expect("the request's log line");
    assert_eq!(line["trace_id"], TRACE, "{line}");
    assert_eq!(line["span_id"], server.span_id.as_str(), "{line}");
}

#[tokio::test]
async fn a_mutation_and_a_webhook_are_traced_too_and_a_retried_attempt_says_so() {
    // Arrange: the first attempt at the participants page fails with a 503, the retry succeeds.
    let collector = Collector::start().await;
    let upstream = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(503)).up_to_n_times(1).mount(&upstream).await;
    Mock::given(method("GET")).respond_with(ok()).mount(&upstream).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "data": {
            "token": TOKEN,
            "token_expires_at": "2026-11-30T10:00:00Z",
            "refresh_token": TOKEN,
            "refresh_token_expires_at": "2026-11-30T11:00:00Z",
        }})))
        .mount(&upstream)
        .await;
    let key = live_public_key();
    let more = [("TELNYX_API_KEY", "KEY_TEST"), ("TELNYX_PUBLIC_KEY", key.as_str()), ("UPSTREAM_RETRY_BASE_MS", "1")];
    let service = traced_service("traced-writes", &collector.endpoint, &upstream.uri(), &more);
    service.until_healthy().await;
    let http = reqwest::Client::new();
    let traceparent = |trace: &str| format!("00-{trace}-{CALLER_SPAN}-01");
    let (retried, mutated, hooked) =
        ("11111111111111111111111111111111", "22222222222222222222222222222222", "33333333333333333333333333333333");

    // Act
    let query = http
        .post(service.url("/graphql"))
        .header("traceparent", traceparent(retried))
        .json(&json!({ "query": QUERY, "variables": { "id": SESSION } }));
    let query: Value = query.send().await.unwrap().json().await.unwrap();
    let mutation = format!("mutation Mint {{ createRoomClientToken(input: {{ roomId: \"{SESSION}\" }}) {{ token }} }}");
    let mutation = http
        .post(service.url("/graphql"))
        .header("traceparent", traceparent(mutated))
        .json(&json!({ "query": mutation }));
    let mutation: Value = mutation.send().await.unwrap().json().await.unwrap();
    let event = crate::live::joined("5a8e3b6a-0c1d-4e2f-9a3b-1c2d3e4f5a6b", SESSION);
    let webhook = deliver_traced(&http, &service, hooked, &event).await;

    // Assert
    assert!(query.get("errors").is_none(), "{query}");
    assert!(mutation.get("errors").is_none(), "{mutation}");
    assert!(webhook.is_success(), "{webhook}");
    let spans = collector.trace(retried, |spans| of_kind(spans, SpanKind::Client).len() >= 2).await;
    let clients = of_kind(&spans, SpanKind::Client);
    assert_eq!(clients.len(), 2, "one client span per attempt: {spans:#?}");
    let first = clients.iter().find(|s| s.attribute("http.response.status_code") == Some("503")).unwrap();
    assert_eq!(first.events, ["retry"], "{first:#?}");
    let second = clients.iter().find(|s| s.attribute("http.response.status_code") == Some("200")).unwrap();
    assert_eq!(second.attribute("http.request.resend_count"), Some("1"));

    let spans = collector.trace(mutated, |spans| !of_kind(spans, SpanKind::Client).is_empty()).await;
    let operation = spans.iter().find(|s| s.attribute("graphql.operation.type") == Some("mutation")).unwrap();
    assert_eq!(operation.name, "mutation Mint");
    let client = of_kind(&spans, SpanKind::Client)[0];
    assert!(client.name.starts_with("POST /rooms/{room_id}/"), "{client:#?}");
    assert!(spans.iter().all(|s| s.attributes.iter().all(|(_, v)| !v.contains(TOKEN))), "{spans:#?}");

    let spans = collector.trace(hooked, |spans| !of_kind(spans, SpanKind::Server).is_empty()).await;
    let server = of_kind(&spans, SpanKind::Server)[0];
    assert_eq!(server.name, "POST /webhooks/telnyx");
    assert_eq!(server.parent_span_id, CALLER_SPAN);
}

/// Twenty queries through a service whose collector is `endpoint`: each succeeds, and the
/// slowest takes well under the exporter's 10 s timeout. Returns the service, still running.
async fn queries_stay_prompt(name: &str, endpoint: &str, more: &[(&str, &str)]) -> Service {
    let upstream = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ok()).mount(&upstream).await;
    let service = traced_service(name, endpoint, &upstream.uri(), &[&[("TELNYX_API_KEY", "KEY_TEST")], more].concat());
    service.until_healthy().await;
    let http = reqwest::Client::new();
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let request =
            http.post(service.url("/graphql")).json(&json!({ "query": QUERY, "variables": { "id": SESSION } }));
        let body: Value = request.send().await.unwrap().json().await.unwrap();
        slowest = slowest.max(started.elapsed());
        assert!(body.get("errors").is_none(), "{body}");
        // Spread over more than one export interval, so exports are attempted meanwhile.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(slowest < Duration::from_millis(500), "a request took {slowest:?}");
    service
}

/// The value of the counter `series` (name and labels as exposed) in `metrics`, 0 if absent.
fn counted(metrics: &str, series: &str) -> u64 {
    metrics.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn a_collector_that_is_down_costs_requests_nothing() {
    let service = queries_stay_prompt("collector-down", &format!("http://{}", free_addr()), &[]).await;
    // Exports run every second: their spans are counted as lost.
    let failed = r#"otel_spans_dropped_total{reason="export_failed"}"#;
    let metrics = service.metrics_until(|metrics| counted(metrics, failed) > 0).await;
    assert!(counted(&metrics, failed) > 0, "{metrics}");
}

#[tokio::test]
async fn a_collector_that_never_answers_costs_requests_nothing() {
    // Accepts connections and reads nothing: every export waits for its timeout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    // A queue of 16 spans: the first export holds its batch for its 10 s timeout, and the
    // queries' other spans (three each) find the queue full, are dropped and counted.
    let queue = [("OTEL_BSP_MAX_QUEUE_SIZE", "16")];
    let service = queries_stay_prompt("collector-silent", &endpoint, &queue).await;
    let full = r#"otel_spans_dropped_total{reason="queue_full"}"#;
    let metrics = service.metrics_until(|metrics| counted(metrics, full) > 0).await;
    held.abort();
    let dropped = counted(&metrics, r#"otel_spans_dropped_total{reason="queue_full"}"#);
    assert!(dropped >= 20 * 3 - 16, "{dropped} dropped: {metrics}");
    assert_eq!(counted(&metrics, r#"otel_spans_dropped_total{reason="export_failed"}"#), 0, "{metrics}");
}

#[tokio::test]
async fn upstream_traceparent_false_sends_no_trace_context_to_telnyx() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ok()).mount(&upstream).await;
    let app = spawn_app_with(&upstream.uri(), Some("KEY_TEST"), |config| config.upstream_traceparent = false).await;

    let body = app.query(QUERY, json!({ "id": SESSION })).await;

    assert!(body.get("errors").is_none(), "{body}");
    let received = upstream.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    assert!(received[0].headers.get("traceparent").is_none());
}

#[tokio::test]
async fn a_webhook_is_traced_under_the_callers_span_with_its_verification_and_hand_off_and_no_signature_or_body() {
    // Arrange
    let collector = Collector::start().await;
    let upstream = MockServer::start().await;
    let key = live_public_key();
    let service =
        traced_service("traced-webhook", &collector.endpoint, &upstream.uri(), &[("TELNYX_PUBLIC_KEY", &key)]);
    service.until_healthy().await;
    let http = reqwest::Client::new();
    let event_id = "5a8e3b6a-0c1d-4e2f-9a3b-1c2d3e4f5a6b";
    let event = crate::live::joined(event_id, SESSION);
    let headers = signed_headers(&event);
    let deliver = |trace: &str, headers: &[(&'static str, String)]| {
        let mut request = http
            .post(service.url("/webhooks/telnyx"))
            .header("traceparent", format!("00-{trace}-{CALLER_SPAN}-01"))
            .header("content-type", "application/json")
            .body(event.clone());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request.send()
    };
    let (first, again, forged) =
        ("44444444444444444444444444444444", "55555555555555555555555555555555", "66666666666666666666666666666666");

    // Act: a delivery, its redelivery, and one whose signature is another body's.
    let delivered = deliver(first, &headers).await.unwrap().status();
    let redelivered = deliver(again, &headers).await.unwrap().status();
    let other = signed_headers(b"{}");
    let refused = deliver(forged, &[other[0].clone(), headers[1].clone()]).await.unwrap().status();

    // Assert
    assert_eq!((delivered.as_u16(), redelivered.as_u16(), refused.as_u16()), (200, 200, 401));
    let whole = |spans: &[Span]| spans.len() >= 3;
    let spans = collector.trace(first, whole).await;
    let server = of_kind(&spans, SpanKind::Server)[0];
    assert_eq!(server.parent_span_id, CALLER_SPAN);
    let verify = spans.iter().find(|s| s.name == "webhook verify").expect("a verification span");
    assert_eq!(verify.parent_span_id, server.span_id);
    assert_eq!(verify.kind, SpanKind::Internal as i32);
    assert_eq!(verify.attribute("telnyx.webhook.outcome"), Some("valid"));
    let publish = spans.iter().find(|s| s.name == "webhook publish").expect("a hand-off span");
    assert_eq!(publish.parent_span_id, server.span_id);
    assert_eq!(publish.kind, SpanKind::Producer as i32);
    assert_eq!(publish.attribute("telnyx.event.type"), Some("video.room.participant.joined"));
    assert_eq!(publish.attribute("telnyx.webhook.outcome"), Some("new"));

    let spans_again = collector.trace(again, whole).await;
    let publish = spans_again.iter().find(|s| s.name == "webhook publish").unwrap();
    assert_eq!(publish.attribute("telnyx.webhook.outcome"), Some("duplicate"));

    let spans_forged = collector.trace(forged, |spans| spans.len() >= 2).await;
    let verify = spans_forged.iter().find(|s| s.name == "webhook verify").unwrap();
    assert_eq!(verify.attribute("telnyx.webhook.outcome"), Some("bad_signature"));
    assert!(spans_forged.iter().all(|s| s.name != "webhook publish"), "{spans_forged:#?}");

    let body = String::from_utf8(event.clone()).unwrap();
    let secrets = [headers[0].1.as_str(), headers[1].1.as_str(), other[0].1.as_str(), body.as_str(), event_id, "Alice"];
    for span in spans.iter().chain(&spans_again).chain(&spans_forged) {
        for (key, value) in &span.attributes {
            for secret in secrets {
                assert!(!value.contains(secret), "{secret} in {key} of {}", span.name);
            }
        }
    }
}

#[tokio::test]
#[ignore = "needs redis-server"]
async fn through_a_real_redis_server_the_rate_limit_checks_the_dedupe_and_the_xadd_are_client_spans_naming_no_key() {
    // Arrange
    let redis = crate::process::RedisServer::start().await;
    let collector = Collector::start().await;
    let upstream = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ok()).mount(&upstream).await;
    let (key, url) = (live_public_key(), redis.url());
    let more = [
        ("TELNYX_PUBLIC_KEY", key.as_str()),
        ("REDIS_URL", url.as_str()),
        ("CALLER_RATE_LIMIT", "100/min"),
        ("UPSTREAM_RATE_LIMIT", "100/min"),
    ];
    let service = traced_service("traced-redis", &collector.endpoint, &upstream.uri(), &more);
    service.until_healthy().await;
    let http = reqwest::Client::new();
    let (queried, hooked) = ("77777777777777777777777777777777", "88888888888888888888888888888888");
    let event_id = "5a8e3b6a-0c1d-4e2f-9a3b-1c2d3e4f5a6b";
    let event = crate::live::joined(event_id, SESSION);

    // Act: a query (the caller's limit, then the Telnyx key's) and a webhook (dedupe, XADD).
    let query = http
        .post(service.url("/graphql"))
        .header("traceparent", format!("00-{queried}-{CALLER_SPAN}-01"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .json(&json!({ "query": QUERY, "variables": { "id": SESSION, "context": VARIABLE } }));
    let query: Value = query.send().await.unwrap().json().await.unwrap();
    let webhook = deliver_traced(&http, &service, hooked, &event).await;

    // Assert
    assert!(query.get("errors").is_none(), "{query}");
    assert!(webhook.is_success(), "{webhook}");
    let redis_spans = |spans: &[Span]| -> Vec<Span> {
        spans.iter().filter(|s| s.attribute("db.system.name") == Some("redis")).cloned().collect()
    };
    let spans = collector.trace(queried, |spans| redis_spans(spans).len() >= 2).await;
    let checks = redis_spans(&spans);
    assert_eq!(checks.len(), 2, "the caller's limit and the Telnyx key's: {spans:#?}");
    let server = of_kind(&spans, SpanKind::Server)[0];
    for check in &checks {
        assert_eq!(check.name, "EVALSHA");
        assert_eq!(check.kind, SpanKind::Client as i32);
        assert_eq!(check.attribute("db.operation.name"), Some("EVALSHA"));
        assert!(spans.iter().any(|s| s.span_id == check.parent_span_id), "parented in the trace: {check:#?}");
    }
    assert!(
        checks.iter().any(|c| c.parent_span_id == server.span_id),
        "the caller's limit is checked first: {spans:#?}"
    );

    let spans = collector.trace(hooked, |spans| redis_spans(spans).len() >= 2).await;
    let publish = spans.iter().find(|s| s.name == "webhook publish").unwrap();
    let calls = redis_spans(&spans);
    let names: Vec<&str> = calls.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{spans:#?}");
    assert!(names.contains(&"SET") && names.contains(&"XADD"), "{names:?}");
    assert!(calls.iter().all(|s| s.parent_span_id == publish.span_id && s.kind == SpanKind::Client as i32));

    let token_hash = format!("{:x}", Sha256::digest(format!("Bearer {TOKEN}")));
    for span in redis_spans(&collector.spans.lock().unwrap()) {
        for (key, value) in &span.attributes {
            for secret in [TOKEN, VARIABLE, event_id, "trg:", "telnyx-rooms-graphql:", token_hash.as_str()] {
                assert!(!value.contains(secret), "{secret} in {key} of {}", span.name);
            }
        }
    }
}

#[tokio::test]
async fn a_subscription_event_is_resolved_in_a_span_under_the_webhooks_hand_off_with_its_telnyx_requests_under_it() {
    event_spans_join_the_webhooks_trace("traced-event", None).await;
}

#[tokio::test]
#[ignore = "needs redis-server"]
async fn through_a_real_redis_server_an_events_span_still_joins_the_webhooks_trace() {
    let redis = crate::process::RedisServer::start().await;
    event_spans_join_the_webhooks_trace("traced-event-redis", Some(&redis.url())).await;
}

/// A subscription event's span is a child of its webhook's hand-off, with the Telnyx requests
/// of its resolution under it; the events go through Redis at `redis` if given.
async fn event_spans_join_the_webhooks_trace(name: &str, redis: Option<&str>) {
    // Arrange: an SSE subscription whose `participantEdge` asks Telnyx for the list's total.
    let collector = Collector::start().await;
    let upstream =
        telnyx_rooms_graphql::sample_upstream::SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let (key, base) = (live_public_key(), upstream.base_url());
    let mut more = vec![
        ("TELNYX_PUBLIC_KEY", key.as_str()),
        ("TELNYX_API_KEY", telnyx_rooms_graphql::sample_upstream::SAMPLE_API_KEY),
    ];
    more.extend(redis.map(|url| ("REDIS_URL", url)));
    let service = traced_service(name, &collector.endpoint, &base, &more);
    service.until_healthy().await;
    let http = reqwest::Client::new();
    let room = crate::helpers::ids::ROOM;
    let subscription = format!(
        "subscription Watch {{ roomEvents(roomId: \"{room}\") {{ id ... on ParticipantJoined {{ participantEdge {{ cursor }} }} }} }}"
    );
    let mut stream = http
        .post(service.url("/graphql"))
        .header("accept", "text/event-stream")
        .json(&json!({ "query": subscription }))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hooked = "99999999999999999999999999999999";

    // Act
    let event = crate::live::joined("ev-traced", room);
    assert!(deliver_traced(&http, &service, hooked, &event).await.is_success());
    let mut text = String::new();
    while !text.contains("ev-traced") || !text.contains("cursor") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk()).await.unwrap().unwrap().unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }

    // Assert
    assert!(!text.contains("errors"), "{text}");
    let spans = collector
        .trace(hooked, |spans| {
            spans.iter().any(|s| s.name.starts_with("event "))
                && spans.iter().any(|s| s.attribute("url.template").is_some())
        })
        .await;
    let publish = spans.iter().find(|s| s.name == "webhook publish").unwrap();
    let resolving = spans.iter().find(|s| s.name == "event video.room.participant.joined").expect("an event span");
    assert_eq!(resolving.parent_span_id, publish.span_id, "{spans:#?}");
    assert_eq!(resolving.kind, SpanKind::Consumer as i32);
    let telnyx: Vec<&Span> =
        of_kind(&spans, SpanKind::Client).into_iter().filter(|c| c.attribute("url.template").is_some()).collect();
    assert!(!telnyx.is_empty() && telnyx.iter().all(|c| c.parent_span_id == resolving.span_id), "{spans:#?}");
}

#[tokio::test]
async fn errors_carry_their_trace_id_only_when_the_operator_turns_it_on() {
    let collector = Collector::start().await;
    let upstream = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ok()).mount(&upstream).await;
    let key = ("TELNYX_API_KEY", "KEY_TEST");
    let on = traced_service(
        "trace-in-errors",
        &collector.endpoint,
        &upstream.uri(),
        &[key, ("ERRORS_INCLUDE_TRACE_ID", "true")],
    );
    let off = traced_service("trace-not-in-errors", &collector.endpoint, &upstream.uri(), &[key]);
    on.until_healthy().await;
    off.until_healthy().await;
    let http = reqwest::Client::new();
    // An error in execution (an id that is not one), an error before it (a mutation over
    // GET: 405), each in the caller's trace; and an error in a trace that starts here.
    let errors = |service: &Service, traced: bool| {
        let (http, invalid, mutation) = (http.clone(), service.url("/graphql"), service.url("/graphql"));
        async move {
            let traceparent = format!("00-{TRACE}-{CALLER_SPAN}-01");
            let mut invalid = http.post(invalid).json(&json!({ "query": "{ roomSession(id: \"nope\") { id } }" }));
            let mut mutation =
                http.get(mutation).query(&[("query", "mutation { deleteRoom(id: \"nope\") { deletedId } }")]);
            if traced {
                invalid = invalid.header("traceparent", &traceparent);
                mutation = mutation.header("traceparent", &traceparent).header("accept", "application/json");
            }
            let mut bodies = Vec::new();
            for request in [invalid, mutation] {
                bodies.push(request.send().await.unwrap().json::<Value>().await.unwrap());
            }
            assert_eq!(bodies[1]["errors"][0]["extensions"]["code"], "METHOD_NOT_ALLOWED", "{}", bodies[1]);
            bodies
        }
    };
    let trace_ids = |bodies: &[Value]| -> Vec<Value> {
        bodies
            .iter()
            .inspect(|body| assert!(body["errors"][0]["extensions"]["code"].is_string(), "{body}"))
            .map(|body| body["errors"][0]["extensions"]["traceId"].clone())
            .collect()
    };

    assert_eq!(trace_ids(&errors(&on, true).await), [json!(TRACE), json!(TRACE)]);
    let started_here = trace_ids(&errors(&on, false).await);
    for id in &started_here {
        let id = id.as_str().unwrap_or_else(|| panic!("a trace id: {started_here:?}"));
        assert!(id.len() == 32 && id != TRACE && id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    }
    assert_eq!(trace_ids(&errors(&off, true).await), [Value::Null, Value::Null]);
    // A response without errors names no trace.
    let fine = http.post(on.url("/graphql")).json(&json!({ "query": QUERY, "variables": { "id": SESSION } }));
    let fine: Value = fine.send().await.unwrap().json().await.unwrap();
    assert!(fine.get("errors").is_none() && !fine.to_string().contains("traceId"), "{fine}");
}
