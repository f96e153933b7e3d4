//! `POST /webhooks/telnyx`: Telnyx's signed video room events in.
//!
//! The signature is checked before anything else reads the body; the answer is 2xx only once
//! the event is handed to the fan-out (or is a redelivery, or a type this service ignores), so
//! Telnyx retries anything that was not taken. Every outcome is counted in
//! `webhooks_total{outcome, reason}`.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::event::parse;
use super::hub::{Hub, Published};
use super::signature::{verify, PublicKey, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::telemetry::spans;

/// What the webhook route needs.
#[derive(Debug, Clone)]
pub struct Webhooks {
    /// Telnyx's public key (`TELNYX_PUBLIC_KEY`).
    pub key: PublicKey,
    /// Seconds a timestamp may be away from now (`WEBHOOK_TOLERANCE_SECS`).
    pub tolerance_secs: u64,
    /// Largest body accepted (`WEBHOOK_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Where events go.
    pub hub: Arc<Hub>,
    /// Turns true when this process starts draining.
    pub closing: tokio::sync::watch::Receiver<bool>,
}

fn answer(status: StatusCode, outcome: &'static str, reason: &'static str, message: &str) -> Response {
    metrics::counter!("webhooks_total", "outcome" => outcome, "reason" => reason).increment(1);
    if status.is_client_error() {
        tracing::warn!(reason, "webhook refused");
    }
    let body = serde_json::json!({ "outcome": outcome, "message": message });
    (status, axum::Json(body)).into_response()
}

/// Receives one delivery.
pub async fn receive(State(hooks): State<Arc<Webhooks>>, headers: HeaderMap, body: Body) -> Response {
    let Ok(body) = to_bytes(body, hooks.max_body_bytes).await else {
        let message = format!("the body is larger than {} bytes", hooks.max_body_bytes);
        return answer(StatusCode::PAYLOAD_TOO_LARGE, "rejected", "too_large", &message);
    };
    let header = |name: &str| headers.get(name).map(|v| v.as_bytes());
    let now = chrono::Utc::now().timestamp();
    let verifying = spans::webhook_verify();
    let verified = verifying.in_scope(|| {
        verify(&hooks.key, header(SIGNATURE_HEADER), header(TIMESTAMP_HEADER), &body, now, hooks.tolerance_secs)
    });
    match verified {
        Ok(()) => spans::webhook_outcome(&verifying, "valid", false),
        Err(rejection) => {
            spans::webhook_outcome(&verifying, rejection.label(), true);
            drop(verifying);
            return answer(StatusCode::UNAUTHORIZED, "rejected", rejection.label(), &rejection.to_string());
        }
    }
    drop(verifying);
    // Without Redis an event taken now would reach no one: this process's subscribers are
    // leaving, and its history leaves with it. Telnyx retries, into a replica that stays.
    if *hooks.closing.borrow() && !hooks.hub.is_shared() {
        return answer(StatusCode::SERVICE_UNAVAILABLE, "failed", "draining", "this replica is shutting down; retry");
    }
    let event = match parse(&body) {
        Ok(Some(event)) => event,
        Ok(None) => {
            return answer(StatusCode::OK, "ignored", "unknown_type", "not a video room event this service serves")
        }
        Err(unreadable) => return answer(StatusCode::BAD_REQUEST, "rejected", "unreadable", &unreadable.to_string()),
    };
    let publishing = spans::webhook_publish(event.kind.event_type());
    let published = hooks.hub.publish(event).instrument(publishing.clone()).await;
    let outcome = match &published {
        Ok(Published::New) => "new",
        Ok(Published::Duplicate) => "duplicate",
        Err(_) => "failed",
    };
    spans::webhook_outcome(&publishing, outcome, published.is_err());
    drop(publishing);
    match published {
        Ok(Published::New) => answer(StatusCode::OK, "accepted", "new", "published"),
        Ok(Published::Duplicate) => answer(StatusCode::OK, "duplicate", "seen", "already published"),
        Err(error) => {
            tracing::error!(%error, "a webhook could not be handed off; Telnyx will retry");
            answer(StatusCode::SERVICE_UNAVAILABLE, "failed", "hand_off", "not taken; retry later")
        }
    }
}
