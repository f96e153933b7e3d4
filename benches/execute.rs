//! The facade's own cost per query, in-process and without network: one GraphQL execution of
//! each of `bench/run.py`'s scenarios (a)–(f) against the sample upstream's answers, recorded
//! once and then replayed from memory, so only the facade's work is measured.
//!
//! - `cargo bench --bench execute`: wall time per execution (criterion), between commits.
//! - `execute --instructions <scenario> <n>` (run by `bench/instructions.py` under callgrind):
//!   executes the scenario once to warm up, then `n` times inside [`measured`], the only
//!   function callgrind collects in. Instruction counts repeat to within a fraction of a
//!   percent on a noisy machine, where times do not: CI holds them to a budget.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::Request;
use criterion::Criterion;
use telnyx_rooms_graphql::sample_upstream::{self, ids, RequestLog, SampleData};
use telnyx_rooms_graphql::schema::{self, Executor, RequestLimits, RequestPolicy, SchemaOptions, Upstream};
use telnyx_rooms_graphql::telnyx::{
    Call, Client, ClientConfig, Credential, Outgoing, RawResponse, Transport, UpstreamError,
};
use tower::ServiceExt;

/// The same allocator as the binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ALL_FIELDS: &str = "id sessionId context joinedAt updatedAt leftAt";

