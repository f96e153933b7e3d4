//! Which answer each real client gets for its exact `Accept` header (one JSON body, or an SSE
//! stream), and the method rule that comes before everything else: a mutation over GET is
//! `405` whatever the request's headers.

use serde_json::{json, Value};

use telnyx_rooms_graphql::sample_upstream::SAMPLE_API_KEY;

use crate::helpers::{error_codes, ids, spawn_sample, sse_frames, TestApp};

/// What urql sends with every operation (and with `fetchSubscriptions`).
const URQL: &str = "application/graphql-response+json, application/graphql+json, application/json, \
                    text/event-stream, multipart/mixed";
/// Apollo Client's `HttpLink`.
const APOLLO: &str = "application/graphql-response+json,application/json;q=0.9";
/// graphql-sse's client, and a browser's `EventSource`.
const EVENT_STREAM: &str = "text/event-stream";

const QUERY: &str = "query($id: ID!) { roomSession(id: $id) { id participants(first: 1) { totalCount } } }";

fn variables() -> Value {
    json!({ "id": ids::SINGLE_SESSION })
}

/// The query over GET and over POST, with `accept` and a caller's own key (so CSRF
/// prevention is not what is tested here).
async fn both_methods(app: &TestApp, accept: &str) -> [reqwest::Response; 2] {
    let authorization = format!("Bearer {SAMPLE_API_KEY}");
    let get = app
        .http
        .get(app.url())
        .query(&[("query", QUERY), ("variables", &variables().to_string())])
        .header("accept", accept)
        .header("authorization", &authorization);
    let post = app
        .http
        .post(app.url())
        .json(&json!({ "query": QUERY, "variables": variables() }))
        .header("accept", accept)
        .header("authorization", &authorization);
    [get.send().await.unwrap(), post.send().await.unwrap()]
}

fn content_type(response: &reqwest::Response) -> String {
    response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// The `next` payloads and whether `complete` ended the stream, from a whole SSE body.
fn events(text: &str) -> (Vec<Value>, bool) {
    let frames = sse_frames(text);
    let next = frames.iter().filter(|f| f.event == "next").map(|f| serde_json::from_str(&f.data).unwrap()).collect();
    (next, frames.last().is_some_and(|frame| frame.event == "complete"))
}

#[tokio::test]
async fn a_query_from_a_client_that_accepts_a_stream_but_prefers_json_is_answered_with_one_json_body() {
    let (_upstream, app) = spawn_sample().await;
    for accept in [URQL, APOLLO] {
        for response in both_methods(&app, accept).await {
            assert_eq!(response.status(), 200, "{accept}");
            assert!(content_type(&response).starts_with("application/graphql-response+json"), "{accept}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["data"]["roomSession"]["participants"]["totalCount"], 1, "{accept}: {body}");
        }
    }
}

#[tokio::test]
async fn a_client_that_prefers_a_stream_gets_even_a_query_as_one_event_then_complete() {
    let (_upstream, app) = spawn_sample().await;
    for response in both_methods(&app, EVENT_STREAM).await {
        assert_eq!(response.status(), 200);
        assert!(content_type(&response).starts_with("text/event-stream"), "{}", content_type(&response));
        let text = response.text().await.unwrap();
        let (next, completed) = events(&text);
        assert_eq!(next.len(), 1, "{text}");
        assert_eq!(next[0]["data"]["roomSession"]["participants"]["totalCount"], 1, "{next:?}");
        assert!(completed, "{text:?}");
    }
}

#[tokio::test]
async fn a_subscription_from_a_client_that_merely_accepts_a_stream_streams() {
    let (_upstream, app) = crate::live::spawn_live(|_| {}).await;
    let subscription = format!("subscription {{ roomEvents(roomId: \"{}\") {{ __typename id }} }}", ids::ROOM);
    let get = app.http.get(app.url()).query(&[("query", &subscription)]).header("accept", URQL);
    let post = app.http.post(app.url()).json(&json!({ "query": subscription })).header("accept", URQL);
    for (request, event) in [(get, "ev-urql-get"), (post, "ev-urql-post")] {
        let authorization = format!("Bearer {SAMPLE_API_KEY}");
        let mut response = request.header("authorization", authorization).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(content_type(&response).starts_with("text/event-stream"), "{}", content_type(&response));
        crate::live::Ws::settle().await;
        assert_eq!(crate::live::deliver(&app, &crate::live::joined(event, ids::ROOM)).await, 200);
        let mut text = String::new();
        while !text.contains(event) {
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), response.chunk()).await;
            text.push_str(std::str::from_utf8(&chunk.unwrap().unwrap().unwrap()).unwrap());
        }
        assert!(sse_frames(&text).iter().any(|frame| frame.event == "next" && frame.data.contains(event)), "{text}");
    }
}

#[tokio::test]
async fn a_mutation_over_get_is_405_with_allow_post_whatever_its_headers_and_never_runs() {
    let (upstream, app) = spawn_sample().await;
    let mutation = format!(
        "mutation {{ endRoomSession(input: {{ sessionId: \"{}\" }}) {{ clientMutationId }} }}",
        ids::ACTIVE_SESSION
    );
    let header_sets: [&[(&str, &str)]; 6] = [
        &[],
        &[("accept", URQL)],
        &[("accept", EVENT_STREAM)],
        &[("accept", "text/plain")],
        &[("content-type", "text/plain")],
        &[("authorization", "Bearer any-key"), ("apollo-require-preflight", "true")],
    ];
    for headers in header_sets {
        let mut request = app.http.get(app.url()).query(&[("query", &mutation)]);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 405, "{headers:?}");
        assert_eq!(response.headers()["allow"], "POST", "{headers:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_codes(&body), ["METHOD_NOT_ALLOWED"], "{headers:?}: {body}");
    }
    assert_eq!(upstream.log.count(), 0, "nothing reached Telnyx");
}

#[tokio::test]
async fn a_query_over_get_still_meets_csrf_prevention_once_the_method_rule_has_passed() {
    let (upstream, app) = spawn_sample().await;
    let response =
        app.http.get(app.url()).query(&[("query", "{ rooms(first: 1) { totalCount } }")]).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_codes(&body), ["BAD_REQUEST"], "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("cross-site request forgery"), "{body}");
    assert_eq!(upstream.log.count(), 0);
}
