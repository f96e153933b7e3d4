//! `RoomParticipant`.

use super::directives::{cost, UPSTREAM_REQUEST};
use std::sync::Arc;

use async_graphql::{Context, Object, ID};
use uuid::Uuid;

use super::connection::ConnectionNode;
use super::ids::{Entity, EntityId};
use super::room_session::RoomSession;
use super::scalars::DateTime;
use super::scope::RoomScope;
use crate::error::AppError;
use crate::telnyx::{wire, UpstreamError};

/// A participant, loaded or by reference.
pub struct RoomParticipant {
    entity: Entity<wire::RoomParticipant>,
    /// The session it was listed under, for when upstream omits `session_id`.
    listed_under: Option<Uuid>,
}

impl RoomParticipant {
    /// A participant upstream returned, listed under session `listed_under` if any.
    pub fn loaded(data: Arc<wire::RoomParticipant>, listed_under: Option<Uuid>) -> Self {
        Self { entity: Entity::loaded(data), listed_under }
    }

    /// A participant known by id only (e.g. a federation reference).
    pub fn reference(id: EntityId) -> Self {
        Self { entity: Entity::reference(id), listed_under: None }
    }

    /// The participant's data. A participant known by reference is shown to a room-scoped
    /// caller only if its session's room is theirs; listed ones come from lists already
    /// narrowed to the caller's rooms.
    pub(super) async fn data(&self, ctx: &Context<'_>) -> Result<Arc<wire::RoomParticipant>, AppError> {
        let data = self.entity.data(ctx).await?;
        if self.entity.loaded_data().is_none() && RoomScope::of(ctx).rooms().is_some() {
            let visible = super::session_visible(ctx, data.session_id.as_deref()).await?;
            RoomScope::hide(visible, "room participant", &self.entity.id.raw)?;
        }
        Ok(data)
    }

    async fn session_uuid(&self, ctx: &Context<'_>) -> Result<EntityId, AppError> {
        let data = self.data(ctx).await?;
        match (data.session_id.as_deref(), self.listed_under) {
            (Some(id), _) => Ok(EntityId::from_upstream(id)),
            (None, Some(session)) => Ok(EntityId::from_uuid(session)),
            (None, None) => Err(AppError::Upstream(UpstreamError::InvalidBody)),
        }
    }
}

impl ConnectionNode for RoomParticipant {
    const CONNECTION: &'static str = "RoomParticipantConnection";
    const EDGE: &'static str = "RoomParticipantEdge";
}

/// A participant of a room session.
#[Object]
impl RoomParticipant {
    /// The participant's unique id (a UUID).
    pub(super) async fn id(&self) -> Result<ID, AppError> {
        // The contract says `ID!`; inventing an id would corrupt clients' caches.
        match self.entity.loaded_data() {
            Some(data) => data.id.clone().map(ID).ok_or(AppError::Upstream(UpstreamError::InvalidBody)),
            None => Ok(self.entity.id.raw.clone()),
        }
    }

    /// The id of the room session the participant is part of.
    #[graphql(requires_scopes = "video:read")]
    async fn session_id(&self, ctx: &Context<'_>) -> Result<ID, AppError> {
        Ok(self.session_uuid(ctx).await?.raw)
    }

    /// Context given to the participant through the client SDK, e.g. a display name.
    #[graphql(requires_scopes = "video:read")]
    async fn context(&self, ctx: &Context<'_>) -> Result<Option<String>, AppError> {
        Ok(self.data(ctx).await?.context.clone())
    }

    /// When the participant joined the session.
    #[graphql(requires_scopes = "video:read")]
    async fn joined_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime>, AppError> {
        Ok(self.data(ctx).await?.joined_at.map(DateTime))
    }

    /// When the participant was last updated.
    #[graphql(requires_scopes = "video:read")]
    async fn updated_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime>, AppError> {
        Ok(self.data(ctx).await?.updated_at.map(DateTime))
    }

    /// When the participant left the session; null while still in it.
    #[graphql(requires_scopes = "video:read")]
    async fn left_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime>, AppError> {
        Ok(self.data(ctx).await?.left_at.map(DateTime))
    }

    /// The room session the participant is part of. Its details cost one upstream request per
    /// distinct session per GraphQL request, none if a list already returned it.
    #[graphql(requires_scopes = "video:read", directive = cost::apply(UPSTREAM_REQUEST))]
    async fn session(&self, ctx: &Context<'_>) -> Result<RoomSession, AppError> {
        Ok(RoomSession::reference(self.session_uuid(ctx).await?))
    }
}
