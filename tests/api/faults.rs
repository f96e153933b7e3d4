//! Upstream faults: what is retried and how often, what fails fast, and that the service keeps
//! answering after every one of them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use telnyx_rooms_graphql::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{error_codes, spawn_app_with, TestApp};

const SESSION: &str = "7b61621f-5fe4-4aad-ab11-9fd19e272e73";
const OTHER_SESSION: &str = "0c8e5d1a-3b7f-4e2a-9d6c-1f0a2b3c4d5e";
/// One upstream request: a single page of size 2.
const QUERY: &str = "query($id: ID!) { roomSession(id: $id) { participants(first: 2) { nodes { id } } } }";

fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({ "data": [{ "id": "p1" }], "meta": { "total_results": 1 } }))
}

/// Fast retries and a short deadline, so that fault tests stay quick.
fn fast(c: &mut Config) {
    c.upstream_retry_base_ms = 10;
    c.upstream_timeout_ms = 500;
    c.request_deadline_ms = 1500;
}

async fn app_with(server: &MockServer, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with(&server.uri(), Some("KEY_TEST"), |c| {
        fast(c);
        tweak(c);
    })
    .await
}

async fn participants_answering(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("GET")).and(path_regex("/participants$")).respond_with(response).mount(server).await;
}

/// Mounts `response` for the first `times` requests only; later ones fall through to
/// whatever is mounted after it.
async fn participants_answering_first(server: &MockServer, times: u64, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path_regex("/participants$"))
        .respond_with(response)
        .up_to_n_times(times)
        .mount(server)
        .await;
}

async fn upstream_requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

async fn ask(app: &TestApp) -> Value {
    app.query(QUERY, json!({ "id": SESSION })).await
}

fn nodes(body: &Value) -> &Value {
    &body["data"]["roomSession"]["participants"]["nodes"]
}

/// Once the upstream answers normally again, so does the service.
async fn recovers(app: &TestApp, server: &MockServer) {
    server.reset().await;
    participants_answering(server, ok()).await;
    let body = ask(app).await;
    assert_eq!(nodes(&body), &json!([{ "id": "p1" }]), "{body}");
}

/// The service is up and answers queries that need no upstream.
async fn still_answers(app: &TestApp) {
    let health = app.http.get(format!("http://{}/health", app.addr)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let body = app.query("{ __typename }", json!({})).await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
}

#[tokio::test]
async fn a_5xx_followed_by_success_is_retried_and_succeeds() {
    // Arrange
    let server = MockServer::start().await;
    participants_answering_first(&server, 2, ResponseTemplate::new(503)).await;
    participants_answering(&server, ok()).await;
    let app = app_with(&server, |_| {}).await;

    // Act
    let body = ask(&app).await;

    // Assert
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(nodes(&body), &json!([{ "id": "p1" }]));
    assert_eq!(upstream_requests(&server).await, 3);
}

#[tokio::test]
async fn a_429_with_retry_after_zero_is_retried_and_succeeds() {
    let server = MockServer::start().await;
    participants_answering_first(&server, 1, ResponseTemplate::new(429).insert_header("retry-after", "0")).await;
    participants_answering(&server, ok()).await;
    let app = app_with(&server, |_| {}).await;

    let body = ask(&app).await;

    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(nodes(&body), &json!([{ "id": "p1" }]));
    assert_eq!(upstream_requests(&server).await, 2);
}

#[tokio::test]
async fn a_persistent_5xx_fails_after_exactly_the_configured_attempts_within_the_deadline() {
    for (attempts, configured) in [(3, None), (1, Some(1)), (5, Some(5))] {
        // Arrange
        let server = MockServer::start().await;
        participants_answering(&server, ResponseTemplate::new(500)).await;
        let app = app_with(&server, |c| {
            if let Some(configured) = configured {
                c.upstream_max_attempts = configured;
            }
        })
        .await;

        // Act
        let started = Instant::now();
        let body = ask(&app).await;
        let elapsed = started.elapsed();

        // Assert
        assert_eq!(error_codes(&body), ["UPSTREAM_ERROR"], "{body}");
        assert_eq!(upstream_requests(&server).await, attempts, "max attempts {configured:?}");
        assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}, beyond the deadline");
        recovers(&app, &server).await;
    }
}

#[tokio::test]
async fn client_errors_other_than_429_are_never_retried() {
    for status in [400, 401, 403, 404, 422] {
        let server = MockServer::start().await;
        participants_answering(&server, ResponseTemplate::new(status)).await;
        let app = app_with(&server, |_| {}).await;

        let body = ask(&app).await;

        assert!(body.get("errors").is_some(), "{status}: {body}");
        assert_eq!(upstream_requests(&server).await, 1, "{status} was retried");
        recovers(&app, &server).await;
    }
}

