//! Telnyx's error envelope.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;

/// One Telnyx error, answered inside the `{"errors": [...]}` envelope.
#[derive(Debug, Serialize)]
pub(super) struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<Source>,
}

#[derive(Debug, Serialize)]
struct Source {
    parameter: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, title: &'static str, detail: String) -> Self {
        Self { status, code, title, detail, source: None }
    }

    pub(super) fn unauthorized() -> Self {
        let detail = "The API key provided is invalid or missing.".into();
        Self::new(StatusCode::UNAUTHORIZED, "10009", "Authentication failed", detail)
    }

    pub(super) fn invalid(parameter: &str, detail: String) -> Self {
        let source = Some(Source { parameter: parameter.into() });
        Self { source, ..Self::new(StatusCode::BAD_REQUEST, "10015", "Invalid parameter", detail) }
    }

    pub(super) fn body_too_large() -> Self {
        let detail = format!("The request body is larger than {} bytes.", super::RequestLog::MAX_BODY);
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "10015", "Request body too large", detail)
    }

    /// `what` is the resource as Telnyx words it, e.g. "Room session".
    pub(super) fn not_found(what: &str) -> Self {
        let detail = format!("{what} not found.");
        Self::new(StatusCode::NOT_FOUND, "10005", "Resource not found", detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Errors {
            errors: [ApiError; 1],
        }
        (self.status, Json(Errors { errors: [self] })).into_response()
    }
}
