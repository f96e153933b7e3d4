//! The drain after SIGTERM, as clients see it while a replica leaves: requests in flight
//! finish, streams end in the way their clients reconnect from (to another replica, where they
//! resume from their cursor), new streams are refused, and then `serve` returns.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use telnyx_rooms_graphql::app;

use crate::helpers::{config, sse_frames, TestApp};
use crate::live::{deliver, joined, live, Ws};

const ROOM: &str = "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0";
const SESSION: &str = "7b61621f-5fe4-4aad-ab11-9fd19e272e73";

/// A Telnyx whose room answers at once and whose participant lists take 1.5 s.
async fn telnyx() -> MockServer {
    let server = MockServer::start().await;
    let room = json!({ "data": {
        "id": ROOM, "unique_name": "Standup", "max_participants": 10, "record_type": "room",
        "created_at": "2026-11-30T09:46:20.954863Z", "updated_at": "2026-11-30T09:46:20.954863Z",
    }});
    Mock::given(method("GET"))
        .and(path(format!("/rooms/{ROOM}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(room))
        .mount(&server)
        .await;
    let participants =
        json!({ "data": [{ "id": "e3b0c442-98fc-4c14-9afb-f4c8996fb924" }], "meta": { "total_results": 1 } });
    Mock::given(method("GET"))
        .and(path_regex("/participants$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(participants).set_delay(Duration::from_millis(1500)))
        .mount(&server)
        .await;
    server
}

/// The service against `server` with `SHUTDOWN_DELAY_SECS=delay_secs`, serving until the
/// returned sender says stop; the handle is `serve`'s, which returns once the drain is done.
async fn serve_until_stopped(
    server: &MockServer,
    delay_secs: u64,
) -> (TestApp, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app::build(&config(&server.uri(), Some("KEYx"), |config| {
        live(config);
        config.shutdown_delay_secs = delay_secs;
    }))
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app::serve(listener, service, async move {
        let _ = stopped.await;
    }));
    (TestApp { addr, http: reqwest::Client::new() }, stop, served)
}

fn subscription() -> String {
    format!("subscription {{ roomEvents(roomId: \"{ROOM}\") {{ id cursor }} }}")
}

/// Reads `response`'s body until `done` holds for what has arrived, or it ends.
async fn read_until(response: &mut reqwest::Response, text: &mut String, done: impl Fn(&str) -> bool) {
    while !done(text) {
        match tokio::time::timeout(Duration::from_secs(10), response.chunk()).await.expect("a chunk within 10 s") {
            Ok(Some(chunk)) => text.push_str(std::str::from_utf8(&chunk).unwrap()),
            Ok(None) | Err(_) => return,
        }
    }
}

#[tokio::test]
async fn a_drain_finishes_what_is_in_flight_ends_streams_for_resuming_and_refuses_new_ones() {
    // Arrange: the service, with a shutdown signal of the test's own.
    let server = telnyx().await;
    let (test_app, stop, served) = serve_until_stopped(&server, 0).await;
    let addr = test_app.addr;
    // A WebSocket subscriber and an SSE one, each with one event.
    let mut ws = Ws::init(&test_app, json!({})).await;
    ws.subscribe("1", &subscription()).await;
    let mut sse = test_app
        .http
        .post(test_app.url())
        .header("accept", "text/event-stream")
        .json(&json!({ "query": subscription() }))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    Ws::settle().await;
    assert_eq!(deliver(&test_app, &joined("ev-before", ROOM)).await, 200);
    assert_eq!(ws.next().await["payload"]["data"]["roomEvents"]["id"], "ev-before");
    let mut sse_text = String::new();
    read_until(&mut sse, &mut sse_text, |text| text.contains("ev-before")).await;
    // A query waiting on Telnyx.
    let query = "query($id: ID!) { roomSession(id: $id) { participants(first: 2) { nodes { id } } } }";
    let request = test_app.http.post(test_app.url()).json(&json!({ "query": query, "variables": { "id": SESSION } }));
    let in_flight = tokio::spawn(async move { request.send().await.unwrap().json::<Value>().await.unwrap() });
    while !server.received_requests().await.unwrap().iter().any(|r| r.url.path().ends_with("/participants")) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A stream request whose body is still on its way.
    let body = json!({ "query": subscription() }).to_string();
    let mut late = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    late.write_all(head.as_bytes()).await.unwrap();
    late.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Act
    stop.send(()).unwrap();
    let drain_began = Instant::now();
    tokio::time::sleep(Duration::from_millis(100)).await;
    late.write_all(&body.as_bytes()[10..]).await.unwrap();

    // Assert: the WebSocket closes with 1001 ("going away"), which graphql-ws retries.
    let closed = ws.next().await;
    assert_eq!(closed["close"], 1001, "{closed}");
    // The SSE stream ends without `complete`, so clients reconnect rather than finish.
    read_until(&mut sse, &mut sse_text, |_| false).await;
    let events: Vec<String> = sse_frames(&sse_text).into_iter().map(|frame| frame.event).collect();
    assert_eq!(events, ["next"], "{sse_text}");
    // The new stream is refused in a way a client or load balancer retries elsewhere.
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), late.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("\r\nretry-after: 1\r\n"), "{answer}");
    assert!(answer.contains("\"SERVICE_UNAVAILABLE\""), "{answer}");
    // The query in flight is answered in full.
    let body = in_flight.await.unwrap();
    assert_eq!(body["data"]["roomSession"]["participants"]["nodes"][0]["id"], "e3b0c442-98fc-4c14-9afb-f4c8996fb924");
    // Then `serve` is done (well inside the drain period), and nothing is accepted any more.
    let result = tokio::time::timeout(Duration::from_secs(5), served).await.expect("serve returned").unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert!(drain_began.elapsed() < Duration::from_secs(5));
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still accepting after the drain");
}

#[tokio::test]
async fn without_redis_a_webhook_arriving_while_draining_is_left_for_telnyx_to_retry() {
    // Arrange
    let server = telnyx().await;
    let (test_app, stop, _served) = serve_until_stopped(&server, 0).await;
    let addr = test_app.addr;
    // A subscriber keeps the drain going while the webhook's body arrives.
    let mut ws = Ws::init(&test_app, json!({})).await;
    ws.subscribe("1", &subscription()).await;
    Ws::settle().await;
    let body = joined("ev-late", ROOM);
    let signed = crate::live::signed_headers(&body);
    let mut head = format!("POST /webhooks/telnyx HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n");
    for (name, value) in signed {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut late = tokio::net::TcpStream::connect(addr).await.unwrap();
    late.write_all(head.as_bytes()).await.unwrap();
    late.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Act
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    late.write_all(&body[10..]).await.unwrap();

    // Assert: 503, so Telnyx delivers it again, to a replica whose subscribers stay.
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), late.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("shutting down"), "{answer}");
    assert_eq!(ws.next().await["close"], 1001);
}

/// One query over a connection of its own: the status and whether the answer asked the client
/// to close the connection, or `None` if the connection was refused.
async fn query_on_new_connection(addr: std::net::SocketAddr) -> Option<(u16, bool)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let body = r#"{"query":"{ __typename }"}"#;
    let request = format!(
        "POST /graphql HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    // The answer is read to its end: with `Connection: close`, the service closes after it.
    loop {
        match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
            Ok(Err(_)) => return None,
        }
    }
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    let status = answer.get(9..12)?.parse().ok()?;
    Some((status, answer.contains("\r\nconnection: close\r\n")))
}

