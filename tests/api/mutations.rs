//! Mutations against a mock upstream that records what it receives: the exact request each
//! mutation sends, validation with nothing sent, the never-twice rule, serial execution.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{error_codes, spawn_app_with, TestApp};

const ROOM: &str = "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0";
const SESSION: &str = "7b61621f-62e0-4aad-ab11-9fd19e272e74";
const P1: &str = "7b61621f-62e0-4aad-ab11-9fd19e272e73";
const P2: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

fn room_body() -> Value {
    json!({ "data": {
        "id": ROOM, "unique_name": "My room", "max_participants": 10, "enable_recording": false,
        "webhook_event_url": null, "webhook_event_failover_url": "", "webhook_timeout_secs": null,
        "created_at": "2026-11-30T09:46:20.954863Z", "updated_at": "2026-11-30T09:46:20.954863Z",
        "record_type": "room",
    }})
}

fn token_body() -> Value {
    json!({ "data": {
        "token": "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ0b2tlbiJ9.c2lnbmF0dXJlLXRva2Vu",
        "token_expires_at": "2026-11-30T10:00:00Z",
        "refresh_token": "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJyZWZyZXNoIn0.c2lnbmF0dXJlLXJlZnJlc2g",
        "refresh_token_expires_at": "2026-11-30T11:00:00Z",
    }})
}

/// A mock Telnyx answering every write as the spec says, and reads of the session.
async fn telnyx() -> MockServer {
    let server = MockServer::start().await;
    mount(&server).await;
    server
}

