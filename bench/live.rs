//! Live events under load, run by hand:
//!
//! ```sh
//! cargo build --release && cargo bench --bench live                        # 1, 1 000 and 10 000 subscribers
//! cargo bench --bench live -- --subscribers 1,100 --events 500 --posters 4   # a quicker run
//! cargo bench --bench live -- --scenario rooms     # 200 rooms x 50 subscribers, webhooks spread over them
//! cargo bench --bench live -- --scenario one-event # 10 000 subscribers of one room, one event at a time
//! cargo bench --bench live -- --scenario resume    # 1 000 subscribers resuming after a restart (needs redis-server)
//! cargo bench --bench live -- --scenario replay    # one replay of 1 000, then 100 000 events: RSS and live latency
//! cargo bench --bench live -- --scenario floor     # one-event against a bare WebSocket fan-out: the machine's floor
//! ```
//!
//! The default scenario (`capacity`) is below. `rooms` subscribes 50 graphql-ws clients to each
//! of 200 rooms (Telnyx's room maximum, 10 000 in all; a small upstream in this process answers
//! their lookups) and posts `--rate` webhooks a second spread over the rooms: the service's
//! delivery latency at that rate. `one-event` holds 10 000 subscribers of one room and posts
//! one event at a time, each once the last was delivered everywhere: how long one event takes
//! to reach them all. `resume` restarts the service (two replicas sharing a real
//! `redis-server`) under 1 000 graphql-ws subscribers while 100 webhooks reach the other
//! replica, then times how long until every subscriber has replayed all 100.
//! `floor` runs `one-event`'s clients against the same fan-out with nothing of this service
//! in it (see [`floor_server`]): the least one event to 10 000 sockets costs on this machine.
//! `replay` posts 1 000, then (with a fresh service) 100 000 webhooks, then reads one replay of
//! them all over SSE as fast as it can while a graphql-ws subscriber of the same room gets a
//! live event every 50 ms: the service's peak RSS during the replay over its RSS just before
//! (does a replay's memory grow with its length?), and the live events' latency from posting
//! to the frame read (does a long replay hold others back?); in process, then with
//! `redis-server` if on PATH.
//!
//! For each number of subscribers it starts the release binary (and the sample upstream as a
//! second process), opens that many graphql-transport-ws subscriptions to one room's events,
//! then posts Telnyx-signed webhooks as fast as `--posters` concurrent clients can and waits
//! until every subscriber has every event. It reports webhooks accepted per second, frames
//! delivered per second, the service's own delivery latency (`live_delivery_seconds`: from an
//! event reaching the fan-out to its frame being written, p50 and p99 of the frames written
//! between two scrapes of `/metrics`, interpolated within its histogram's buckets), and the
//! service's RSS per subscriber (resident memory with the subscriptions open, minus idle, over
//! their number). Linux only (/proc). Needs `ulimit -n` above twice the subscribers.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/telnyx-rooms-graphql");
const KEY: &str = "KEYSAMPLE0demo0telnyx0rooms0graphql";
const ROOM: &str = "3f2a9c1e-8b7d-4c6a-9e5f-2d1b0a9c8e7f";
const SESSION: &str = "ac71ee5e-5e55-4a1c-9b0d-1e2f3a4b5c6d";

struct Options {
    scenario: String,
    subscribers: Vec<usize>,
    events: usize,
    posters: usize,
    rate: u64,
}

