//! Requests the service refuses: each gets its documented status and code, and none of them
//! costs an upstream request (read from the sample upstream's log).

use serde_json::{json, Value};

use crate::helpers::{error_codes, ids, spawn_sample, spawn_sample_with, TestApp, PARTICIPANTS_PAGE};

/// A query that would go upstream if it ran.
const UPSTREAM_QUERY: &str = "query($id: ID!) { roomSession(id: $id) { participants(first: 2) { nodes { id } } } }";

async fn post_raw(app: &TestApp, content_type: Option<&str>, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let mut request = app.http.post(app.url()).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn post_json(app: &TestApp, body: &Value) -> (u16, Value) {
    post_raw(app, Some("application/json"), body.to_string()).await
}

/// `depth` levels of `room { sessions { nodes { … } } }` below `room(id:)`.
fn nested_rooms(depth: usize) -> String {
    let mut selection = "id".to_owned();
    for _ in 0..depth {
        selection = format!("room {{ sessions(first: 1) {{ nodes {{ {selection} }} }} }}");
    }
    format!(r#"{{ room(id: "{}") {{ sessions(first: 1) {{ nodes {{ {selection} }} }} }} }}"#, ids::ROOM)
}

/// `__type { ofType { … } }` nested `depth` times.
fn nested_of_type(depth: usize) -> String {
    let mut selection = "name".to_owned();
    for _ in 0..depth {
        selection = format!("ofType {{ {selection} }}");
    }
    format!(r#"{{ __type(name: "Query") {{ {selection} }} }}"#)
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_bad_request() {
    let (upstream, app) = spawn_sample().await;
    for body in ["{ roomSession", "query { __typename }", "", "[]", r#"{"query": 5}"#] {
        let (status, response) = post_raw(&app, Some("application/json"), body).await;
        assert_eq!(status, 400, "{body:?}: {response}");
        assert_eq!(error_codes(&response), ["BAD_REQUEST"], "{body:?}: {response}");
    }
    assert_eq!(upstream.log.count(), 0);
}

#[tokio::test]
async fn a_body_not_declared_as_json_is_unsupported_media_type() {
    let (upstream, app) = spawn_sample().await;
    let body = json!({ "query": UPSTREAM_QUERY, "variables": { "id": ids::MEDIUM_SESSION } }).to_string();
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        // With a preflight header, so the CSRF rule (tests/api/hostile.rs) lets it through.
        let mut request = app.http.post(app.url()).header("apollo-require-preflight", "true").body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let response: Value = response.json().await.unwrap();
        assert_eq!(status, 415, "{content_type:?}: {response}");
        assert_eq!(error_codes(&response), ["UNSUPPORTED_MEDIA_TYPE"], "{content_type:?}: {response}");
    }
    assert_eq!(upstream.log.count(), 0);
}

#[tokio::test]
async fn a_body_above_the_size_limit_is_refused_with_413() {
    let (upstream, app) = spawn_sample_with(|c| c.max_body_bytes = 1024).await;
    let padded = format!("{UPSTREAM_QUERY} # {}", "x".repeat(4096));
    let (status, _) = post_json(&app, &json!({ "query": padded, "variables": { "id": ids::MEDIUM_SESSION } })).await;
    assert_eq!(status, 413);
    assert_eq!(upstream.log.count(), 0);
    // A body under the limit still runs.
    let body = app.query(UPSTREAM_QUERY, json!({ "id": ids::MEDIUM_SESSION })).await;
    assert_eq!(body["data"]["roomSession"]["participants"]["nodes"].as_array().map(Vec::len), Some(2), "{body}");
}

#[tokio::test]
async fn a_request_without_a_query_is_a_bad_request() {
    let (upstream, app) = spawn_sample().await;
    for body in [json!({}), json!({ "query": "" }), json!({ "variables": { "id": ids::MEDIUM_SESSION } })] {
        let (status, response) = post_json(&app, &body).await;
        assert_eq!(status, 400, "{body}: {response}");
        assert_eq!(error_codes(&response), ["BAD_REQUEST"], "{body}: {response}");
    }
    assert_eq!(upstream.log.count(), 0);
}

#[tokio::test]
async fn a_query_deeper_than_the_limit_is_refused_before_it_runs() {
    let (upstream, app) = spawn_sample().await;
    for query in [nested_rooms(6), nested_of_type(20)] {
        let body = app.query(&query, json!({})).await;
        assert_eq!(error_codes(&body), ["QUERY_TOO_DEEP"], "{query}: {body}");
        assert!(body.get("data").is_none(), "{body}");
    }
    assert_eq!(upstream.log.count(), 0);
    // Within the limit the same shapes run.
    for query in [nested_rooms(1), nested_of_type(5)] {
        let body = app.query(&query, json!({})).await;
        assert!(body.get("errors").is_none(), "{query}: {body}");
    }
}

#[tokio::test]
async fn a_query_more_complex_than_the_limit_is_refused_before_it_runs() {
    let (upstream, app) = spawn_sample_with(|c| c.max_complexity = 100).await;
    let query = "query($id: ID!) { roomSession(id: $id) { participants(first: 100) { nodes { id } } } }";
    let body = app.query(query, json!({ "id": ids::MEDIUM_SESSION })).await;
    assert_eq!(error_codes(&body), ["QUERY_TOO_EXPENSIVE"], "{body}");
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(upstream.log.count(), 0);
}

#[tokio::test]
async fn aliased_copies_of_a_large_connection_are_refused_before_any_upstream_request() {
    // Arrange: one copy is acceptable on its own; fifty multiply the cost.
    let (upstream, app) = spawn_sample().await;
    let copy = |i: usize| format!("a{i}: roomSession(id: $id) {{ participants(first: 1000) {{ nodes {{ id }} }} }}");
    let fifty: Vec<String> = (0..50).map(copy).collect();
    let query = format!("query($id: ID!) {{ {} }}", fifty.join(" "));

    // Act
    let body = app.query(&query, json!({ "id": ids::LARGE_SESSION })).await;

    // Assert
    assert_eq!(error_codes(&body), ["QUERY_TOO_EXPENSIVE"], "{body}");
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(upstream.log.count(), 0);
    let one = app.query(&format!("query($id: ID!) {{ {} }}", copy(0)), json!({ "id": ids::LARGE_SESSION })).await;
    assert!(one.get("errors").is_none(), "{one}");
}

#[tokio::test]
async fn a_query_needing_more_upstream_requests_than_allowed_fails_as_too_expensive() {
    // Arrange: `first: 600` needs three pages of 250.
    let (upstream, app) = spawn_sample_with(|c| c.max_upstream_requests = 2).await;

    // Act
    let body = app.query(PARTICIPANTS_PAGE, json!({ "id": ids::LARGE_SESSION, "first": 600 })).await;

    // Assert
    assert_eq!(error_codes(&body), ["QUERY_TOO_EXPENSIVE"], "{body}");
    assert!(upstream.log.count() <= 2, "{:?}", upstream.log.requests());
    upstream.log.clear();
    let body = app.query(PARTICIPANTS_PAGE, json!({ "id": ids::LARGE_SESSION, "first": 500 })).await;
    assert!(body.get("errors").is_none(), "two pages are within the budget: {body}");
    assert_eq!(upstream.log.count(), 2);
}

#[tokio::test]
async fn a_batch_above_the_limit_is_refused_whole() {
    let (upstream, app) = spawn_sample().await;
    let operation = json!({ "query": UPSTREAM_QUERY, "variables": { "id": ids::MEDIUM_SESSION } });

    let (status, body) = post_json(&app, &Value::Array(vec![operation.clone(); 11])).await;

    assert_eq!(status, 400, "{body}");
    assert_eq!(error_codes(&body), ["BATCH_TOO_LARGE"], "{body}");
    assert_eq!(upstream.log.count(), 0);
    let (status, body) = post_json(&app, &Value::Array(vec![json!({ "query": "{ __typename }" }); 10])).await;
    assert_eq!(status, 200);
    assert_eq!(body.as_array().map(Vec::len), Some(10), "{body}");
}

#[tokio::test]
async fn an_unknown_field_fails_validation() {
    let (upstream, app) = spawn_sample().await;
    let query = "query($id: ID!) { roomSession(id: $id) { participants { nodes { id password } } } }";
    let body = app.query(query, json!({ "id": ids::MEDIUM_SESSION })).await;
    assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"], "{body}");
    assert_eq!(upstream.log.count(), 0);
}

#[tokio::test]
async fn a_syntax_error_fails_parsing() {
    let (upstream, app) = spawn_sample().await;
    for query in ["{ roomSession(id: ", "query { }", "{ __typename"] {
        let body = app.query(query, json!({})).await;
        assert_eq!(error_codes(&body), ["GRAPHQL_PARSE_FAILED"], "{query}: {body}");
    }
    assert_eq!(upstream.log.count(), 0);
}

#[tokio::test]
async fn variables_that_do_not_fit_their_type_are_bad_user_input() {
    // Arrange
    let (upstream, app) = spawn_sample().await;
    let by_date = "query($id: ID!, $d: Date) \
        { roomSession(id: $id) { participants(filter: { dateJoinedAt: { eq: $d } }) { totalCount } } }";
    let cases = [
        (PARTICIPANTS_PAGE, json!({ "id": ids::MEDIUM_SESSION, "first": "ten" })),
        (PARTICIPANTS_PAGE, json!({ "id": ids::MEDIUM_SESSION, "first": "10" })),
        (PARTICIPANTS_PAGE, json!({ "id": ids::MEDIUM_SESSION, "first": 1.5 })),
        (PARTICIPANTS_PAGE, json!({ "id": ids::MEDIUM_SESSION, "first": true })),
        (PARTICIPANTS_PAGE, json!({ "id": ids::MEDIUM_SESSION, "first": 3_000_000_000u64 })),
        (PARTICIPANTS_PAGE, json!({ "id": ids::MEDIUM_SESSION, "last": "5" })),
        (PARTICIPANTS_PAGE, json!({ "id": ids::MEDIUM_SESSION, "filter": { "context": 5 } })),
        (PARTICIPANTS_PAGE, json!({ "id": ids::MEDIUM_SESSION, "filter": { "nope": "x" } })),
        (by_date, json!({ "id": ids::MEDIUM_SESSION, "d": "2024-02-30" })),
        (by_date, json!({ "id": ids::MEDIUM_SESSION, "d": 20240201 })),
    ];

    // Act
    let mut wrong = Vec::new();
    for (query, variables) in cases {
        let body = app.query(query, variables.clone()).await;
        let codes = error_codes(&body);
        if codes.is_empty() || codes.iter().any(|c| c != "BAD_USER_INPUT") || body.get("data").is_some() {
            wrong.push(format!("{variables} -> {body}"));
        }
    }

    // Assert: every error a client sees for these is BAD_USER_INPUT, and nothing ran.
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(upstream.log.count(), 0);
}

#[tokio::test]
async fn a_missing_required_variable_is_bad_user_input_before_execution() {
    let (upstream, app) = spawn_sample().await;

    let body = app.query(PARTICIPANTS_PAGE, json!({ "first": 2 })).await;

    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert!(body.get("data").is_none(), "a request error has no data: {body}");
    assert_eq!(upstream.log.count(), 0);
}

const INTROSPECTION_QUERIES: [&str; 2] =
    ["{ __schema { queryType { name } } }", r#"{ __type(name: "Query") { name } }"#];

#[tokio::test]
async fn with_introspection_off_the_schema_is_not_revealed_and_queries_still_run() {
    let (_upstream, app) = spawn_sample_with(|c| c.introspection = false).await;
    for query in INTROSPECTION_QUERIES {
        let body = app.query(query, json!({})).await;
        let data = body.get("data").cloned().unwrap_or(Value::Null);
        assert!(data.get("__schema").is_none_or(Value::is_null), "{body}");
        assert!(data.get("__type").is_none_or(Value::is_null), "{body}");
    }
    let body = app.query(UPSTREAM_QUERY, json!({ "id": ids::MEDIUM_SESSION })).await;
    assert_eq!(body["data"]["roomSession"]["participants"]["nodes"].as_array().map(Vec::len), Some(2), "{body}");
    assert_eq!(app.query("{ __typename }", json!({})).await["data"]["__typename"], "Query");
}

#[tokio::test]
async fn with_introspection_off_an_introspection_query_is_refused_with_an_error() {
    let (_upstream, app) = spawn_sample_with(|c| c.introspection = false).await;
    for query in INTROSPECTION_QUERIES {
        let body = app.query(query, json!({})).await;
        let codes = error_codes(&body);
        assert!(!codes.is_empty() && !codes.iter().any(|c| c == "<none>"), "{query}: {body}");
    }
}
