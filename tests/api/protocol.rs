//! GraphQL over HTTP: media types and status codes, GET and batches, CORS, and Apollo's
//! automatic persisted queries.

use http::HeaderValue;
use serde_json::{json, Value};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{error_codes, ids, spawn_app, spawn_app_with, spawn_sample, TestApp};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const SESSION: &str = "7b61621f-5fe4-4aad-ab11-9fd19e272e73";
const ORIGIN: &str = "https://app.example";

async fn post(app: &TestApp, accept: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = app.http.post(app.url()).json(body);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request.send().await.unwrap()
}

fn content_type(response: &reqwest::Response) -> String {
    response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// Status, content type and parsed body.
async fn answer(response: reqwest::Response) -> (u16, String, Value) {
    let (status, content_type) = (response.status().as_u16(), content_type(&response));
    (status, content_type, response.json().await.unwrap())
}

/// Requests that cannot execute: they fail parsing or validation, or name no operation.
fn request_errors() -> [Value; 4] {
    [
        json!({ "query": "{ __typename" }),
        json!({ "query": "{ nope }" }),
        json!({ "query": "query($n: Int) { rooms(first: $n) { totalCount } }", "variables": { "n": "x" } }),
        json!({ "query": "query A { __typename }", "operationName": "B" }),
    ]
}

#[tokio::test]
async fn the_graphql_response_media_type_is_served_to_clients_that_accept_it() {
    let (_upstream, app) = spawn_sample().await;
    for accept in [GRAPHQL_RESPONSE, "application/graphql-response+json, application/json;q=0.9"] {
        let (status, content_type, body) =
            answer(post(&app, Some(accept), &json!({ "query": "{ __typename }" })).await).await;
        assert_eq!(status, 200);
        assert!(content_type.starts_with(GRAPHQL_RESPONSE), "{accept}: {content_type}");
        assert_eq!(body, json!({ "data": { "__typename": "Query" } }));
    }
}

#[tokio::test]
async fn with_graphql_response_json_a_request_that_cannot_execute_is_a_400_without_data() {
    let (upstream, app) = spawn_sample().await;
    for request in request_errors() {
        let (status, content_type, body) = answer(post(&app, Some(GRAPHQL_RESPONSE), &request).await).await;
        assert_eq!(status, 400, "{request}: {body}");
        assert!(content_type.starts_with(GRAPHQL_RESPONSE), "{content_type}");
        assert!(body.get("data").is_none(), "{request}: {body}");
        assert!(!error_codes(&body).is_empty(), "{request}: {body}");
    }
    assert_eq!(upstream.log.count(), 0);
}

#[tokio::test]
async fn with_graphql_response_json_a_missing_required_variable_is_a_400_without_data() {
    // Coercing variable values is part of the request, not of executing a field.
    let (upstream, app) = spawn_sample().await;
    let request = json!({ "query": "query($id: ID!) { roomSession(id: $id) { id } }", "variables": {} });

    let (status, _, body) = answer(post(&app, Some(GRAPHQL_RESPONSE), &request).await).await;

    assert_eq!(status, 400, "{body}");
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(upstream.log.count(), 0);
}

#[tokio::test]
async fn with_graphql_response_json_a_field_error_is_a_200_with_data() {
    // Arrange: every upstream list answers 404, every room list 500.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("/participants$"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("GET")).and(path_regex("/rooms$")).respond_with(ResponseTemplate::new(500)).mount(&server).await;
    let app = spawn_app_with(&server.uri(), Some("KEY_TEST"), |c| c.upstream_retry_base_ms = 10).await;
    let partial = json!({
        "query": "query($id: ID!) { roomSession(id: $id) { participants(first: 1) { totalCount } } }",
        "variables": { "id": SESSION },
    });
    // `rooms` is non-null at the root, so its error nulls all of `data`, which is still present.
    let whole = json!({ "query": "{ rooms(first: 1) { totalCount } }" });

    // Act
    let (partial_status, content_type, partial) = answer(post(&app, Some(GRAPHQL_RESPONSE), &partial).await).await;
    let (whole_status, _, whole) = answer(post(&app, Some(GRAPHQL_RESPONSE), &whole).await).await;

    // Assert
    assert_eq!(partial_status, 200, "{partial}");
    assert!(content_type.starts_with(GRAPHQL_RESPONSE));
    assert_eq!(partial["data"], json!({ "roomSession": null }), "{partial}");
    assert_eq!(error_codes(&partial), ["NOT_FOUND"]);
    assert_eq!(whole_status, 200, "{whole}");
    assert_eq!(whole.get("data"), Some(&Value::Null), "{whole}");
    assert_eq!(error_codes(&whole), ["UPSTREAM_ERROR"]);
}

#[tokio::test]
async fn plain_json_is_the_default_and_answers_200_even_when_the_request_cannot_execute() {
    let (_upstream, app) = spawn_sample().await;
    for accept in [None, Some("application/json"), Some("*/*"), Some("application/json, text/plain")] {
        let (status, content_type, body) =
            answer(post(&app, accept, &json!({ "query": "{ __typename }" })).await).await;
        assert_eq!((status, body), (200, json!({ "data": { "__typename": "Query" } })), "{accept:?}");
        assert!(content_type.starts_with("application/json"), "{accept:?}: {content_type}");
        for request in request_errors() {
            let (status, content_type, body) = answer(post(&app, accept, &request).await).await;
            assert_eq!(status, 200, "{accept:?} {request}: {body}");
            assert!(content_type.starts_with("application/json"), "{content_type}");
            assert!(!error_codes(&body).is_empty(), "{body}");
        }
    }
}

#[tokio::test]
async fn a_client_accepting_neither_json_media_type_is_answered_406() {
    let (upstream, app) = spawn_sample().await;
    let query = format!(r#"{{ roomSession(id: "{}") {{ participants {{ totalCount }} }} }}"#, ids::MEDIUM_SESSION);

    let by_post = post(&app, Some("text/plain"), &json!({ "query": query })).await;
    let by_get =
        app.http.get(app.url()).header("accept", "text/plain").query(&[("query", &query)]).send().await.unwrap();

    assert_eq!(by_post.status(), 406);
    assert_eq!(by_get.status(), 406);
    assert_eq!(upstream.log.count(), 0);
}

#[tokio::test]
async fn a_get_request_carries_its_query_and_variables_in_the_url() {
    let (_upstream, app) = spawn_sample().await;
    let query =
        "query($id: ID!, $n: Int) { roomSession(id: $id) { participants(first: $n) { totalCount nodes { id } } } }";
    let variables = json!({ "id": ids::MEDIUM_SESSION, "n": 2 }).to_string();

    let response = app
        .http
        .get(app.url())
        .header("apollo-require-preflight", "true")
        .query(&[("query", query), ("variables", &variables)])
        .send()
        .await
        .unwrap();

    let (status, content_type, body) = answer(response).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("application/json"));
    let participants = &body["data"]["roomSession"]["participants"];
    assert_eq!(participants["totalCount"], 53, "{body}");
    assert_eq!(participants["nodes"].as_array().map(Vec::len), Some(2), "{body}");
}

#[tokio::test]
async fn a_get_request_runs_the_operation_its_operation_name_parameter_names() {
    let (_upstream, app) = spawn_sample().await;
    let query = "query A { a: __typename } query B { b: __typename }";

    let response = app
        .http
        .get(app.url())
        .header("apollo-require-preflight", "true")
        .query(&[("query", query), ("operationName", "B")])
        .send()
        .await
        .unwrap();

    let (_, _, body) = answer(response).await;
    assert_eq!(body, json!({ "data": { "b": "Query" } }));
}

#[tokio::test]
async fn a_get_request_without_a_query_is_a_bad_request() {
    let (_upstream, app) = spawn_sample().await;
    for accept in [None, Some("application/json"), Some(GRAPHQL_RESPONSE)] {
        let mut request = app.http.get(app.url()).header("apollo-require-preflight", "true");
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let (status, _, body) = answer(request.send().await.unwrap()).await;
        assert_eq!(status, 400, "{accept:?}: {body}");
        assert_eq!(error_codes(&body), ["BAD_REQUEST"], "{accept:?}: {body}");
    }
}

#[tokio::test]
async fn other_methods_on_the_graphql_endpoint_are_not_allowed() {
    let (_upstream, app) = spawn_sample().await;
    for method in [reqwest::Method::PUT, reqwest::Method::DELETE, reqwest::Method::PATCH] {
        let response = app
            .http
            .request(method.clone(), app.url())
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method}");
    }
}

