//! Live rooms end to end: signed webhooks in, subscriptions out over graphql-transport-ws and
//! SSE, fan-out between two instances through a real `redis-server`.

use std::time::Duration;

use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use telnyx_rooms_graphql::config::Config;
use telnyx_rooms_graphql::sample_upstream::{SampleUpstream, SAMPLE_API_KEY};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{ids, spawn_app_with, TestApp};
use crate::process::RedisServer;

/// The test's Telnyx signing key (a fixed seed: not a secret of anyone's).
fn telnyx_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

fn public_key(key: &SigningKey) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes())
}

pub fn live(config: &mut Config) {
    config.telnyx_public_key = Some(live_public_key());
}

/// The public key the tests' webhooks are signed for (`TELNYX_PUBLIC_KEY`).
pub fn live_public_key() -> String {
    public_key(&telnyx_key())
}

pub async fn spawn_live(tweak: impl FnOnce(&mut Config)) -> (SampleUpstream, TestApp) {
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let app = spawn_app_with(&upstream.base_url(), Some(SAMPLE_API_KEY), |config| {
        live(config);
        tweak(config);
    })
    .await;
    (upstream, app)
}

const SESSION: &str = ids::ACTIVE_SESSION;
const PARTICIPANT: &str = "11111111-2222-4333-8444-555555555555";

