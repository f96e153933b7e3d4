//! `RoomSession`.

use super::directives::{by_first_or_last, cost, edges_and_nodes, listSize, UPSTREAM_REQUEST};
use std::sync::Arc;

use async_graphql::{Context, Object, ID};

use super::connection::{self, Connection, ConnectionArgs, ConnectionNode};
use super::filters::RoomParticipantFilter;
use super::ids::{Entity, EntityId};
use super::participant::RoomParticipant;
use super::room::Room;
use super::scalars::DateTime;
use super::scope::RoomScope;
use crate::error::AppError;
use crate::telnyx::{wire, SessionParticipants};

/// A session, loaded or by reference.
pub struct RoomSession(Entity<wire::RoomSession>);

impl RoomSession {
    /// A session upstream returned.
    pub fn loaded(data: Arc<wire::RoomSession>) -> Self {
        Self(Entity::loaded(data))
    }

    /// A session known by id only; costs no upstream request until a detail field is asked for.
    pub fn reference(id: EntityId) -> Self {
        Self(Entity::reference(id))
    }

    /// The session's data; for a room-scoped caller, only if its room is one of theirs
    /// (else `NOT_FOUND`, as if it did not exist).
    pub(super) async fn data(&self, ctx: &Context<'_>) -> Result<Arc<wire::RoomSession>, AppError> {
        let data = self.0.data(ctx).await?;
        RoomScope::hide(RoomScope::of(ctx).allows_upstream(data.room_id.as_deref()), "room session", &self.0.id.raw)?;
        Ok(data)
    }
}

impl ConnectionNode for RoomSession {
    const CONNECTION: &'static str = "RoomSessionConnection";
    const EDGE: &'static str = "RoomSessionEdge";
}

/// A session of a video room: one continuous meeting with its participants.
#[Object]
impl RoomSession {
    /// The session's unique id (a UUID).
    pub(super) async fn id(&self) -> ID {
        self.0.id.raw.clone()
    }

    /// The id of the room hosting the session.
    #[graphql(requires_scopes = "video:read")]
    async fn room_id(&self, ctx: &Context<'_>) -> Result<Option<ID>, AppError> {
        Ok(self.data(ctx).await?.room_id.clone().map(ID))
    }

    /// Whether the session is still going on.
    #[graphql(requires_scopes = "video:read")]
    async fn active(&self, ctx: &Context<'_>) -> Result<Option<bool>, AppError> {
        Ok(self.data(ctx).await?.active)
    }

    /// When the session started.
    #[graphql(requires_scopes = "video:read")]
    async fn created_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime>, AppError> {
        Ok(self.data(ctx).await?.created_at.map(DateTime))
    }

    /// When the session was last updated.
    #[graphql(requires_scopes = "video:read")]
    async fn updated_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime>, AppError> {
        Ok(self.data(ctx).await?.updated_at.map(DateTime))
    }

    /// When the session ended; null while it is active.
    #[graphql(requires_scopes = "video:read")]
    async fn ended_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime>, AppError> {
        Ok(self.data(ctx).await?.ended_at.map(DateTime))
    }

    /// The room hosting the session. Its details cost one upstream request per distinct room
    /// per GraphQL request.
    #[graphql(requires_scopes = "video:read", directive = cost::apply(UPSTREAM_REQUEST))]
    async fn room(&self, ctx: &Context<'_>) -> Result<Option<Room>, AppError> {
        let data = self.data(ctx).await?;
        Ok(data.room_id.as_deref().map(|id| Room::reference(EntityId::from_upstream(id))))
    }

    /// The session's participants, as a Relay connection over Telnyx's participant list.
    #[graphql(
        requires_scopes = "video:read",
        complexity = "super::connection::complexity(first, last, child_complexity)",
        directive = cost::apply(UPSTREAM_REQUEST),
        directive = listSize::apply(None, by_first_or_last(), edges_and_nodes(), Some(false))
    )]
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
        if RoomScope::of(ctx).rooms().is_some() {
            // Listing needs no session data, but a scoped caller must be shown its room first.
            self.data(ctx).await?;
        }
        let session = self.0.id.uuid.clone()?;
        let endpoint = SessionParticipants { session_id: session, filter: filter.unwrap_or_default().parse()? };
        let args = ConnectionArgs { first, after, last, before };
        connection::load(ctx, endpoint, args, |wire| RoomParticipant::loaded(wire, Some(session)))
            .await
            .map_err(self.0.id.missing_on_404("room session"))
    }
}
