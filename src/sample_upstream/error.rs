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

/// What the error is about: a query or path parameter by name, or a body field by its JSON
/// pointer (RFC 6901, e.g. `/participants/0`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum Source {
    Parameter(String),
    Pointer(String),
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
        let source = Some(Source::Parameter(parameter.into()));
        Self { source, ..Self::new(StatusCode::BAD_REQUEST, "10015", "Invalid parameter", detail) }
    }

    /// 422 for a write whose body is not a JSON object; the pointer `""` is the whole body.
    pub(super) fn malformed_body() -> Self {
        let detail = "The request body must be a JSON object.".into();
        let error = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "10023", "Invalid JSON", detail);
        Self { source: Some(Source::Pointer(String::new())), ..error }
    }

    /// 422 for a required top-level body field that is absent.
    pub(super) fn missing_field(field: &str) -> Self {
        let detail = format!("{field} is required.");
        let error = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "10004", "Missing required parameter", detail);
        Self { source: Some(Source::Pointer(format!("/{field}"))), ..error }
    }

    /// 422 for a body field whose value is not acceptable.
    pub(super) fn invalid_field(pointer: String, detail: String) -> Self {
        let error = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "10015", "Invalid parameter", detail);
        Self { source: Some(Source::Pointer(pointer)), ..error }
    }

    /// 422 for an action on a room session that has already ended.
    pub(super) fn session_ended() -> Self {
        let detail = "Room session has already ended.".into();
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "10015", "Bad Request", detail)
    }

    /// 403, the only failure the spec documents for the client-token actions.
    pub(super) fn forbidden(detail: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "10010", "Authorization failed", detail.into())
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