#[tokio::test]
async fn a_short_retry_after_is_honoured_when_the_deadline_allows_it() {
    // Arrange
    let server = MockServer::start().await;
    participants_answering_first(&server, 1, ResponseTemplate::new(429).insert_header("retry-after", "1")).await;
    participants_answering(&server, ok()).await;
    let app = app_with(&server, |c| c.request_deadline_ms = 2500).await;

    // Act
    let started = Instant::now();
    let body = ask(&app).await;
    let elapsed = started.elapsed();

    // Assert
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(nodes(&body), &json!([{ "id": "p1" }]));
    assert_eq!(upstream_requests(&server).await, 2);
    assert!(elapsed >= Duration::from_millis(950), "retried after {elapsed:?}, before Retry-After");
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_fails_fast_with_rate_limited() {
    let in_two_minutes =
        (chrono::Utc::now() + chrono::Duration::seconds(120)).format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    for (header, expected) in [("120", 120..=120), (in_two_minutes.as_str(), 115..=120)] {
        // Arrange
        let server = MockServer::start().await;
        participants_answering(&server, ResponseTemplate::new(429).insert_header("retry-after", header)).await;
        let app = app_with(&server, |_| {}).await;

        // Act
        let started = Instant::now();
        let body = ask(&app).await;
        let elapsed = started.elapsed();

        // Assert
        assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{header}: {body}");
        let retry_after = body["errors"][0]["extensions"]["retryAfter"].as_u64();
        assert!(retry_after.is_some_and(|s| expected.contains(&s)), "{header}: {body}");
        assert_eq!(upstream_requests(&server).await, 1, "{header}");
        assert!(elapsed < Duration::from_millis(1000), "{header}: took {elapsed:?} instead of failing fast");
        recovers(&app, &server).await;
    }
}

#[tokio::test]
async fn an_upstream_slower_than_the_upstream_timeout_is_an_upstream_timeout() {
    let server = MockServer::start().await;
    participants_answering(&server, ok().set_delay(Duration::from_secs(2))).await;
    let app = app_with(&server, |c| c.upstream_timeout_ms = 200).await;

    let started = Instant::now();
    let body = ask(&app).await;

    assert_eq!(error_codes(&body), ["UPSTREAM_TIMEOUT"], "{body}");
    assert!(started.elapsed() < Duration::from_millis(2000), "took {:?}", started.elapsed());
    recovers(&app, &server).await;
}

#[tokio::test]
async fn an_upstream_slower_than_the_request_deadline_times_out_at_the_deadline_without_retrying() {
    // Arrange: the per-attempt timeout alone would wait 10 s.
    let server = MockServer::start().await;
    participants_answering(&server, ok().set_delay(Duration::from_secs(3))).await;
    let app = app_with(&server, |c| {
        c.upstream_timeout_ms = 10_000;
        c.request_deadline_ms = 400;
    })
    .await;

    // Act
    let started = Instant::now();
    let body = ask(&app).await;
    let elapsed = started.elapsed();

    // Assert
    assert_eq!(error_codes(&body), ["UPSTREAM_TIMEOUT"], "{body}");
    assert!(elapsed >= Duration::from_millis(350), "gave up after {elapsed:?}, before the deadline");
    assert!(elapsed < Duration::from_millis(1400), "took {elapsed:?}, well past the 400 ms deadline");
    assert_eq!(upstream_requests(&server).await, 1, "no attempt fits after the deadline");
    recovers(&app, &server).await;
}

#[tokio::test]
async fn a_refused_connection_is_an_upstream_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let app = spawn_app_with(&format!("http://{addr}/v2"), Some("KEY_TEST"), fast).await;

    let body = ask(&app).await;

    assert_eq!(error_codes(&body), ["UPSTREAM_ERROR"], "{body}");
    still_answers(&app).await;
}

/// A raw TCP upstream that answers every connection with `response` (after reading the request
/// head) and then closes it; returns its base URL and a count of connections.
async fn raw_upstream(response: Vec<u8>) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let response = response.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let _ = socket.write_all(&response).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (format!("http://{addr}/v2"), connections)
}

