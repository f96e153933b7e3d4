//! Telnyx's write operations (`video-actions.openapi.yaml`): each one's method, path and JSON
//! body, exactly. Values arrive here already validated (by the schema's inputs), so building
//! a request cannot fail.

use serde_json::{json, Map, Value};
use uuid::Uuid;

/// A write request to Telnyx.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// `POST`, `PATCH` or `DELETE`.
    pub method: http::Method,
    /// The path under the API base URL.
    pub path: String,
    /// The route template, for metrics (bounded cardinality).
    pub route: &'static str,
    /// The JSON body, if any.
    pub body: Option<Value>,
}

/// A field of an update: left as it is, cleared (`null`), or set.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Patch<T> {
    /// Not sent.
    #[default]
    Keep,
    /// Sent as `null`.
    Clear,
    /// Sent with this value.
    Set(T),
}

/// A room's settings as `POST /rooms` and `PATCH /rooms/{id}` take them; only fields that
/// are not [`Patch::Keep`] are sent, so Telnyx applies its own defaults to the rest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoomSettings {
    /// `unique_name`.
    pub unique_name: Patch<String>,
    /// `max_participants` (2 to 50).
    pub max_participants: Patch<u32>,
    /// `enable_recording`.
    pub enable_recording: Patch<bool>,
    /// `webhook_event_url`.
    pub webhook_event_url: Patch<String>,
    /// `webhook_event_failover_url`.
    pub webhook_event_failover_url: Patch<String>,
    /// `webhook_timeout_secs` (0 to 30).
    pub webhook_timeout_secs: Patch<u32>,
}

impl RoomSettings {
    fn body(&self) -> Value {
        let mut body = Map::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                body.insert(key.to_owned(), value);
            }
        };
        put("unique_name", patch(&self.unique_name));
        put("max_participants", patch(&self.max_participants));
        put("enable_recording", patch(&self.enable_recording));
        put("webhook_event_url", patch(&self.webhook_event_url));
        put("webhook_event_failover_url", patch(&self.webhook_event_failover_url));
        put("webhook_timeout_secs", patch(&self.webhook_timeout_secs));
        Value::Object(body)
    }
}

fn patch<T: serde::Serialize>(field: &Patch<T>) -> Option<Value> {
    match field {
        Patch::Keep => None,
        Patch::Clear => Some(Value::Null),
        Patch::Set(value) => serde_json::to_value(value).ok(),
    }
}

/// Which participants a session action applies to.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Everyone in the session (`"all"`), but for `exclude`.
    All {
        /// Participants left alone.
        exclude: Vec<Uuid>,
    },
    /// These participants, but for `exclude`.
    Some {
        /// The participants.
        ids: Vec<Uuid>,
        /// Participants left alone.
        exclude: Vec<Uuid>,
    },
}

impl Targets {
    fn body(&self) -> Value {
        let strings = |ids: &[Uuid]| Value::from(ids.iter().map(Uuid::to_string).collect::<Vec<_>>());
        let (participants, exclude) = match self {
            Targets::All { exclude } => (json!("all"), exclude),
            Targets::Some { ids, exclude } => (strings(ids), exclude),
        };
        let mut body = json!({ "participants": participants });
        if !exclude.is_empty() {
            body["exclude"] = strings(exclude);
        }
        body
    }
}

/// What to do to participants of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantAction {
    /// `kick`: they leave the session.
    Kick,
    /// `mute`.
    Mute,
    /// `unmute`.
    Unmute,
}

impl Action {
    fn new(method: http::Method, path: String, route: &'static str, body: Option<Value>) -> Self {
        Self { method, path, route, body }
    }

    /// `POST /rooms`.
    pub fn create_room(settings: &RoomSettings) -> Self {
        Self::new(http::Method::POST, "/rooms".into(), "/rooms", Some(settings.body()))
    }

