//! The service's one error type and its one mapping to GraphQL error codes.
//!
//! Every failure a resolver can report is an [`AppError`]; [`AppError::code`] is the single
//! exhaustive match from failure to `extensions.code`, and the `From` impl is the single place
//! where errors become GraphQL errors (the crate enables async-graphql's
//! `custom-error-conversion`, so nothing else converts implicitly). Errors async-graphql raises
//! itself (validation, limits, argument coercion) get their codes from [`code_graphql_error`].

use async_graphql::{ErrorExtensionValues, ServerError};

use crate::guard::{Limit, Rejection};
use crate::telnyx::UpstreamError;

/// Why a GraphQL field could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// An argument we can reject without asking upstream.
    #[error("invalid argument `{argument}`: {reason}")]
    BadInput {
        /// The argument's path, e.g. `filter.dateJoinedAt.eq` or `after`.
        argument: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An entity looked up by reference (federation, or a lazily loaded id) does not exist.
    #[error("no {what} with id \"{id}\"")]
    NotFound {
        /// What kind of thing, e.g. `room participant`.
        what: &'static str,
        /// The id that was looked up.
        id: String,
    },
    /// Telnyx answered 404 for a list under an entity: the entity does not exist. Kept apart
    /// from [`AppError::NotFound`] to carry Telnyx's own answer.
    #[error("no {what} with id \"{id}\"")]
    ParentNotFound {
        /// What kind of thing, e.g. `room session`.
        what: &'static str,
        /// The entity's id.
        id: String,
        /// Telnyx's answer.
        upstream: UpstreamError,
    },
    /// The query would cost more upstream requests than one GraphQL request may make.
    #[error("query too expensive: {0}")]
    QueryTooExpensive(String),
    /// The caller's token lacks the scope a field needs.
    #[error("missing scope `{0}`")]
    Forbidden(&'static str),
    /// A room-scoped caller asked for a list that is not narrowed to its rooms.
    #[error("this token sees only its own rooms: narrow the list with `{0}` set to one of them")]
    NarrowToRooms(&'static str),
    /// Neither the request nor the configuration carries a Telnyx credential.
    #[error("no Telnyx credential: send `Authorization: Bearer <Telnyx API key>` or configure TELNYX_API_KEY")]
    Unauthenticated,
    /// A subscriber fell further behind than its buffer holds; its subscription ends.
    #[error("this subscription fell {0} events behind and was closed; subscribe again")]
    SlowConsumer(u64),
    /// A subscription asked to resume after a cursor it cannot continue from: the client
    /// refetches what it shows, then subscribes from now.
    #[error("cannot resume after this cursor: {0}; refetch, then subscribe without one")]
    EventsExpired(crate::live::Expired),
    /// The history of live events (in Redis) could not be read; resuming may work later.
    #[error("live events cannot be resumed right now: Redis is unreachable; retry")]
    LiveUnavailable,
    /// Telnyx failed or refused.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// Telnyx failed or refused a write; `extensions.outcome` says whether it may have been
    /// applied anyway (`UNKNOWN`: the request may have arrived, so check before retrying) or
    /// certainly was not (`NOT_APPLIED`: safe to retry).
    #[error(transparent)]
    Write(UpstreamError),
}

impl AppError {
    /// A bad-argument error.
    pub fn bad_input(argument: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::BadInput { argument: argument.into(), reason: reason.into() }
    }

    /// The stable, documented `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadInput { .. } => "BAD_USER_INPUT",
            Self::NotFound { .. } | Self::ParentNotFound { .. } => "NOT_FOUND",
            Self::QueryTooExpensive(_) => "QUERY_TOO_EXPENSIVE",
            Self::SlowConsumer(_) => "SLOW_CONSUMER",
            Self::EventsExpired(_) => "EVENTS_EXPIRED",
            Self::LiveUnavailable => "SERVICE_UNAVAILABLE",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden(_) | Self::NarrowToRooms(_) => "FORBIDDEN",
            Self::Write(error) => Self::Upstream(error.clone()).code(),
            Self::Upstream(UpstreamError::Status { status, .. }) => match status {
                401 => "UNAUTHENTICATED",
                403 => "FORBIDDEN",
                404 => "NOT_FOUND",
                400 | 422 => "BAD_USER_INPUT",
                429 => "RATE_LIMITED",
                _ => "UPSTREAM_ERROR",
            },
            Self::Upstream(UpstreamError::Timeout) => "UPSTREAM_TIMEOUT",
            Self::Upstream(UpstreamError::Throttled { .. }) => "RATE_LIMITED",
            Self::Upstream(UpstreamError::Unreachable | UpstreamError::Interrupted | UpstreamError::InvalidBody) => {
                "UPSTREAM_ERROR"
            }
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Write(error) => Self::Upstream(error.clone()).message(),
            Self::Upstream(UpstreamError::Status { status, errors, .. }) => {
                let what = match status {
                    401 => "Telnyx rejected the credential",
                    403 => "Telnyx denied access to this resource",
                    404 => "Telnyx has no such resource",
                    400 | 422 => "Telnyx rejected the request",
                    429 => "Telnyx rate limit reached; retry later",
                    _ => return format!("Telnyx failed (HTTP {status})"),
                };
                match errors.first().and_then(|e| e.detail.as_ref().or(e.title.as_ref())) {
                    Some(said) => format!("{what}: {said}"),
                    None => what.to_owned(),
                }
            }
            Self::Upstream(UpstreamError::Throttled { .. }) => {
                "the deployment's rate of Telnyx requests (UPSTREAM_RATE_LIMIT) is used up; retry later".to_owned()
            }
            other => other.to_string(),
        }
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(error: AppError) -> Self {
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", error.code());
        let upstream = match &error {
            AppError::Upstream(upstream) | AppError::Write(upstream) | AppError::ParentNotFound { upstream, .. } => {
                Some(upstream)
            }
            _ => None,
        };
        if let Some(UpstreamError::Status { status, retry_after, errors }) = upstream {
            if let Some(seconds) = retry_after {
                extensions.set("retryAfter", *seconds);
            }
            let upstream = serde_json::json!({ "status": status, "errors": errors });
            extensions.set("upstream", async_graphql::Value::from_json(upstream).unwrap_or_default());
        }
        if let Some(UpstreamError::Throttled { retry_after }) = upstream {
            extensions.set("retryAfter", *retry_after);
        }
        if let AppError::Write(error) = &error {
            extensions.set("outcome", if error.not_applied() { "NOT_APPLIED" } else { "UNKNOWN" });
        }
        async_graphql::Error { message: error.message(), source: None, extensions: Some(extensions) }
    }
}

/// Gives an error async-graphql raised itself an `extensions.code` (ours have one already),
/// as clients switch on codes: `QUERY_TOO_DEEP`/`QUERY_TOO_EXPENSIVE` for the limits,
/// `BAD_USER_INPUT` for values that don't fit their type (literal or variable),
/// `BAD_REQUEST` for an operation name that selects nothing, `GRAPHQL_VALIDATION_FAILED` for
/// other invalid documents. It goes by async-graphql's wording, which tests pin.
pub fn code_graphql_error(error: &mut ServerError) {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_some() {
        return;
    }
    let message = error.message.as_str();
    let code = match message {
        "Query is too complex." => "QUERY_TOO_EXPENSIVE",
        "Query is nested too deep." => "QUERY_TOO_DEEP",
        _ if ["Invalid value for argument", "Expected input type", "Failed to parse \""]
            .iter()
            .any(|p| message.starts_with(p)) =>
        {
            "BAD_USER_INPUT"
        }
        _ if message.starts_with("Unknown operation named") || message.starts_with("Operation name required") => {
            "BAD_REQUEST"
        }
        // Argument coercion failing during execution.
        _ if !error.path.is_empty() => "BAD_USER_INPUT",
        _ => "GRAPHQL_VALIDATION_FAILED",
    };
    extensions.set("code", code);
}

/// A document refused by [`crate::guard`] as a request error: too big to parse is
/// `GRAPHQL_PARSE_FAILED` (the parser never ran), too much work after parsing is
/// `QUERY_TOO_EXPENSIVE`; both name the limit in `extensions.limit`.
pub fn rejection_error(rejection: &Rejection) -> ServerError {
    let mut error = ServerError::new(rejection.to_string(), rejection.pos());
    let extensions = error.extensions.get_or_insert_with(Default::default);
    let code = match rejection {
        Rejection::TooLarge { exceeded, .. } => {
            extensions.set("limit", exceeded.setting());
            match exceeded {
                Limit::Tokens | Limit::Recursion => "GRAPHQL_PARSE_FAILED",
                Limit::ExpandedFields | Limit::Aliases | Limit::RootFields | Limit::Directives => "QUERY_TOO_EXPENSIVE",
            }
        }
        Rejection::Syntax(..) => "GRAPHQL_PARSE_FAILED",
        Rejection::Invalid { .. } => "GRAPHQL_VALIDATION_FAILED",
    };
    extensions.set("code", code);
    error
}

/// Drops async-graphql's "Did you mean …?" from a message: with introspection off, those
/// suggestions would let a caller rebuild the schema field by field.
pub fn hide_suggestions(error: &mut ServerError) {
    if let Some(at) = error.message.find(" Did you mean ") {
        error.message.truncate(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telnyx::UpstreamErrorDetail;

    fn status(status: u16) -> AppError {
        AppError::Upstream(UpstreamError::Status { status, retry_after: None, errors: vec![] })
    }

    #[test]
    fn every_failure_maps_to_its_documented_code() {
        let table = [
            (AppError::bad_input("first", "must be at most 1000"), "BAD_USER_INPUT"),
            (AppError::Unauthenticated, "UNAUTHENTICATED"),
            (AppError::Forbidden("video:read"), "FORBIDDEN"),
            (AppError::NarrowToRooms("filter.roomId"), "FORBIDDEN"),
            (AppError::NotFound { what: "room", id: "x".into() }, "NOT_FOUND"),
            (AppError::QueryTooExpensive("x".into()), "QUERY_TOO_EXPENSIVE"),
            (AppError::SlowConsumer(3), "SLOW_CONSUMER"),
            (AppError::EventsExpired(crate::live::Expired::Trimmed), "EVENTS_EXPIRED"),
            (AppError::LiveUnavailable, "SERVICE_UNAVAILABLE"),
            (status(401), "UNAUTHENTICATED"),
            (status(403), "FORBIDDEN"),
            (status(404), "NOT_FOUND"),
            (status(400), "BAD_USER_INPUT"),
            (status(422), "BAD_USER_INPUT"),
            (status(429), "RATE_LIMITED"),
            (status(500), "UPSTREAM_ERROR"),
            (status(503), "UPSTREAM_ERROR"),
            (status(409), "UPSTREAM_ERROR"),
            (AppError::Upstream(UpstreamError::Timeout), "UPSTREAM_TIMEOUT"),
            (AppError::Upstream(UpstreamError::Unreachable), "UPSTREAM_ERROR"),
            (AppError::Upstream(UpstreamError::InvalidBody), "UPSTREAM_ERROR"),
            (AppError::Upstream(UpstreamError::Throttled { retry_after: 3 }), "RATE_LIMITED"),
        ];
        for (error, code) in table {
            assert_eq!(error.code(), code, "{error:?}");
            let graphql: async_graphql::Error = error.into();
            assert_eq!(graphql.extensions.unwrap().get("code"), Some(&async_graphql::Value::from(code)));
        }
    }

    #[test]
    fn rate_limits_carry_retry_after_and_upstream_details() {
        let error = AppError::Upstream(UpstreamError::Status {
            status: 429,
            retry_after: Some(7),
            errors: vec![UpstreamErrorDetail {
                code: Some("10011".into()),
                title: Some("Too many requests".into()),
                detail: None,
            }],
        });
        let graphql: async_graphql::Error = error.into();
        let extensions = graphql.extensions.unwrap();
        assert_eq!(extensions.get("retryAfter"), Some(&async_graphql::Value::from(7)));
        let upstream = extensions.get("upstream").unwrap().clone().into_json().unwrap();
        assert_eq!(
            upstream,
            serde_json::json!({"status": 429, "errors": [{"code": "10011", "title": "Too many requests", "detail": null}]})
        );
        assert_eq!(graphql.message, "Telnyx rate limit reached; retry later: Too many requests");
    }

    #[test]
    fn every_rejection_maps_to_its_documented_code_and_names_its_limit() {
        let too_large = |exceeded| Rejection::TooLarge { exceeded, limit: 1, what: "x", pos: None };
        let table = [
            (too_large(Limit::Tokens), "GRAPHQL_PARSE_FAILED", Some("MAX_TOKENS")),
            (too_large(Limit::Recursion), "GRAPHQL_PARSE_FAILED", Some("MAX_RECURSION")),
            (too_large(Limit::ExpandedFields), "QUERY_TOO_EXPENSIVE", Some("MAX_EXPANDED_FIELDS")),
            (too_large(Limit::Aliases), "QUERY_TOO_EXPENSIVE", Some("MAX_ALIASES")),
            (too_large(Limit::RootFields), "QUERY_TOO_EXPENSIVE", Some("MAX_ROOT_FIELDS")),
            (too_large(Limit::Directives), "QUERY_TOO_EXPENSIVE", Some("MAX_DIRECTIVES")),
            (Rejection::Syntax("x", async_graphql::Pos::default()), "GRAPHQL_PARSE_FAILED", None),
            (
                Rejection::Invalid { message: "x".into(), pos: async_graphql::Pos::default() },
                "GRAPHQL_VALIDATION_FAILED",
                None,
            ),
        ];
        for (rejection, code, limit) in table {
            let error = rejection_error(&rejection);
            let extensions = error.extensions.unwrap();
            assert_eq!(extensions.get("code"), Some(&async_graphql::Value::from(code)), "{rejection:?}");
            assert_eq!(extensions.get("limit"), limit.map(async_graphql::Value::from).as_ref(), "{rejection:?}");
            if let Some(limit) = limit {
                assert!(error.message.contains(limit), "{}", error.message);
            }
        }
    }

    #[test]
    fn suggestions_are_dropped_but_the_error_stays() {
        let mut error =
            ServerError::new("Unknown field \"rom\" on type \"Query\". Did you mean \"room\", \"rooms\"?", None);
        hide_suggestions(&mut error);
        assert_eq!(error.message, "Unknown field \"rom\" on type \"Query\".");
    }

    #[test]
    fn server_errors_keep_a_generic_message() {
        let error = AppError::Upstream(UpstreamError::Status {
            status: 500,
            retry_after: None,
            errors: vec![UpstreamErrorDetail { detail: Some("stack trace at db01".into()), ..Default::default() }],
        });
        let graphql: async_graphql::Error = error.into();
        assert_eq!(graphql.message, "Telnyx failed (HTTP 500)");
    }
}