#[tokio::test]
async fn a_body_cut_short_of_its_content_length_is_an_upstream_error() {
    // Arrange: 10 of the 1000 promised bytes, then the connection closes.
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n";
    let (base_url, connections) = raw_upstream([head.as_bytes(), br#"{"data":[{"#.as_slice()].concat()).await;
    let app = spawn_app_with(&base_url, Some("KEY_TEST"), fast).await;

    // Act
    let body = ask(&app).await;

    // Assert
    assert_eq!(error_codes(&body), ["UPSTREAM_ERROR"], "{body}");
    assert!(connections.load(Ordering::SeqCst) >= 1);
    still_answers(&app).await;
}

#[tokio::test]
async fn a_chunked_body_growing_past_the_limit_is_refused_while_reading() {
    // Arrange: no Content-Length to refuse up front; 4 chunks of 1000 bytes against a 2 KiB cap.
    let mut response =
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        response.extend_from_slice(format!("3e8\r\n{}\r\n", " ".repeat(1000)).as_bytes());
    }
    response.extend_from_slice(b"0\r\n\r\n");
    let (base_url, _) = raw_upstream(response).await;
    let app = spawn_app_with(&base_url, Some("KEY_TEST"), |c| {
        fast(c);
        c.upstream_max_body_bytes = 2048;
    })
    .await;

    // Act
    let body = ask(&app).await;

    // Assert
    assert_eq!(error_codes(&body), ["UPSTREAM_ERROR"], "{body}");
    still_answers(&app).await;
}

#[tokio::test]
async fn unreadable_bodies_are_upstream_errors_and_are_not_retried() {
    let cases = [
        ("malformed JSON", ResponseTemplate::new(200).set_body_string(r#"{"data":[{"id":"p1"}"#)),
        ("HTML", ResponseTemplate::new(200).set_body_string("<html>oops</html>")),
        (
            "total_results a string",
            ResponseTemplate::new(200).set_body_json(json!({ "data": [], "meta": { "total_results": "x" } })),
        ),
        (
            "joined_at a number",
            ResponseTemplate::new(200).set_body_json(json!({ "data": [{ "id": "p1", "joined_at": 5 }] })),
        ),
        ("data an object", ResponseTemplate::new(200).set_body_json(json!({ "data": {} }))),
        ("id a number", ResponseTemplate::new(200).set_body_json(json!({ "data": [{ "id": 7 }] }))),
    ];
    for (what, response) in cases {
        let server = MockServer::start().await;
        participants_answering(&server, response).await;
        let app = app_with(&server, |_| {}).await;

        let body = ask(&app).await;

        assert_eq!(error_codes(&body), ["UPSTREAM_ERROR"], "{what}: {body}");
        assert_eq!(upstream_requests(&server).await, 1, "{what}: a bad body would be bad again");
        recovers(&app, &server).await;
    }
}

#[tokio::test]
async fn a_body_larger_than_the_limit_is_an_upstream_error() {
    let huge = format!(r#"{{"data":[],"meta":{{"total_results":0}},"pad":"{}"}}"#, "x".repeat(8 * 1024));
    let server = MockServer::start().await;
    participants_answering(&server, ResponseTemplate::new(200).set_body_string(huge)).await;
    let app = app_with(&server, |c| c.upstream_max_body_bytes = 1024).await;

    let body = ask(&app).await;

    assert_eq!(error_codes(&body), ["UPSTREAM_ERROR"], "{body}");
    recovers(&app, &server).await;
}

/// Counts how many requests it is serving at once; each takes `delay`.
#[derive(Default)]
struct Concurrency {
    now: AtomicUsize,
    max: AtomicUsize,
    total: AtomicUsize,
}

async fn slow_counting_upstream(delay: Duration) -> (String, Arc<Concurrency>) {
    let concurrency = Arc::new(Concurrency::default());
    let state = concurrency.clone();
    let router = axum::Router::new().fallback(move || {
        let state = state.clone();
        async move {
            state.total.fetch_add(1, Ordering::SeqCst);
            let now = state.now.fetch_add(1, Ordering::SeqCst) + 1;
            state.max.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            state.now.fetch_sub(1, Ordering::SeqCst);
            axum::Json(json!({ "data": [{ "id": "p1" }], "meta": { "total_results": 1 } }))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}/v2"), concurrency)
}

async fn two_concurrent_queries(max_in_flight: u32) -> Arc<Concurrency> {
    // Arrange
    let (base_url, concurrency) = slow_counting_upstream(Duration::from_millis(200)).await;
    let app = spawn_app_with(&base_url, Some("KEY_TEST"), |c| {
        fast(c);
        c.upstream_max_in_flight = max_in_flight;
    })
    .await;

    // Act
    let (a, b) =
        tokio::join!(app.query(QUERY, json!({ "id": SESSION })), app.query(QUERY, json!({ "id": OTHER_SESSION })),);

    // Assert: both are answered, however they were queued.
    for body in [a, b] {
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(nodes(&body), &json!([{ "id": "p1" }]));
    }
    assert_eq!(concurrency.total.load(Ordering::SeqCst), 2);
    concurrency
}

#[tokio::test]
async fn with_one_upstream_request_in_flight_concurrent_queries_queue_and_both_succeed() {
    let concurrency = two_concurrent_queries(1).await;
    assert_eq!(concurrency.max.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn with_room_in_flight_the_same_queries_overlap_upstream() {
    // Shows the measurement above can see overlap at all.
    let concurrency = two_concurrent_queries(2).await;
    assert_eq!(concurrency.max.load(Ordering::SeqCst), 2);
}