    /// `PATCH /rooms/{room_id}`.
    pub fn update_room(id: Uuid, settings: &RoomSettings) -> Self {
        Self::new(http::Method::PATCH, format!("/rooms/{id}"), "/rooms/{room_id}", Some(settings.body()))
    }

    /// `DELETE /rooms/{room_id}`.
    pub fn delete_room(id: Uuid) -> Self {
        Self::new(http::Method::DELETE, format!("/rooms/{id}"), "/rooms/{room_id}", None)
    }

    /// `POST /rooms/{room_id}/actions/generate_join_client_token`; absent TTLs take Telnyx's
    /// defaults (600 s and 3600 s).
    pub fn create_client_token(room: Uuid, token_ttl_secs: Option<u32>, refresh_token_ttl_secs: Option<u32>) -> Self {
        let mut body = Map::new();
        if let Some(ttl) = token_ttl_secs {
            body.insert("token_ttl_secs".into(), ttl.into());
        }
        if let Some(ttl) = refresh_token_ttl_secs {
            body.insert("refresh_token_ttl_secs".into(), ttl.into());
        }
        let path = format!("/rooms/{room}/actions/generate_join_client_token");
        Self::new(http::Method::POST, path, "/rooms/{room_id}/actions/generate_join_client_token", Some(body.into()))
    }

    /// `POST /rooms/{room_id}/actions/refresh_client_token`.
    pub fn refresh_client_token(room: Uuid, refresh_token: &str, token_ttl_secs: Option<u32>) -> Self {
        let mut body = json!({ "refresh_token": refresh_token });
        if let Some(ttl) = token_ttl_secs {
            body["token_ttl_secs"] = ttl.into();
        }
        let path = format!("/rooms/{room}/actions/refresh_client_token");
        Self::new(http::Method::POST, path, "/rooms/{room_id}/actions/refresh_client_token", Some(body))
    }

    /// `POST /room_sessions/{room_session_id}/actions/end` (it kicks everyone too).
    pub fn end_session(session: Uuid) -> Self {
        let path = format!("/room_sessions/{session}/actions/end");
        Self::new(http::Method::POST, path, "/room_sessions/{room_session_id}/actions/end", None)
    }

    /// `POST /room_sessions/{room_session_id}/actions/{kick,mute,unmute}`.
    pub fn participants(session: Uuid, action: ParticipantAction, targets: &Targets) -> Self {
        let (name, route) = match action {
            ParticipantAction::Kick => ("kick", "/room_sessions/{room_session_id}/actions/kick"),
            ParticipantAction::Mute => ("mute", "/room_sessions/{room_session_id}/actions/mute"),
            ParticipantAction::Unmute => ("unmute", "/room_sessions/{room_session_id}/actions/unmute"),
        };
        let path = format!("/room_sessions/{session}/actions/{name}");
        Self::new(http::Method::POST, path, route, Some(targets.body()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fields_given_are_sent_and_cleared_ones_as_null() {
        let settings =
            RoomSettings { max_participants: Patch::Set(12), webhook_event_url: Patch::Clear, ..Default::default() };
        let action = Action::update_room(Uuid::nil(), &settings);
        assert_eq!(action.method, http::Method::PATCH);
        assert_eq!(action.body, Some(json!({ "max_participants": 12, "webhook_event_url": null })));
    }

    #[test]
    fn participants_are_all_or_a_list_and_exclude_is_sent_only_when_given() {
        let id = Uuid::from_u128(1);
        let all = Action::participants(Uuid::nil(), ParticipantAction::Mute, &Targets::All { exclude: vec![id] });
        assert_eq!(all.path, format!("/room_sessions/{}/actions/mute", Uuid::nil()));
        assert_eq!(all.body, Some(json!({ "participants": "all", "exclude": [id.to_string()] })));
        let some = Action::participants(
            Uuid::nil(),
            ParticipantAction::Kick,
            &Targets::Some { ids: vec![id], exclude: vec![] },
        );
        assert_eq!(some.body, Some(json!({ "participants": [id.to_string()] })));
    }
}
