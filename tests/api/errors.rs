//! Upstream failures map to clear GraphQL errors, and the service stays up after each.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{error_codes, spawn_app_with, TestApp};

const SESSION: &str = "7b61621f-5fe4-4aad-ab11-9fd19e272e73";
const QUERY: &str = "query($id: ID!) { roomSession(id: $id) { participants(first: 2) { nodes { id } } } }";

async fn upstream_answering(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path_regex("/participants$")).respond_with(response).mount(&server).await;
    server
}

async fn app_for(server: &MockServer) -> TestApp {
    spawn_app_with(&server.uri(), Some("KEY_TEST"), |c| c.upstream_timeout_ms = 500).await
}

async fn still_answers(app: &TestApp) {
    let health = app.http.get(format!("http://{}/health", app.addr)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let body = app.query("{ __typename }", json!({})).await;
    assert_eq!(body["data"]["__typename"], "Query");
}

fn ok_body() -> Value {
    json!({ "data": [{ "id": "p1" }], "meta": { "total_results": 1 } })
}

#[tokio::test]
async fn each_upstream_status_maps_to_its_code_with_upstream_details() {
    let cases = [
        (
            401,
            json!({ "errors": [{ "code": "10009", "title": "Authentication failed", "detail": "bad key" }] }),
            "UNAUTHENTICATED",
        ),
        (403, json!({ "errors": [{ "code": "10010", "title": "Forbidden" }] }), "FORBIDDEN"),
        (404, json!({ "code": "10005", "title": "Resource not found", "detail": "no session" }), "NOT_FOUND"),
        (400, json!({ "errors": [{ "code": "10015", "title": "Bad request" }] }), "BAD_USER_INPUT"),
        (422, json!({ "errors": [{ "code": "10016", "title": "Unprocessable" }] }), "BAD_USER_INPUT"),
        (500, json!({ "success": false, "message": "Error" }), "UPSTREAM_ERROR"),
        (503, json!({}), "UPSTREAM_ERROR"),
    ];
    for (status, body, code) in cases {
        let server = upstream_answering(ResponseTemplate::new(status).set_body_json(&body)).await;
        let app = app_for(&server).await;
        let response = app.query(QUERY, json!({ "id": SESSION })).await;
        assert_eq!(error_codes(&response), [code], "{status}: {response}");
        let error = &response["errors"][0];
        assert_eq!(error["path"], json!(["roomSession", "participants"]));
        assert_eq!(error["extensions"]["upstream"]["status"], status);
        let first = &error["extensions"]["upstream"]["errors"][0];
        let said = body.get("errors").map(|e| e[0].clone()).unwrap_or(body.clone());
        if let Some(title) = said.get("title").or(said.get("message")) {
            assert_eq!(&first["title"], title, "{status}: {response}");
        }
        still_answers(&app).await;
    }
}

#[tokio::test]
async fn rate_limits_report_retry_after_in_seconds_from_either_header_form() {
    let in_a_minute =
        (chrono::Utc::now() + chrono::Duration::seconds(61)).format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    for (header, expected) in [("30", 30..=30), (in_a_minute.as_str(), 55..=61)] {
        let server = upstream_answering(ResponseTemplate::new(429).insert_header("retry-after", header)).await;
        let app = app_for(&server).await;
        let response = app.query(QUERY, json!({ "id": SESSION })).await;
        assert_eq!(error_codes(&response), ["RATE_LIMITED"]);
        let retry_after = response["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap();
        assert!(expected.contains(&retry_after), "{header}: {retry_after}");
    }
}

#[tokio::test]
async fn a_slow_upstream_is_an_upstream_timeout() {
    let server =
        upstream_answering(ResponseTemplate::new(200).set_body_json(ok_body()).set_delay(Duration::from_secs(3))).await;
    let app = app_for(&server).await;
    let response = app.query(QUERY, json!({ "id": SESSION })).await;
    assert_eq!(error_codes(&response), ["UPSTREAM_TIMEOUT"]);
    still_answers(&app).await;
}

#[tokio::test]
async fn an_unreachable_upstream_is_an_upstream_error_without_its_address() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let app = spawn_app_with(&format!("http://{addr}/v2"), Some("KEY_TEST"), |_| {}).await;
    let response = app.query(QUERY, json!({ "id": SESSION })).await;
    assert_eq!(error_codes(&response), ["UPSTREAM_ERROR"]);
    assert!(!response.to_string().contains(&addr.port().to_string()), "{response}");
    still_answers(&app).await;
}

#[tokio::test]
async fn bodies_that_do_not_parse_are_upstream_errors() {
    let bodies = [
        ResponseTemplate::new(200).set_body_string("<html>oops</html>"),
        ResponseTemplate::new(200).set_body_string(r#"{"data":[{"id":"p1"}"#),
        ResponseTemplate::new(200).set_body_json(json!({ "data": [{ "id": "p1", "joined_at": 17 }] })),
        ResponseTemplate::new(200).set_body_json(json!({ "data": "nope" })),
        ResponseTemplate::new(200).set_body_json(json!({ "data": [], "meta": { "total_results": "many" } })),
    ];
    for body in bodies {
        let server = upstream_answering(body).await;
        let app = app_for(&server).await;
        let response = app.query(QUERY, json!({ "id": SESSION })).await;
        assert_eq!(error_codes(&response), ["UPSTREAM_ERROR"], "{response}");
        still_answers(&app).await;
    }
}

#[tokio::test]
async fn an_oversized_body_is_refused_while_reading() {
    let huge = format!(r#"{{"data":[],"meta":{{"total_results":0}},"pad":"{}"}}"#, "x".repeat(64 * 1024));
    let server = upstream_answering(ResponseTemplate::new(200).set_body_string(huge)).await;
    let app = spawn_app_with(&server.uri(), Some("KEY_TEST"), |c| c.upstream_max_body_bytes = 16 * 1024).await;
    let response = app.query(QUERY, json!({ "id": SESSION })).await;
    assert_eq!(error_codes(&response), ["UPSTREAM_ERROR"], "{response}");
}

#[tokio::test]
async fn missing_and_null_fields_are_accepted_and_session_id_falls_back_to_the_path() {
    let body = json!({
        "data": [
            { "id": "p1" },
            { "id": "p2", "session_id": null, "context": null, "joined_at": null, "updated_at": null, "left_at": null, "record_type": null },
        ],
        "meta": null,
    });
    let server = upstream_answering(ResponseTemplate::new(200).set_body_json(body)).await;
    let app = app_for(&server).await;
    let query = "query($id: ID!) { roomSession(id: $id) { participants(first: 2) { nodes { id sessionId context joinedAt updatedAt leftAt } totalCount } } }";
    let response = app.query(query, json!({ "id": SESSION })).await;
    assert!(response.get("errors").is_none(), "{response}");
    let connection = &response["data"]["roomSession"]["participants"];
    assert_eq!(
        connection["nodes"][1],
        json!({ "id": "p2", "sessionId": SESSION, "context": null, "joinedAt": null, "updatedAt": null, "leftAt": null })
    );
    assert_eq!(connection["totalCount"], 2, "without meta the total is what the short page proves");
}
