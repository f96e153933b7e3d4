//! Resumable live rooms: a subscriber that reconnects after the cursor of the last event it
//! received gets exactly the events it missed, in order, once, then live ones, over SSE
//! (`Last-Event-ID`, as a browser's `EventSource` sends it), `after`, and graphql-ws's
//! `connection_init`; a cursor that cannot be continued from ends the subscription with
//! `EVENTS_EXPIRED`. Through a real `redis-server` too, across two instances.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use telnyx_rooms_graphql::config::Config;
use telnyx_rooms_graphql::live::Cursor;
use telnyx_rooms_graphql::sample_upstream::{SampleUpstream, SAMPLE_API_KEY};

use crate::helpers::{ids, spawn_app_with, sse_frames, TestApp};
use crate::live::{deliver, joined, live, spawn_live, Ws};
use crate::process::RedisServer;

mod bounds;
mod scope;

const SUBSCRIPTION: &str =
    "subscription($room: ID!, $after: String) { roomEvents(roomId: $room, after: $after) { id cursor } }";

/// An SSE subscription to the room's events, opened as a browser's `EventSource` opens it
/// (`GET`, `Accept: text/event-stream`), with `Last-Event-ID` and `after` if given, once its
/// room lookup is done.
async fn open(app: &TestApp, room: &str, last_event_id: Option<&str>, after: Option<&str>) -> Stream {
    let stream =
        sse(app, &bearer(SAMPLE_API_KEY), SUBSCRIPTION, json!({ "room": room, "after": after }), last_event_id).await;
    Ws::settle().await;
    stream
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// An SSE subscription running `document` with `variables` as `authorization`, as soon as
/// the response starts.
async fn sse(
    app: &TestApp,
    authorization: &str,
    document: &str,
    variables: Value,
    last_event_id: Option<&str>,
) -> Stream {
    let mut request = app
        .http
        .get(app.url())
        .query(&[("query", document), ("variables", &variables.to_string())])
        .header("accept", "text/event-stream")
        .header("authorization", authorization);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    Stream { response, text: String::new() }
}

/// An open SSE response, read frame by frame.
struct Stream {
    response: reqwest::Response,
    /// What was read but is not yet a whole frame.
    text: String,
}

/// One `next` event: the webhook's id and the event's cursor, or the error code.
#[derive(Debug, Clone, PartialEq)]
enum Got {
    Event { id: String, cursor: String },
    Error(String),
    Complete,
}

impl Stream {
    /// The next frame (waiting up to 10 s for it).
    async fn next(&mut self) -> Got {
        loop {
            // Frames are consumed as they are read, so a replay of 100,000 is read in linear time.
            if let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                // A block without an event is a keep-alive comment.
                if let Some(frame) = sse_frames(&block).pop() {
                    return Self::got(&frame);
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("a frame within 10 s")
                .unwrap()
                .expect("the stream is open");
            self.text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    fn got(frame: &crate::helpers::SseFrame) -> Got {
        if frame.event == "complete" {
            return Got::Complete;
        }
        let body: Value = serde_json::from_str(&frame.data).unwrap();
        if let Some(code) = body["errors"][0]["extensions"]["code"].as_str() {
            assert_eq!(frame.id, None, "an error has no cursor");
            return Got::Error(code.to_owned());
        }
        // `roomEvents` or `roomSessionEvents`, whichever was subscribed to.
        let event = body["data"].as_object().and_then(|data| data.values().next()).expect("an event");
        let cursor = event["cursor"].as_str().unwrap().to_owned();
        assert_eq!(frame.id.as_deref(), Some(cursor.as_str()), "the SSE id is the event's cursor");
        Got::Event { id: event["id"].as_str().unwrap().to_owned(), cursor }
    }

    /// The next `count` events as (webhook id, cursor) (each must be an event).
    async fn events(&mut self, count: usize) -> Vec<(String, String)> {
        let mut events = Vec::with_capacity(count);
        for _ in 0..count {
            match self.next().await {
                Got::Event { id, cursor } => events.push((id, cursor)),
                other => panic!("expected an event after {} events, got {other:?}", events.len()),
            }
        }
        events
    }

    /// The next `count` events' webhook ids (each must be an event).
    async fn ids(&mut self, count: usize) -> Vec<String> {
        self.events(count).await.into_iter().map(|(id, _)| id).collect()
    }

    /// The next event's cursor (it must be `id`'s).
    async fn cursor_of(&mut self, id: &str) -> String {
        match self.next().await {
            Got::Event { id: got, cursor } if got == id => cursor,
            other => panic!("expected {id}, got {other:?}"),
        }
    }
}

/// Asserts that `cursors` are in the history's order, each after the one before.
fn assert_ascending(cursors: &[String]) {
    let positions: Vec<_> = cursors.iter().map(|c| Cursor::decode(c).unwrap().position).collect();
    if let Some(at) = positions.windows(2).position(|pair| pair[0] >= pair[1]) {
        panic!("cursor {} is not after the one before it: {:?}", at + 1, &positions[at..at + 2]);
    }
}

fn names(prefix: &str, range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i}")).collect()
}

async fn deliver_all(app: &TestApp, ids: &[String], room: &str) {
    for id in ids {
        assert_eq!(deliver(app, &joined(id, room)).await, 200, "{id}");
    }
}

/// A first event and its cursor, received by a subscriber that then goes away.
async fn first_cursor(app: &TestApp, id: &str) -> String {
    let mut stream = open(app, ids::ROOM, None, None).await;
    deliver_all(app, &[id.to_owned()], ids::ROOM).await;
    stream.cursor_of(id).await
}

#[tokio::test]
async fn a_subscriber_back_with_last_event_id_gets_exactly_what_it_missed_then_live_events() {
    let (_upstream, app) = spawn_live(|_| {}).await;
    let cursor = first_cursor(&app, "gone-0").await;

    let missed = names("missed", 1..=50);
    deliver_all(&app, &missed, ids::ROOM).await;
    let mut back = open(&app, ids::ROOM, Some(&cursor), None).await;
    assert_eq!(back.ids(50).await, missed);

    deliver_all(&app, &["after-1".to_owned()], ids::ROOM).await;
    assert_eq!(back.ids(1).await, ["after-1"], "live after the replay, nothing twice");
}

#[tokio::test]
async fn after_and_graphql_ws_s_connection_init_resume_the_same_way() {
    let (_upstream, app) = spawn_live(|_| {}).await;
    let cursor = first_cursor(&app, "ws-0").await;
    deliver_all(&app, &names("ws", 1..=3), ids::ROOM).await;

    let mut by_after = open(&app, ids::ROOM, None, Some(&cursor)).await;
    assert_eq!(by_after.ids(3).await, names("ws", 1..=3));

    // graphql-ws re-sends its `subscribe` unchanged on reconnecting; the cursor comes in the
    // new connection's `connection_init`, by operation id.
    let mut ws = Ws::init(&app, json!({ "resume": { "7": cursor } })).await;
    let document = format!("subscription {{ roomEvents(roomId: \"{}\") {{ id }} }}", ids::ROOM);
    ws.subscribe("7", &document).await;
    for id in names("ws", 1..=3) {
        let next = ws.next().await;
        assert_eq!(
            (next["id"].as_str(), next["payload"]["data"]["roomEvents"]["id"].as_str()),
            (Some("7"), Some(id.as_str()))
        );
    }
    // Used once: the same id subscribed again later starts from now.
    ws.send(json!({ "type": "complete", "id": "7" })).await;
    ws.subscribe("7", &document).await;
    Ws::settle().await;
    deliver_all(&app, &["ws-4".to_owned()], ids::ROOM).await;
    assert_eq!(ws.next().await["payload"]["data"]["roomEvents"]["id"], "ws-4");
}

#[tokio::test]
async fn a_replay_skips_other_rooms_events_as_live_delivery_does() {
    let (_upstream, app) = spawn_live(|_| {}).await;
    let cursor = first_cursor(&app, "mine-0").await;
    let other_room = "0f0f0f0f-1111-4222-8333-444455556666";
    for i in 1..=5 {
        deliver_all(&app, &[format!("mine-{i}")], ids::ROOM).await;
        deliver_all(&app, &[format!("theirs-{i}")], other_room).await;
    }
    let mut back = open(&app, ids::ROOM, Some(&cursor), None).await;
    assert_eq!(back.ids(5).await, names("mine", 1..=5));
}

// On two threads, so webhooks are taken while a replay runs (on one, a replay that never
// waits for anything would run to its end before any webhook is read).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seam_between_replay_and_live_has_no_gap_and_no_duplicate_under_a_steady_stream() {
    let (_upstream, app) = spawn_live(|config| config.stream_connections_per_caller = RESUMING + 2).await;
    resume_under_a_steady_stream(&app, &[&app]).await;
}

/// Subscribers resuming under a steady stream: each meets its seam at another point of it.
const RESUMING: usize = 24;

/// Subscribers resume after one cursor at staggered moments while webhooks keep arriving at
/// `post_to`, each on the next of `resume_on`: every one gets exactly the events acknowledged
/// after the cursor, in order, once, whether replayed or live, then live ones.
async fn resume_under_a_steady_stream(post_to: &TestApp, resume_on: &[&TestApp]) {
    let cursor = first_cursor(post_to, "steady-0").await;
    let posting = Posting::start(post_to, "steady");
    // A webhook taken between a subscriber joining the live channel and its replay's last read
    // is both replayed and live: long replays make that likely for some of them.
    posting.until(100).await;
    // Each reconnects at another moment, so each meets its seam at another point of the
    // stream; the webhooks keep coming until after the last has.
    let mut resumed = Vec::new();
    for app in resume_on.iter().cycle().take(RESUMING) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let variables = json!({ "room": ids::ROOM, "after": cursor });
        resumed.push(sse(app, &bearer(SAMPLE_API_KEY), SUBSCRIPTION, variables, None).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let acknowledged = posting.stop().await;

    deliver_all(post_to, &["steady-end".to_owned()], ids::ROOM).await;
    for (i, stream) in resumed.iter_mut().enumerate() {
        let (ids, cursors): (Vec<_>, Vec<_>) = stream.events(acknowledged.len()).await.into_iter().unzip();
        assert_eq!(ids, acknowledged, "subscriber {i}: every acknowledged event after the cursor, once, in order");
        assert_ascending(&cursors);
        assert_eq!(stream.ids(1).await, ["steady-end"], "subscriber {i}: then live, nothing twice");
    }
}

/// Webhooks about the room posted one after another, a few milliseconds apart, until stopped.
struct Posting {
    stop: tokio::sync::oneshot::Sender<()>,
    /// The ids the service acknowledged (2xx), in the order it did.
    acknowledged: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Posting {
    fn start(app: &TestApp, prefix: &str) -> Self {
        let (app, prefix) = (TestApp { addr: app.addr, http: app.http.clone() }, prefix.to_owned());
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
        let list = acknowledged.clone();
        let task = tokio::spawn(async move {
            for i in 1.. {
                if stopped.try_recv().is_ok() {
                    return;
                }
                let id = format!("{prefix}-{i}");
                if (200..300).contains(&deliver(&app, &joined(&id, ids::ROOM)).await) {
                    list.lock().unwrap().push(id);
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        });
        Self { stop, acknowledged, task }
    }

    /// Waits until `count` webhooks were acknowledged.
    async fn until(&self, count: usize) {
        let started = std::time::Instant::now();
        while self.acknowledged.lock().unwrap().len() < count {
            assert!(started.elapsed() < Duration::from_secs(60), "webhooks are acknowledged");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops posting; the ids the service acknowledged, in the order it did.
    async fn stop(self) -> Vec<String> {
        self.stop.send(()).unwrap();
        self.task.await.unwrap();
        std::mem::take(&mut *self.acknowledged.lock().unwrap())
    }
}

#[tokio::test]
async fn a_cursor_that_cannot_be_continued_from_ends_the_subscription_with_events_expired() {
    let (_upstream, app) = spawn_live(|config| config.live_retention_events = 3).await;
    let kept = first_cursor(&app, "kept-0").await;
    let valid = Cursor::decode(&kept).unwrap();
    let ahead =
        Cursor { position: telnyx_rooms_graphql::live::history::Position { millis: 0, seq: 999 }, ..valid.clone() };
    let other_epoch = Cursor { epoch: "0123456789abcdef".into(), ..valid };
    // Another process, or this one before a restart: its own history.
    let (_other_upstream, other) = spawn_live(|_| {}).await;
    let from_another_process = first_cursor(&other, "elsewhere-0").await;

    let cases = [
        ("forged", "bm90LWEtY3Vyc29y".to_owned()),
        ("not even base64", "%%%".to_owned()),
        ("ahead of every event", ahead.encode()),
        ("another epoch", other_epoch.encode()),
        ("another process's", from_another_process),
    ];
    for (what, cursor) in cases {
        let mut stream = open(&app, ids::ROOM, Some(&cursor), None).await;
        assert_eq!(stream.next().await, Got::Error("EVENTS_EXPIRED".into()), "{what}");
        assert_eq!(stream.next().await, Got::Complete, "{what}: one error, then the end");
    }

    // Trimmed: with 3 events retained, four more push out what followed the cursor.
    deliver_all(&app, &names("push", 1..=4), ids::ROOM).await;
    let mut stream = open(&app, ids::ROOM, Some(&kept), None).await;
    assert_eq!(stream.next().await, Got::Error("EVENTS_EXPIRED".into()), "trimmed");
}

#[tokio::test]
async fn an_event_source_without_headers_runs_from_this_origin_but_not_from_another_site() {
    let (_upstream, app) = spawn_live(|_| {}).await;
    let query = format!("subscription {{ roomEvents(roomId: \"{}\") {{ id }} }}", ids::ROOM);
    let request = |site: &str| {
        app.http
            .get(app.url())
            .query(&[("query", &query)])
            .header("accept", "text/event-stream")
            .header("sec-fetch-site", site)
            .header("sec-fetch-mode", "cors")
    };
    let same = request("same-origin").send().await.unwrap();
    assert_eq!(same.status(), 200);
    assert!(same.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    for site in ["cross-site", "same-site"] {
        let refused = request(site).send().await.unwrap();
        assert_eq!(refused.status(), 400, "{site}");
    }
}

async fn with_redis(redis: &RedisServer, upstream: &SampleUpstream, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let url = redis.url();
    let app = spawn_app_with(&upstream.base_url(), Some(SAMPLE_API_KEY), move |config| {
        live(config);
        config.redis_url = Some(url.into());
        tweak(config);
    })
    .await;
    // Live events reach it only once it reads the stream, from where the stream is then.
    assert_eq!(app.fully_ready().await, "ready");
    app
}

#[tokio::test]
#[ignore = "needs redis-server"]
async fn through_a_real_redis_server_a_subscriber_moving_to_another_instance_gets_what_it_missed() {
    let redis = RedisServer::start().await;
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let (a, b) = (with_redis(&redis, &upstream, |_| {}).await, with_redis(&redis, &upstream, |_| {}).await);
    let cursor = first_cursor(&a, "moved-0").await;

    // Webhooks keep reaching A while the subscriber reconnects, to B.
    let missed = names("moved", 1..=50);
    deliver_all(&a, &missed, ids::ROOM).await;
    let mut on_b = open(&b, ids::ROOM, Some(&cursor), None).await;
    assert_eq!(on_b.ids(50).await, missed);
    deliver_all(&a, &["moved-51".to_owned()], ids::ROOM).await;
    assert_eq!(on_b.ids(1).await, ["moved-51"]);
}

#[tokio::test]
#[ignore = "needs redis-server"]
async fn through_a_real_redis_server_a_replay_on_an_instance_still_starting_misses_nothing() {
    let redis = RedisServer::start().await;
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let a = with_redis(&redis, &upstream, |_| {}).await;
    let cursor = first_cursor(&a, "starting-0").await;

    // B's stream reader connects, but learns where the stream ends (`XREVRANGE`) only
    // once the gate opens; B's replays pass.
    let (gate, held) = tokio::sync::watch::channel(false);
    let url = format!("redis://{}", gated_proxy(redis.port, b"XREVRANGE", held).await);
    let b = spawn_app_with(&upstream.base_url(), Some(SAMPLE_API_KEY), move |config| {
        live(config);
        config.redis_url = Some(url.into());
    })
    .await;
    let mut resumed = open(&b, ids::ROOM, Some(&cursor), None).await;
    // An event added after the replay could have ended and before B's reader starts from
    // the stream's end: the replay must not have handed over to live delivery yet.
    deliver_all(&a, &["starting-1".to_owned()], ids::ROOM).await;
    gate.send_replace(true);
    assert_eq!(resumed.ids(1).await, ["starting-1"]);
    deliver_all(&a, &["starting-2".to_owned()], ids::ROOM).await;
    assert_eq!(resumed.ids(1).await, ["starting-2"], "then live, nothing twice");
}

/// A TCP proxy to Redis on `port` that holds back what a client sends from its first
/// `command` (as RESP spells it) until `gate` opens.
async fn gated_proxy(port: u16, command: &'static [u8], gate: tokio::sync::watch::Receiver<bool>) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let mut gate = gate.clone();
            tokio::spawn(async move {
                let server = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                let ((mut client_in, mut client_out), (mut server_in, mut server_out)) =
                    (client.into_split(), server.into_split());
                tokio::spawn(async move { tokio::io::copy(&mut server_in, &mut client_out).await });
                let mut buffer = vec![0; 64 * 1024];
                while let Ok(read @ 1..) = client_in.read(&mut buffer).await {
                    if buffer[..read].windows(command.len()).any(|w| w == command) {
                        let _ = gate.wait_for(|open| *open).await;
                    }
                    if server_out.write_all(&buffer[..read]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
#[ignore = "needs redis-server"]
async fn through_a_real_redis_server_trimmed_or_lost_history_is_events_expired() {
    let mut redis = RedisServer::start().await;
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let app = with_redis(&redis, &upstream, |config| config.live_retention_events = 10).await;

    // Redis trims whole nodes of its stream (100 entries each by default): 250 more events
    // push out what followed the cursor.
    let cursor = first_cursor(&app, "trim-0").await;
    deliver_all(&app, &names("trim", 1..=250), ids::ROOM).await;
    let mut stream = open(&app, ids::ROOM, Some(&cursor), None).await;
    assert_eq!(stream.next().await, Got::Error("EVENTS_EXPIRED".into()), "trimmed");

    // A cursor still retained resumes.
    let recent = first_cursor(&app, "recent-0").await;
    deliver_all(&app, &["recent-1".to_owned()], ids::ROOM).await;
    assert_eq!(open(&app, ids::ROOM, Some(&recent), None).await.ids(1).await, ["recent-1"]);

    // Redis restarts empty: its stream and epoch are gone, so the cursor is from another epoch.
    redis.restart().await;
    let mut back = None;
    for _ in 0..50 {
        let mut stream = open(&app, ids::ROOM, Some(&recent), None).await;
        match stream.next().await {
            Got::Error(code) if code == "SERVICE_UNAVAILABLE" => tokio::time::sleep(Duration::from_millis(200)).await,
            got => {
                back = Some(got);
                break;
            }
        }
    }
    assert_eq!(back, Some(Got::Error("EVENTS_EXPIRED".into())), "after Redis lost the stream");
}

#[tokio::test]
#[ignore = "needs redis-server"]
async fn through_a_real_redis_server_the_seam_between_replay_and_live_has_no_gap_and_no_duplicate_under_a_steady_stream(
) {
    let redis = RedisServer::start().await;
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let limit = |config: &mut Config| config.stream_connections_per_caller = RESUMING + 2;
    let (a, b) = (with_redis(&redis, &upstream, limit).await, with_redis(&redis, &upstream, limit).await);
    // Replays read the stream in Redis; live events come through each instance's own reader
    // of it, which may be behind or ahead of the replay: on the instance taking the webhooks
    // and on the other one.
    resume_under_a_steady_stream(&a, &[&a, &b]).await;
}

#[tokio::test]
#[ignore = "needs redis-server"]
async fn through_a_real_redis_server_an_idle_instance_stays_up_and_delivers_the_next_event() {
    let redis = RedisServer::start().await;
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let app = with_redis(&redis, &upstream, |_| {}).await;
    let ready =
        || async { app.http.get(format!("http://{}/ready", app.addr)).send().await.unwrap().text().await.unwrap() };
    let mut live = open(&app, ids::ROOM, None, None).await;

    // Nothing happens for longer than one blocking read of the stream (5 s): the live half of
    // every subscription stays connected all along, never reported as Redis being unreachable.
    let idle = std::time::Instant::now();
    while idle.elapsed() < Duration::from_secs(6) {
        assert_eq!(ready().await, "ready", "after {:?} without events", idle.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    deliver_all(&app, &["after-idle".to_owned()], ids::ROOM).await;
    assert_eq!(live.ids(1).await, ["after-idle"]);
}
