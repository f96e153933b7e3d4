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
    /// What a live event already said of it: fields given here are served without a load.
    known: Option<wire::RoomParticipant>,
}

impl RoomParticipant {
    /// A participant upstream returned, listed under session `listed_under` if any.
    pub fn loaded(data: Arc<wire::RoomParticipant>, listed_under: Option<Uuid>) -> Self {
        Self { entity: Entity::loaded(data), listed_under, known: None }
    }

    /// A participant known by id only (e.g. a federation reference).
    pub fn reference(id: EntityId) -> Self {
        Self { entity: Entity::reference(id), listed_under: None, known: None }
    }

    /// A participant a live event told of: `known`'s fields are served as they are, the
    /// others load on first use like a reference's.
    pub fn known(id: Uuid, known: wire::RoomParticipant) -> Self {
        Self { entity: Entity::reference(EntityId::from_uuid(id)), listed_under: None, known: Some(known) }
    }

    /// A field from what is known, else from the participant's data.
    async fn field<V>(
        &self,
        ctx: &Context<'_>,
        pick: impl Fn(&wire::RoomParticipant) -> Option<V>,
    ) -> Result<Option<V>, AppError> {
        if let Some(value) = self.known.as_ref().and_then(&pick) {
            return Ok(Some(value));
        }
        Ok(pick(&*self.data(ctx).await?))
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
        if let Some(id) = self.known.as_ref().and_then(|known| known.session_id.as_deref()) {
            return Ok(EntityId::from_upstream(id));
        }
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
        self.field(ctx, |p| p.context.clone()).await
    }

    /// When the participant joined the session.
    #[graphql(requires_scopes = "video:read")]
    async fn joined_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime>, AppError> {
        self.field(ctx, |p| p.joined_at.map(DateTime)).await
    }

    /// When the participant was last updated.
    #[graphql(requires_scopes = "video:read")]
    async fn updated_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime>, AppError> {
        self.field(ctx, |p| p.updated_at.map(DateTime)).await
    }

    /// When the participant left the session; null while still in it.
    #[graphql(requires_scopes = "video:read")]
    async fn left_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime>, AppError> {
        self.field(ctx, |p| p.left_at.map(DateTime)).await
    }

    /// The room session the participant is part of. Its details cost one upstream request per
    /// distinct session per GraphQL request, none if a list already returned it.
    #[graphql(requires_scopes = "video:read", directive = cost::apply(UPSTREAM_REQUEST))]
    async fn session(&self, ctx: &Context<'_>) -> Result<RoomSession, AppError> {
        Ok(RoomSession::reference(self.session_uuid(ctx).await?))
    }
}