async fn mount(server: &MockServer) {
    let answers = [
        ("POST", "/rooms".to_owned(), ResponseTemplate::new(201).set_body_json(room_body())),
        ("PATCH", format!("/rooms/{ROOM}"), ResponseTemplate::new(200).set_body_json(room_body())),
        ("DELETE", format!("/rooms/{ROOM}"), ResponseTemplate::new(204)),
        (
            "POST",
            format!("/rooms/{ROOM}/actions/generate_join_client_token"),
            ResponseTemplate::new(201).set_body_json(token_body()),
        ),
        (
            "POST",
            format!("/rooms/{ROOM}/actions/refresh_client_token"),
            ResponseTemplate::new(201).set_body_json(token_body()),
        ),
    ];
    for (verb, route, response) in answers {
        Mock::given(method(verb)).and(path(route)).respond_with(response).mount(server).await;
    }
    for action in ["end", "kick", "mute", "unmute"] {
        Mock::given(method("POST"))
            .and(path(format!("/room_sessions/{SESSION}/actions/{action}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "result": "ok" } })))
            .mount(server)
            .await;
    }
    let session = json!({ "data": { "id": SESSION, "room_id": ROOM, "active": false } });
    Mock::given(method("GET"))
        .and(path(format!("/room_sessions/{SESSION}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(session))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rooms"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": [], "meta": { "total_results": 4 } })))
        .mount(server)
        .await;
}

async fn app_for(server: &MockServer) -> TestApp {
    spawn_app_with(&server.uri(), Some("KEY_TEST"), |c| {
        c.upstream_timeout_ms = 300;
        c.upstream_retry_base_ms = 10;
    })
    .await
}

/// Every request the mock received: method, path, and JSON body (or null).
async fn received(server: &MockServer) -> Vec<(String, String, Value)> {
    let requests: Vec<Request> = server.received_requests().await.unwrap();
    requests
        .iter()
        .map(|r| {
            let body = if r.body.is_empty() { Value::Null } else { serde_json::from_slice(&r.body).unwrap() };
            (r.method.to_string(), r.url.path().to_owned(), body)
        })
        .collect()
}

fn writes(requests: Vec<(String, String, Value)>) -> Vec<(String, String, Value)> {
    requests.into_iter().filter(|(verb, ..)| verb != "GET").collect()
}

#[tokio::test]
async fn each_mutation_sends_exactly_the_request_telnyx_documents() {
    let server = telnyx().await;
    let app = app_for(&server).await;
    let cases = [
        (
            "mutation { createRoom(input: { uniqueName: \"My room\", maxParticipants: 10, enableRecording: true, \
             webhookEventUrl: \"https://example.com/hooks\", webhookEventFailoverUrl: \"https://failover.example.com\", \
             webhookTimeoutSecs: 25 }) { room { id } } }",
            ("POST", "/rooms".to_owned()),
            json!({ "unique_name": "My room", "max_participants": 10, "enable_recording": true,
                    "webhook_event_url": "https://example.com/hooks",
                    "webhook_event_failover_url": "https://failover.example.com", "webhook_timeout_secs": 25 }),
        ),
        // Fields left out are not sent: Telnyx applies its defaults.
        ("mutation { createRoom(input: {}) { room { id } } }", ("POST", "/rooms".to_owned()), json!({})),
        // PATCH: absent fields are not sent; null clears.
        (
            &format!(
                "mutation {{ updateRoom(input: {{ id: \"{ROOM}\", maxParticipants: 12, webhookEventUrl: null, \
                 webhookTimeoutSecs: null }}) {{ room {{ id }} }} }}"
            ),
            ("PATCH", format!("/rooms/{ROOM}")),
            json!({ "max_participants": 12, "webhook_event_url": "", "webhook_timeout_secs": null }),
        ),
        (
            &format!("mutation {{ updateRoom(input: {{ id: \"{ROOM}\", uniqueName: \"Renamed\" }}) {{ room {{ id }} }} }}"),
            ("PATCH", format!("/rooms/{ROOM}")),
            json!({ "unique_name": "Renamed" }),
        ),
        (&format!("mutation {{ deleteRoom(input: {{ id: \"{ROOM}\" }}) {{ deletedRoomId }} }}"), ("DELETE", format!("/rooms/{ROOM}")), Value::Null),
        (
            &format!("mutation {{ createRoomClientToken(input: {{ roomId: \"{ROOM}\" }}) {{ tokenExpiresAt }} }}"),
            ("POST", format!("/rooms/{ROOM}/actions/generate_join_client_token")),
            json!({}),
        ),
        (
            &format!(
                "mutation {{ createRoomClientToken(input: {{ roomId: \"{ROOM}\", tokenTtlSecs: 60, \
                 refreshTokenTtlSecs: 7200 }}) {{ tokenExpiresAt }} }}"
            ),
            ("POST", format!("/rooms/{ROOM}/actions/generate_join_client_token")),
            json!({ "token_ttl_secs": 60, "refresh_token_ttl_secs": 7200 }),
        ),
        (
            &format!(
                "mutation {{ refreshRoomClientToken(input: {{ roomId: \"{ROOM}\", refreshToken: \"abc.def.ghi\", \
                 tokenTtlSecs: 30 }}) {{ tokenExpiresAt }} }}"
            ),
            ("POST", format!("/rooms/{ROOM}/actions/refresh_client_token")),
            json!({ "refresh_token": "abc.def.ghi", "token_ttl_secs": 30 }),
        ),
        (
            &format!("mutation {{ endRoomSession(input: {{ sessionId: \"{SESSION}\" }}) {{ clientMutationId }} }}"),
            ("POST", format!("/room_sessions/{SESSION}/actions/end")),
            Value::Null,
        ),
        (
            &format!(
                "mutation {{ kickParticipants(input: {{ sessionId: \"{SESSION}\", participantIds: [\"{P1}\", \"{P2}\"] }}) \
                 {{ clientMutationId }} }}"
            ),
            ("POST", format!("/room_sessions/{SESSION}/actions/kick")),
            json!({ "participants": [P1, P2] }),
        ),
        (
            &format!(
                "mutation {{ muteParticipants(input: {{ sessionId: \"{SESSION}\", all: true, exclude: [\"{P1}\"] }}) \
                 {{ clientMutationId }} }}"
            ),
            ("POST", format!("/room_sessions/{SESSION}/actions/mute")),
            json!({ "participants": "all", "exclude": [P1] }),
        ),
        (
            &format!("mutation {{ unmuteParticipants(input: {{ sessionId: \"{SESSION}\", all: true }}) {{ clientMutationId }} }}"),
            ("POST", format!("/room_sessions/{SESSION}/actions/unmute")),
            json!({ "participants": "all" }),
        ),
        // `exclude: null` is what generated clients send for an unset optional list.
        (
            &format!(
                "mutation {{ unmuteParticipants(input: {{ sessionId: \"{SESSION}\", all: true, exclude: null }}) \
                 {{ clientMutationId }} }}"
            ),
            ("POST", format!("/room_sessions/{SESSION}/actions/unmute")),
            json!({ "participants": "all" }),
        ),
    ];
    for (query, (verb, route), body) in cases {
        server.reset().await;
        mount(&server).await;
        let response = app.query(query, json!({})).await;
        assert!(response.get("errors").is_none(), "{query}: {response}");
        assert_eq!(writes(received(&server).await), [(verb.to_owned(), route, body)], "{query}");
    }
}

#[tokio::test]
async fn invalid_arguments_are_refused_naming_the_argument_and_nothing_is_sent() {
    let server = telnyx().await;
    let app = app_for(&server).await;
    let cases = [
        ("createRoom(input: { maxParticipants: 1 })", "input.maxParticipants"),
        ("createRoom(input: { maxParticipants: 51 })", "input.maxParticipants"),
        ("createRoom(input: { webhookTimeoutSecs: 31 })", "input.webhookTimeoutSecs"),
        ("createRoom(input: { webhookEventUrl: \"example.com/hooks\" })", "input.webhookEventUrl"),
        ("createRoom(input: { webhookEventFailoverUrl: \"ftp://example.com\" })", "input.webhookEventFailoverUrl"),
        ("createRoom(input: { uniqueName: \"  \" })", "input.uniqueName"),
        ("updateRoom(input: { id: \"nope\", maxParticipants: 3 })", "input.id"),
        (&format!("updateRoom(input: {{ id: \"{ROOM}\" }})"), "input"),
        (&format!("updateRoom(input: {{ id: \"{ROOM}\", maxParticipants: null }})"), "input.maxParticipants"),
        ("deleteRoom(input: { id: \"../rooms\" })", "input.id"),
        (&format!("createRoomClientToken(input: {{ roomId: \"{ROOM}\", tokenTtlSecs: 9 }})"), "input.tokenTtlSecs"),
        (
            &format!("createRoomClientToken(input: {{ roomId: \"{ROOM}\", refreshTokenTtlSecs: 86401 }})"),
            "input.refreshTokenTtlSecs",
        ),
        (&format!("refreshRoomClientToken(input: {{ roomId: \"{ROOM}\", refreshToken: \"\" }})"), "input.refreshToken"),
        ("endRoomSession(input: { sessionId: \"x\" })", "input.sessionId"),
        (&format!("kickParticipants(input: {{ sessionId: \"{SESSION}\" }})"), "input"),
        (
            &format!("kickParticipants(input: {{ sessionId: \"{SESSION}\", all: true, participantIds: [\"{P1}\"] }})"),
            "input",
        ),
        (&format!("muteParticipants(input: {{ sessionId: \"{SESSION}\", participantIds: [] }})"), "input"),
        (&format!("muteParticipants(input: {{ sessionId: \"{SESSION}\", all: false }})"), "input"),
        (
            &format!("unmuteParticipants(input: {{ sessionId: \"{SESSION}\", participantIds: [\"{P1}\", \"bad\"] }})"),
            "input.participantIds[1]",
        ),
        (
            &format!("unmuteParticipants(input: {{ sessionId: \"{SESSION}\", all: true, exclude: [\"bad\"] }})"),
            "input.exclude[0]",
        ),
    ];
    for (field, argument) in cases {
        let query = format!("mutation {{ {field} {{ clientMutationId }} }}");
        let body = app.query(&query, json!({})).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{field}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(&format!("`{argument}`")), "{field}: {message}");
    }
    assert_eq!(received(&server).await, [], "nothing may be sent for input we can reject");
}

#[tokio::test]
async fn a_refresh_token_is_never_echoed_in_an_error() {
    let server = telnyx().await;
    let app = app_for(&server).await;
    let secret = "secret token with spaces";
    let query = format!("mutation {{ refreshRoomClientToken(input: {{ roomId: \"{ROOM}\", refreshToken: \"{secret}\" }}) {{ token }} }}");
    let body = app.query(&query, json!({})).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert!(!body.to_string().contains(secret), "{body}");
}

/// A server for one action that answers with `response` (after `delay`).
async fn kick_answering(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/room_sessions/{SESSION}/actions/kick")))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

const KICK: &str = "mutation { kickParticipants(input: { sessionId: \"7b61621f-62e0-4aad-ab11-9fd19e272e74\", all: true }) { clientMutationId } }";

#[tokio::test]
async fn a_write_that_may_have_arrived_is_never_sent_again_and_says_its_outcome_is_unknown() {
    let cases = [
        (ResponseTemplate::new(200).set_delay(Duration::from_secs(2)), "UPSTREAM_TIMEOUT"),
        (ResponseTemplate::new(503).set_body_json(json!({ "success": false, "message": "Error" })), "UPSTREAM_ERROR"),
        (ResponseTemplate::new(500), "UPSTREAM_ERROR"),
    ];
    for (response, code) in cases {
        let server = kick_answering(response).await;
        let app = app_for(&server).await;
        let body = app.query(KICK, json!({})).await;
        assert_eq!(error_codes(&body), [code], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["outcome"], "UNKNOWN", "{body}");
        assert_eq!(received(&server).await.len(), 1, "sent once, never retried: {body}");
    }
}

#[tokio::test]
async fn a_write_telnyx_refused_is_not_applied_and_carries_its_details() {
    let details = json!({ "errors": [{ "code": "10015", "title": "Invalid parameter", "detail": "participants" }] });
    let server = kick_answering(ResponseTemplate::new(422).set_body_json(&details)).await;
    let app = app_for(&server).await;
    let body = app.query(KICK, json!({})).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    let extensions = &body["errors"][0]["extensions"];
    assert_eq!(extensions["outcome"], "NOT_APPLIED");
    assert_eq!(extensions["upstream"]["status"], 422);
    assert_eq!(extensions["upstream"]["errors"][0]["detail"], "participants");
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn a_429_with_retry_after_is_sent_again_because_telnyx_did_nothing() {
    let server = MockServer::start().await;
    let route = format!("/room_sessions/{SESSION}/actions/kick");
    Mock::given(method("POST"))
        .and(path(&route))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(&route))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "result": "ok" } })))
        .mount(&server)
        .await;
    let app = app_for(&server).await;
    let body = app.query(KICK, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn a_refused_connection_is_retried_because_nothing_was_sent() {
    // Telnyx is not listening yet: the first attempts are refused before anything is sent.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let app = spawn_app_with(&format!("http://{addr}"), Some("KEY_TEST"), |c| {
        c.upstream_retry_base_ms = 200;
        c.upstream_max_attempts = 6;
    })
    .await;
    let started = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let server = MockServer::builder().listener(std::net::TcpListener::bind(addr).unwrap()).start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "result": "ok" } })))
            .mount(&server)
            .await;
        server
    });
    let body = app.query(KICK, json!({})).await;
    let server = started.await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(received(&server).await.len(), 1, "the write arrived exactly once");
}

