//! Mutation inputs, validated against the bounds Telnyx documents before anything is sent:
//! a value Telnyx would refuse is `BAD_USER_INPUT` naming its argument, at no upstream cost.

use async_graphql::{InputObject, MaybeUndefined, ID};
use uuid::Uuid;

use crate::error::AppError;
use crate::schema::ids::parse_uuid;
use crate::telnyx::{Patch, RoomSettings, Targets};

/// The longest room name accepted, in characters (Telnyx documents none; filters use the same).
const MAX_NAME_CHARS: usize = crate::schema::filters::MAX_FILTER_TEXT_CHARS;
/// The longest webhook URL accepted, in bytes.
const MAX_URL_BYTES: usize = 2048;
/// The longest refresh token accepted, in bytes (Telnyx's are about 700).
const MAX_TOKEN_BYTES: usize = 4096;
/// Most participant ids one action takes.
const MAX_PARTICIPANT_IDS: usize = 1000;

/// `value` if it lies in `min..=max` (Telnyx's documented bounds).
fn bounded(argument: &str, value: i32, min: u32, max: u32) -> Result<u32, AppError> {
    u32::try_from(value)
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| AppError::bad_input(argument, format!("must be between {min} and {max}, got {value}")))
}

fn name(argument: &str, value: String) -> Result<String, AppError> {
    if value.trim().is_empty() || value.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::bad_input(argument, format!("must be 1 to {MAX_NAME_CHARS} characters, not blank")));
    }
    Ok(value)
}

