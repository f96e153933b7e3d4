use std::net::SocketAddr;

use clap::Parser;
use serde_json::{json, Value};
use telnyx_rooms_graphql::config::Config;
use telnyx_rooms_graphql::sample_upstream::{SampleUpstream, SAMPLE_API_KEY};
use telnyx_rooms_graphql::{app, sample_upstream};

/// A running service.
pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
}

/// The configuration for `base_url`, with `api_key` as its configured key (never read from
/// this process's environment) and any further tweaks.
pub fn config(base_url: &str, api_key: Option<&str>, tweak: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config::try_parse_from(["telnyx-rooms-graphql", "--telnyx-api-base-url", base_url]).unwrap();
    config.telnyx_api_key = api_key.map(Into::into);
    tweak(&mut config);
    config
}

/// Starts the service against `base_url` (see [`config`]).
pub async fn spawn_app_with(base_url: &str, api_key: Option<&str>, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_on(listener, &config(base_url, api_key, tweak))
}

/// Starts the service with `config` on `listener`, for a test that needs the address first.
pub fn serve_on(listener: tokio::net::TcpListener, config: &Config) -> TestApp {
    let addr = listener.local_addr().unwrap();
    let app = app::build(config).unwrap();
    tokio::spawn(app::serve(listener, app, std::future::pending()));
    TestApp { addr, http: reqwest::Client::new() }
}

pub async fn spawn_app(base_url: &str, api_key: Option<&str>) -> TestApp {
    spawn_app_with(base_url, api_key, |_| {}).await
}

/// The sample upstream and the service configured with its key.
pub async fn spawn_sample() -> (SampleUpstream, TestApp) {
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let app = spawn_app(&upstream.base_url(), Some(SAMPLE_API_KEY)).await;
    (upstream, app)
}

impl TestApp {
    pub fn url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    /// `/ready`'s answer once it is a plain "ready" (with Redis: once this instance reads the
    /// stream of live events), or after 5 s.
    pub async fn fully_ready(&self) -> String {
        let mut ready = String::new();
        for _ in 0..50 {
            ready = self.http.get(format!("http://{}/ready", self.addr)).send().await.unwrap().text().await.unwrap();
            if ready == "ready" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        ready
    }

    /// POSTs a query and returns the raw response.
    pub async fn post(&self, query: &str, variables: Value, authorization: Option<&str>) -> reqwest::Response {
        let mut request = self.http.post(self.url()).json(&json!({ "query": query, "variables": variables }));
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        request.send().await.unwrap()
    }

    /// POSTs a query and returns the parsed body.
    pub async fn query(&self, query: &str, variables: Value) -> Value {
        self.post(query, variables, None).await.json().await.unwrap()
    }
}

/// Ids of a seeded session's participants in upstream order.
pub fn sample_ids(upstream: &SampleUpstream, session: &str) -> Vec<String> {
    upstream.data.participants.iter().filter(|p| p.session_id == session).map(|p| p.id.clone()).collect()
}

/// The `extensions.code` of every error in a response.
pub fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| errors.iter().map(|e| e["extensions"]["code"].as_str().unwrap_or("<none>").to_owned()).collect())
        .unwrap_or_default()
}

pub const PARTICIPANTS_PAGE: &str = r#"
query($id: ID!, $first: Int, $after: String, $last: Int, $before: String, $filter: RoomParticipantFilter) {
  roomSession(id: $id) {
    participants(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
      edges { cursor node { id } }
      pageInfo { hasPreviousPage hasNextPage startCursor endCursor }
      totalCount
    }
  }
}"#;

pub use sample_upstream::ids;

/// The sample upstream and the service configured with its key and any further tweaks.
pub async fn spawn_sample_with(tweak: impl FnOnce(&mut Config)) -> (SampleUpstream, TestApp) {
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let app = spawn_app_with(&upstream.base_url(), Some(SAMPLE_API_KEY), tweak).await;
    (upstream, app)
}

/// One event of a Server-Sent Events stream.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SseFrame {
    /// `event:`.
    pub event: String,
    /// `id:`, if the server set one.
    pub id: Option<String>,
    /// `data:` (its lines joined).
    pub data: String,
}

/// The events of a Server-Sent Events text, comments (keep-alives) left out.
pub fn sse_frames(text: &str) -> Vec<SseFrame> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut frame = SseFrame::default();
            for line in block.lines() {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "event" => frame.event = value.to_owned(),
                    "id" => frame.id = Some(value.to_owned()),
                    "data" if frame.data.is_empty() => frame.data = value.to_owned(),
                    "data" => frame.data = format!("{}\n{value}", frame.data),
                    _ => {}
                }
            }
            (!frame.event.is_empty()).then_some(frame)
        })
        .collect()
}
