//! Deliberate failures, for load tests of the facade's resilience.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{header, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};

/// Which API requests fail on purpose: every `n`th request (counted over all API requests)
/// of each kind; 0 turns a kind off. Parsed from `503:N,429:N,slow:N`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Every `n`th request answers 503 with a Telnyx error body.
    pub unavailable: u64,
    /// Every `n`th request answers 429 with `Retry-After: 1`.
    pub rate_limited: u64,
    /// Every `n`th request is answered after 3 seconds.
    pub slow: u64,
}

impl std::str::FromStr for Faults {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let mut faults = Faults::default();
        for part in spec.split(',').filter(|p| !p.is_empty()) {
            let (kind, every) = part.split_once(':').ok_or_else(|| format!("`{part}` is not KIND:N"))?;
            let every = every.parse().map_err(|_| format!("`{every}` is not a number"))?;
            match kind {
                "503" => faults.unavailable = every,
                "429" => faults.rate_limited = every,
                "slow" => faults.slow = every,
                _ => return Err(format!("unknown fault `{kind}` (use 503, 429 or slow)")),
            }
        }
        Ok(faults)
    }
}

impl Faults {
    pub(super) fn into_state(self) -> Arc<(Faults, std::sync::atomic::AtomicU64)> {
        Arc::new((self, std::sync::atomic::AtomicU64::new(0)))
    }
}

pub(super) async fn inject(
    State(state): State<Arc<(Faults, std::sync::atomic::AtomicU64)>>,
    request: Request,
    next: Next,
) -> Response {
    let (faults, counter) = &*state;
    let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let hits = |every: u64| every > 0 && n % every == 0;
    if hits(faults.unavailable) {
        let body = serde_json::json!({ "errors": [{ "code": "10000", "title": "Service unavailable" }] });
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    if hits(faults.rate_limited) {
        let body = serde_json::json!({ "errors": [{ "code": "10011", "title": "Too many requests" }] });
        return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "1")], Json(body)).into_response();
    }
    if hits(faults.slow) {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
    next.run(request).await
}