fn options() -> Options {
    let mut options = Options {
        scenario: "capacity".into(),
        subscribers: vec![1, 1_000, 10_000],
        events: 1_000,
        posters: 8,
        rate: 200,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--subscribers" => options.subscribers = value.split(',').map(|n| n.parse().unwrap()).collect(),
            "--events" => options.events = value.parse().unwrap(),
            "--posters" => options.posters = value.parse().unwrap(),
            "--scenario" => options.scenario = value,
            "--rate" => options.rate = value.parse().unwrap(),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    options
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

async fn wait_healthy(http: &reqwest::Client, url: &str) {
    for _ in 0..200 {
        if http.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never answered");
}

/// A signed webhook body and its headers.
fn signed(key: &SigningKey, id: &str) -> (Vec<u8>, String, String) {
    signed_for(key, id, ROOM)
}

/// A signed webhook body about `room`, and its headers.
fn signed_for(key: &SigningKey, id: &str, room: &str) -> (Vec<u8>, String, String) {
    let body = json!({ "data": {
        "record_type": "event", "event_type": "video.room.participant.joined", "id": id,
        "occurred_at": "2026-11-30T09:46:20.954863Z",
        "payload": { "room_id": room, "session_id": SESSION, "participant_id": "11111111-2222-4333-8444-555555555555", "context": "bench" },
    }})
    .to_string()
    .into_bytes();
    let ts = chrono::Utc::now().timestamp().to_string();
    let signature = key.sign(&[ts.as_bytes(), b"|", &body].concat());
    (body, base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()), ts)
}

/// Opens a subscription and counts the events it gets into `received`.
async fn subscriber(addr: String, received: Arc<AtomicU64>, ready: tokio::sync::mpsc::Sender<()>) {
    subscriber_to(addr, ROOM.to_owned(), received, ready).await
}

/// Opens a subscription to `room`'s events and counts the events it gets into `received`.
async fn subscriber_to(addr: String, room: String, received: Arc<AtomicU64>, ready: tokio::sync::mpsc::Sender<()>) {
    let mut request = format!("ws://{addr}/graphql").into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("connect");
    socket.send(Message::text(json!({ "type": "connection_init" }).to_string())).await.unwrap();
    let subscribe = json!({ "type": "subscribe", "id": "1", "payload": {
        "query": format!("subscription {{ roomEvents(roomId: \"{room}\") {{ id }} }}") } });
    let mut subscribed = false;
    while let Some(Ok(message)) = socket.next().await {
        let Message::Text(text) = message else { continue };
        let value: Value = serde_json::from_str(&text).unwrap();
        match value["type"].as_str() {
            Some("connection_ack") if !subscribed => {
                socket.send(Message::text(subscribe.to_string())).await.unwrap();
                subscribed = true;
                let _ = ready.send(()).await;
            }
            Some("next") => {
                received.fetch_add(1, Ordering::Relaxed);
            }
            Some("ping") => socket.send(Message::text(json!({ "type": "pong" }).to_string())).await.unwrap(),
            Some("error") | Some("complete") => panic!("subscription ended: {value}"),
            _ => {}
        }
    }
}

/// `count` subscribers of the room, opening in the background: how many frames they have had
/// between them, and one message from each once it has subscribed.
fn open_subscribers(addr: &str, count: usize) -> (Arc<AtomicU64>, tokio::sync::mpsc::Receiver<()>) {
    let received = Arc::new(AtomicU64::new(0));
    let (ready_tx, ready_rx) = tokio::sync::mpsc::channel(count.max(1));
    for _ in 0..count {
        tokio::spawn(subscriber(addr.to_owned(), received.clone(), ready_tx.clone()));
    }
    (received, ready_rx)
}

/// The `q` quantile of `values` (nearest rank; sorts them).
fn at(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() as f64 * q).ceil() as usize).clamp(1, values.len()) - 1]
}

/// `/metrics` as it is now.
async fn scrape(http: &reqwest::Client, addr: &str) -> String {
    http.get(format!("http://{addr}/metrics")).send().await.unwrap().text().await.unwrap()
}

