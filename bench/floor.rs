//! The least a facade on this stack can cost: a bare proxy, run by `bench/run.py` beside the
//! service (its "floor" line), or by hand:
//!
//! ```text
//! cargo bench --bench floor -- 127.0.0.1:9000 http://127.0.0.1:8001/v2/room_sessions/<id>/participants
//! ```
//!
//! `POST /graphql` reads the request body, sends one `GET {upstream}?page[size]=1&page[number]=1`
//! with the sample upstream's key through a `reqwest` client built as the service builds its
//! own (rustls, timeouts, user agent), reads the whole answer, takes `meta.total_results` out
//! of it with serde and answers `{"data":{"roomSession":{"participants":{"totalCount":N}}}}`:
//! scenario (d)'s two HTTP exchanges on axum, hyper, reqwest, tokio and mimalloc, with nothing
//! else. No GraphQL, no request id, no log line, no metrics, no limits, no retries.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const KEY: &str = "Bearer KEYSAMPLE0demo0telnyx0rooms0graphql";

#[derive(serde::Deserialize)]
struct Body {
    meta: Meta,
}

#[derive(serde::Deserialize)]
struct Meta {
    total_results: u64,
}

#[derive(Clone)]
struct Proxy {
    http: reqwest::Client,
    url: url::Url,
}

async fn graphql(State(proxy): State<Proxy>, _query: Bytes) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let response = proxy
        .http
        .get(proxy.url.clone())
        .header(AUTHORIZATION, KEY)
        .header(ACCEPT, "application/json")
        .send()
        .await
        .expect("the upstream answers");
    let body: Body = serde_json::from_slice(&response.bytes().await.expect("a whole body")).expect("a list body");
    let total = body.meta.total_results;
    (
        [(CONTENT_TYPE, "application/json")],
        format!(r#"{{"data":{{"roomSession":{{"participants":{{"totalCount":{total}}}}}}}}}"#),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [listen, upstream] = args.as_slice() else {
        eprintln!("usage: floor LISTEN_ADDR UPSTREAM_PARTICIPANTS_URL");
        std::process::exit(2);
    };
    let mut url: url::Url = upstream.parse().expect("an upstream URL");
    url.set_query(Some("page[size]=1&page[number]=1"));
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .user_agent("floor")
        .build()
        .expect("a TLS backend");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let app = axum::Router::new()
            .route("/graphql", axum::routing::post(graphql))
            .route("/health", axum::routing::get(|| async { "ok" }))
            .with_state(Proxy { http, url });
        let listener = tokio::net::TcpListener::bind(listen.as_str()).await.expect("a free address");
        axum::serve(listener, app).await.unwrap();
    });
}
