//! What the facade asked for, for tests to assert on.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::{
    body::{to_bytes, Body, Bytes},
    extract::{Request, State},
    http::Method,
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::Value;

use super::error::ApiError;

/// One request as the sample upstream received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: Method,
    /// `<path>?<raw query>` exactly as received, or just `<path>` with no query.
    pub target: String,
    /// The body byte for byte; always empty for a GET, whose body is never read.
    pub body: Bytes,
}

impl RecordedRequest {
    /// The body as JSON; `None` when it is empty or not JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Records every request the sample upstream receives, in order: its method, its
/// `<path>?<raw query>` exactly as received and, for anything but a GET, its body. Only the
/// first [`RequestLog::KEPT`] requests are kept, so a benchmark's millions of requests are
/// counted without growing memory.
#[derive(Debug, Clone, Default)]
pub struct RequestLog(Arc<Mutex<Entries>>);

#[derive(Debug, Default)]
struct Entries {
    kept: Vec<RecordedRequest>,
    count: usize,
}

impl RequestLog {
    /// Requests kept verbatim; later requests are only counted.
    pub const KEPT: usize = 10_000;

    /// The largest body read; a bigger one is answered 413 (and recorded without its body).
    pub const MAX_BODY: usize = 1 << 20;

    /// A panicking test must not poison the log for the tests that share it.
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, request: RecordedRequest) {
        let mut log = self.lock();
        log.count += 1;
        if log.kept.len() < Self::KEPT {
            log.kept.push(request);
        }
    }

    /// The requests' `<path>?<raw query>`, whatever their method, oldest first (at most
    /// [`RequestLog::KEPT`]).
    pub fn requests(&self) -> Vec<String> {
        self.lock().kept.iter().map(|request| request.target.clone()).collect()
    }

    /// The requests in full, oldest first (at most [`RequestLog::KEPT`]).
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        self.lock().kept.clone()
    }

    /// Every request but the GETs as `(method, <path>?<raw query>, JSON body)`, oldest first:
    /// what an end-to-end test of a mutation compares with what the facade should have sent.
    /// The body is `None` when it was empty or not JSON.
    pub fn writes(&self) -> Vec<(Method, String, Option<Value>)> {
        let kept = &self.lock().kept;
        let writes = kept.iter().filter(|request| request.method != Method::GET);
        writes.map(|request| (request.method.clone(), request.target.clone(), request.json())).collect()
    }

    /// How many requests arrived since the last [`RequestLog::clear`].
    pub fn count(&self) -> usize {
        self.lock().count
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        *self.lock() = Default::default();
    }
}

/// Records the request before anything can reject it. Only writes have their body read:
/// buffering a read's (empty) body would only slow the benchmarks down.
pub(super) async fn record(State(log): State<RequestLog>, request: Request, next: Next) -> Response {
    let uri = request.uri();
    let target = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str()).to_owned();
    let method = request.method().clone();
    if method == Method::GET {
        log.record(RecordedRequest { method, target, body: Bytes::new() });
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, RequestLog::MAX_BODY).await.ok();
    log.record(RecordedRequest { method, target, body: body.clone().unwrap_or_default() });
    match body {
        Some(body) => next.run(Request::from_parts(parts, Body::from(body))).await,
        None => ApiError::body_too_large().into_response(),
    }
}
