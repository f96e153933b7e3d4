//! Trusted proxies: behind one, each client has its own rate limit and log lines; a header
//! from anyone else changes nothing.

use std::time::Duration;

use serde_json::{json, Value};
use telnyx_rooms_graphql::sample_upstream::{SampleUpstream, SAMPLE_API_KEY};

use crate::helpers::{ids, spawn_app_with, TestApp};
use crate::process::Service;

const QUERY: &str = "query($id: ID!) { roomSession(id: $id) { participants(first: 1) { totalCount } } }";

/// The status of an anonymous query that says it was forwarded for `client`.
async fn ask_for(app: &TestApp, header: &str, client: &str) -> u16 {
    let body = json!({ "query": QUERY, "variables": { "id": ids::MEDIUM_SESSION } });
    app.http.post(app.url()).header(header, client).json(&body).send().await.unwrap().status().as_u16()
}

async fn spawn(trusted: &str, header: &str) -> (SampleUpstream, TestApp) {
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let app = spawn_app_with(&upstream.base_url(), Some(SAMPLE_API_KEY), |config| {
        config.caller_rate_limit = Some("2/min".parse().unwrap());
        config.trusted_proxies = trusted.split(',').filter(|n| !n.is_empty()).map(|n| n.parse().unwrap()).collect();
        config.trusted_proxy_header = clap::ValueEnum::from_str(header, true).unwrap();
    })
    .await;
    (upstream, app)
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    // The tests reach the service from loopback: here that is the proxy.
    let (_upstream, app) = spawn("127.0.0.0/8", "x-forwarded-for").await;

    let alice = [
        ask_for(&app, "x-forwarded-for", "198.51.100.1").await,
        ask_for(&app, "x-forwarded-for", "198.51.100.1").await,
        // What the client wrote to the left of what the proxy saw changes nothing.
        ask_for(&app, "x-forwarded-for", "203.0.113.50, 198.51.100.1").await,
    ];
    let bob = ask_for(&app, "x-forwarded-for", "198.51.100.2").await;

    assert_eq!(alice, [200, 200, 429]);
    assert_eq!(bob, 200, "another client behind the same proxy has its own allowance");
}

#[tokio::test]
async fn forwarded_is_read_when_it_is_the_header_named() {
    let (_upstream, app) = spawn("127.0.0.1/32", "forwarded").await;

    let alice = [
        ask_for(&app, "forwarded", "for=198.51.100.1;proto=https").await,
        ask_for(&app, "forwarded", "for=\"198.51.100.1:4711\"").await,
        ask_for(&app, "forwarded", "for=198.51.100.1").await,
    ];
    // X-Forwarded-For is not the header named: this is the proxy itself, a third time.
    let unnamed = [
        ask_for(&app, "x-forwarded-for", "198.51.100.3").await,
        ask_for(&app, "x-forwarded-for", "198.51.100.4").await,
        ask_for(&app, "x-forwarded-for", "198.51.100.5").await,
    ];

    assert_eq!(alice, [200, 200, 429]);
    assert_eq!(unnamed, [200, 200, 429]);
}

#[tokio::test]
async fn a_forwarding_header_from_an_untrusted_peer_changes_nothing() {
    let (_upstream, app) = spawn("10.0.0.0/8", "x-forwarded-for").await;

    let spoofed = [
        ask_for(&app, "x-forwarded-for", "198.51.100.1").await,
        ask_for(&app, "x-forwarded-for", "198.51.100.2").await,
        ask_for(&app, "x-forwarded-for", "198.51.100.3").await,
    ];

    assert_eq!(spoofed, [200, 200, 429], "a new claimed address must not buy a new allowance");
}

#[tokio::test]
async fn the_log_line_names_the_forwarded_client_only_behind_a_trusted_proxy() {
    // Arrange: the binary, trusting loopback, logging JSON.
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let base = upstream.base_url();
    let args = ["--telnyx-api-base-url", &base, "--log-format", "json", "--trusted-proxies", "127.0.0.1/32,10.0.0.0/8"];
    let mut service = Service::start("proxies", &args, &[("TELNYX_API_KEY", SAMPLE_API_KEY)]);
    service.until_healthy().await;
    let app = TestApp { addr: service.addr, http: reqwest::Client::new() };

    // Act
    for (request_id, forwarded) in [("via-proxy", "198.51.100.1, 10.1.1.1"), ("proxy-itself", "10.2.2.2")] {
        let body = json!({ "query": "{ __typename }" });
        let request = app.http.post(app.url()).header("x-request-id", request_id).header("x-forwarded-for", forwarded);
        assert_eq!(request.json(&body).send().await.unwrap().status(), 200);
    }
    service.terminate();
    service.exit_within(Duration::from_secs(5)).await.expect("exits after SIGTERM");
    let (stdout, _) = service.output();

    // Assert
    let lines: Vec<Value> = stdout.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    let client_of = |id: &str| {
        let line = lines.iter().find(|line| line["request_id"] == id);
        line.unwrap_or_else(|| panic!("no log line for {id}: {stdout}"))["client"].clone()
    };
    assert_eq!(client_of("via-proxy"), "198.51.100.1");
    assert_eq!(client_of("proxy-itself"), "10.2.2.2", "a chain of trusted hops ends at its left-most one");
}
