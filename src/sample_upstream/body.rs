//! The JSON bodies of the writes, read field by field as `video-actions.openapi.yaml` defines
//! them, so that every complaint (422) points at the field it is about.

use std::{collections::HashSet, ops::RangeInclusive};

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{
    data::{Participant, Room},
    error::ApiError,
};

/// A write's body: a JSON object, whose unknown fields are ignored.
struct Fields(Map<String, Value>);

impl Fields {
    /// 422 unless `body` is a JSON object.
    fn parse(body: &[u8]) -> Result<Self, ApiError> {
        match serde_json::from_slice(body) {
            Ok(Value::Object(fields)) => Ok(Self(fields)),
            _ => Err(ApiError::malformed_body()),
        }
    }

    /// Field `key` as `read` makes of it: `None` when absent, 422 saying that it must be
    /// `expected` when `read` declines.
    fn get<T>(&self, key: &str, expected: &str, read: impl FnOnce(&Value) -> Option<T>) -> Result<Option<T>, ApiError> {
        let Some(value) = self.0.get(key) else {
            return Ok(None);
        };
        let invalid = || ApiError::invalid_field(format!("/{key}"), format!("{key} must be {expected}."));
        read(value).map(Some).ok_or_else(invalid)
    }

    fn int(&self, key: &str, bounds: RangeInclusive<u32>) -> Result<Option<u32>, ApiError> {
        let expected = format!("an integer from {} to {}", bounds.start(), bounds.end());
        self.get(key, &expected, |value| int_within(value, &bounds))
    }

    /// Like [`Fields::int`], but null is taken too, as `Some(None)`: the spec gives such a field
    /// `default: null`, so null is its unset value.
    fn nullable_int(&self, key: &str, bounds: RangeInclusive<u32>) -> Result<Option<Option<u32>>, ApiError> {
        let expected = format!("an integer from {} to {}, or null", bounds.start(), bounds.end());
        self.get(key, &expected, |value| match value {
            Value::Null => Some(None),
            value => int_within(value, &bounds).map(Some),
        })
    }

    fn flag(&self, key: &str) -> Result<Option<bool>, ApiError> {
        self.get(key, "true or false", Value::as_bool)
    }

    fn text(&self, key: &str) -> Result<Option<String>, ApiError> {
        self.get(key, "a string", |value| value.as_str().map(str::to_owned))
    }

    /// A webhook URL, which "must include a scheme, such as 'https'"; empty means none, as in
    /// the failover URL's default, and is how a client unsets one (null is not a string).
    fn url(&self, key: &str) -> Result<Option<String>, ApiError> {
        self.get(key, "a URL with a scheme, such as https, or empty", |value| {
            value.as_str().filter(|url| url.is_empty() || url::Url::parse(url).is_ok()).map(str::to_owned)
        })
    }

    /// A list of participant ids, lowercased and hyphenated like the stored ones; 422 pointing
    /// at the first entry that is not a UUID.
    fn ids(&self, key: &str) -> Result<Option<HashSet<String>>, ApiError> {
        let Some(value) = self.0.get(key) else {
            return Ok(None);
        };
        let detail = || format!("{key} must be a list of participant ids (UUIDs).");
        let ids = value.as_array().ok_or_else(|| ApiError::invalid_field(format!("/{key}"), detail()))?;
        let id = |(i, id): (usize, &Value)| {
            let uuid = id.as_str().and_then(|id| Uuid::parse_str(id).ok());
            uuid.map(|uuid| uuid.hyphenated().to_string())
                .ok_or_else(|| ApiError::invalid_field(format!("/{key}/{i}"), detail()))
        };
        ids.iter().enumerate().map(id).collect::<Result<_, _>>().map(Some)
    }
}

fn int_within(value: &Value, bounds: &RangeInclusive<u32>) -> Option<u32> {
    value.as_u64().and_then(|n| u32::try_from(n).ok()).filter(|n| bounds.contains(n))
}

