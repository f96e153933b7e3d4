//! Response bodies exactly as Telnyx sends them.
//!
//! The OpenAPI spec marks every field optional, so every field here is an `Option` (serde
//! reads both a missing key and `null` as `None`); a value of the wrong type is still an error.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The envelope of every list endpoint.
#[derive(Debug, Deserialize)]
pub struct ListBody<T> {
    /// The page's items.
    pub data: Option<Vec<T>>,
    /// Paging facts; `total_results` is what the connection's `totalCount` reports.
    pub meta: Option<PaginationMeta>,
}

/// The envelope of every single-item endpoint.
#[derive(Debug, Deserialize)]
pub struct ItemBody<T> {
    /// The item.
    pub data: Option<T>,
}

/// Telnyx's `PaginationMeta`.
#[derive(Debug, Deserialize)]
pub struct PaginationMeta {
    /// Number of items in the whole (filtered) list.
    pub total_results: Option<u64>,
}

/// Telnyx's `RoomParticipant`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RoomParticipant {
    /// The participant's id (a UUID).
    pub id: Option<String>,
    /// The room session the participant is part of.
    pub session_id: Option<String>,
    /// Context given to the participant through the client SDK.
    pub context: Option<String>,
    /// When the participant joined the session.
    #[serde(default, deserialize_with = "timestamp")]
    pub joined_at: Option<DateTime<Utc>>,
    /// When the participant was last updated.
    #[serde(default, deserialize_with = "timestamp")]
    pub updated_at: Option<DateTime<Utc>>,
    /// When the participant left the session; `None` while still in it.
    #[serde(default, deserialize_with = "timestamp")]
    pub left_at: Option<DateTime<Utc>>,
}

/// Telnyx's `RoomSession` (embedded participants are not read: they have their own list).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RoomSession {
    /// The session's id (a UUID).
    pub id: Option<String>,
    /// The room hosting the session.
    pub room_id: Option<String>,
    /// Whether the session is still going on.
    pub active: Option<bool>,
    /// When the session started.
    #[serde(default, deserialize_with = "timestamp")]
    pub created_at: Option<DateTime<Utc>>,
    /// When the session was last updated.
    #[serde(default, deserialize_with = "timestamp")]
    pub updated_at: Option<DateTime<Utc>>,
    /// When the session ended; `None` while active.
    #[serde(default, deserialize_with = "timestamp")]
    pub ended_at: Option<DateTime<Utc>>,
}

/// Telnyx's `Room` (embedded sessions are not read: they have their own list).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Room {
    /// The room's id (a UUID).
    pub id: Option<String>,
    /// Name unique within the Telnyx account.
    pub unique_name: Option<String>,
    /// Maximum participants allowed in the room.
    pub max_participants: Option<i64>,
    /// Whether sessions are recorded.
    pub enable_recording: Option<bool>,
    /// Where webhooks about the room are sent.
    pub webhook_event_url: Option<String>,
    /// Where webhooks go when the primary URL fails.
    pub webhook_event_failover_url: Option<String>,
    /// Seconds to wait before a webhook times out.
    pub webhook_timeout_secs: Option<i64>,
    /// When the room was created.
    #[serde(default, deserialize_with = "timestamp")]
    pub created_at: Option<DateTime<Utc>>,
    /// When the room was last updated.
    #[serde(default, deserialize_with = "timestamp")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The room's active session, if any.
    pub active_session_id: Option<String>,
}

/// What `generate_join_client_token` and `refresh_client_token` answer (the refresh has no
/// refresh token). Tokens are secrets: this type is never logged, cached or shared.
#[derive(Clone, PartialEq, Deserialize)]
pub struct ClientToken {
    /// The client token to join the room with.
    pub token: Option<String>,
    /// When it expires.
    #[serde(default, deserialize_with = "timestamp")]
    pub token_expires_at: Option<DateTime<Utc>>,
    /// The token to get a new client token with.
    pub refresh_token: Option<String>,
    /// When the refresh token expires.
    #[serde(default, deserialize_with = "timestamp")]
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for ClientToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientToken([REDACTED])")
    }
}

/// What the session actions (`end`, `kick`, `mute`, `unmute`) answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ActionResult {
    /// `"ok"`.
    pub result: Option<String>,
}