#[tokio::test]
async fn mutations_of_one_operation_run_one_after_another_in_document_order() {
    let server = MockServer::start().await;
    // The first is slow: run concurrently, the others would arrive before it.
    let slow = ResponseTemplate::new(200)
        .set_body_json(json!({ "data": { "result": "ok" } }))
        .set_delay(Duration::from_millis(150));
    let fast = ResponseTemplate::new(200).set_body_json(json!({ "data": { "result": "ok" } }));
    for (action, response) in [("mute", slow), ("unmute", fast.clone()), ("kick", fast)] {
        Mock::given(method("POST"))
            .and(path(format!("/room_sessions/{SESSION}/actions/{action}")))
            .respond_with(response)
            .mount(&server)
            .await;
    }
    let app = spawn_app_with(&server.uri(), Some("KEY_TEST"), |_| {}).await;
    let input = format!("input: {{ sessionId: \"{SESSION}\", all: true }}");
    let query = format!(
        "mutation {{ a: muteParticipants({input}) {{ clientMutationId }} b: unmuteParticipants({input}) \
         {{ clientMutationId }} c: kickParticipants({input}) {{ clientMutationId }} }}"
    );
    let body = app.query(&query, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    let order: Vec<String> = received(&server).await.into_iter().map(|(_, path, _)| path).collect();
    let expected: Vec<String> =
        ["mute", "unmute", "kick"].iter().map(|a| format!("/room_sessions/{SESSION}/actions/{a}")).collect();
    assert_eq!(order, expected);
}

#[tokio::test]
async fn payloads_echo_the_client_mutation_id() {
    let server = telnyx().await;
    let app = app_for(&server).await;
    let query = format!(
        "mutation {{ a: deleteRoom(input: {{ id: \"{ROOM}\", clientMutationId: \"m-1\" }}) {{ clientMutationId deletedRoomId }} \
         b: createRoom(input: {{ clientMutationId: \"m-2\" }}) {{ clientMutationId room {{ id uniqueName }} }} }}"
    );
    let body = app.query(&query, json!({})).await;
    assert_eq!(
        body,
        json!({ "data": {
            "a": { "clientMutationId": "m-1", "deletedRoomId": ROOM },
            "b": { "clientMutationId": "m-2", "room": { "id": ROOM, "uniqueName": "My room" } },
        }})
    );
}

#[tokio::test]
async fn a_mutation_over_get_is_refused_and_nothing_is_sent() {
    let server = telnyx().await;
    let app = app_for(&server).await;
    let response = app
        .http
        .get(format!("http://{}/graphql", app.addr))
        .header("apollo-require-preflight", "true")
        .query(&[("query", KICK)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(received(&server).await, []);
}

#[tokio::test]
async fn tokens_reach_the_caller_and_nothing_else_while_mutations_are_counted_by_outcome() {
    // Arrange: the real binary logging everything, in front of the mock.
    let server = telnyx().await;
    Mock::given(method("POST"))
        .and(path(format!("/room_sessions/{SESSION}/actions/end")))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({ "errors": [{ "code": "10015" }] })))
        .with_priority(1)
        .mount(&server)
        .await;
    let env = [
        ("RUST_LOG", "trace"),
        ("LOG_FORMAT", "json"),
        ("TELNYX_API_KEY", "KEY_TEST"),
        ("TELNYX_API_BASE_URL", &server.uri()),
    ];
    let service = crate::process::Service::start("mutation-logs", &[], &env);
    service.until_healthy().await;
    let http = reqwest::Client::new();
    let post = |query: String| {
        let request = http.post(service.url("/graphql")).json(&json!({ "query": query }));
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let refresh = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJpbnB1dCJ9.aW5wdXQtcmVmcmVzaC10b2tlbg";

    // Act
    let created = post(format!(
        "mutation {{ createRoomClientToken(input: {{ roomId: \"{ROOM}\" }}) {{ token refreshToken tokenExpiresAt refreshTokenExpiresAt }} }}"
    ))
    .await;
    let refreshed = post(format!(
        "mutation {{ refreshRoomClientToken(input: {{ roomId: \"{ROOM}\", refreshToken: \"{refresh}\" }}) {{ token tokenExpiresAt }} }}"
    ))
    .await;
    let refused =
        post(format!("mutation {{ endRoomSession(input: {{ sessionId: \"{SESSION}\" }}) {{ clientMutationId }} }}"))
            .await;
    let metrics = http.get(service.url("/metrics")).send().await.unwrap().text().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (stdout, stderr) = service.output();

    // Assert: the caller got the tokens; logs and metrics got none of them.
    let tokens = &token_body()["data"];
    let (token, refresh_token) = (tokens["token"].as_str().unwrap(), tokens["refresh_token"].as_str().unwrap());
    let created: Value = serde_json::from_str(&created).unwrap();
    assert_eq!(created["data"]["createRoomClientToken"]["token"], token, "{created}");
    assert_eq!(created["data"]["createRoomClientToken"]["refreshToken"], refresh_token);
    assert_eq!(created["data"]["createRoomClientToken"]["tokenExpiresAt"], "2026-11-30T10:00:00.000000Z");
    assert!(refreshed.contains(token), "{refreshed}");
    assert!(refused.contains("NOT_APPLIED"), "{refused}");
    assert!(stdout.contains("createRoomClientToken"), "the mutation is logged by name");
    for secret in [token, refresh_token, refresh, "KEY_TEST"] {
        for (what, text) in [("stdout", &stdout), ("stderr", &stderr), ("metrics", &metrics)] {
            assert!(!text.contains(secret), "a secret reached {what}");
        }
    }
    for line in [
        r#"graphql_mutations_total{mutation="createRoomClientToken",outcome="applied"} 1"#,
        r#"graphql_mutations_total{mutation="refreshRoomClientToken",outcome="applied"} 1"#,
        r#"graphql_mutations_total{mutation="endRoomSession",outcome="not_applied"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

// Against the sample upstream, which keeps what it is told: the state each mutation leaves.

use crate::helpers::{ids, spawn_sample};

#[tokio::test]
async fn later_fields_of_the_same_request_read_what_a_mutation_wrote() {
    let (upstream, app) = spawn_sample().await;
    // Read the room, change it, read it again: all in one request, in this order.
    let query = format!(
        "mutation {{ before: updateRoom(input: {{ id: \"{room}\", webhookTimeoutSecs: 5 }}) {{ room {{ maxParticipants }} }} \
         after: updateRoom(input: {{ id: \"{room}\", maxParticipants: 33 }}) {{ room {{ maxParticipants webhookTimeoutSecs }} }} }}",
        room = ids::ROOM
    );
    let body = app.query(&query, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["after"]["room"], json!({ "maxParticipants": 33, "webhookTimeoutSecs": 5 }));
    // The payload came from Telnyx's answer: no read-back request.
    assert_eq!(upstream.log.requests().len(), 2, "{:?}", upstream.log.requests());

    // A query read before a write is not served again after it: the session ends, and the
    // payload's session (read after the action) says so.
    let query = format!(
        "mutation {{ endRoomSession(input: {{ sessionId: \"{s}\" }}) {{ roomSession {{ active endedAt \
         participants(first: 20) {{ nodes {{ leftAt }} }} }} }} }}",
        s = ids::ACTIVE_SESSION
    );
    let body = app.query(&query, json!({})).await;
    let session = &body["data"]["endRoomSession"]["roomSession"];
    assert_eq!(session["active"], false, "{body}");
    assert!(session["endedAt"].is_string(), "{body}");
    let still_in =
        session["participants"]["nodes"].as_array().unwrap().iter().filter(|p| p["leftAt"].is_null()).count();
    assert_eq!(still_in, 0, "ending kicks everyone: {body}");
}

#[tokio::test]
async fn a_room_lives_through_create_update_delete_and_the_lists_agree() {
    let (upstream, app) = spawn_sample().await;
    let total = |body: &Value| body["data"]["rooms"]["totalCount"].as_i64().unwrap();
    let before = total(&app.query("{ rooms { totalCount } }", json!({})).await);

    let created = app
        .query(
            "mutation { createRoom(input: { uniqueName: \"made-here\", maxParticipants: 4, clientMutationId: \"x\" }) \
             { clientMutationId room { id uniqueName maxParticipants } roomEdge { cursor node { id } } } \
             }",
            json!({}),
        )
        .await;
    let payload = &created["data"]["createRoom"];
    let id = payload["room"]["id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    assert_eq!(payload["room"]["uniqueName"], "made-here");
    assert_eq!(payload["roomEdge"]["node"]["id"], id.as_str());

    // The edge's cursor is the one `rooms` gives the room: it is listed last.
    let listed =
        app.query("{ rooms(last: 1) { totalCount edges { cursor node { id uniqueName } } } }", json!({})).await;
    assert_eq!(total(&listed), before + 1);
    assert_eq!(listed["data"]["rooms"]["edges"][0]["node"]["id"], id.as_str());
    assert_eq!(listed["data"]["rooms"]["edges"][0]["cursor"], payload["roomEdge"]["cursor"]);

    let updated = app
        .query(&format!("mutation {{ updateRoom(input: {{ id: \"{id}\", uniqueName: \"renamed\" }}) {{ room {{ uniqueName }} }} }}"), json!({}))
        .await;
    assert_eq!(updated["data"]["updateRoom"]["room"]["uniqueName"], "renamed", "{updated}");
    let read = app.query(&format!("{{ room(id: \"{id}\") {{ uniqueName maxParticipants }} }}"), json!({})).await;
    assert_eq!(read["data"]["room"], json!({ "uniqueName": "renamed", "maxParticipants": 4 }));

    let deleted = app
        .query(&format!("mutation {{ deleteRoom(input: {{ id: \"{id}\" }}) {{ deletedRoomId }} }} "), json!({}))
        .await;
    assert_eq!(deleted["data"]["deleteRoom"]["deletedRoomId"], id.as_str(), "{deleted}");
    let gone = app.query(&format!("{{ room(id: \"{id}\") {{ id }} rooms {{ totalCount }} }}"), json!({})).await;
    assert_eq!(gone["data"]["room"], Value::Null);
    assert_eq!(total(&gone), before);
    let again = app
        .query(&format!("mutation {{ deleteRoom(input: {{ id: \"{id}\" }}) {{ deletedRoomId }} }}"), json!({}))
        .await;
    assert_eq!(error_codes(&again), ["NOT_FOUND"], "{again}");
    assert_eq!(again["errors"][0]["extensions"]["outcome"], "NOT_APPLIED");

    let methods: Vec<String> = upstream.log.writes().iter().map(|(m, t, _)| format!("{m} {t}")).collect();
    assert_eq!(
        methods,
        [
            "POST /v2/rooms".to_owned(),
            format!("PATCH /v2/rooms/{id}"),
            format!("DELETE /v2/rooms/{id}"),
            format!("DELETE /v2/rooms/{id}")
        ]
    );
}

#[tokio::test]
async fn a_client_token_can_be_refreshed_with_its_refresh_token_and_expires_as_asked() {
    let (_upstream, app) = spawn_sample().await;
    let created = app
        .query(
            &format!(
                "mutation {{ createRoomClientToken(input: {{ roomId: \"{}\", tokenTtlSecs: 60, refreshTokenTtlSecs: 120 }}) \
                 {{ token tokenExpiresAt refreshToken refreshTokenExpiresAt }} }}",
                ids::ROOM
            ),
            json!({}),
        )
        .await;
    let token = &created["data"]["createRoomClientToken"];
    let at = |field: &str| chrono::DateTime::parse_from_rfc3339(token[field].as_str().unwrap()).unwrap().to_utc();
    let now = chrono::Utc::now();
    assert!((at("tokenExpiresAt") - now).num_seconds().abs_diff(60) <= 5, "{created}");
    assert!((at("refreshTokenExpiresAt") - now).num_seconds().abs_diff(120) <= 5, "{created}");
    assert_eq!(token["token"].as_str().unwrap().split('.').count(), 3, "JWT-shaped");

    let refresh = |refresh_token: &str| {
        format!(
            "mutation {{ refreshRoomClientToken(input: {{ roomId: \"{}\", refreshToken: \"{refresh_token}\" }}) {{ token tokenExpiresAt }} }}",
            ids::ROOM
        )
    };
    let refreshed = app.query(&refresh(token["refreshToken"].as_str().unwrap()), json!({})).await;
    assert!(refreshed["data"]["refreshRoomClientToken"]["token"].is_string(), "{refreshed}");
    let forged = app.query(&refresh("eyJhbGciOiJIUzI1NiJ9.e30.c2ln"), json!({})).await;
    assert_eq!(error_codes(&forged), ["FORBIDDEN"], "{forged}");
}

#[tokio::test]
async fn kicking_sets_left_at_for_those_kicked_only() {
    let (upstream, app) = spawn_sample().await;
    let still_in: Vec<String> = upstream
        .data
        .participants
        .iter()
        .filter(|p| p.session_id == ids::ACTIVE_SESSION && p.left_at.is_none())
        .map(|p| p.id.clone())
        .collect();
    assert_eq!(still_in.len(), 3);
    let query = format!(
        "mutation {{ kickParticipants(input: {{ sessionId: \"{s}\", all: true, exclude: [\"{keep}\"] }}) \
         {{ roomSession {{ active participants(first: 20) {{ nodes {{ id leftAt }} }} }} }} }}",
        s = ids::ACTIVE_SESSION,
        keep = still_in[0]
    );
    let body = app.query(&query, json!({})).await;
    let nodes = body["data"]["kickParticipants"]["roomSession"]["participants"]["nodes"].as_array().unwrap().clone();
    let left = |id: &str| nodes.iter().find(|p| p["id"] == id).unwrap()["leftAt"].is_string();
    assert!(!left(&still_in[0]), "excluded: {body}");
    assert!(left(&still_in[1]) && left(&still_in[2]), "{body}");
    assert_eq!(body["data"]["kickParticipants"]["roomSession"]["active"], true);
}

#[tokio::test]
async fn a_page_read_before_a_write_is_read_again_after_it_not_served_from_the_request_cache() {
    let (upstream, app) = spawn_sample().await;
    let page = "roomSession { active participants(first: 20) { nodes { leftAt } } }";
    let query = format!(
        "mutation {{ a: muteParticipants(input: {{ sessionId: \"{s}\", all: true }}) {{ {page} }} \
         b: endRoomSession(input: {{ sessionId: \"{s}\" }}) {{ {page} }} }}",
        s = ids::ACTIVE_SESSION
    );
    let body = app.query(&query, json!({})).await;
    let still_in = |key: &str| {
        let nodes = body["data"][key]["roomSession"]["participants"]["nodes"].as_array().unwrap();
        nodes.iter().filter(|p| p["leftAt"].is_null()).count()
    };
    assert_eq!((still_in("a"), still_in("b")), (3, 0), "{body}");
    assert_eq!(
        (&body["data"]["a"]["roomSession"]["active"], &body["data"]["b"]["roomSession"]["active"]),
        (&json!(true), &json!(false))
    );
    // The same page and session, read twice: once before the end, once after.
    let reads = upstream.log.requests().into_iter().filter(|r| r.contains("/participants")).count();
    assert_eq!(reads, 2);
}