#[tokio::test]
async fn a_batch_is_answered_in_order_with_each_operations_own_result() {
    let (_upstream, app) = spawn_sample().await;
    let batch = json!([
        { "query": "{ first: __typename }" },
        { "query": "{ nope }" },
        { "query": "query($id: ID!) { roomSession(id: $id) { id } }", "variables": { "id": ids::MEDIUM_SESSION } },
    ]);

    let (status, _, body) = answer(post(&app, None, &batch).await).await;

    assert_eq!(status, 200);
    let answers = body.as_array().unwrap();
    assert_eq!(answers.len(), 3, "{body}");
    assert_eq!(answers[0], json!({ "data": { "first": "Query" } }));
    assert_eq!(error_codes(&answers[1]), ["GRAPHQL_VALIDATION_FAILED"]);
    assert_eq!(answers[2], json!({ "data": { "roomSession": { "id": ids::MEDIUM_SESSION } } }));
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.http
        .request(reqwest::Method::OPTIONS, app.url())
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

/// The comma-separated values of a header, lower-cased.
fn header_list(response: &reqwest::Response, name: &str) -> Vec<String> {
    header(response, name).unwrap_or("").split(',').map(|v| v.trim().to_ascii_lowercase()).collect()
}

async fn with_origin_allowed() -> (wiremock::MockServer, TestApp) {
    let server = MockServer::start().await;
    let app =
        spawn_app_with(&server.uri(), None, |c| c.cors_allowed_origins = vec![HeaderValue::from_static(ORIGIN)]).await;
    (server, app)
}

#[tokio::test]
async fn without_configured_origins_browsers_get_no_cors_permission() {
    let server = MockServer::start().await;
    let app = spawn_app(&server.uri(), None).await;

    let preflight = preflight(&app, ORIGIN).await;
    let post = app.http.post(app.url()).header("origin", ORIGIN).json(&json!({ "query": "{ __typename }" })).send();
    let post = post.await.unwrap();

    assert_eq!(header(&preflight, "access-control-allow-origin"), None);
    assert_eq!(header(&post, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn a_configured_origin_gets_a_preflight_allowing_credentials_post_and_its_headers() {
    let (_server, app) = with_origin_allowed().await;

    let response = preflight(&app, ORIGIN).await;

    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(header(&response, "access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(header(&response, "access-control-allow-credentials"), Some("true"));
    let methods = header_list(&response, "access-control-allow-methods");
    assert!(methods.contains(&"post".to_owned()), "{methods:?}");
    let headers = header_list(&response, "access-control-allow-headers");
    for wanted in ["authorization", "content-type"] {
        assert!(headers.contains(&wanted.to_owned()), "{wanted} not in {headers:?}");
    }
}

#[tokio::test]
async fn only_a_configured_origin_is_allowed_to_read_answers() {
    let (_server, app) = with_origin_allowed().await;
    let from = |origin: &'static str| {
        app.http.post(app.url()).header("origin", origin).json(&json!({ "query": "{ __typename }" })).send()
    };

    let allowed = from(ORIGIN).await.unwrap();
    let other = from("https://evil.example").await.unwrap();
    let other_preflight = preflight(&app, "https://evil.example").await;

    assert_eq!(header(&allowed, "access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(header(&allowed, "access-control-allow-credentials"), Some("true"));
    assert_eq!(header(&other, "access-control-allow-origin"), None);
    assert_eq!(header(&other_preflight, "access-control-allow-origin"), None);
}

/// `printf '%s' "$APQ_QUERY" | sha256sum` of exactly this text.
const APQ_QUERY: &str = "query ApqProbe($id: ID!) { roomSession(id: $id) { id } }";
const APQ_HASH: &str = "daec8aafca08f7fc3c518726a6491cc2615838f5486aee0b3d16033b277de8ee";

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

#[tokio::test]
async fn a_persisted_query_is_unknown_until_sent_once_then_runs_by_its_hash() {
    // Arrange
    let (upstream, app) = spawn_sample().await;
    let variables = json!({ "id": ids::MEDIUM_SESSION });
    let expected = json!({ "data": { "roomSession": { "id": ids::MEDIUM_SESSION } } });

    // Act
    let (_, _, unknown) =
        answer(post(&app, None, &json!({ "extensions": persisted(APQ_HASH), "variables": variables })).await).await;
    let (_, _, registered) = answer(
        post(&app, None, &json!({ "query": APQ_QUERY, "extensions": persisted(APQ_HASH), "variables": variables }))
            .await,
    )
    .await;
    let (_, _, by_hash) =
        answer(post(&app, None, &json!({ "extensions": persisted(APQ_HASH), "variables": variables })).await).await;
    let extensions = persisted(APQ_HASH).to_string();
    let by_get = app
        .http
        .get(app.url())
        .header("apollo-require-preflight", "true")
        .query(&[("extensions", extensions), ("variables", variables.to_string())]);
    let (get_status, _, by_get) = answer(by_get.send().await.unwrap()).await;

    // Assert
    assert_eq!(error_codes(&unknown), ["PERSISTED_QUERY_NOT_FOUND"], "{unknown}");
    assert_eq!(unknown["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(registered, expected);
    assert_eq!(by_hash, expected);
    assert_eq!((get_status, by_get), (200, expected));
    assert_eq!(upstream.log.count(), 0);
}

#[tokio::test]
async fn a_persisted_query_whose_hash_does_not_match_is_refused_and_not_stored() {
    let (_upstream, app) = spawn_sample().await;
    let wrong = "0".repeat(64);

    let (_, _, mismatched) =
        answer(post(&app, None, &json!({ "query": "{ __typename }", "extensions": persisted(&wrong) })).await).await;
    let (_, _, later) = answer(post(&app, None, &json!({ "extensions": persisted(&wrong) })).await).await;
    // The same with a document already cached by its text.
    let (_, _, plain) = answer(post(&app, None, &json!({ "query": "{ __typename }" })).await).await;
    let (_, _, cached_mismatched) =
        answer(post(&app, None, &json!({ "query": "{ __typename }", "extensions": persisted(&wrong) })).await).await;

    assert!(!error_codes(&mismatched).is_empty(), "{mismatched}");
    assert!(mismatched.get("data").is_none(), "{mismatched}");
    assert_eq!(error_codes(&later), ["PERSISTED_QUERY_NOT_FOUND"], "{later}");
    assert_eq!(plain, json!({ "data": { "__typename": "Query" } }));
    assert_eq!(error_codes(&cached_mismatched), error_codes(&mismatched), "{cached_mismatched}");
    assert!(cached_mismatched.get("data").is_none(), "{cached_mismatched}");
}