/// `live_delivery_seconds`' cumulative bucket counts in a `/metrics` text, by upper bound.
fn delivery_buckets(metrics: &str) -> Vec<(f64, f64)> {
    let mut buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter_map(|line| line.strip_prefix("live_delivery_seconds_bucket{le=\""))
        .filter_map(|rest| {
            let (bound, count) = rest.split_once("\"}")?;
            Some((bound.parse().ok()?, count.trim().parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets
}

/// p50 and p99 of `live_delivery_seconds` over the frames written between the scrapes
/// `before` and `after`, in milliseconds, interpolated within buckets as Prometheus's
/// `histogram_quantile` does (so only as fine as the buckets; exact at their bounds, e.g. 50 ms).
fn quantiles(before: &str, after: &str) -> (f64, f64) {
    let before = delivery_buckets(before);
    let counts: Vec<(f64, f64)> = delivery_buckets(after)
        .into_iter()
        .map(|(bound, count)| (bound, count - before.iter().find(|b| b.0 == bound).map_or(0.0, |b| b.1)))
        .collect();
    let total = counts.last().map_or(0.0, |last| last.1);
    let q = |quantile: f64| {
        let rank = quantile * total;
        let mut previous = (0.0, 0.0);
        for &(bound, count) in &counts {
            if count >= rank && bound.is_finite() {
                let within = if count > previous.1 { (rank - previous.1) / (count - previous.1) } else { 1.0 };
                return (previous.0 + (bound - previous.0) * within) * 1000.0;
            }
            previous = (bound, count);
        }
        f64::INFINITY
    };
    (q(0.5), q(0.99))
}

async fn run(subscribers: usize, events: usize, posters: usize) -> String {
    let http = reqwest::Client::new();
    let key = SigningKey::from_bytes(&[42; 32]);
    let public = base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes());
    let (_upstream, upstream) = sample_upstream();
    let port = free_port();
    let service = start_service(port, &upstream, &public, &[]);
    let addr = format!("127.0.0.1:{port}");
    wait_healthy(&http, &format!("http://{addr}/health")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = rss_kib(service.0.id());

    let (received, mut ready_rx) = open_subscribers(&addr, subscribers);
    let url = format!("http://{addr}/webhooks/telnyx");
    warm_up(&http, &url, &key, &[ROOM.to_owned()], subscribers, &received, &mut ready_rx).await;
    let open = rss_kib(service.0.id());
    received.store(0, Ordering::Relaxed);
    let before = scrape(&http, &addr).await;

    let bodies: Vec<_> = (0..events).map(|i| signed(&key, &format!("ev-{i}"))).collect();
    let started = Instant::now();
    post_all(&http, &url, bodies, posters).await;
    let posted = started.elapsed();
    let expected = (subscribers * events) as u64;
    until_received(&received, expected, Duration::from_secs(600)).await;
    let delivered = started.elapsed();
    let (p50, p99) = quantiles(&before, &scrape(&http, &addr).await);
    let per_subscriber = (open.saturating_sub(idle) as f64 * 1024.0) / subscribers as f64;
    format!(
        "| {subscribers} | {:.0} | {:.0} | {p50:.2} | {p99:.2} | {:.1} | {:.1} |",
        events as f64 / posted.as_secs_f64(),
        expected as f64 / delivered.as_secs_f64(),
        idle as f64 / 1024.0,
        per_subscriber / 1024.0,
    )
}

/// The service (release binary) on a free port, with the bench's webhook key, against
/// `upstream`; `env` adds to its environment.
fn start_service(port: u16, upstream: &str, public: &str, env: &[(&str, String)]) -> Killed {
    let mut command = Command::new(BIN);
    command
        .args(["--listen-addr", &format!("127.0.0.1:{port}")])
        .env_clear()
        .envs([
            ("TELNYX_API_BASE_URL", upstream.to_owned()),
            ("TELNYX_API_KEY", KEY.into()),
            ("TELNYX_PUBLIC_KEY", public.to_owned()),
            ("STREAM_CONNECTIONS_PER_CALLER", "20000".into()),
            ("RUST_LOG", "warn".into()),
        ])
        .envs(env.iter().map(|(k, v)| (*k, v.clone())))
        .stdout(Stdio::null());
    Killed(command.spawn().unwrap())
}

/// A stand-in for Telnyx that knows every room it is asked about (the sample has four).
async fn any_room_upstream() -> String {
    let app = axum::Router::new().route(
        "/v2/rooms/{id}",
        axum::routing::get(|axum::extract::Path(id): axum::extract::Path<String>| async move {
            axum::Json(
                json!({ "data": { "id": id, "record_type": "room", "unique_name": id, "max_participants": 50 } }),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v2")
}

fn room_id(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

/// Posts a signed webhook and asserts the service took it.
async fn post(http: &reqwest::Client, url: &str, (body, signature, ts): (Vec<u8>, String, String)) {
    let response = http
        .post(url)
        .header("telnyx-signature-ed25519", signature)
        .header("telnyx-timestamp", ts)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// Posts every signed body, `posters` at a time.
async fn post_all(http: &reqwest::Client, url: &str, bodies: Vec<(Vec<u8>, String, String)>, posters: usize) {
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let tasks: Vec<_> = (0..posters)
        .map(|_| {
            let (queue, http, url) = (queue.clone(), http.clone(), url.to_owned());
            tokio::spawn(async move {
                loop {
                    let Some(body) = queue.lock().unwrap().pop() else { return };
                    post(&http, &url, body).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

/// Waits until `received` reaches `expected`, failing after `limit`.
async fn until_received(received: &AtomicU64, expected: u64, limit: Duration) {
    let started = Instant::now();
    while received.load(Ordering::Relaxed) < expected {
        assert!(started.elapsed() < limit, "only {} of {expected} frames", received.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The sample upstream as a second process, and its base URL.
fn sample_upstream() -> (Killed, String) {
    let port = free_port();
    let child = Command::new(BIN)
        .args(["--sample-upstream", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    (Killed(child), format!("http://127.0.0.1:{port}/v2"))
}

/// Waits until `count` subscribers have sent their `subscribe`, then posts a warm-up event to
/// each of `rooms` until every subscriber has had one: only then is every subscription
/// registered (its room lookup done). Leaves `received` at zero.
async fn warm_up(
    http: &reqwest::Client,
    url: &str,
    key: &SigningKey,
    rooms: &[String],
    count: usize,
    received: &AtomicU64,
    ready: &mut tokio::sync::mpsc::Receiver<()>,
) {
    for _ in 0..count {
        ready.recv().await.unwrap();
    }
    let started = Instant::now();
    loop {
        received.store(0, Ordering::Relaxed);
        for room in rooms {
            post(http, url, signed_for(key, &format!("warm-{room}-{}", started.elapsed().as_nanos()), room)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        if received.load(Ordering::Relaxed) >= count as u64 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(180), "subscriptions never all registered");
    }
    received.store(0, Ordering::Relaxed);
}

/// 200 rooms x 50 subscribers, webhooks spread over the rooms at `rate` a second.
async fn rooms(events: usize, rate: u64) -> String {
    const ROOMS: usize = 200;
    const PER_ROOM: usize = 50;
    let http = reqwest::Client::new();
    let key = SigningKey::from_bytes(&[42; 32]);
    let public = base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes());
    let upstream = any_room_upstream().await;
    let port = free_port();
    let service = start_service(port, &upstream, &public, &[]);
    let addr = format!("127.0.0.1:{port}");
    wait_healthy(&http, &format!("http://{addr}/health")).await;
    let idle = rss_kib(service.0.id());

    let received = Arc::new(AtomicU64::new(0));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(ROOMS * PER_ROOM);
    for room in 0..ROOMS {
        for _ in 0..PER_ROOM {
            tokio::spawn(subscriber_to(addr.clone(), room_id(room), received.clone(), ready_tx.clone()));
        }
    }
    let url = format!("http://{addr}/webhooks/telnyx");
    let rooms: Vec<String> = (0..ROOMS).map(room_id).collect();
    warm_up(&http, &url, &key, &rooms, ROOMS * PER_ROOM, &received, &mut ready_rx).await;
    let open = rss_kib(service.0.id());
    let before = scrape(&http, &addr).await;

    // Paced, each post on its own task (at most 64 at once), so a slow answer does not hold
    // the next one back; a service that cannot keep up shows as a lower rate.
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let in_flight = Arc::new(tokio::sync::Semaphore::new(64));
    let started = Instant::now();
    let mut posting = Vec::with_capacity(events);
    for i in 0..events {
        ticker.tick().await;
        let permit = in_flight.clone().acquire_owned().await.unwrap();
        let (http, url, body) = (http.clone(), url.clone(), signed_for(&key, &format!("ev-{i}"), &room_id(i % ROOMS)));
        posting.push(tokio::spawn(async move {
            post(&http, &url, body).await;
            drop(permit);
        }));
    }
    for task in posting {
        task.await.unwrap();
    }
    let posted = started.elapsed();
    until_received(&received, (events * PER_ROOM) as u64, Duration::from_secs(600)).await;
    let (p50, p99) = quantiles(&before, &scrape(&http, &addr).await);
    format!(
        "| {ROOMS} x {PER_ROOM} | {:.0} | {:.0} | {p50:.2} | {p99:.2} | {:.1} | {:.1} |",
        events as f64 / posted.as_secs_f64(),
        (events * PER_ROOM) as f64 / started.elapsed().as_secs_f64(),
        idle as f64 / 1024.0,
        open.saturating_sub(idle) as f64 / (ROOMS * PER_ROOM) as f64,
    )
}

/// 10 000 subscribers of one room; `events` events, each posted once the last reached all.
async fn one_event(subscribers: usize, events: usize) -> String {
    let http = reqwest::Client::new();
    let key = SigningKey::from_bytes(&[42; 32]);
    let public = base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes());
    let (_upstream, upstream) = sample_upstream();
    let port = free_port();
    let _service = start_service(port, &upstream, &public, &[]);
    let addr = format!("127.0.0.1:{port}");
    wait_healthy(&http, &format!("http://{addr}/health")).await;
    let (received, mut ready_rx) = open_subscribers(&addr, subscribers);
    let url = format!("http://{addr}/webhooks/telnyx");
    warm_up(&http, &url, &key, &[ROOM.to_owned()], subscribers, &received, &mut ready_rx).await;
    let before = scrape(&http, &addr).await;
    // From posting the webhook to the last subscriber reading its frame, as the clients see it.
    let mut all = Vec::with_capacity(events);
    for i in 0..events {
        received.store(0, Ordering::Relaxed);
        let started = Instant::now();
        post(&http, &url, signed(&key, &format!("one-{i}"))).await;
        until_received(&received, subscribers as u64, Duration::from_secs(60)).await;
        all.push(started.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (p50, p99) = quantiles(&before, &scrape(&http, &addr).await);
    format!("| {subscribers} | {events} | {:.1} | {:.1} | {p50:.2} | {p99:.2} |", at(&mut all, 0.5), at(&mut all, 0.99))
}

/// The fan-out with nothing of this service in it, run as its own process as the service is
/// (`--floor-server PORT`): axum's WebSocket with the service's buffer sizes, answering
/// graphql-transport-ws's `connection_init`, one task per connection reading a tokio broadcast
/// channel, and on each `POST /fire` one prebuilt `next` frame, the same bytes for everyone (no
/// GraphQL, no signature check, no per-subscriber copy, no metrics). `GET /written` answers how
/// long after the last fire its last frame was written, in microseconds.
fn floor_server(port: u16) {
    use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
    use tokio::sync::broadcast;

    type Fired = (Utf8Bytes, Instant);
    static WRITTEN_US: AtomicU64 = AtomicU64::new(0);

    async fn connection(mut socket: WebSocket, mut frames: broadcast::Receiver<Fired>) {
        let ack = Utf8Bytes::from_static(r#"{"type":"connection_ack"}"#);
        loop {
            tokio::select! {
                message = socket.recv() => match message {
                    Some(Ok(Message::Text(text))) if text.contains("connection_init") => {
                        if socket.send(Message::Text(ack.clone())).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => return,
                },
                frame = frames.recv() => match frame {
                    Ok((frame, fired)) => {
                        if socket.send(Message::Text(frame)).await.is_err() {
                            return;
                        }
                        WRITTEN_US.fetch_max(fired.elapsed().as_micros() as u64, Ordering::Relaxed);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let (frames, _) = broadcast::channel::<Fired>(16);
        let fire = frames.clone();
        let app = axum::Router::new()
            .route(
                "/graphql",
                axum::routing::get(move |ws: WebSocketUpgrade| {
                    let frames = frames.subscribe();
                    let ws = ws.protocols(["graphql-transport-ws"]).read_buffer_size(4 * 1024).write_buffer_size(0);
                    async move { ws.on_upgrade(move |socket| connection(socket, frames)) }
                }),
            )
            .route(
                "/fire",
                axum::routing::post(move |id: String| {
                    let frame =
                        format!(r#"{{"type":"next","id":"1","payload":{{"data":{{"roomEvents":{{"id":"{id}"}}}}}}}}"#);
                    WRITTEN_US.store(0, Ordering::Relaxed);
                    let _ = fire.send((Utf8Bytes::from(frame), Instant::now()));
                    async {}
                }),
            )
            .route("/written", axum::routing::get(|| async { WRITTEN_US.load(Ordering::Relaxed).to_string() }))
            .route("/health", axum::routing::get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        axum::serve(listener, app).await.unwrap();
    });
}

/// `one_event`'s clients and timing against [`floor_server`].
async fn floor(subscribers: usize, events: usize) -> String {
    let http = reqwest::Client::new();
    let port = free_port();
    let exe = std::env::current_exe().unwrap();
    let _server = Killed(Command::new(exe).args(["--floor-server", &port.to_string()]).spawn().unwrap());
    let addr = format!("127.0.0.1:{port}");
    wait_healthy(&http, &format!("http://{addr}/health")).await;
    let (received, mut ready_rx) = open_subscribers(&addr, subscribers);
    for _ in 0..subscribers {
        ready_rx.recv().await.unwrap();
    }
    let fire = |id: String| http.post(format!("http://{addr}/fire")).body(id).send();
    fire("warm".into()).await.unwrap();
    until_received(&received, subscribers as u64, Duration::from_secs(60)).await;
    let (mut all, mut written) = (Vec::with_capacity(events), Vec::with_capacity(events));
    for i in 0..events {
        received.store(0, Ordering::Relaxed);
        let started = Instant::now();
        fire(format!("one-{i}")).await.unwrap();
        until_received(&received, subscribers as u64, Duration::from_secs(60)).await;
        all.push(started.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let last = http.get(format!("http://{addr}/written")).send().await.unwrap().text().await.unwrap();
        written.push(last.parse::<f64>().unwrap() / 1000.0);
    }
    format!(
        "| {subscribers} | {events} | {:.1} | {:.1} | {:.1} | {:.1} |",
        at(&mut all, 0.5),
        at(&mut all, 0.99),
        at(&mut written, 0.5),
        at(&mut written, 0.99)
    )
}

/// Subscribes to the room's events with `{ id cursor }`, counts events into `received` and,
/// when the connection drops, reconnects (every 50 ms until it can) resuming after the last
/// cursor through `connection_init`'s `resume`.
async fn resuming_subscriber(addr: String, received: Arc<AtomicU64>, ready: tokio::sync::mpsc::Sender<()>) {
    let mut cursor: Option<String> = None;
    loop {
        let mut request = format!("ws://{addr}/graphql").into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let Ok((mut socket, _)) = tokio_tungstenite::connect_async(request).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let init =
            json!({ "type": "connection_init", "payload": { "resume": cursor.as_ref().map(|c| json!({ "1": c })) } });
        if socket.send(Message::text(init.to_string())).await.is_err() {
            continue;
        }
        let subscribe = json!({ "type": "subscribe", "id": "1", "payload": {
            "query": format!("subscription {{ roomEvents(roomId: \"{ROOM}\") {{ id cursor }} }}") } });
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else { continue };
            let value: Value = serde_json::from_str(&text).unwrap();
            match value["type"].as_str() {
                Some("connection_ack") => {
                    socket.send(Message::text(subscribe.to_string())).await.unwrap();
                    if cursor.is_none() {
                        let _ = ready.send(()).await;
                    }
                }
                Some("next") => {
                    let event = &value["payload"]["data"]["roomEvents"];
                    assert!(event["cursor"].is_string(), "{value}");
                    cursor = event["cursor"].as_str().map(str::to_owned);
                    received.fetch_add(1, Ordering::Relaxed);
                }
                Some("ping") => socket.send(Message::text(json!({ "type": "pong" }).to_string())).await.unwrap(),
                Some("error") | Some("complete") => panic!("subscription ended: {value}"),
                _ => {}
            }
        }
    }
}

/// 1 000 subscribers resuming at once after a replica restart, each replaying `events`.
async fn resume(subscribers: usize, events: usize) -> String {
    let http = reqwest::Client::new();
    let key = SigningKey::from_bytes(&[42; 32]);
    let public = base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes());
    let redis_port = free_port();
    let _redis = Killed(
        Command::new("redis-server")
            .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH"),
    );
    let (_upstream, upstream) = sample_upstream();
    let env = [("REDIS_URL", format!("redis://127.0.0.1:{redis_port}"))];
    let (a_port, b_port) = (free_port(), free_port());
    let mut a = start_service(a_port, &upstream, &public, &env);
    let _b = start_service(b_port, &upstream, &public, &env);
    for port in [a_port, b_port] {
        wait_healthy(&http, &format!("http://127.0.0.1:{port}/health")).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let addr = format!("127.0.0.1:{a_port}");
    let received = Arc::new(AtomicU64::new(0));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(subscribers);
    for _ in 0..subscribers {
        tokio::spawn(resuming_subscriber(addr.clone(), received.clone(), ready_tx.clone()));
    }
    let to_a = format!("http://{addr}/webhooks/telnyx");
    warm_up(&http, &to_a, &key, &[ROOM.to_owned()], subscribers, &received, &mut ready_rx).await;
    // A rolling restart of A: SIGTERM, the webhooks go to B meanwhile, A starts again.
    let _ = Command::new("kill").args(["-TERM", &a.0.id().to_string()]).status();
    let _ = a.0.wait();
    let to_b = format!("http://127.0.0.1:{b_port}/webhooks/telnyx");
    for i in 0..events {
        post(&http, &to_b, signed(&key, &format!("missed-{i}"))).await;
    }
    a = start_service(a_port, &upstream, &public, &env);
    let restarted = Instant::now();
    wait_healthy(&http, &format!("http://{addr}/health")).await;
    let expected = (subscribers * events) as u64;
    let mut peak = 0;
    while received.load(Ordering::Relaxed) < expected {
        assert!(
            restarted.elapsed() < Duration::from_secs(300),
            "only {} of {expected}",
            received.load(Ordering::Relaxed)
        );
        peak = peak.max(rss_kib(a.0.id()));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let replayed = restarted.elapsed();
    assert_eq!(received.load(Ordering::Relaxed), expected, "nothing twice");
    format!(
        "| {subscribers} | {events} | {:.0} | {:.0} | {:.1} |",
        replayed.as_secs_f64() * 1000.0,
        expected as f64 / replayed.as_secs_f64(),
        peak as f64 / 1024.0
    )
}

/// A `roomEvents { id cursor }` subscription over SSE (graphql-sse), read frame by frame.
struct SseReader {
    response: reqwest::Response,
    text: String,
}

impl SseReader {
    async fn open(http: &reqwest::Client, addr: &str, after: Option<&str>) -> Self {
        let query =
            format!("subscription($after: String) {{ roomEvents(roomId: \"{ROOM}\", after: $after) {{ id cursor }} }}");
        let response = http
            .post(format!("http://{addr}/graphql"))
            .header("accept", "text/event-stream")
            .json(&json!({ "query": query, "variables": { "after": after } }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        Self { response, text: String::new() }
    }

    /// The next event's webhook id and cursor (panics on anything else).
    async fn next(&mut self) -> (String, String) {
        loop {
            if let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let data = block.lines().find_map(|l| l.strip_prefix("data:")).unwrap_or_default().trim_start();
                if !block.contains("event: next") {
                    assert!(!block.contains("event:"), "the replay ended: {block}");
                    continue;
                }
                let value: Value = serde_json::from_str(data).unwrap();
                let event = &value["data"]["roomEvents"];
                assert!(event.is_object(), "{value}");
                return (event["id"].as_str().unwrap().to_owned(), event["cursor"].as_str().unwrap().to_owned());
            }
            let chunk = self.response.chunk().await.unwrap().expect("the stream is open");
            self.text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

/// One replay of `events` events after the first one's cursor, read at once, while a live
/// subscriber gets a live event every 50 ms; `redis` adds `REDIS_URL`.
async fn replay(events: usize, redis: Option<&str>) -> String {
    let http = reqwest::Client::new();
    let key = SigningKey::from_bytes(&[42; 32]);
    let public = base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes());
    let (_upstream, upstream) = sample_upstream();
    let port = free_port();
    let mut env = vec![("LIVE_RETENTION_EVENTS", "110000".to_owned())];
    if let Some(url) = redis {
        env.push(("REDIS_URL", url.to_owned()));
    }
    let service = start_service(port, &upstream, &public, &env);
    let addr = format!("127.0.0.1:{port}");
    wait_healthy(&http, &format!("http://{addr}/health")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let url = format!("http://{addr}/webhooks/telnyx");

    // The cursor the replay starts after: of a first event, posted (under a new id each time)
    // until the subscription, registered once its room lookup is done, gets one.
    let mut first = SseReader::open(&http, &addr, None).await;
    let mut cursor = None;
    for attempt in 0..100 {
        post(&http, &url, signed(&key, &format!("first-{attempt}"))).await;
        if let Ok((_, got)) = tokio::time::timeout(Duration::from_millis(500), first.next()).await {
            cursor = Some(got);
            break;
        }
    }
    let cursor = cursor.expect("the first subscription never got an event");
    drop(first);
    let bodies: Vec<_> = (1..=events).map(|i| signed(&key, &format!("bulk-{i}"))).collect();
    post_all(&http, &url, bodies, 8).await;

    // A live subscriber of the room, registered before the replay starts.
    let received = Arc::new(AtomicU64::new(0));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(subscriber(addr.clone(), received.clone(), ready_tx));
    ready_rx.recv().await.unwrap();
    for attempt in 0.. {
        assert!(attempt < 100, "the live subscription never got an event");
        post(&http, &url, signed(&key, &format!("warm-{attempt}"))).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        if received.load(Ordering::Relaxed) > 0 {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(service.0.id());

    let replaying = {
        let (http, addr) = (http.clone(), addr.clone());
        tokio::spawn(async move {
            let mut stream = SseReader::open(&http, &addr, Some(&cursor)).await;
            let started = Instant::now();
            let mut bulk = 0;
            while bulk < events {
                if stream.next().await.0.starts_with("bulk-") {
                    bulk += 1;
                }
            }
            started.elapsed()
        })
    };
    let mut peak = before;
    let mut latencies = Vec::new();
    let mut next_live = Instant::now();
    while !replaying.is_finished() {
        peak = peak.max(rss_kib(service.0.id()));
        if Instant::now() >= next_live {
            next_live += Duration::from_millis(50);
            let seen = received.load(Ordering::Relaxed);
            let started = Instant::now();
            post(&http, &url, signed(&key, &format!("live-{}", latencies.len()))).await;
            while received.load(Ordering::Relaxed) == seen {
                assert!(started.elapsed() < Duration::from_secs(60), "a live event was never delivered");
                peak = peak.max(rss_kib(service.0.id()));
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let took = replaying.await.unwrap();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies.get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1)).copied();
    format!(
        "| {} | {events} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {:.1} | {:.1} |",
        if redis.is_some() { "Redis" } else { "in process" },
        took.as_secs_f64() * 1000.0,
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        peak.saturating_sub(before) as f64 / 1024.0,
        latencies.len(),
        at(0.5).unwrap_or(f64::NAN),
        at(1.0).unwrap_or(f64::NAN),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, port] = &args[..] {
        if flag == "--floor-server" {
            return floor_server(port.parse().unwrap());
        }
    }
    let options = options();
    assert!(std::path::Path::new(BIN).exists(), "build the release binary first: cargo build --release");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    match options.scenario.as_str() {
        "rooms" => {
            println!("{} webhooks at {}/s over 200 rooms\n", options.events, options.rate);
            println!("| rooms x subscribers | webhooks/s | frames/s | delivery p50 (ms) | delivery p99 (ms) | idle RSS (MiB) | RSS per subscriber (KiB) |");
            println!("|---|---|---|---|---|---|---|");
            println!("{}", runtime.block_on(rooms(options.events, options.rate)));
        }
        "one-event" => {
            println!("| subscribers | events | all delivered p50 (ms) | all delivered p99 (ms) | delivery p50 (ms) | delivery p99 (ms) |");
            println!("|---|---|---|---|---|---|");
            let subscribers = options.subscribers.last().copied().unwrap_or(10_000);
            println!("{}", runtime.block_on(one_event(subscribers, options.events.min(200))));
        }
        "floor" => {
            println!("| subscribers | events | all delivered p50 (ms) | all delivered p99 (ms) | last written p50 (ms) | last written p99 (ms) |");
            println!("|---|---|---|---|---|---|");
            let subscribers = options.subscribers.last().copied().unwrap_or(10_000);
            println!("{}", runtime.block_on(floor(subscribers, options.events.min(200))));
        }
        "replay" => {
            println!("| history | events replayed | replay (ms) | RSS before (MiB) | peak RSS during (MiB) | growth (MiB) | live events during | live p50 (ms) | live max (ms) |");
            println!("|---|---|---|---|---|---|---|---|---|");
            for events in [1_000, 100_000] {
                println!("{}", runtime.block_on(replay(events, None)));
            }
            let redis_port = free_port();
            let Ok(child) = Command::new("redis-server")
                .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .spawn()
            else {
                return println!("(no redis-server on PATH: Redis mode skipped)");
            };
            let redis = Killed(child);
            std::thread::sleep(Duration::from_millis(500));
            let url = format!("redis://127.0.0.1:{redis_port}");
            for events in [1_000, 100_000] {
                let mut flush = Command::new("redis-cli");
                let _ = flush.args(["-p", &redis_port.to_string(), "FLUSHALL"]).stdout(Stdio::null()).status();
                println!("{}", runtime.block_on(replay(events, Some(&url))));
            }
            drop(redis);
        }
        "resume" => {
            println!("| subscribers | events each | all replayed (ms) | frames/s | peak RSS (MiB) |");
            println!("|---|---|---|---|---|");
            println!("{}", runtime.block_on(resume(1_000, 100)));
        }
        _ => {
            println!("{} events, {} concurrent posters\n", options.events, options.posters);
            println!("| subscribers | webhooks/s | frames/s | delivery p50 (ms) | delivery p99 (ms) | idle RSS (MiB) | RSS per subscriber (KiB) |");
            println!("|---|---|---|---|---|---|---|");
            for subscribers in options.subscribers {
                println!("{}", runtime.block_on(run(subscribers, options.events, options.posters)));
            }
        }
    }
}
