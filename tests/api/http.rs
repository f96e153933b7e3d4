//! The HTTP surface: POST and GET queries, GraphiQL for browsers, health.

use serde_json::{json, Value};

use crate::helpers::{ids, spawn_sample};

#[tokio::test]
async fn a_query_can_be_sent_with_get() {
    let (_upstream, app) = spawn_sample().await;
    let query =
        format!(r#"{{ roomSession(id: "{}") {{ participants(first: 1) {{ totalCount }} }} }}"#, ids::MEDIUM_SESSION);
    let response = app
        .http
        .get(app.url())
        .header("apollo-require-preflight", "true")
        .query(&[("query", query)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["roomSession"]["participants"]["totalCount"], 53);
}

#[tokio::test]
async fn a_browser_gets_graphiql_on_get_graphql() {
    let (_upstream, app) = spawn_sample().await;
    let response = app.http.get(app.url()).header("accept", "text/html,application/xhtml+xml").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(response.text().await.unwrap().to_lowercase().contains("graphiql"));
}

#[tokio::test]
async fn health_answers_ok() {
    let (_upstream, app) = spawn_sample().await;
    let response = app.http.get(format!("http://{}/health", app.addr)).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_batch_of_queries_is_answered_in_order() {
    let (_upstream, app) = spawn_sample().await;
    let batch = json!([{ "query": "{ a: __typename }" }, { "query": "{ b: __typename }" }]);
    let body: Value = app.http.post(app.url()).json(&batch).send().await.unwrap().json().await.unwrap();
    assert_eq!(body, json!([{ "data": { "a": "Query" } }, { "data": { "b": "Query" } }]));
}