/// An absolute `http`/`https` URL ("Must include a scheme", says Telnyx).
fn webhook_url(argument: &str, value: String) -> Result<String, AppError> {
    let parsed = (value.len() <= MAX_URL_BYTES).then(|| url::Url::parse(&value).ok()).flatten();
    match parsed {
        Some(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(value),
        _ => Err(AppError::bad_input(argument, "must be an absolute http or https URL")),
    }
}

fn ids(argument: &str, ids: &[ID]) -> Result<Vec<Uuid>, AppError> {
    if ids.len() > MAX_PARTICIPANT_IDS {
        return Err(AppError::bad_input(argument, format!("at most {MAX_PARTICIPANT_IDS} ids are accepted")));
    }
    ids.iter().enumerate().map(|(i, id)| parse_uuid(&format!("{argument}[{i}]"), id)).collect()
}

fn set<T>(value: Option<T>) -> Patch<T> {
    value.map_or(Patch::Keep, Patch::Set)
}

/// The settings of a new room; Telnyx's defaults apply to what is left out.
#[derive(InputObject)]
pub struct CreateRoomInput {
    /// The room's name, unique within the Telnyx account (1 to 256 characters).
    pub unique_name: Option<String>,
    /// Maximum participants allowed in the room (2 to 50; Telnyx's default is 10).
    pub max_participants: Option<i32>,
    /// Whether sessions are recorded (default false).
    pub enable_recording: Option<bool>,
    /// Where webhooks about the room are sent (an absolute http or https URL).
    pub webhook_event_url: Option<String>,
    /// Where webhooks go when the primary URL fails (an absolute http or https URL).
    pub webhook_event_failover_url: Option<String>,
    /// Seconds to wait before a webhook times out (0 to 30).
    pub webhook_timeout_secs: Option<i32>,
    /// Echoed in the payload (Relay's convention).
    pub client_mutation_id: Option<String>,
}

impl CreateRoomInput {
    /// The settings to send.
    pub fn settings(&self) -> Result<RoomSettings, AppError> {
        let this = self;
        Ok(RoomSettings {
            unique_name: set(this.unique_name.clone().map(|v| name("input.uniqueName", v)).transpose()?),
            max_participants: set(this
                .max_participants
                .map(|v| bounded("input.maxParticipants", v, 2, 50))
                .transpose()?),
            enable_recording: set(this.enable_recording),
            webhook_event_url: set(this
                .webhook_event_url
                .clone()
                .map(|v| webhook_url("input.webhookEventUrl", v))
                .transpose()?),
            webhook_event_failover_url: set(this
                .webhook_event_failover_url
                .clone()
                .map(|v| webhook_url("input.webhookEventFailoverUrl", v))
                .transpose()?),
            webhook_timeout_secs: set(this
                .webhook_timeout_secs
                .map(|v| bounded("input.webhookTimeoutSecs", v, 0, 30))
                .transpose()?),
        })
    }
}

/// Changes to a room: only the fields given are sent (PATCH); `null` clears a webhook setting.
#[derive(InputObject)]
pub struct UpdateRoomInput {
    /// The room's id (a UUID).
    pub id: ID,
    /// A new name, unique within the Telnyx account (1 to 256 characters).
    pub unique_name: MaybeUndefined<String>,
    /// Maximum participants allowed in the room (2 to 50).
    pub max_participants: MaybeUndefined<i32>,
    /// Whether sessions are recorded.
    pub enable_recording: MaybeUndefined<bool>,
    /// Where webhooks about the room are sent; `null` clears it (Telnyx's empty string).
    pub webhook_event_url: MaybeUndefined<String>,
    /// Where webhooks go when the primary URL fails; `null` clears it (Telnyx's empty string).
    pub webhook_event_failover_url: MaybeUndefined<String>,
    /// Seconds to wait before a webhook times out (0 to 30); `null` clears it.
    pub webhook_timeout_secs: MaybeUndefined<i32>,
    /// Echoed in the payload (Relay's convention).
    pub client_mutation_id: Option<String>,
}

/// A field that must have a value when given (Telnyx has no "unset" for it).
fn required<T, U>(
    argument: &str,
    value: &MaybeUndefined<T>,
    check: impl FnOnce(&T) -> Result<U, AppError>,
) -> Result<Patch<U>, AppError> {
    match value {
        MaybeUndefined::Undefined => Ok(Patch::Keep),
        MaybeUndefined::Null => Err(AppError::bad_input(argument, "cannot be cleared; leave it out to keep it")),
        MaybeUndefined::Value(v) => check(v).map(Patch::Set),
    }
}

/// A field that `null` clears: Telnyx takes `null` for it (`webhook_timeout_secs`, default
/// null), or its "unset" value (`""` for the webhook URLs, whose default is empty).
fn clearable<T, U>(
    value: &MaybeUndefined<T>,
    unset: Patch<U>,
    check: impl FnOnce(&T) -> Result<U, AppError>,
) -> Result<Patch<U>, AppError> {
    match value {
        MaybeUndefined::Undefined => Ok(Patch::Keep),
        MaybeUndefined::Null => Ok(unset),
        MaybeUndefined::Value(v) => check(v).map(Patch::Set),
    }
}

impl UpdateRoomInput {
    /// The room and the changes to send; at least one change.
    pub fn parse(&self) -> Result<(Uuid, RoomSettings), AppError> {
        let id = parse_uuid("input.id", &self.id)?;
        let settings = RoomSettings {
            unique_name: required("input.uniqueName", &self.unique_name, |v| name("input.uniqueName", v.clone()))?,
            max_participants: required("input.maxParticipants", &self.max_participants, |v| {
                bounded("input.maxParticipants", *v, 2, 50)
            })?,
            enable_recording: required("input.enableRecording", &self.enable_recording, |v| Ok(*v))?,
            webhook_event_url: clearable(&self.webhook_event_url, Patch::Set(String::new()), |v| {
                webhook_url("input.webhookEventUrl", v.clone())
            })?,
            webhook_event_failover_url: clearable(&self.webhook_event_failover_url, Patch::Set(String::new()), |v| {
                webhook_url("input.webhookEventFailoverUrl", v.clone())
            })?,
            webhook_timeout_secs: clearable(&self.webhook_timeout_secs, Patch::Clear, |v| {
                bounded("input.webhookTimeoutSecs", *v, 0, 30)
            })?,
        };
        if settings == RoomSettings::default() {
            return Err(AppError::bad_input("input", "give at least one field to change"));
        }
        Ok((id, settings))
    }
}

/// The room to delete.
#[derive(InputObject)]
pub struct DeleteRoomInput {
    /// The room's id (a UUID).
    pub id: ID,
    /// Echoed in the payload (Relay's convention).
    pub client_mutation_id: Option<String>,
}

/// A client token to join a room with.
#[derive(InputObject)]
pub struct CreateRoomClientTokenInput {
    /// The room's id (a UUID).
    pub room_id: ID,
    /// Seconds the client token is valid (10 to 3600; Telnyx's default is 600).
    pub token_ttl_secs: Option<i32>,
    /// Seconds the refresh token is valid (60 to 86400; Telnyx's default is 3600).
    pub refresh_token_ttl_secs: Option<i32>,
    /// Echoed in the payload (Relay's convention).
    pub client_mutation_id: Option<String>,
}

impl CreateRoomClientTokenInput {
    /// The room and the two TTLs.
    pub fn parse(&self) -> Result<(Uuid, Option<u32>, Option<u32>), AppError> {
        Ok((
            parse_uuid("input.roomId", &self.room_id)?,
            self.token_ttl_secs.map(|v| bounded("input.tokenTtlSecs", v, 10, 3600)).transpose()?,
            self.refresh_token_ttl_secs.map(|v| bounded("input.refreshTokenTtlSecs", v, 60, 86_400)).transpose()?,
        ))
    }
}

/// A new client token from a refresh token.
#[derive(InputObject)]
pub struct RefreshRoomClientTokenInput {
    /// The room's id (a UUID).
    pub room_id: ID,
    /// The refresh token `createRoomClientToken` gave.
    #[graphql(secret)]
    pub refresh_token: String,
    /// Seconds the new client token is valid (10 to 3600; Telnyx's default is 600).
    pub token_ttl_secs: Option<i32>,
    /// Echoed in the payload (Relay's convention).
    pub client_mutation_id: Option<String>,
}

impl RefreshRoomClientTokenInput {
    /// The room, the refresh token and the TTL.
    pub fn parse(&self) -> Result<(Uuid, &str, Option<u32>), AppError> {
        let token = self.refresh_token.as_str();
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES || !token.bytes().all(|b| b.is_ascii_graphic()) {
            // Never echo the token itself.
            return Err(AppError::bad_input("input.refreshToken", "is not a token"));
        }
        Ok((
            parse_uuid("input.roomId", &self.room_id)?,
            token,
            self.token_ttl_secs.map(|v| bounded("input.tokenTtlSecs", v, 10, 3600)).transpose()?,
        ))
    }
}

/// The session to end.
#[derive(InputObject)]
pub struct EndRoomSessionInput {
    /// The session's id (a UUID).
    pub session_id: ID,
    /// Echoed in the payload (Relay's convention).
    pub client_mutation_id: Option<String>,
}

/// Participants of a session to act on: exactly one of `participantIds` or `all: true`.
#[derive(InputObject)]
pub struct ParticipantsActionInput {
    /// The session's id (a UUID).
    pub session_id: ID,
    /// These participants (UUIDs, at most 1000).
    pub participant_ids: Option<Vec<ID>>,
    /// Everyone in the session.
    pub all: Option<bool>,
    /// Participants to leave alone (UUIDs); absent or `null` leaves out nobody.
    pub exclude: Option<Vec<ID>>,
    /// Echoed in the payload (Relay's convention).
    pub client_mutation_id: Option<String>,
}

impl ParticipantsActionInput {
    /// The session and who to act on.
    pub fn parse(&self) -> Result<(Uuid, Targets), AppError> {
        let session = parse_uuid("input.sessionId", &self.session_id)?;
        let exclude = ids("input.exclude", self.exclude.as_deref().unwrap_or_default())?;
        let targets = match (&self.participant_ids, self.all.unwrap_or(false)) {
            (Some(list), false) if !list.is_empty() => {
                Targets::Some { ids: ids("input.participantIds", list)?, exclude }
            }
            (None, true) => Targets::All { exclude },
            _ => {
                let reason = "give exactly one of `participantIds` (not empty) or `all: true`";
                return Err(AppError::bad_input("input", reason));
            }
        };
        Ok((session, targets))
    }
}