/// `bench/run.py`'s scenarios: a tag, a title, the connection's arguments and its selection.
fn scenarios(after: &str) -> Vec<(&'static str, &'static str, String, String)> {
    let connection = format!(
        "edges {{ cursor node {{ {ALL_FIELDS} }} }} pageInfo {{ hasPreviousPage hasNextPage startCursor endCursor }} totalCount"
    );
    vec![
        ("a", "20 participants, all fields", "first: 20".into(), connection.clone()),
        ("b", "250 participants", "first: 250".into(), connection.clone()),
        ("c", "first: 1000 (fan-out)", "first: 1000".into(), connection.clone()),
        ("d", "totalCount only", String::new(), "totalCount".into()),
        ("e", "filtered (context)", r#"first: 20, filter: { context: "Alice" }"#.into(), connection.clone()),
        ("f", "unaligned after window", format!(r#"first: 20, after: "{after}""#), connection),
    ]
}

fn document(arguments: &str, selection: &str) -> String {
    let arguments = if arguments.is_empty() { String::new() } else { format!("({arguments})") };
    format!(
        r#"query Bench {{ roomSession(id: "{}") {{ participants{arguments} {{ {selection} }} }} }}"#,
        ids::LARGE_SESSION
    )
}

/// The sample upstream, in-process: each URL is answered by its router once, then from memory.
struct Recorded {
    router: axum::Router,
    answers: Mutex<HashMap<String, Vec<u8>>>,
}

#[async_trait::async_trait]
impl Transport for Recorded {
    async fn send(&self, request: Outgoing<'_>, _call: &Call) -> Result<RawResponse, UpstreamError> {
        if let Some(body) = self.answers.lock().unwrap().get(request.url.as_str()) {
            return Ok(RawResponse { status: 200, retry_after: None, body: Ok(body.clone()) });
        }
        let uri = request.url.as_str().strip_prefix("http://upstream.invalid").expect("the bench's base URL");
        let http_request = axum::http::Request::get(uri)
            .header("authorization", format!("Bearer {}", sample_upstream::SAMPLE_API_KEY))
            .body(axum::body::Body::empty())
            .unwrap();
        let response = self.router.clone().oneshot(http_request).await.unwrap();
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec();
        assert_eq!(status, 200, "{uri}: {}", String::from_utf8_lossy(&body));
        self.answers.lock().unwrap().insert(request.url.to_string(), body.clone());
        Ok(RawResponse { status, retry_after: None, body: Ok(body) })
    }
}

/// Everything one execution needs, built once.
struct Bench {
    schema: Executor,
    client: Client,
    credential: Credential,
    runtime: tokio::runtime::Runtime,
}

impl Bench {
    fn new() -> Self {
        let config = ClientConfig {
            base_url: "http://upstream.invalid/v2".parse().unwrap(),
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            max_body_bytes: 1 << 24,
            max_attempts: 1,
            retry_base: Duration::from_millis(10),
            max_in_flight: 64,
        };
        let router = sample_upstream::router(Arc::new(SampleData::seeded()), RequestLog::default());
        let transport = Recorded { router, answers: Mutex::default() };
        Bench {
            schema: schema::build(SchemaOptions::default()),
            client: Client::with_transport(&config, Arc::new(transport)),
            credential: Credential::from_api_key(&sample_upstream::SAMPLE_API_KEY.into()).unwrap(),
            runtime: tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap(),
        }
    }

    /// One execution of `query`, as `/graphql` runs it: its own upstream access and limits,
    /// and the response's JSON written (which a compiled plan does as it executes).
    async fn execute(&self, query: &str) -> Vec<u8> {
        let limits = RequestLimits {
            deadline: tokio::time::Instant::now() + Duration::from_secs(5),
            max_upstream_requests: 100,
            traceparent: None,
        };
        let credential = Ok(self.credential.clone());
        let upstream = Arc::new(Upstream::new(self.client.clone(), credential.clone(), credential, limits));
        let policy = RequestPolicy { mutations: true, federation_sdl: true, streams: false };
        let answer = self.schema.execute(Request::new(query).data(upstream), policy).await;
        if let Some(response) = answer.response() {
            assert!(response.errors.is_empty(), "{:?}", response.errors);
        }
        let mut json = Vec::new();
        answer.write_json(&mut json);
        json
    }

    /// The end cursor of the first 5 participants: scenario (f) starts after it.
    fn cursor_after_five(&self) -> String {
        let response = self.runtime.block_on(self.execute(&document("first: 5", "pageInfo { endCursor }")));
        let data: serde_json::Value = serde_json::from_slice::<serde_json::Value>(&response).unwrap()["data"].clone();
        data["roomSession"]["participants"]["pageInfo"]["endCursor"].as_str().unwrap().to_owned()
    }
}

/// `n` executions of `query`: all that callgrind counts (`--toggle-collect=*::measured`).
#[inline(never)]
fn measured(bench: &Bench, query: &str, n: usize) {
    bench.runtime.block_on(async {
        for _ in 0..n {
            std::hint::black_box(bench.execute(query).await);
        }
    });
}

fn instructions(tag: &str, n: usize) {
    let bench = Bench::new();
    let after = bench.cursor_after_five();
    let Some((_, _, arguments, selection)) = scenarios(&after).into_iter().find(|(t, ..)| *t == tag) else {
        panic!("no scenario {tag}: a to f");
    };
    let query = document(&arguments, &selection);
    // The upstream's answers recorded, the document cached, every lazy thing initialised.
    warm_up(&bench, &query);
    measured(&bench, &query, n);
}

/// Not counted: outside [`measured`]. Twice: the first execution parses and fully validates
/// the document; the second is the first to skip that, and builds the schema that does.
#[inline(never)]
fn warm_up(bench: &Bench, query: &str) {
    bench.runtime.block_on(async {
        bench.execute(query).await;
        bench.execute(query).await;
    });
}

fn criterion(c: &mut Criterion) {
    let bench = Bench::new();
    let after = bench.cursor_after_five();
    for (tag, title, arguments, selection) in scenarios(&after) {
        let query = document(&arguments, &selection);
        c.bench_function(&format!("execute scenario ({tag}): {title}"), |b| {
            b.to_async(&bench.runtime).iter(|| bench.execute(&query))
        });
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--instructions") {
        let tag = args.get(at + 1).expect("--instructions <scenario> <n>");
        let n = args.get(at + 2).and_then(|n| n.parse().ok()).expect("--instructions <scenario> <n>");
        instructions(tag, n);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    criterion(&mut c);
    c.final_summary();
}