#[tokio::test]
async fn after_the_signal_everything_is_served_until_the_traffic_stops_while_ready_says_503() {
    // Arrange: a replica with a 5 s unready period and a subscriber.
    let server = telnyx().await;
    let (test_app, stop, served) = serve_until_stopped(&server, 5).await;
    let addr = test_app.addr;
    let mut ws = Ws::init(&test_app, json!({})).await;
    ws.subscribe("1", &subscription()).await;
    Ws::settle().await;
    assert_eq!(query_on_new_connection(addr).await, Some((200, false)), "before the signal: keep-alive");

    // Act: the signal, while a load balancer that has not yet seen `/ready` keeps sending for 2 s.
    stop.send(()).unwrap();
    let signalled = Instant::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let ready = test_app.http.get(format!("http://{addr}/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let mut answers = Vec::new();
    while signalled.elapsed() < Duration::from_secs(2) {
        answers.push(query_on_new_connection(addr).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Live events still reach the subscriber meanwhile.
    assert_eq!(deliver(&test_app, &joined("ev-unready", ROOM)).await, 200);
    assert_eq!(ws.next().await["payload"]["data"]["roomEvents"]["id"], "ev-unready");
    let traffic_stopped = Instant::now();

    // Assert: every request was served, each asking its client to reconnect (elsewhere).
    assert!(answers.len() >= 8, "{answers:?}");
    assert!(answers.iter().all(|answer| *answer == Some((200, true))), "{answers:?}");
    // Health probes do not count as traffic: they poll a leaving replica until it is gone.
    let probing = {
        let http = test_app.http.clone();
        tokio::spawn(async move {
            while http.get(format!("http://{addr}/ready")).send().await.is_ok() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    // About a second after the traffic stopped (well before the 5 s), the drain proper begins:
    // the subscriber is told to go, and the listener closes.
    assert_eq!(ws.next().await["close"], 1001);
    let quiet = traffic_stopped.elapsed();
    assert!(quiet >= Duration::from_millis(700) && quiet < Duration::from_millis(2500), "{quiet:?}");
    let result = tokio::time::timeout(Duration::from_secs(5), served).await.expect("serve returned").unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert!(signalled.elapsed() < Duration::from_secs(5), "{:?}", signalled.elapsed());
    assert_eq!(query_on_new_connection(addr).await, None, "still accepting after the drain");
    probing.abort();
}

#[tokio::test]
async fn traffic_that_never_stops_holds_the_listener_open_for_shutdown_delay_secs_at_most() {
    // Arrange
    let server = telnyx().await;
    let (test_app, stop, served) = serve_until_stopped(&server, 1).await;
    let addr = test_app.addr;

    // Act: requests every 100 ms from before the signal until one is refused.
    stop.send(()).unwrap();
    let signalled = Instant::now();
    let mut served_after_signal = 0;
    while let Some((status, _)) = query_on_new_connection(addr).await {
        assert_eq!(status, 200);
        served_after_signal += 1;
        assert!(signalled.elapsed() < Duration::from_secs(3), "the listener is still open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Assert: served for the whole second, then refused, and `serve` returned.
    let refused_after = signalled.elapsed();
    assert!(refused_after >= Duration::from_millis(950), "{refused_after:?}");
    assert!(served_after_signal >= 5, "{served_after_signal}");
    let result = tokio::time::timeout(Duration::from_secs(5), served).await.expect("serve returned").unwrap();
    assert!(result.is_ok(), "{result:?}");
}
