//! Mutation payloads: the objects a mutation changed, so clients update their caches from
//! the response, and the `clientMutationId` they sent.

use async_graphql::{Context, Object, ID};

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
pub struct UpdateRoomPayload {
    pub client_mutation_id: Option<String>,
    pub room: Room,
}

#[Object]
impl UpdateRoomPayload {
    /// As sent in the input.
    async fn client_mutation_id(&self) -> Option<&str> {
        self.client_mutation_id.as_deref()
    }

    /// The room with its new settings, as Telnyx answered.
    async fn room(&self) -> &Room {
        &self.room
    }
}

/// What `deleteRoom` deleted.
pub struct DeleteRoomPayload {
    pub client_mutation_id: Option<String>,
    pub deleted_room_id: ID,
}

#[Object]
impl DeleteRoomPayload {
    /// As sent in the input.
    async fn client_mutation_id(&self) -> Option<&str> {
        self.client_mutation_id.as_deref()
    }

    /// The deleted room's id, for Relay's `@deleteRecord` or Apollo's `cache.evict`.
    async fn deleted_room_id(&self) -> &ID {
        &self.deleted_room_id
    }
}

/// A new client token and its refresh token.
pub struct CreateRoomClientTokenPayload {
    pub client_mutation_id: Option<String>,
    pub token: wire::ClientToken,
}

#[Object]
impl CreateRoomClientTokenPayload {
    /// As sent in the input.
    async fn client_mutation_id(&self) -> Option<&str> {
        self.client_mutation_id.as_deref()
    }

    /// The client token to join the room with (a secret).
    async fn token(&self) -> Result<&str, AppError> {
        required(self.token.token.as_deref())
    }

    /// When the client token expires.
    async fn token_expires_at(&self) -> Option<DateTime> {
        self.token.token_expires_at.map(DateTime)
    }

    /// The token that renews the client token (a secret).
    async fn refresh_token(&self) -> Result<&str, AppError> {
        required(self.token.refresh_token.as_deref())
    }

    /// When the refresh token expires.
    async fn refresh_token_expires_at(&self) -> Option<DateTime> {
        self.token.refresh_token_expires_at.map(DateTime)
    }
}

/// A renewed client token.
pub struct RefreshRoomClientTokenPayload {
    pub client_mutation_id: Option<String>,
    pub token: wire::ClientToken,
}

#[Object]
impl RefreshRoomClientTokenPayload {
    /// As sent in the input.
    async fn client_mutation_id(&self) -> Option<&str> {
        self.client_mutation_id.as_deref()
    }

    /// The new client token (a secret).
    async fn token(&self) -> Result<&str, AppError> {
        required(self.token.token.as_deref())
    }

    /// When it expires.
    async fn token_expires_at(&self) -> Option<DateTime> {
        self.token.token_expires_at.map(DateTime)
    }
}

/// A token Telnyx must have sent.
fn required(value: Option<&str>) -> Result<&str, AppError> {
    value.ok_or(AppError::Upstream(crate::telnyx::UpstreamError::InvalidBody))
}

/// What `endRoomSession` ended.
pub struct EndRoomSessionPayload {
    pub client_mutation_id: Option<String>,
    pub room_session: RoomSession,
}

#[Object]
impl EndRoomSessionPayload {
    /// As sent in the input.
    async fn client_mutation_id(&self) -> Option<&str> {
        self.client_mutation_id.as_deref()
    }

    /// The session as it is now (read after the action).
    async fn room_session(&self) -> &RoomSession {
        &self.room_session
    }
}

/// The session whose participants were kicked, muted or unmuted.
pub struct ParticipantsActionPayload {
    pub client_mutation_id: Option<String>,
    pub room_session: RoomSession,
}

#[Object]
impl ParticipantsActionPayload {
    /// As sent in the input.
    async fn client_mutation_id(&self) -> Option<&str> {
        self.client_mutation_id.as_deref()
    }

    /// The session as it is now (read after the action).
    async fn room_session(&self) -> &RoomSession {
        &self.room_session
    }
}
