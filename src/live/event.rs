//! Telnyx's video room events, read from a webhook's body. Every payload field is optional
//! on the wire; an id that is not a UUID counts as absent (it could name nothing we serve).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// `video.room.session.started`.
    SessionStarted,
    /// `video.room.session.ended`.
    SessionEnded,
    /// `video.room.participant.joined`.
    ParticipantJoined,
    /// `video.room.participant.left`.
    ParticipantLeft,
}

impl Kind {
    /// Telnyx's name for it (also the metrics label).
    pub fn event_type(self) -> &'static str {
        match self {
            Self::SessionStarted => "video.room.session.started",
            Self::SessionEnded => "video.room.session.ended",
            Self::ParticipantJoined => "video.room.participant.joined",
            Self::ParticipantLeft => "video.room.participant.left",
        }
    }

    fn of(event_type: &str) -> Option<Self> {
        [Self::SessionStarted, Self::SessionEnded, Self::ParticipantJoined, Self::ParticipantLeft]
            .into_iter()
            .find(|kind| kind.event_type() == event_type)
    }
}

/// One video room event, as published to subscribers (and through Redis between replicas).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The envelope's `id`: Telnyx redelivers with the same one.
    pub id: String,
    /// What happened.
    pub kind: Kind,
    /// When it happened.
    pub occurred_at: Option<DateTime<Utc>>,
    /// The room.
    pub room_id: Option<Uuid>,
    /// The session.
    pub session_id: Option<Uuid>,
    /// The participant (participant events).
    pub participant_id: Option<Uuid>,
    /// The participant's context, set by the client SDK.
    pub context: Option<String>,
    /// How long the session or the participant's stay lasted (ended and left events).
    pub duration_secs: Option<i64>,
    /// Why the session ended or the participant left.
    pub reason: Option<String>,
}

/// Why a body is not an event we can take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    /// Not the JSON envelope Telnyx sends.
    #[error("the body is not a Telnyx webhook envelope")]
    NotAnEnvelope,
    /// The envelope has no `data.id`, so redeliveries could not be told apart.
    #[error("the event has no id")]
    NoId,
}

#[derive(Deserialize)]
struct Envelope {
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    id: Option<String>,
    event_type: Option<String>,
    occurred_at: Option<DateTime<Utc>>,
    #[serde(default)]
    payload: Payload,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Payload {
    room_id: Option<serde_json::Value>,
    session_id: Option<serde_json::Value>,
    participant_id: Option<serde_json::Value>,
    context: Option<serde_json::Value>,
    duration_secs: Option<serde_json::Value>,
    ended_reason: Option<serde_json::Value>,
    left_reason: Option<serde_json::Value>,
}

fn uuid(value: Option<serde_json::Value>) -> Option<Uuid> {
    value?.as_str().and_then(|s| Uuid::try_parse(s).ok())
}

fn text(value: Option<serde_json::Value>) -> Option<String> {
    value?.as_str().map(str::to_owned)
}

/// Reads a webhook body: `Ok(None)` for an event type this service does not serve
/// (recordings, compositions, future ones), which is acknowledged and ignored.
pub fn parse(body: &[u8]) -> Result<Option<Event>, Unreadable> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|_| Unreadable::NotAnEnvelope)?;
    let data = envelope.data;
    let id = data.id.filter(|id| !id.is_empty()).ok_or(Unreadable::NoId)?;
    let Some(kind) = data.event_type.as_deref().and_then(Kind::of) else { return Ok(None) };
    let payload = data.payload;
    Ok(Some(Event {
        id,
        kind,
        occurred_at: data.occurred_at,
        room_id: uuid(payload.room_id),
        session_id: uuid(payload.session_id),
        participant_id: uuid(payload.participant_id),
        context: text(payload.context),
        duration_secs: payload.duration_secs.and_then(|d| d.as_i64()),
        reason: text(payload.ended_reason.or(payload.left_reason)),
    }))
}

#[cfg(test)]
impl Event {
    /// A session start with only an id, for tests of what carries events.
    pub(crate) fn with_id(id: &str) -> Self {
        Self {
            id: id.into(),
            kind: Kind::SessionStarted,
            occurred_at: None,
            room_id: None,
            session_id: None,
            participant_id: None,
            context: None,
            duration_secs: None,
            reason: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_participant_left_event_is_read_field_by_field() {
        let body = br#"{"data":{"record_type":"event","event_type":"video.room.participant.left",
            "id":"6b61621f-62e0-4aad-ab11-9fd19e272e7f","occurred_at":"2026-11-30T09:46:20.954863Z",
            "payload":{"session_id":"7b61621f-62e0-4aad-ab11-9fd19e272e74","room_id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
            "participant_id":"9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d","context":"Alice","duration_secs":42,"left_reason":"kicked"}},
            "meta":{"attempt":1}}"#;
        let event = parse(body).unwrap().unwrap();
        assert_eq!(event.kind, Kind::ParticipantLeft);
        assert_eq!(event.id, "6b61621f-62e0-4aad-ab11-9fd19e272e7f");
        assert_eq!(event.session_id.unwrap().to_string(), "7b61621f-62e0-4aad-ab11-9fd19e272e74");
        assert_eq!(
            (event.context.as_deref(), event.duration_secs, event.reason.as_deref()),
            (Some("Alice"), Some(42), Some("kicked"))
        );
    }

    #[test]
    fn every_payload_field_may_be_missing_null_or_odd() {
        let body = br#"{"data":{"id":"e1","event_type":"video.room.session.started",
            "payload":{"room_id":null,"session_id":"not-a-uuid","duration_secs":"x"}}}"#;
        let event = parse(body).unwrap().unwrap();
        assert_eq!((event.room_id, event.session_id, event.duration_secs), (None, None, None));
        let bare = br#"{"data":{"id":"e2","event_type":"video.room.session.ended"}}"#;
        assert_eq!(parse(bare).unwrap().unwrap().kind, Kind::SessionEnded);
    }

    #[test]
    fn unknown_event_types_are_ignored_and_malformed_bodies_refused() {
        let recording = br#"{"data":{"id":"e3","event_type":"video.room.recording.saved","payload":{}}}"#;
        assert_eq!(parse(recording), Ok(None));
        assert_eq!(parse(b"[]"), Err(Unreadable::NotAnEnvelope));
        assert_eq!(parse(br#"{"data":{"event_type":"video.room.session.started"}}"#), Err(Unreadable::NoId));
    }
}
