//! `Room`.

use super::directives::{by_first_or_last, cost, edges_and_nodes, listSize, UPSTREAM_REQUEST};
use std::sync::Arc;

use async_graphql::{Context, Object, ID};

use super::connection::{self, Connection, ConnectionArgs, ConnectionNode};
use super::filters::RoomSessionFilter;
use super::ids::{Entity, EntityId};
use super::room_session::RoomSession;
use super::scalars::DateTime;
use super::scope::RoomScope;
use crate::error::AppError;
use crate::telnyx::{wire, RoomSessions};

/// A room, loaded or by reference.
pub struct Room(Entity<wire::Room>);

impl Room {
    /// A room upstream returned.
    pub fn loaded(data: Arc<wire::Room>) -> Self {
        Self(Entity::loaded(data))
    }

    /// A room known by id only; costs no upstream request until a detail field is asked for.
    pub fn reference(id: EntityId) -> Self {
        Self(Entity::reference(id))
    }

    /// The room's data (`NOT_FOUND` outside a room-scoped caller's rooms).
    pub(super) async fn data(&self, ctx: &Context<'_>) -> Result<Arc<wire::Room>, AppError> {
        self.check_scope(ctx)?;
        self.0.data(ctx).await
    }

    /// A room outside a room-scoped caller's rooms does not exist for that caller.
    fn check_scope(&self, ctx: &Context<'_>) -> Result<(), AppError> {
        let scope = RoomScope::of(ctx);
        let allowed = scope.rooms().is_none() || self.0.id.uuid.as_ref().is_ok_and(|id| scope.allows(id));
        RoomScope::hide(allowed, "room", &self.0.id.raw)
    }
}

impl ConnectionNode for Room {
    const CONNECTION: &'static str = "RoomConnection";
    const EDGE: &'static str = "RoomEdge";
}

/// A video room: a named, configured place where sessions happen.
#[Object]
impl Room {
    /// The room's unique id (a UUID).
    pub(super) async fn id(&self) -> ID {
        self.0.id.raw.clone()
    }

    /// The room's name, unique within the Telnyx account.
    #[graphql(requires_scopes = "video:read")]
    async fn unique_name(&self, ctx: &Context<'_>) -> Result<Option<String>, AppError> {
        Ok(self.data(ctx).await?.unique_name.clone())
    }

    /// Maximum participants allowed in the room.
    #[graphql(requires_scopes = "video:read")]
    async fn max_participants(&self, ctx: &Context<'_>) -> Result<Option<i32>, AppError> {
        Ok(self.data(ctx).await?.max_participants.and_then(|n| i32::try_from(n).ok()))
    }

    /// Whether the room's sessions are recorded.
    #[graphql(requires_scopes = "video:read")]
    async fn enable_recording(&self, ctx: &Context<'_>) -> Result<Option<bool>, AppError> {
        Ok(self.data(ctx).await?.enable_recording)
    }

    /// The URL webhooks about this room are sent to.
    #[graphql(requires_scopes = "video:read")]
    async fn webhook_event_url(&self, ctx: &Context<'_>) -> Result<Option<String>, AppError> {
        Ok(self.data(ctx).await?.webhook_event_url.clone())
    }

    /// The URL webhooks are sent to when the primary one fails.
    #[graphql(requires_scopes = "video:read")]
    async fn webhook_event_failover_url(&self, ctx: &Context<'_>) -> Result<Option<String>, AppError> {
        Ok(self.data(ctx).await?.webhook_event_failover_url.clone())
    }

    /// Seconds to wait before a webhook times out.
    #[graphql(requires_scopes = "video:read")]
    async fn webhook_timeout_secs(&self, ctx: &Context<'_>) -> Result<Option<i32>, AppError> {
        Ok(self.data(ctx).await?.webhook_timeout_secs.and_then(|n| i32::try_from(n).ok()))
    }

    /// When the room was created.
    #[graphql(requires_scopes = "video:read")]
    async fn created_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime>, AppError> {
        Ok(self.data(ctx).await?.created_at.map(DateTime))
    }

    /// When the room was last updated.
    #[graphql(requires_scopes = "video:read")]
    async fn updated_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime>, AppError> {
        Ok(self.data(ctx).await?.updated_at.map(DateTime))
    }

    /// The session going on in the room now, if any.
    #[graphql(requires_scopes = "video:read", directive = cost::apply(UPSTREAM_REQUEST))]
    async fn active_session(&self, ctx: &Context<'_>) -> Result<Option<RoomSession>, AppError> {
        let data = self.data(ctx).await?;
        Ok(data.active_session_id.as_deref().map(|id| RoomSession::reference(EntityId::from_upstream(id))))
    }

    /// The room's sessions, as a Relay connection over Telnyx's `GET /rooms/{id}/sessions`.
    #[graphql(
        requires_scopes = "video:read",
        complexity = "super::connection::complexity(first, last, child_complexity)",
        directive = cost::apply(UPSTREAM_REQUEST),
        directive = listSize::apply(None, by_first_or_last(), edges_and_nodes(), Some(false))
    )]
    async fn sessions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only sessions matching all given conditions (`roomId` is not accepted here).")]
        filter: Option<RoomSessionFilter>,
        #[graphql(
            desc = "Return at most this many sessions from the start of the window. Defaults to 20 when neither `first` nor `last` is given."
        )]
        first: Option<i32>,
        #[graphql(desc = "Start after the session with this cursor.")] after: Option<String>,
        #[graphql(desc = "Return at most this many sessions from the end of the window.")] last: Option<i32>,
        #[graphql(desc = "End before the session with this cursor.")] before: Option<String>,
    ) -> Result<Connection<RoomSession>, AppError> {
        self.check_scope(ctx)?;
        let endpoint =
            RoomSessions { room_id: self.0.id.uuid.clone()?, filter: filter.unwrap_or_default().parse(false)? };
        let args = ConnectionArgs { first, after, last, before };
        connection::load(ctx, endpoint, args, RoomSession::loaded).await.map_err(self.0.id.missing_on_404("room"))
    }
}