/// The settings a `CreateRoomRequest` or `PatchRoomRequest` sent (the two have the same
/// fields and bounds); `None` where a field was absent.
pub(super) struct RoomSettings {
    pub(super) unique_name: Option<String>,
    max_participants: Option<u32>,
    enable_recording: Option<bool>,
    webhook_event_url: Option<String>,
    webhook_event_failover_url: Option<String>,
    /// `Some(None)` when sent as null, which unsets it.
    webhook_timeout_secs: Option<Option<u32>>,
}

impl RoomSettings {
    pub(super) fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let fields = Fields::parse(body)?;
        Ok(Self {
            unique_name: fields.text("unique_name")?,
            max_participants: fields.int("max_participants", 2..=50)?,
            enable_recording: fields.flag("enable_recording")?,
            webhook_event_url: fields.url("webhook_event_url")?,
            webhook_event_failover_url: fields.url("webhook_event_failover_url")?,
            webhook_timeout_secs: fields.nullable_int("webhook_timeout_secs", 0..=30)?,
        })
    }

    /// Sets the fields that were sent and leaves the others as they are.
    pub(super) fn apply(self, room: &mut Room) {
        fn set<T>(field: &mut T, sent: Option<T>) {
            if let Some(value) = sent {
                *field = value;
            }
        }
        set(&mut room.unique_name, self.unique_name);
        set(&mut room.max_participants, self.max_participants);
        set(&mut room.enable_recording, self.enable_recording);
        set(&mut room.webhook_event_url, self.webhook_event_url);
        set(&mut room.webhook_event_failover_url, self.webhook_event_failover_url);
        set(&mut room.webhook_timeout_secs, self.webhook_timeout_secs);
    }
}

/// A `CreateRoomClientTokenRequest`, with the spec's defaults filled in.
pub(super) struct JoinTokenRequest {
    pub(super) token_ttl_secs: u32,
    pub(super) refresh_token_ttl_secs: u32,
}

impl JoinTokenRequest {
    pub(super) fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let fields = Fields::parse(body)?;
        Ok(Self {
            token_ttl_secs: token_ttl(&fields)?,
            refresh_token_ttl_secs: fields.int("refresh_token_ttl_secs", 60..=86_400)?.unwrap_or(3600),
        })
    }
}

/// A `RefreshRoomClientTokenRequest`, with the spec's defaults filled in.
pub(super) struct RefreshTokenRequest {
    pub(super) refresh_token: String,
    pub(super) token_ttl_secs: u32,
}

impl RefreshTokenRequest {
    pub(super) fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let fields = Fields::parse(body)?;
        let refresh_token = fields.text("refresh_token")?.ok_or_else(|| ApiError::missing_field("refresh_token"))?;
        Ok(Self { refresh_token, token_ttl_secs: token_ttl(&fields)? })
    }
}

/// `token_ttl_secs`, the same in both token requests.
fn token_ttl(fields: &Fields) -> Result<u32, ApiError> {
    Ok(fields.int("token_ttl_secs", 10..=3600)?.unwrap_or(600))
}

/// An `ActionsParticipantsRequest`: whom a kick, mute or unmute acts on.
pub(super) struct Targets {
    /// The ids listed in `participants`; `None` for `"all"`.
    pub(super) only: Option<HashSet<String>>,
    exclude: HashSet<String>,
}

impl Targets {
    /// The spec leaves `participants` optional without saying what its absence means, so it is
    /// required here: a request that forgot it fails instead of acting on an unknown set.
    pub(super) fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let fields = Fields::parse(body)?;
        let only = match fields.0.get("participants") {
            None => return Err(ApiError::missing_field("participants")),
            Some(Value::String(all)) if all == "all" => None,
            Some(Value::Array(_)) => fields.ids("participants")?,
            Some(_) => {
                let detail = r#"participants must be "all" or a list of participant ids."#.into();
                return Err(ApiError::invalid_field("/participants".into(), detail));
            }
        };
        Ok(Self { only, exclude: fields.ids("exclude")?.unwrap_or_default() })
    }

    /// Whether `participant` is listed (or all are) and not excluded.
    pub(super) fn pick(&self, participant: &Participant) -> bool {
        self.only.as_ref().is_none_or(|only| only.contains(&participant.id)) && !self.exclude.contains(&participant.id)
    }
}
