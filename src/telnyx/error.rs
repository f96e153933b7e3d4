//! Upstream failures, in upstream terms.

use serde::Serialize;

/// One entry of a Telnyx error body, as far as it could be read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct UpstreamErrorDetail {
    /// Telnyx's error code, e.g. `"10009"`.
    pub code: Option<String>,
    /// A short summary.
    pub title: Option<String>,
    /// A longer explanation.
    pub detail: Option<String>,
}

/// Why an upstream request did not yield a usable body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// Telnyx answered with a non-success status.
    #[error("Telnyx answered HTTP {status}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// Seconds to wait, from `Retry-After` (either form).
        retry_after: Option<u64>,
        /// What the error body said, in any of Telnyx's three shapes.
        errors: Vec<UpstreamErrorDetail>,
    },
    /// No complete answer within the configured timeout.
    #[error("Telnyx did not answer in time")]
    Timeout,
    /// The connection could not be made: nothing was sent.
    #[error("could not reach Telnyx")]
    Unreachable,
    /// The connection broke off after the request was sent: Telnyx may have received it.
    #[error("the connection to Telnyx broke off")]
    Interrupted,
    /// A success status with a body we could not read.
    #[error("Telnyx sent a response that could not be read")]
    InvalidBody,
    /// The deployment's own rate of Telnyx requests is used up for longer than the call's
    /// deadline allows waiting; nothing was sent.
    #[error("the deployment's rate of Telnyx requests is used up")]
    Throttled {
        /// Seconds until a request may go.
        retry_after: u64,
    },
}

impl UpstreamError {
    /// Whether trying again may succeed: timeouts, connection failures, 5xx and 429.
    /// Other 4xx mean the request itself is wrong, and a bad body would be bad again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Timeout | Self::Unreachable | Self::Interrupted => true,
            // The throttle already waited as long as the deadline allows.
            Self::InvalidBody | Self::Throttled { .. } => false,
        }
    }

    /// Whether Telnyx certainly did not act on the request: nothing was sent, or it answered
    /// 429 (rate limits are checked before anything is done) or another 4xx.
    pub fn not_applied(&self) -> bool {
        match self {
            Self::Unreachable | Self::Throttled { .. } => true,
            Self::Status { status, .. } => (400..500).contains(status),
            Self::Timeout | Self::Interrupted | Self::InvalidBody => false,
        }
    }

    /// Whether sending a write again cannot apply it twice: nothing was sent, or Telnyx
    /// asked to come back later with `Retry-After`.
    pub fn safe_to_resend(&self) -> bool {
        matches!(self, Self::Unreachable | Self::Status { status: 429, retry_after: Some(_), .. })
    }
}

/// Reads a Telnyx error body in whichever of its three shapes it comes: the
/// `{"errors":[...]}` envelope, a bare `{code,title,detail}` object, or
/// `{"success":false,"message":...}`. Anything else yields no details, never an error.
pub fn parse_error_body(body: &[u8]) -> Vec<UpstreamErrorDetail> {
    let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(body) else {
        return Vec::new();
    };
    if let Some(serde_json::Value::Array(errors)) = object.get("errors") {
        return errors.iter().filter_map(|e| e.as_object()).map(detail_of).collect();
    }
    let detail = detail_of(&object);
    if detail != UpstreamErrorDetail::default() {
        return vec![detail];
    }
    match object.get("message").and_then(text) {
        Some(message) => vec![UpstreamErrorDetail { title: Some(message), ..Default::default() }],
        None => Vec::new(),
    }
}

fn detail_of(object: &serde_json::Map<String, serde_json::Value>) -> UpstreamErrorDetail {
    UpstreamErrorDetail {
        code: object.get("code").and_then(text),
        title: object.get("title").and_then(text),
        detail: object.get("detail").and_then(text),
    }
}

/// Strings as they are; numbers (Telnyx codes are sometimes numeric) as their digits.
fn text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads `Retry-After` as delay-seconds or as an HTTP-date (seconds from `now`, at least 0).
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds);
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let seconds = (date.with_timezone(&chrono::Utc) - now).num_milliseconds();
    Some(u64::try_from(seconds).map_or(0, |ms| ms.div_ceil(1000)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(code: Option<&str>, title: Option<&str>, detail: Option<&str>) -> UpstreamErrorDetail {
        UpstreamErrorDetail { code: code.map(Into::into), title: title.map(Into::into), detail: detail.map(Into::into) }
    }

    #[test]
    fn the_errors_envelope_is_read() {
        let body =
            br#"{"errors":[{"code":"10009","title":"Authentication failed","detail":"bad key"},{"code":10015}]}"#;
        assert_eq!(
            parse_error_body(body),
            [detail(Some("10009"), Some("Authentication failed"), Some("bad key")), detail(Some("10015"), None, None)]
        );
    }

    #[test]
    fn a_bare_error_object_is_read() {
        let body = br#"{"code":"10005","title":"Resource not found","detail":"no such session"}"#;
        assert_eq!(
            parse_error_body(body),
            [detail(Some("10005"), Some("Resource not found"), Some("no such session"))]
        );
    }

    #[test]
    fn the_success_false_shape_is_read() {
        assert_eq!(parse_error_body(br#"{"success":false,"message":"Error"}"#), [detail(None, Some("Error"), None)]);
    }

    #[test]
    fn unreadable_bodies_yield_no_details() {
        for body in [&b""[..], b"<html>502</html>", b"[1,2]", b"{\"errors\":\"x\"}", b"null"] {
            assert_eq!(parse_error_body(body), [], "{body:?}");
        }
    }

    #[test]
    fn retry_after_is_read_in_both_forms() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:27:30Z").unwrap().to_utc();
        assert_eq!(parse_retry_after("120", now), Some(120));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(30));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(0));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}

/// Fuzzing by property: arbitrary bytes and arbitrary JSON never panic the body parsers.
/// `.ci/run` runs these with many more cases (`PROPTEST_CASES`); a failure proptest finds is
/// kept in `proptest-regressions/` and replayed on every run.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::parse_error_body;
    use crate::telnyx::wire::{ItemBody, ListBody, Room, RoomParticipant, RoomSession};

    fn json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into)),
            prop_oneof![Just("data".to_owned()), Just("meta".to_owned()), ".*"].prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            let keys = prop_oneof![
                Just("data".to_owned()),
                Just("meta".to_owned()),
                Just("errors".to_owned()),
                Just("id".to_owned()),
                Just("total_results".to_owned()),
                Just("joined_at".to_owned()),
                Just("code".to_owned()),
                ".{0,8}"
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(keys, inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn parse_all(bytes: &[u8]) {
        let _ = parse_error_body(bytes);
        let _ = serde_json::from_slice::<ListBody<RoomParticipant>>(bytes);
        let _ = serde_json::from_slice::<ListBody<RoomSession>>(bytes);
        let _ = serde_json::from_slice::<ItemBody<Room>>(bytes);
    }

    proptest! {
        #[test]
        fn fuzz_upstream_bodies_of_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            parse_all(&bytes);
        }

        #[test]
        fn fuzz_upstream_bodies_of_arbitrary_json_never_panic(value in json()) {
            parse_all(&serde_json::to_vec(&value).unwrap());
        }
    }
}
