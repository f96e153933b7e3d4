//! What the facade asked for, for tests to assert on.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};

/// Records every request the sample upstream receives, as `<path>?<raw query>` exactly as
/// received (or just `<path>` with no query), in order. Only the first
/// [`RequestLog::KEPT`] lines are kept, so a benchmark's millions of requests are counted
/// without growing memory.
#[derive(Debug, Clone, Default)]
pub struct RequestLog(Arc<Mutex<(Vec<String>, usize)>>);

impl RequestLog {
    /// Request lines kept verbatim; later requests are only counted.
    pub const KEPT: usize = 10_000;

    /// A panicking test must not poison the log for the tests that share it.
    fn lock(&self) -> MutexGuard<'_, (Vec<String>, usize)> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, line: &str) {
        let mut log = self.lock();
        log.1 += 1;
        if log.0.len() < Self::KEPT {
            log.0.push(line.to_owned());
        }
    }

    /// The request lines, oldest first (at most [`RequestLog::KEPT`]).
    pub fn requests(&self) -> Vec<String> {
        self.lock().0.clone()
    }

    /// How many requests arrived since the last [`RequestLog::clear`].
    pub fn count(&self) -> usize {
        self.lock().1
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        *self.lock() = Default::default();
    }
}

pub(super) async fn record(State(log): State<RequestLog>, request: Request, next: Next) -> Response {
    let uri = request.uri();
    let raw = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    log.record(raw);
    next.run(request).await
}
