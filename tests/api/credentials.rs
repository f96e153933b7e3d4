//! The caller's credential goes upstream unchanged; the configured key is the fallback.

use serde_json::json;
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{error_codes, spawn_app};

const QUERY: &str = "query($id: ID!) { roomSession(id: $id) { participants(first: 1) { totalCount } } }";
const SESSION: &str = "7b61621f-5fe4-4aad-ab11-9fd19e272e73";

async fn upstream_expecting(authorization: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("authorization", authorization))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": [], "meta": { "total_results": 7 } })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(401)).mount(&server).await;
    server
}

#[tokio::test]
async fn the_clients_authorization_header_is_forwarded_unchanged_even_with_a_configured_key() {
    let server = upstream_expecting("Bearer KEYclient_Own.Token==").await;
    let app = spawn_app(&server.uri(), Some("KEYconfigured")).await;
    let body: serde_json::Value =
        app.post(QUERY, json!({ "id": SESSION }), Some("Bearer KEYclient_Own.Token==")).await.json().await.unwrap();
    assert_eq!(body["data"]["roomSession"]["participants"]["totalCount"], 7, "{body}");
}

#[tokio::test]
async fn without_a_header_the_configured_key_is_sent_as_a_bearer_token() {
    let server = upstream_expecting("Bearer KEYconfigured").await;
    let app = spawn_app(&server.uri(), Some("KEYconfigured")).await;
    let body = app.query(QUERY, json!({ "id": SESSION })).await;
    assert_eq!(body["data"]["roomSession"]["participants"]["totalCount"], 7, "{body}");
}

#[tokio::test]
async fn with_no_credential_at_all_the_field_fails_unauthenticated_and_nothing_is_sent() {
    let server = MockServer::start().await;
    let app = spawn_app(&server.uri(), None).await;
    let body = app.query(QUERY, json!({ "id": SESSION })).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    assert_eq!(server.received_requests().await.unwrap().len(), 0);
}

#[tokio::test]
async fn a_rejected_credential_never_appears_in_the_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({ "errors": [{ "code": "10009", "title": "Authentication failed" }] })),
        )
        .mount(&server)
        .await;
    let app = spawn_app(&server.uri(), Some("KEYconfigured_secret")).await;
    let text = app.post(QUERY, json!({ "id": SESSION }), Some("Bearer KEYclient_secret")).await.text().await.unwrap();
    assert!(text.contains("UNAUTHENTICATED"), "{text}");
    assert!(!text.contains("KEYclient_secret") && !text.contains("KEYconfigured_secret"), "{text}");
}