pub fn joined(id: &str, room: &str) -> Vec<u8> {
    json!({ "data": {
        "record_type": "event", "event_type": "video.room.participant.joined", "id": id,
        "occurred_at": "2026-11-30T09:46:20.954863Z",
        "payload": { "room_id": room, "session_id": SESSION, "participant_id": PARTICIPANT, "context": "Alice" },
    }, "meta": { "attempt": 1 } })
    .to_string()
    .into_bytes()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The headers that sign `body` by `key` at `timestamp`, as Telnyx sends them.
fn signature_headers(key: &SigningKey, timestamp: i64, body: &[u8]) -> [(&'static str, String); 2] {
    let ts = timestamp.to_string();
    let signature = key.sign(&[ts.as_bytes(), b"|", body].concat());
    let signature = base64::engine::general_purpose::STANDARD.encode(signature.to_bytes());
    [("telnyx-signature-ed25519", signature), ("telnyx-timestamp", ts)]
}

/// The headers Telnyx would sign `body` with now.
pub fn signed_headers(body: &[u8]) -> [(&'static str, String); 2] {
    signature_headers(&telnyx_key(), now(), body)
}

/// Posts `body` signed by `key` at `timestamp`.
async fn deliver_signed(app: &TestApp, key: &SigningKey, timestamp: i64, body: &[u8]) -> (u16, Value) {
    let [(signature_name, signature), (timestamp_name, ts)] = signature_headers(key, timestamp, body);
    let response = app
        .http
        .post(format!("http://{}/webhooks/telnyx", app.addr))
        .header(signature_name, signature)
        .header(timestamp_name, ts)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

pub async fn deliver(app: &TestApp, body: &[u8]) -> u16 {
    deliver_signed(app, &telnyx_key(), now(), body).await.0
}

/// A graphql-transport-ws client.
pub struct Ws {
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Ws {
    pub async fn connect(app: &TestApp) -> Self {
        let mut request = format!("ws://{}/graphql", app.addr).into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
        Self { socket }
    }

    pub async fn send(&mut self, message: Value) {
        self.socket.send(Message::text(message.to_string())).await.unwrap();
    }

    /// The next protocol message (pings are answered and skipped), or the close frame as
    /// `{"close": code, "reason": ...}`.
    pub async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("a message within 10 s")
                .expect("the socket is open")
                .unwrap_or_else(|e| panic!("{e}"));
            match message {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] == "ping" {
                        self.send(json!({ "type": "pong" })).await;
                        continue;
                    }
                    return value;
                }
                Message::Close(frame) => {
                    let frame = frame.expect("a close frame");
                    return json!({ "close": u16::from(frame.code), "reason": frame.reason.as_str() });
                }
                _ => {}
            }
        }
    }

    pub async fn init(app: &TestApp, payload: Value) -> Self {
        let mut ws = Self::connect(app).await;
        ws.send(json!({ "type": "connection_init", "payload": payload })).await;
        assert_eq!(ws.next().await, json!({ "type": "connection_ack" }));
        ws
    }

    pub async fn subscribe(&mut self, id: &str, query: &str) {
        self.send(json!({ "type": "subscribe", "id": id, "payload": { "query": query } })).await;
    }

    /// Waits until the subscription is registered with the hub (the room lookup is done).
    pub async fn settle() {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn room_events(room: &str) -> String {
    format!(
        "subscription {{ roomEvents(roomId: \"{room}\") {{ __typename id ... on ParticipantJoined {{ \
         participant {{ id context joinedAt leftAt }} participantEdge {{ node {{ id }} }} session {{ id }} }} }} }}"
    )
}

#[tokio::test]
async fn a_signed_webhook_reaches_a_room_subscriber_with_the_event_s_own_data() {
    let (upstream, app) = spawn_live(|_| {}).await;
    let mut ws = Ws::init(&app, json!({})).await;
    ws.subscribe("1", &room_events(ids::ROOM)).await;
    Ws::settle().await;
    upstream.log.clear();
    // Someone still in the active session.
    let someone = upstream.data.participants.iter().find(|p| p.session_id == SESSION && p.left_at.is_none()).unwrap();
    let body = String::from_utf8(joined("ev-1", ids::ROOM)).unwrap().replace(PARTICIPANT, &someone.id);

    assert_eq!(deliver(&app, body.as_bytes()).await, 200);

    let next = ws.next().await;
    assert_eq!(next["type"], "next", "{next}");
    assert_eq!(next["id"], "1");
    let event = &next["payload"]["data"]["roomEvents"];
    assert_eq!(event["__typename"], "ParticipantJoined");
    assert_eq!(event["id"], "ev-1");
    assert!(next["payload"].get("errors").is_none(), "{next}");
    assert_eq!(
        event["participant"],
        json!({ "id": someone.id, "context": "Alice", "joinedAt": "2026-11-30T09:46:20.954863Z", "leftAt": null }),
        "{next}"
    );
    assert_eq!(event["participantEdge"]["node"]["id"], someone.id.as_str());
    assert_eq!(event["session"]["id"], SESSION);
    // From the event's own data, but `leftAt` (one participant lookup); the edge's cursor was
    // not asked for, so the session's list was not either.
    assert_eq!(upstream.log.requests(), [format!("/v2/room_participants/{}", someone.id)]);
}

#[tokio::test]
async fn every_forged_stale_or_altered_delivery_is_refused_and_nothing_is_published() {
    let (_upstream, app) = spawn_live(|_| {}).await;
    let mut ws = Ws::init(&app, json!({})).await;
    ws.subscribe("1", &room_events(ids::ROOM)).await;
    Ws::settle().await;
    let body = joined("ev-forged", ids::ROOM);
    let wrong_key = SigningKey::from_bytes(&[7; 32]);
    let cases: Vec<(&str, u16, Value)> = vec![
        ("wrong key", deliver_signed(&app, &wrong_key, now(), &body).await.0, json!("bad_signature")),
        ("stale", deliver_signed(&app, &telnyx_key(), now() - 301, &body).await.0, json!("stale_timestamp")),
        ("future", deliver_signed(&app, &telnyx_key(), now() + 301, &body).await.0, json!("stale_timestamp")),
    ];
    for (what, status, _) in &cases {
        assert_eq!(*status, 401, "{what}");
    }
    // A body altered by one byte after signing.
    let ts = now().to_string();
    let signature = base64::engine::general_purpose::STANDARD
        .encode(telnyx_key().sign(&[ts.as_bytes(), b"|", &body].concat()).to_bytes());
    let mut altered = body.clone();
    let at = altered.iter().position(|b| *b == b'A').unwrap();
    altered[at] = b'B';
    let post = |headers: Vec<(&'static str, String)>, body: Vec<u8>| {
        let mut request = app.http.post(format!("http://{}/webhooks/telnyx", app.addr)).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let sig = ("telnyx-signature-ed25519", signature.clone());
    let stamp = ("telnyx-timestamp", ts.clone());
    for (what, headers, body) in [
        ("altered", vec![sig.clone(), stamp.clone()], altered),
        ("no signature", vec![stamp.clone()], body.clone()),
        ("no timestamp", vec![sig.clone()], body.clone()),
    ] {
        let response = post(headers, body).await.unwrap();
        assert_eq!(response.status(), 401, "{what}");
        let said: Value = response.json().await.unwrap();
        assert!(!said.to_string().contains(&signature), "never echoes the signature");
    }
    let too_big = vec![b' '; 64 * 1024 + 1];
    assert_eq!(post(vec![sig, stamp], too_big).await.unwrap().status(), 413);

    // Nothing reached the subscriber; a genuine event still does, and the refusals are counted.
    assert_eq!(deliver(&app, &joined("ev-genuine", ids::ROOM)).await, 200);
    assert_eq!(ws.next().await["payload"]["data"]["roomEvents"]["id"], "ev-genuine");
    let metrics = app.http.get(format!("http://{}/metrics", app.addr)).send().await.unwrap().text().await.unwrap();
    for reason in ["bad_signature", "stale_timestamp", "missing_signature", "missing_timestamp", "too_large"] {
        assert!(
            metrics.contains(&format!("webhooks_total{{outcome=\"rejected\",reason=\"{reason}\"}}")),
            "{reason}:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn redeliveries_are_acknowledged_and_published_once_and_unknown_types_ignored() {
    let (_upstream, app) = spawn_live(|_| {}).await;
    let mut ws = Ws::init(&app, json!({})).await;
    ws.subscribe("1", &room_events(ids::ROOM)).await;
    Ws::settle().await;
    let recording = json!({ "data": { "id": "ev-rec", "event_type": "video.room.recording.saved", "payload": {} } });
    assert_eq!(deliver(&app, recording.to_string().as_bytes()).await, 200);
    for _ in 0..3 {
        assert_eq!(deliver(&app, &joined("ev-dup", ids::ROOM)).await, 200);
    }
    assert_eq!(deliver(&app, &joined("ev-after", ids::ROOM)).await, 200);
    assert_eq!(ws.next().await["payload"]["data"]["roomEvents"]["id"], "ev-dup");
    assert_eq!(ws.next().await["payload"]["data"]["roomEvents"]["id"], "ev-after", "the duplicate came once");
}

#[tokio::test]
async fn subscribers_get_only_their_room_or_session() {
    let (upstream, app) = spawn_live(|_| {}).await;
    let other_room = upstream.data.sessions.iter().find(|s| s.id == ids::MEDIUM_SESSION).unwrap().room_id.clone();
    let mut ws = Ws::init(&app, json!({})).await;
    ws.subscribe("room", &format!("subscription {{ roomEvents(roomId: \"{}\") {{ id }} }}", ids::ROOM)).await;
    ws.subscribe(
        "session",
        &format!("subscription {{ roomSessionEvents(sessionId: \"{}\") {{ id }} }}", ids::MEDIUM_SESSION),
    )
    .await;
    Ws::settle().await;
    assert_eq!(deliver(&app, &joined("in-other-room", &other_room)).await, 200);
    let in_medium = json!({ "data": { "id": "in-medium", "event_type": "video.room.session.ended",
        "payload": { "room_id": other_room, "session_id": ids::MEDIUM_SESSION, "duration_secs": 60, "ended_reason": "shutdown" } } });
    assert_eq!(deliver(&app, in_medium.to_string().as_bytes()).await, 200);
    assert_eq!(deliver(&app, &joined("in-room", ids::ROOM)).await, 200);
    let mut got = [ws.next().await, ws.next().await];
    got.sort_by_key(|m| m["id"].as_str().unwrap().to_owned());
    assert_eq!(got[0]["id"], "room");
    assert_eq!(got[0]["payload"]["data"]["roomEvents"]["id"], "in-room");
    assert_eq!(got[1]["id"], "session");
    assert_eq!(got[1]["payload"]["data"]["roomSessionEvents"]["id"], "in-medium");
}

#[tokio::test]
async fn the_protocol_s_rules_are_kept() {
    let (_upstream, app) = spawn_live(|config| {
        config.ws_init_timeout_ms = 300;
        config.subscriptions_per_connection = 1;
    })
    .await;
    // No connection_init in time.
    let mut ws = Ws::connect(&app).await;
    assert_eq!(ws.next().await["close"], 4408);
    // Subscribe before the ack.
    let mut ws = Ws::connect(&app).await;
    ws.subscribe("1", "{ __typename }").await;
    assert_eq!(ws.next().await["close"], 4401);
    // A second init.
    let mut ws = Ws::init(&app, json!({})).await;
    ws.send(json!({ "type": "connection_init" })).await;
    assert_eq!(ws.next().await["close"], 4429);
    // One operation at a time here; a second id in use closes; queries work too.
    let mut ws = Ws::init(&app, json!({})).await;
    ws.subscribe("a", &room_events(ids::ROOM)).await;
    ws.subscribe("b", "{ __typename }").await;
    let refused = ws.next().await;
    assert_eq!((refused["type"].as_str(), refused["id"].as_str()), (Some("error"), Some("b")), "{refused}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "TOO_MANY_SUBSCRIPTIONS");
    ws.subscribe("a", "{ __typename }").await;
    assert_eq!(ws.next().await["close"], 4409);
    // Refused before it runs (validation): one `error`. Failing while it runs (the room does
    // not exist): a result with the error, then `complete`.
    let mut ws = Ws::init(&app, json!({})).await;
    ws.subscribe("v", "subscription { roomEvents { id } }").await;
    let error = ws.next().await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["payload"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{error}");
    ws.subscribe("x", "subscription { roomEvents(roomId: \"00000000-0000-4000-8000-000000000000\") { id } }").await;
    let failed = ws.next().await;
    assert_eq!(failed["type"], "next", "{failed}");
    assert_eq!(failed["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND", "{failed}");
    assert_eq!(ws.next().await, json!({ "type": "complete", "id": "x" }));
    // A query: one `next`, then `complete`.
    ws.subscribe("q", "{ __typename }").await;
    assert_eq!(ws.next().await, json!({ "type": "next", "id": "q", "payload": { "data": { "__typename": "Query" } } }));
    assert_eq!(ws.next().await, json!({ "type": "complete", "id": "q" }));
}

#[tokio::test]
async fn a_slow_subscriber_is_closed_with_an_error_while_the_others_keep_receiving() {
    let (_upstream, app) = spawn_live(|config| config.subscriber_buffer = 16).await;
    let mut fast = Ws::init(&app, json!({})).await;
    let mut slow = Ws::init(&app, json!({})).await;
    let query = format!("subscription {{ roomEvents(roomId: \"{}\") {{ id ... on ParticipantJoined {{ participant {{ context }} }} }} }}", ids::ROOM);
    fast.subscribe("f", &query).await;
    slow.subscribe("s", &query).await;
    Ws::settle().await;
    // The slow one reads nothing while about 9 MB of events go by (more than the sockets'
    // buffers hold); the fast one reads each at once.
    let context = "x".repeat(30_000);
    let events = 300;
    for i in 0..events {
        let mut body: Value = serde_json::from_slice(&joined(&format!("e{i}"), ids::ROOM)).unwrap();
        body["data"]["payload"]["context"] = json!(context);
        assert_eq!(deliver(&app, body.to_string().as_bytes()).await, 200);
        assert_eq!(fast.next().await["payload"]["data"]["roomEvents"]["id"], format!("e{i}"));
    }
    let mut seen = 0;
    let closing = loop {
        let message = slow.next().await;
        if message["type"] == "next" && message["payload"]["errors"].is_array() {
            break message;
        }
        seen += 1;
    };
    assert_eq!(closing["payload"]["errors"][0]["extensions"]["code"], "SLOW_CONSUMER", "{closing}");
    assert_eq!(slow.next().await, json!({ "type": "complete", "id": "s" }));
    assert!(seen < events, "it fell behind and missed some: saw {seen}");
    // The fast subscriber is unaffected.
    assert_eq!(deliver(&app, &joined("after", ids::ROOM)).await, 200);
    assert_eq!(fast.next().await["payload"]["data"]["roomEvents"]["id"], "after");
}

#[tokio::test]
async fn sse_streams_the_same_events() {
    let (_upstream, app) = spawn_live(|_| {}).await;
    let query = format!("subscription {{ roomEvents(roomId: \"{}\") {{ __typename id }} }}", ids::ROOM);
    let response = app
        .http
        .post(format!("http://{}/graphql", app.addr))
        .header("accept", "text/event-stream")
        .header("content-type", "application/json")
        .body(json!({ "query": query }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut response = response;
    Ws::settle().await;
    assert_eq!(deliver(&app, &joined("ev-sse", ids::ROOM)).await, 200);
    let mut text = String::new();
    while !text.contains("\n\n") || !text.contains("ev-sse") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk()).await.unwrap().unwrap().unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let frames = crate::helpers::sse_frames(&text);
    let frame = frames.iter().find(|frame| frame.data.contains("ev-sse")).unwrap();
    assert_eq!(frame.event, "next", "{text}");
    assert!(frame.id.as_ref().is_some_and(|id| !id.is_empty()), "each event carries its cursor as its id: {text}");
    let data: Value = serde_json::from_str(&frame.data).unwrap();
    assert_eq!(data, json!({ "data": { "roomEvents": { "__typename": "ParticipantJoined", "id": "ev-sse" } } }));
}

#[tokio::test]
async fn without_a_public_key_the_webhook_route_is_off() {
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let app = spawn_app_with(&upstream.base_url(), Some(SAMPLE_API_KEY), |_| {}).await;
    assert_eq!(deliver(&app, &joined("x", ids::ROOM)).await, 404);
}

#[tokio::test]
async fn with_redis_unreachable_a_webhook_is_not_acknowledged() {
    let dead = crate::process::free_addr();
    let (_upstream, app) = spawn_live(|config| config.redis_url = Some(format!("redis://{dead}").into())).await;
    assert_eq!(deliver(&app, &joined("ev-lost", ids::ROOM)).await, 503, "Telnyx must retry");
}

#[tokio::test]
#[ignore = "needs redis-server"]
async fn two_instances_share_events_through_a_real_redis_server_exactly_once_and_survive_its_restart() {
    let mut redis = RedisServer::start().await;
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let instance = |url: String| {
        let base = upstream.base_url();
        async move {
            spawn_app_with(&base, Some(SAMPLE_API_KEY), move |config| {
                live(config);
                config.redis_url = Some(url.into());
            })
            .await
        }
    };
    let (a, b) = (instance(redis.url()).await, instance(redis.url()).await);
    // Both read the stream before anything is published (B reads from where it connects).
    assert_eq!(a.fully_ready().await, "ready");
    assert_eq!(b.fully_ready().await, "ready");
    let mut on_b = Ws::init(&b, json!({})).await;
    on_b.subscribe("1", &format!("subscription {{ roomEvents(roomId: \"{}\") {{ id }} }}", ids::ROOM)).await;
    Ws::settle().await;

    // To A, twice (a redelivery), and once to B: B's subscriber gets it once.
    assert_eq!(deliver(&a, &joined("shared-1", ids::ROOM)).await, 200);
    assert_eq!(deliver(&a, &joined("shared-1", ids::ROOM)).await, 200);
    assert_eq!(deliver(&b, &joined("shared-1", ids::ROOM)).await, 200);
    assert_eq!(deliver(&a, &joined("shared-2", ids::ROOM)).await, 200);
    assert_eq!(on_b.next().await["payload"]["data"]["roomEvents"]["id"], "shared-1");
    assert_eq!(on_b.next().await["payload"]["data"]["roomEvents"]["id"], "shared-2");

    // Redis goes away: webhooks are not acknowledged; the subscription stays open.
    redis.stop();
    assert_eq!(deliver(&a, &joined("while-down", ids::ROOM)).await, 503);
    let metrics = a.http.get(format!("http://{}/metrics", a.addr)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("live_redis_up 0"), "{metrics}");
    let ready = a.http.get(format!("http://{}/ready", a.addr)).send().await.unwrap();
    assert_eq!(ready.status(), 200, "queries still work");
    assert!(ready.text().await.unwrap().contains("Redis is unreachable"));
    // Redis is back: Telnyx's retry goes through and B's subscriber hears it.
    redis.restart().await;
    let mut status = 0;
    for _ in 0..50 {
        status = deliver(&a, &joined("while-down", ids::ROOM)).await;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, 200);
    assert_eq!(on_b.next().await["payload"]["data"]["roomEvents"]["id"], "while-down");
    // A's own stream reader reconnects on its next one-second retry, which may come after
    // the retry above went through A's publisher: readiness follows within a few seconds.
    assert_eq!(a.fully_ready().await, "ready");
}

#[tokio::test]
async fn subscribers_with_one_credential_share_an_event_s_loads() {
    let (upstream, app) = spawn_live(|_| {}).await;
    let query = format!(
        "subscription {{ roomEvents(roomId: \"{}\") {{ ... on ParticipantJoined {{ participant {{ updatedAt }} \
         participantEdge {{ cursor }} }} }} }}",
        ids::ROOM
    );
    let mut subscribers = Vec::new();
    for _ in 0..5 {
        let mut ws = Ws::init(&app, json!({})).await;
        ws.subscribe("1", &query).await;
        subscribers.push(ws);
    }
    Ws::settle().await;
    upstream.log.clear();
    let someone = upstream.data.participants.iter().find(|p| p.session_id == SESSION && p.left_at.is_none()).unwrap();
    let body = String::from_utf8(joined("ev-shared", ids::ROOM)).unwrap().replace(PARTICIPANT, &someone.id);
    assert_eq!(deliver(&app, body.as_bytes()).await, 200);
    let mut cursors = Vec::new();
    for ws in &mut subscribers {
        let next = ws.next().await;
        assert!(next["payload"].get("errors").is_none(), "{next}");
        cursors.push(next["payload"]["data"]["roomEvents"]["participantEdge"]["cursor"].clone());
    }
    // Five subscribers, one lookup of the participant and one of the list's total.
    let mut requests = upstream.log.requests();
    requests.sort();
    let total = format!("/v2/room_sessions/{SESSION}/participants?page[size]=1&page[number]=1");
    assert_eq!(requests, [format!("/v2/room_participants/{}", someone.id), total]);
    // The edge's cursor is the last of the session's participants connection.
    let page = format!("{{ roomSession(id: \"{SESSION}\") {{ participants(last: 1) {{ edges {{ cursor }} }} }} }}");
    let listed = app.query(&page, json!({})).await;
    assert_eq!(listed["data"]["roomSession"]["participants"]["edges"][0]["cursor"], cursors[0]);
    assert!(cursors.iter().all(|c| *c == cursors[0]));
}

#[tokio::test]
async fn a_page_of_another_site_may_not_open_a_socket_but_this_service_s_own_may() {
    let (_upstream, app) =
        spawn_live(|config| config.cors_allowed_origins = vec!["https://app.example".parse().unwrap()]).await;
    let open = |origin: &str| {
        let mut request = format!("ws://{}/graphql", app.addr).into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        request.headers_mut().insert("origin", origin.parse().unwrap());
        tokio_tungstenite::connect_async(request)
    };
    match open("https://evil.example").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|(_, response)| response.status())),
    }
    for allowed in [format!("http://{}", app.addr), "https://app.example".to_owned()] {
        let (_socket, response) = open(&allowed).await.unwrap_or_else(|e| panic!("{allowed}: {e}"));
        assert_eq!(response.status(), 101, "{allowed}");
    }
}
