//! Running it: shutdown, logs, request ids, trace context, metrics and the health probe. Where
//! the process itself matters (signals, exit status, what reaches stdout) the real binary runs
//! as a subprocess.

use std::net::SocketAddr;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{error_codes, spawn_app, TestApp};
use crate::live::Ws;
use crate::process::{free_addr, Service, BINARY};

const SESSION: &str = "7b61621f-5fe4-4aad-ab11-9fd19e272e73";
const PARTICIPANT: &str = "e3b0c442-98fc-4c14-9afb-f4c8996fb924";
const QUERY: &str = "query($id: ID!) { roomSession(id: $id) { participants(first: 2) { nodes { id } } } }";

fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({ "data": [{ "id": PARTICIPANT }], "meta": { "total_results": 1 } }))
}

async fn until_upstream_received(server: &MockServer, count: usize) {
    let started = Instant::now();
    while server.received_requests().await.unwrap().len() < count {
        assert!(started.elapsed() < Duration::from_secs(5), "the upstream never received the request");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_closes_websockets_as_going_away_and_exits_cleanly() {
    // Arrange: a query held up for a second upstream.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("/participants$"))
        .respond_with(ok().set_delay(Duration::from_secs(1)))
        .mount(&server)
        .await;
    let uri = server.uri();
    let args = ["--telnyx-api-base-url", &uri, "--telnyx-api-key", "KEYx", "--shutdown-drain-secs", "5"];
    let mut service = Service::start("shutdown", &args, &[]);
    service.until_healthy().await;
    let request = reqwest::Client::new().post(service.url("/graphql")).json(&json!({
        "query": QUERY,
        "variables": { "id": SESSION },
    }));
    let in_flight = tokio::spawn(async move { request.send().await.unwrap().json::<Value>().await.unwrap() });
    until_upstream_received(&server, 1).await;
    // And a WebSocket, which hyper's graceful shutdown does not wait for by itself.
    let mut ws = Ws::init(&TestApp { addr: service.addr, http: reqwest::Client::new() }, json!({})).await;

    // Act
    service.terminate();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let probe = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    let ready = probe.get(service.url("/ready")).send().await;
    let body = in_flight.await.unwrap();
    let closed = ws.next().await;
    let exit = service.exit_within(Duration::from_secs(5)).await;

    // Assert
    if let Ok(ready) = ready {
        assert_eq!(ready.status(), 503, "still ready after SIGTERM");
    }
    assert_eq!(body["data"]["roomSession"]["participants"]["nodes"], json!([{ "id": PARTICIPANT }]), "{body}");
    assert_eq!(closed["close"], 1001, "the WebSocket was not closed as going away: {closed}");
    let exit = exit.expect("the process did not exit within 5 s of SIGTERM");
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn logs_never_contain_credentials_and_have_one_json_line_per_request() {
    // Arrange: the upstream answers by session: 200, 401 or 500.
    const CLIENT_SECRET: &str = "KEYclient_secret_123";
    const CONFIGURED_SECRET: &str = "KEYconfigured_secret_456";
    let (ok_session, rejected_session, failing_session) =
        (SESSION, "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a");
    let server = MockServer::start().await;
    for (session, response) in [
        (ok_session, ok()),
        (rejected_session, ResponseTemplate::new(401).set_body_json(json!({ "errors": [{ "code": "10009" }] }))),
        (failing_session, ResponseTemplate::new(500)),
    ] {
        Mock::given(method("GET"))
            .and(path_regex(format!("/room_sessions/{session}/participants$")))
            .respond_with(response)
            .mount(&server)
            .await;
    }
    let uri = server.uri();
    let args = ["--telnyx-api-base-url", &uri, "--log-format", "json", "--upstream-retry-base-ms", "10"];
    let mut service = Service::start("logs", &args, &[("RUST_LOG", "trace"), ("TELNYX_API_KEY", CONFIGURED_SECRET)]);
    service.until_healthy().await;
    let client_auth = format!("Bearer {CLIENT_SECRET}");
    let requests = [
        ("log-probe-client-key", Some(client_auth.as_str()), ok_session, None),
        ("log-probe-configured-key", None, ok_session, None),
        ("log-probe-upstream-401", Some(client_auth.as_str()), rejected_session, Some("UNAUTHENTICATED")),
        ("log-probe-upstream-500", None, failing_session, Some("UPSTREAM_ERROR")),
    ];

    // Act
    let client = reqwest::Client::new();
    for (request_id, authorization, session, code) in requests {
        let mut request = client
            .post(service.url("/graphql"))
            .header("x-request-id", request_id)
            .json(&json!({ "query": QUERY, "variables": { "id": session } }));
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let body: Value = request.send().await.unwrap().json().await.unwrap();
        match code {
            None => assert!(body.get("errors").is_none(), "{request_id}: {body}"),
            Some(code) => assert_eq!(error_codes(&body), [code], "{request_id}: {body}"),
        }
    }
    service.terminate();
    let exit = service.exit_within(Duration::from_secs(5)).await;
    let (stdout, stderr) = service.output();

    // Assert: both secrets did go upstream, yet neither reached the logs.
    assert!(exit.is_some_and(|e| e.success()), "{exit:?}");
    let sent: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| r.headers.get("authorization").map(|v| v.to_str().unwrap().to_owned()))
        .collect();
    assert!(sent.contains(&client_auth) && sent.contains(&format!("Bearer {CONFIGURED_SECRET}")), "{sent:?}");
    let everything = format!("{stdout}\n{stderr}");
    for secret in ["client_secret_123", "configured_secret_456", "Bearer"] {
        let leaks: Vec<&str> = everything.lines().filter(|line| line.contains(secret)).collect();
        assert!(leaks.is_empty(), "{secret} logged in {} lines, e.g. {:?}", leaks.len(), leaks.first());
    }
    let lines: Vec<Value> = stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}")))
        .collect();
    for (request_id, ..) in requests {
        let logged =
            lines.iter().filter(|line| line["message"] == "request" && line["request_id"] == request_id).count();
        assert_eq!(logged, 1, "request lines for {request_id}");
    }
}

#[tokio::test]
async fn a_clients_request_id_is_echoed_and_one_is_generated_when_missing() {
    let server = MockServer::start().await;
    let app = spawn_app(&server.uri(), None).await;
    let request = || app.http.post(app.url()).json(&json!({ "query": "{ __typename }" }));

    let echoed = request().header("x-request-id", "abc-123").send().await.unwrap();
    let first = request().send().await.unwrap();
    let second = request().send().await.unwrap();

    assert_eq!(echoed.headers()["x-request-id"], "abc-123");
    let generated: Vec<&str> =
        [&first, &second].iter().map(|r| r.headers()["x-request-id"].to_str().unwrap()).collect();
    for id in &generated {
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
    assert_ne!(generated[0], generated[1]);
}

/// The parts of a valid W3C `traceparent` (version 00): trace id, span id, flags.
fn traceparent_parts(value: &str) -> (String, String, String) {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && s.bytes().any(|b| b != b'0')
    };
    assert_eq!(parts.len(), 4, "{value}");
    assert_eq!(parts[0], "00", "{value}");
    assert!(hex(parts[1], 32) && hex(parts[2], 16) && parts[3].len() == 2, "{value}");
    (parts[1].to_owned(), parts[2].to_owned(), parts[3].to_owned())
}

async fn upstream_traceparent(traceparent: Option<&str>) -> String {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ok()).mount(&server).await;
    let app = spawn_app(&server.uri(), Some("KEY_TEST")).await;
    let mut request = app.http.post(app.url()).json(&json!({ "query": QUERY, "variables": { "id": SESSION } }));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let body: Value = request.send().await.unwrap().json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    received[0].headers.get("traceparent").expect("no traceparent upstream").to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_upstream_request_continues_the_callers_trace_with_a_new_span() {
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    let sent = upstream_traceparent(Some(incoming)).await;

    let (trace, span, flags) = traceparent_parts(&sent);
    assert_eq!(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_ne!(span, "00f067aa0ba902b7");
    assert_eq!(flags, "01");
}

#[tokio::test]
async fn without_a_callers_trace_the_upstream_request_starts_a_new_one() {
    let sent = upstream_traceparent(None).await;
    traceparent_parts(&sent);
    let other = upstream_traceparent(None).await;
    assert_ne!(traceparent_parts(&other).0, traceparent_parts(&sent).0, "each request is its own trace");
}

/// Runs `query` (with `operationName` when given) against an upstream answering every
/// participants list, then returns the `/metrics` text.
async fn metrics_after(query: &str, operation_name: Option<&str>) -> String {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path_regex("/participants$")).respond_with(ok()).mount(&server).await;
    let app = spawn_app(&server.uri(), Some("KEYmetrics_configured_secret")).await;
    let request = json!({ "query": query, "variables": { "id": SESSION }, "operationName": operation_name });
    let response = app.http.post(app.url()).header("authorization", "Bearer KEYmetrics_client_secret").json(&request);
    let body: Value = response.send().await.unwrap().json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    let response = app.http.get(format!("http://{}/metrics", app.addr)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

fn counts_operation(text: &str, name: &str) -> bool {
    let label = format!(r#"operation="{name}""#);
    text.lines().any(|l| l.starts_with("graphql_operations_total{") && l.contains(&label))
}

#[tokio::test]
async fn metrics_are_prometheus_text_without_credentials_or_ids() {
    let query = "query MetricsProbe($id: ID!) { roomSession(id: $id) { participants(first: 2) { nodes { id } } } }";

    let text = metrics_after(query, Some("MetricsProbe")).await;

    for sample in text.lines().filter(|line| !line.is_empty() && !line.starts_with('#')) {
        let value = sample.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "not a Prometheus sample: {sample}");
    }
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(counts_operation(&text, "MetricsProbe"), "{text}");
    assert!(
        text.contains(
            r#"upstream_requests_total{endpoint="/room_sessions/{room_session_id}/participants",status="200"}"#
        ),
        "{text}"
    );
    assert!(text.contains("upstream_request_duration_seconds_bucket"), "{text}");
    for private in ["metrics_client_secret", "metrics_configured_secret", "Bearer", PARTICIPANT, SESSION] {
        assert!(!text.contains(private), "{private} in /metrics");
    }
}

#[tokio::test]
async fn an_operation_named_only_in_its_document_is_counted_under_that_name() {
    // Clients such as curl users send the named operation without a separate `operationName`.
    let query =
        "query MetricsDocumentName($id: ID!) { roomSession(id: $id) { participants(first: 2) { nodes { id } } } }";

    let text = metrics_after(query, None).await;

    assert!(counts_operation(&text, "MetricsDocumentName"), "{text}");
}

async fn healthcheck(addr: SocketAddr) -> ExitStatus {
    tokio::task::spawn_blocking(move || {
        Command::new(BINARY)
            .args(["--healthcheck", "--listen-addr", &addr.to_string()])
            .env_clear()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_healthcheck_flag_succeeds_against_a_running_instance_and_fails_against_a_closed_port() {
    let server = MockServer::start().await;
    let app = spawn_app(&server.uri(), None).await;

    let running = healthcheck(app.addr).await;
    let closed = healthcheck(free_addr()).await;

    assert!(running.success(), "{running:?}");
    assert!(!closed.success(), "{closed:?}");
}

#[test]
fn the_server_key_on_a_public_address_refuses_to_start_without_allow_anonymous() {
    let key = "KEYpublic_secret_789";
    let output = Command::new(BINARY)
        .args(["--listen-addr", "0.0.0.0:0"])
        .env_clear()
        .env("TELNYX_API_KEY", key)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ALLOW_ANONYMOUS=true") && stderr.contains("unset TELNYX_API_KEY"), "{stderr}");
    assert!(!stderr.contains(key) && !String::from_utf8_lossy(&output.stdout).contains(key));
}

#[tokio::test]
async fn allow_anonymous_or_no_server_key_lets_it_serve_on_a_public_address() {
    for env in [&[("TELNYX_API_KEY", "KEYx"), ("ALLOW_ANONYMOUS", "true")][..], &[][..]] {
        let service = Service::start_listening("public", true, &[], env);
        service.until_healthy().await;
    }
}
