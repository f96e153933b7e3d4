//! `RoomSession`: an id plus its participants connection.

use async_graphql::{Context, Object, ID};
use uuid::Uuid;

use super::connection::{self, Connection, ConnectionArgs};
use super::participant::{RoomParticipant, RoomParticipantFilter};
use crate::error::AppError;
use crate::telnyx::SessionParticipants;

/// A room session, known by id alone until a field needs upstream data.
pub struct RoomSession {
    id: Uuid,
}

impl RoomSession {
    /// The session `id`; costs no upstream request.
    pub fn new(id: Uuid) -> Self {
        Self { id }
    }
}

/// A session of a video room: one continuous meeting with its participants.
#[Object]
impl RoomSession {
    /// The session's unique id (a UUID).
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The session's participants, as a Relay connection over Telnyx's participant list.
    async fn participants(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only participants matching all given conditions.")] filter: Option<RoomParticipantFilter>,
        #[graphql(
            desc = "Return at most this many participants from the start of the window (0 to the configured maximum, 1000 by default). Defaults to 20 when neither `first` nor `last` is given."
        )]
        first: Option<i32>,
        #[graphql(desc = "Start after the participant with this cursor.")] after: Option<String>,
        #[graphql(
            desc = "Return at most this many participants from the end of the window (0 to the configured maximum)."
        )]
        last: Option<i32>,
        #[graphql(desc = "End before the participant with this cursor.")] before: Option<String>,
    ) -> Result<Connection<RoomParticipant>, AppError> {
        let endpoint = SessionParticipants { session_id: self.id, filter: filter.unwrap_or_default().into() };
        let session = self.id;
        let args = ConnectionArgs { first, after, last, before };
        connection::load(ctx, endpoint, args, |wire| RoomParticipant::new(wire, session)).await
    }
}

/// Parses a UUID argument, accepting only the canonical hyphenated form (any case), so that
/// nothing else can ever be spliced into an upstream path.
pub fn parse_uuid(argument: &str, id: &ID) -> Result<Uuid, AppError> {
    let canonical = id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    canonical
        .then(|| Uuid::try_parse(id).ok())
        .flatten()
        .ok_or_else(|| AppError::bad_input(argument, format!("\"{}\" is not a UUID", id.as_str())))
}
