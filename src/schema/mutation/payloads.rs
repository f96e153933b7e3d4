//! Mutation payloads: the objects a mutation changed, so clients update their caches from
//! the response, and the `clientMutationId` they sent. Plain fields in declaration order;
//! only `createRoom`'s edge needs a resolver of its own.

use async_graphql::{Context, Object, SimpleObject, ID};

use crate::error::AppError;
use crate::schema::connection::{self, Edge};
use crate::schema::room::Room;
use crate::schema::room_session::RoomSession;
use crate::schema::scalars::DateTime;
use crate::telnyx::{wire, Rooms};

/// What `createRoom` created.
pub struct CreateRoomPayload {
    pub client_mutation_id: Option<String>,
    pub room: Room,
}

#[Object]
impl CreateRoomPayload {
    /// As sent in the input.
    async fn client_mutation_id(&self) -> Option<&str> {
        self.client_mutation_id.as_deref()
    }

    /// The new room, as Telnyx answered.
    async fn room(&self) -> &Room {
        &self.room
    }

    /// The new room as an edge of the unfiltered `rooms` connection, for Relay's
    /// `@appendEdge` or an Apollo cache update. Telnyx lists rooms oldest first, so a new room
    /// is last: its cursor costs one request for the list's total, only when selected.
    async fn room_edge(&self, ctx: &Context<'_>) -> Result<Edge<'_, Room>, AppError> {
        let cursor = connection::last_cursor_if_selected(ctx, &Rooms { filter: Default::default() }).await?;
        Ok(Edge::new(&self.room, cursor))
    }
}

/// What `updateRoom` changed.
#[derive(SimpleObject)]
pub struct UpdateRoomPayload {
    /// As sent in the input.
    pub client_mutation_id: Option<String>,
    /// The room with its new settings, as Telnyx answered.
    pub room: Room,
}

/// What `deleteRoom` deleted.
#[derive(SimpleObject)]
pub struct DeleteRoomPayload {
    /// As sent in the input.
    pub client_mutation_id: Option<String>,
    /// The deleted room's id, for Relay's `@deleteRecord` or Apollo's `cache.evict`.
    pub deleted_room_id: ID,
}

/// A new client token and its refresh token. Both are secrets.
#[derive(SimpleObject)]
pub struct CreateRoomClientTokenPayload {
    /// As sent in the input.
    pub client_mutation_id: Option<String>,
    /// The client token to join the room with.
    pub token: String,
    /// When the client token expires.
    pub token_expires_at: Option<DateTime>,
    /// The token that renews the client token.
    pub refresh_token: String,
    /// When the refresh token expires.
    pub refresh_token_expires_at: Option<DateTime>,
}

impl CreateRoomClientTokenPayload {
    /// From what Telnyx answered, which must hold both tokens.
    pub fn new(client_mutation_id: Option<String>, answer: wire::ClientToken) -> Result<Self, AppError> {
        Ok(Self {
            client_mutation_id,
            token: required(answer.token)?,
            token_expires_at: answer.token_expires_at.map(DateTime),
            refresh_token: required(answer.refresh_token)?,
            refresh_token_expires_at: answer.refresh_token_expires_at.map(DateTime),
        })
    }
}

/// A renewed client token (a secret).
#[derive(SimpleObject)]
pub struct RefreshRoomClientTokenPayload {
    /// As sent in the input.
    pub client_mutation_id: Option<String>,
    /// The new client token.
    pub token: String,
    /// When it expires.
    pub token_expires_at: Option<DateTime>,
}

impl RefreshRoomClientTokenPayload {
    /// From what Telnyx answered, which must hold the token.
    pub fn new(client_mutation_id: Option<String>, answer: wire::ClientToken) -> Result<Self, AppError> {
        let token_expires_at = answer.token_expires_at.map(DateTime);
        Ok(Self { client_mutation_id, token: required(answer.token)?, token_expires_at })
    }
}

/// A token Telnyx must have sent.
fn required(value: Option<String>) -> Result<String, AppError> {
    value.ok_or(AppError::Write(crate::telnyx::UpstreamError::InvalidBody))
}

/// What `endRoomSession` ended.
#[derive(SimpleObject)]
pub struct EndRoomSessionPayload {
    /// As sent in the input.
    pub client_mutation_id: Option<String>,
    /// The session as it is now (read after the action).
    pub room_session: RoomSession,
}

/// The session whose participants were kicked, muted or unmuted.
#[derive(SimpleObject)]
pub struct ParticipantsActionPayload {
    /// As sent in the input.
    pub client_mutation_id: Option<String>,
    /// The session as it is now (read after the action).
    pub room_session: RoomSession,
}