/// A timestamp as Telnyx writes it (RFC 3339), or null. chrono's own `Deserialize` parses
/// with its general format parser, about a twentieth of a query's CPU for a page of
/// participants. So the form Telnyx sends (`2024-03-09T08:02:07.951514Z`) is read by
/// [`utc`], chrono's RFC 3339 parser reads the rest, and what that refuses goes to the
/// general one as before: the same strings are accepted, as the same times. The text is read
/// in place.
fn timestamp<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    struct Timestamp;

    impl<'de> serde::de::Visitor<'de> for Timestamp {
        type Value = Option<DateTime<Utc>>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("an RFC 3339 timestamp or null")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
            if let Some(time) = utc(text) {
                return Ok(Some(time));
            }
            let parsed = DateTime::parse_from_rfc3339(text).or_else(|_| text.parse::<DateTime<chrono::FixedOffset>>());
            parsed.map(|time| Some(time.to_utc())).map_err(E::custom)
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_str(self)
        }
    }

    deserializer.deserialize_option(Timestamp)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, with one to nine digits of fraction: about 60% of the
/// instructions of chrono's RFC 3339 parser for this one form. `None` for anything else,
/// leap seconds included, which chrono then reads.
fn utc(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[bytes.len() - 1] != b'Z' {
        return None;
    }
    if bytes[4] != b'-' || bytes[7] != b'-' || bytes[10] != b'T' || bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    const DIGITS: [usize; 14] = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
    if DIGITS.iter().any(|&at| !bytes[at].is_ascii_digit()) {
        return None;
    }
    let two = |at: usize| u32::from(bytes[at] - b'0') * 10 + u32::from(bytes[at + 1] - b'0');
    let fraction = match &bytes[19..bytes.len() - 1] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) => {
            let value = digits.iter().fold(0, |value, &digit| value * 10 + u32::from(digit - b'0'));
            value * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let second = two(17);
    if second >= 60 {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt((two(0) * 100 + two(2)) as i32, two(5), two(8))?;
    let time = chrono::NaiveTime::from_hms_nano_opt(two(11), two(14), second, fraction)?;
    Some(date.and_time(time).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_participant_field_may_be_missing_or_null() {
        let body: ListBody<RoomParticipant> =
            serde_json::from_str(r#"{"data":[{}, {"id":null,"context":null,"left_at":null}],"meta":null}"#).unwrap();
        assert_eq!(body.data.unwrap().len(), 2);
        assert!(body.meta.is_none());
    }

    #[test]
    fn timestamps_parse_as_chronos_own_deserialize_parses_them() {
        #[derive(Deserialize)]
        struct Chrono {
            at: DateTime<Utc>,
        }
        for text in [
            r#""2024-03-09T08:02:07.951514Z""#,
            r#""2024-03-09T10:02:07+02:00""#,
            r#""2024-03-09t08:02:07z""#,
            r#""2024-03-09 08:02:07Z""#,
            r#""2024-03-09T08:02:07\u005a""#,
            r#""2024-03-09T08:02:07""#,
            r#""2024-02-30T08:02:07Z""#,
            r#""yesterday""#,
        ] {
            let ours = serde_json::from_str::<RoomParticipant>(&format!(r#"{{"joined_at": {text}}}"#));
            let chronos = serde_json::from_str::<Chrono>(&format!(r#"{{"at": {text}}}"#));
            assert_eq!(ours.ok().map(|p| p.joined_at.unwrap()), chronos.ok().map(|c| c.at), "{text}");
        }
    }

    proptest::proptest! {
        /// The fast form, with each field a little past its calendar range at either end (the
        /// 30th of February, hour 24, minute 60), against chrono's RFC 3339 parser.
        #[test]
        fn the_usual_form_is_read_as_chrono_reads_it(
            fields in (0u32..10000, 0u32..14, 0u32..33, 0u32..26, 0u32..62, 0u32..62),
            fraction in "(\\.[0-9]{1,10})?",
        ) {
            let (year, month, day, hour, minute, second) = fields;
            let text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}Z");
            if let Some(ours) = utc(&text) {
                let chronos = DateTime::parse_from_rfc3339(&text).map(|time| time.to_utc());
                proptest::prop_assert_eq!(Ok(ours), chronos, "{}", text);
            }
        }
    }

    #[test]
    fn the_usual_form_is_read_fast_and_others_are_left_to_chrono() {
        let at = |text: &str| utc(text).map(|time| time.to_rfc3339());
        assert_eq!(at("2024-03-09T08:02:07.951514Z").as_deref(), Some("2024-03-09T08:02:07.951514+00:00"));
        assert_eq!(at("2024-03-09T08:02:07Z").as_deref(), Some("2024-03-09T08:02:07+00:00"));
        for other in
            ["2024-03-09T10:02:07+02:00", "2024-03-09t08:02:07z", "2016-12-31T23:59:60Z", "2024-03-09T08:02:07.Z"]
        {
            assert_eq!(at(other), None, "{other}");
        }
    }

    #[test]
    fn a_wrong_field_type_is_an_error_not_a_silent_null() {
        assert!(serde_json::from_str::<RoomParticipant>(r#"{"joined_at": 12}"#).is_err());
    }
}
