//! Live events under load, run by hand:
//!
//! ```sh
//! cargo build --release && cargo bench --bench live                        # 1, 1 000 and 10 000 subscribers
//! cargo bench --bench live -- --subscribers 1,100 --events 500 --posters 4   # a quicker run
//! ```
//!
//! For each number of subscribers it starts the release binary (and the sample upstream as a
//! second process), opens that many graphql-transport-ws subscriptions to one room's events,
//! then posts Telnyx-signed webhooks as fast as `--posters` concurrent clients can and waits
//! until every subscriber has every event. It reports webhooks accepted per second, frames
//! delivered per second, the service's own delivery latency (`live_delivery_seconds`: from an
//! event reaching the fan-out to its frame being written, p50 and p99 from `/metrics`), and the
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
    subscribers: Vec<usize>,
    events: usize,
    posters: usize,
}

fn options() -> Options {
    let mut options = Options { subscribers: vec![1, 1_000, 10_000], events: 1_000, posters: 8 };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--subscribers" => options.subscribers = value.split(',').map(|n| n.parse().unwrap()).collect(),
            "--events" => options.events = value.parse().unwrap(),
            "--posters" => options.posters = value.parse().unwrap(),
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
    let body = json!({ "data": {
        "record_type": "event", "event_type": "video.room.participant.joined", "id": id,
        "occurred_at": "2026-11-30T09:46:20.954863Z",
        "payload": { "room_id": ROOM, "session_id": SESSION, "participant_id": "11111111-2222-4333-8444-555555555555", "context": "bench" },
    }})
    .to_string()
    .into_bytes();
    let ts = chrono::Utc::now().timestamp().to_string();
    let signature = key.sign(&[ts.as_bytes(), b"|", &body].concat());
    (body, base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()), ts)
}

/// Opens a subscription and counts the events it gets into `received`.
async fn subscriber(addr: String, received: Arc<AtomicU64>, ready: tokio::sync::mpsc::Sender<()>) {
    let mut request = format!("ws://{addr}/graphql").into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("connect");
    socket.send(Message::text(json!({ "type": "connection_init" }).to_string())).await.unwrap();
    let subscribe = json!({ "type": "subscribe", "id": "1", "payload": {
        "query": format!("subscription {{ roomEvents(roomId: \"{ROOM}\") {{ id }} }}") } });
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

/// p50 and p99 of `live_delivery_seconds` from /metrics, in milliseconds.
fn quantiles(metrics: &str) -> (f64, f64) {
    let q = |quantile: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("live_delivery_seconds{{quantile=\"{quantile}\"}}")))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(f64::NAN, |s| s * 1000.0)
    };
    (q("0.5"), q("0.99"))
}

async fn run(subscribers: usize, events: usize, posters: usize) -> String {
    let http = reqwest::Client::new();
    let key = SigningKey::from_bytes(&[42; 32]);
    let public = base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes());
    let (upstream_port, port) = (free_port(), free_port());
    let _upstream = Killed(
        Command::new(BIN)
            .args(["--sample-upstream", &format!("127.0.0.1:{upstream_port}")])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let service = Killed(
        Command::new(BIN)
            .args(["--listen-addr", &format!("127.0.0.1:{port}")])
            .env_clear()
            .envs([
                ("TELNYX_API_BASE_URL", format!("http://127.0.0.1:{upstream_port}/v2")),
                ("TELNYX_API_KEY", KEY.into()),
                ("TELNYX_PUBLIC_KEY", public),
                ("STREAM_CONNECTIONS_PER_CALLER", (subscribers + 10).to_string()),
                ("RUST_LOG", "warn".into()),
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr = format!("127.0.0.1:{port}");
    wait_healthy(&http, &format!("http://{addr}/health")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = rss_kib(service.0.id());

    let received = Arc::new(AtomicU64::new(0));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(subscribers.max(1));
    for _ in 0..subscribers {
        tokio::spawn(subscriber(addr.clone(), received.clone(), ready_tx.clone()));
    }
    for _ in 0..subscribers {
        ready_rx.recv().await.unwrap();
    }
    // Every subscription is registered once a warm-up event reaches them all.
    let url = format!("http://{addr}/webhooks/telnyx");
    let post = |(body, signature, ts): (Vec<u8>, String, String)| {
        http.post(&url).header("telnyx-signature-ed25519", signature).header("telnyx-timestamp", ts).body(body).send()
    };
    let started = Instant::now();
    loop {
        received.store(0, Ordering::Relaxed);
        post(signed(&key, &format!("warm-{}", started.elapsed().as_nanos()))).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        if received.load(Ordering::Relaxed) >= subscribers as u64 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "subscriptions never all registered");
    }
    let open = rss_kib(service.0.id());
    received.store(0, Ordering::Relaxed);
    let _ = http.get(format!("http://{addr}/metrics")).send().await;

    let bodies: Vec<_> = (0..events).map(|i| signed(&key, &format!("ev-{i}"))).collect();
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let started = Instant::now();
    let tasks: Vec<_> = (0..posters)
        .map(|_| {
            let (queue, http, url) = (queue.clone(), http.clone(), url.clone());
            tokio::spawn(async move {
                loop {
                    let Some((body, signature, ts)) = queue.lock().unwrap().pop() else { return };
                    let response = http
                        .post(&url)
                        .header("telnyx-signature-ed25519", signature)
                        .header("telnyx-timestamp", ts)
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let posted = started.elapsed();
    let expected = (subscribers * events) as u64;
    while received.load(Ordering::Relaxed) < expected {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "only {} of {expected} frames",
            received.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delivered = started.elapsed();
    let metrics = http.get(format!("http://{addr}/metrics")).send().await.unwrap().text().await.unwrap();
    let (p50, p99) = quantiles(&metrics);
    let per_subscriber = (open.saturating_sub(idle) as f64 * 1024.0) / subscribers as f64;
    format!(
        "| {subscribers} | {:.0} | {:.0} | {p50:.2} | {p99:.2} | {:.1} | {:.1} |",
        events as f64 / posted.as_secs_f64(),
        expected as f64 / delivered.as_secs_f64(),
        idle as f64 / 1024.0,
        per_subscriber / 1024.0,
    )
}

fn main() {
    let options = options();
    assert!(std::path::Path::new(BIN).exists(), "build the release binary first: cargo build --release");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!("{} events, {} concurrent posters\n", options.events, options.posters);
    println!("| subscribers | webhooks/s | frames/s | delivery p50 (ms) | delivery p99 (ms) | idle RSS (MiB) | RSS per subscriber (KiB) |");
    println!("|---|---|---|---|---|---|---|");
    for subscribers in options.subscribers {
        println!("{}", runtime.block_on(run(subscribers, options.events, options.posters)));
    }
}
