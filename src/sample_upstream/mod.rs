//! A seeded, deterministic fake of Telnyx's Video API: the eight reads and the nine writes.
//!
//! `--demo`, the integration tests and the benchmarks run against it, so it follows the
//! documented semantics (bearer auth, paging bounds, date filters on UTC calendar dates, body
//! validation, error envelopes) instead of returning canned JSON. [`SampleData::seeded`] builds
//! the data from arithmetic and a tiny LCG, so every run starts from the same bytes; writes
//! change an in-memory copy that later reads see, and hand out ids in a fixed sequence.
//! [`RequestLog`] records what the facade sent (method, path and query, body), so tests can
//! assert on upstream traffic. [`SampleUpstream::start_live_room`] (only `--demo` calls it)
//! keeps one room live, posting Telnyx-signed webhooks as it changes.

mod body;
mod data;
mod error;
mod faults;
mod live;
mod log;
mod read;
mod store;
mod token;
mod write;

pub use data::{Participant, Room, SampleData, Session};
pub use faults::Faults;
pub use live::{demo_public_key, live_room_subscription, LiveRoom};
pub use log::{RecordedRequest, RequestLog};

use std::{net::SocketAddr, sync::Arc};

use axum::{
    extract::Request,
    http::header,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};

use error::ApiError;
use faults::inject;
use log::record;
use store::Store;

/// Bearer token the sample upstream accepts (`Authorization: Bearer <SAMPLE_API_KEY>`).
pub const SAMPLE_API_KEY: &str = "KEYSAMPLE0demo0telnyx0rooms0graphql";

/// Well-known ids of seeded sessions, for docs and tests.
pub mod ids {
    /// A finished "standup" session nobody joined: 0 participants.
    pub const EMPTY_SESSION: &str = "0e1d2c3b-4a59-4687-a7b6-c5d4e3f2a1b0";
    /// A finished "standup" session with 1 participant, [`PARTICIPANT`].
    pub const SINGLE_SESSION: &str = "51a6e1e0-5e55-4011-8a6b-0c3d2e1f4a5b";
    /// A finished session of "Zoë's room" with 53 participants, joining across midnight.
    pub const MEDIUM_SESSION: &str = "5d3e7f19-0c2b-4a48-b6e5-7f9a1c3e5d72";
    /// A finished "all-hands" session with 613 participants, joining over four calendar days.
    pub const LARGE_SESSION: &str = "7a1b2c3d-9e8f-4a0b-8c1d-2e3f4a5b6c7d";
    /// The active "all-hands" session: 9 participants, 3 of them still in (no `left_at`), as
    /// seeded; the live room ([`super::SampleUpstream::start_live_room`]) changes it.
    pub const ACTIVE_SESSION: &str = "ac71ee5e-5e55-4a1c-9b0d-1e2f3a4b5c6d";
    /// The "all-hands" room: 4 sessions, including [`LARGE_SESSION`] and [`ACTIVE_SESSION`].
    pub const ROOM: &str = "3f2a9c1e-8b7d-4c6a-9e5f-2d1b0a9c8e7f";
    /// The only participant of [`SINGLE_SESSION`].
    pub const PARTICIPANT: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
}

async fn authenticate(request: Request, next: Next) -> Response {
    let presented = request.headers().get(header::AUTHORIZATION);
    if presented.is_some_and(|v| v.as_bytes().strip_prefix(b"Bearer ") == Some(SAMPLE_API_KEY.as_bytes())) {
        next.run(request).await
    } else {
        ApiError::unauthorized().into_response()
    }
}

/// The axum router serving the API under `/v2`, starting from `data`; shares `log` for
/// request inspection.
pub fn router(data: Arc<SampleData>, log: RequestLog) -> Router {
    routes(Arc::new(Store::new(data)), log)
}

fn routes(store: Arc<Store>, log: RequestLog) -> Router {
    read::routes()
        .merge(write::routes())
        .fallback(|| async { ApiError::not_found("Resource") })
        .layer(middleware::from_fn(authenticate))
        .merge(write::open_routes())
        .with_state(store)
        // The last layer runs first: record every request, even those authentication rejects.
        .layer(middleware::from_fn_with_state(log, record))
}

/// A running sample upstream on a bound listener (use 127.0.0.1:0 in tests).
#[derive(Debug)]
pub struct SampleUpstream {
    /// The bound address, with the real port when asked for port 0.
    pub addr: SocketAddr,
    pub log: RequestLog,
    /// The data as seeded, which writes leave alone: see [`SampleUpstream::snapshot`].
    pub data: Arc<SampleData>,
    store: Arc<Store>,
}

impl SampleUpstream {
    /// Binds `addr`, spawns the server on the current tokio runtime and returns at once.
    pub async fn spawn(addr: SocketAddr) -> std::io::Result<Self> {
        Self::spawn_with_faults(addr, Faults::default()).await
    }

    /// Like [`SampleUpstream::spawn`], failing a deterministic share of API requests (for
    /// load tests of the facade's resilience).
    pub async fn spawn_with_faults(addr: SocketAddr, faults: Faults) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (data, log) = (Arc::new(SampleData::seeded()), RequestLog::default());
        let store = Arc::new(Store::new(data.clone()));
        // Outside the API's authentication, for the benchmark's request counts.
        let stats = log.clone();
        let app = Router::new()
            .route("/__stats", get(move || async move { Json(serde_json::json!({ "requests": stats.count() })) }))
            .merge(
                routes(store.clone(), log.clone()).layer(middleware::from_fn_with_state(faults.into_state(), inject)),
            );
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "sample upstream stopped");
            }
        });
        Ok(Self { addr, log, data, store })
    }

    /// The data as served now, after the writes so far.
    pub fn snapshot(&self) -> Arc<SampleData> {
        self.store.snapshot()
    }

    /// Base URL to configure the facade with: "http://{addr}/v2".
    pub fn base_url(&self) -> String {
        format!("http://{}/v2", self.addr)
    }
}

#[cfg(test)]
mod tests;
