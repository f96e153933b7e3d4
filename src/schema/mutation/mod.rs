//! Mutations: Telnyx's write operations as Relay mutations.
//!
//! Each takes one `input` (validated before anything is sent, see [`inputs`]) and returns a
//! payload with the objects it changed, so Relay and Apollo Client update their caches from
//! the response. Writes go through [`Upstream::act`]: never sent twice by a retry, and
//! followed by a clean slate for later fields of the request. async-graphql runs mutation
//! fields one after another, in document order, as the spec requires.

mod inputs;
mod payloads;

use std::sync::Arc;

use async_graphql::{Context, Object, ID};
use uuid::Uuid;

use super::directives::{cost, UPSTREAM_REQUEST};
use super::ids::EntityId;
use super::room::Room;
use super::room_session::RoomSession;
use super::scope::RoomScope;
use super::{session_visible, upstream};
use crate::error::AppError;
use crate::telnyx::{wire, Action, ParticipantAction, RoomById};
use inputs::{
    CreateRoomClientTokenInput, CreateRoomInput, DeleteRoomInput, EndRoomSessionInput, ParticipantsActionInput,
    RefreshRoomClientTokenInput, UpdateRoomInput,
};
use payloads::{
    CreateRoomClientTokenPayload, CreateRoomPayload, DeleteRoomPayload, EndRoomSessionPayload,
    ParticipantsActionPayload, RefreshRoomClientTokenPayload, UpdateRoomPayload,
};

/// The mutation root.
pub struct Mutation;

/// Counts the mutation by name and outcome and logs it (never its input: tokens are secrets).
fn record<T>(mutation: &'static str, result: &Result<T, AppError>) {
    let outcome = match result {
        Ok(_) => "applied",
        Err(AppError::Write(error)) if !error.not_applied() => "unknown",
        Err(_) => "not_applied",
    };
    metrics::counter!("graphql_mutations_total", "mutation" => mutation, "outcome" => outcome).increment(1);
    match result {
        Ok(_) => tracing::info!(mutation, outcome, "mutation"),
        Err(error) => tracing::warn!(mutation, outcome, code = error.code(), "mutation failed"),
    }
}

/// A room a room-scoped caller may act on (others do not exist for it).
fn room_in_scope(ctx: &Context<'_>, room: Uuid) -> Result<Uuid, AppError> {
    RoomScope::hide(RoomScope::of(ctx).allows(&room), "room", &room.to_string())?;
    Ok(room)
}

/// A session a room-scoped caller may act on: one lookup of its room, for scoped callers only.
async fn session_in_scope(ctx: &Context<'_>, session: Uuid) -> Result<Uuid, AppError> {
    if RoomScope::of(ctx).rooms().is_some() {
        let visible = session_visible(ctx, Some(&session.to_string())).await?;
        RoomScope::hide(visible, "room session", &session.to_string())?;
    }
    Ok(session)
}

/// What a write answered, which must be there.
fn answered<T>(value: Option<T>) -> Result<T, AppError> {
    value.ok_or(AppError::Write(crate::telnyx::UpstreamError::InvalidBody))
}

/// Changes to rooms and live sessions, sent to Telnyx.
#[Object]
impl Mutation {
    /// Creates a room (`POST /rooms`). `roomEdge` can be appended to a cached `rooms`
    /// connection (Relay's `@appendEdge`).
    #[graphql(requires_scopes = "video:write", directive = cost::apply(UPSTREAM_REQUEST))]
    async fn create_room(&self, ctx: &Context<'_>, input: CreateRoomInput) -> Result<CreateRoomPayload, AppError> {
        let result = async {
            let settings = input.settings()?;
            if RoomScope::of(ctx).rooms().is_some() {
                return Err(AppError::Forbidden("a token scoped to rooms cannot create rooms"));
            }
            let room: wire::Room = answered(upstream(ctx).act(&Action::create_room(&settings)).await?)?;
            Ok(Room::loaded(prime(ctx, room).await))
        }
        .await;
        record("createRoom", &result);
        Ok(CreateRoomPayload { client_mutation_id: input.client_mutation_id, room: result? })
    }

    /// Changes a room's settings (`PATCH /rooms/{id}`): only the fields given are sent.
    #[graphql(requires_scopes = "video:write", directive = cost::apply(UPSTREAM_REQUEST))]
    async fn update_room(&self, ctx: &Context<'_>, input: UpdateRoomInput) -> Result<UpdateRoomPayload, AppError> {
        let result = async {
            let (id, settings) = input.parse()?;
            let id = room_in_scope(ctx, id)?;
            let room: wire::Room = answered(upstream(ctx).act(&Action::update_room(id, &settings)).await?)?;
            Ok(Room::loaded(prime(ctx, room).await))
        }
        .await;
        record("updateRoom", &result);
        Ok(UpdateRoomPayload { client_mutation_id: input.client_mutation_id, room: result? })
    }

    /// Deletes a room (`DELETE /rooms/{id}`); Telnyx kicks everyone in it.
    #[graphql(requires_scopes = "video:write", directive = cost::apply(UPSTREAM_REQUEST))]
    async fn delete_room(&self, ctx: &Context<'_>, input: DeleteRoomInput) -> Result<DeleteRoomPayload, AppError> {
        let result = async {
            let id = room_in_scope(ctx, super::ids::parse_uuid("input.id", &input.id)?)?;
            upstream(ctx).act::<serde_json::Value>(&Action::delete_room(id)).await?;
            upstream(ctx).prime(RoomById(id), None).await;
            Ok(ID(id.to_string()))
        }
        .await;
        record("deleteRoom", &result);
        Ok(DeleteRoomPayload { client_mutation_id: input.client_mutation_id, deleted_room_id: result? })
    }

    /// A client token to join a room with, and a refresh token to renew it. Both are secrets:
    /// never logged, cached or counted.
    #[graphql(requires_scopes = "video:write", directive = cost::apply(UPSTREAM_REQUEST))]
    async fn create_room_client_token(
        &self,
        ctx: &Context<'_>,
        input: CreateRoomClientTokenInput,
    ) -> Result<CreateRoomClientTokenPayload, AppError> {
        let result = async {
            let (room, ttl, refresh_ttl) = input.parse()?;
            let action = Action::create_client_token(room_in_scope(ctx, room)?, ttl, refresh_ttl);
            answered(upstream(ctx).act::<wire::ClientToken>(&action).await?)
        }
        .await;
        record("createRoomClientToken", &result);
        CreateRoomClientTokenPayload::new(input.client_mutation_id, result?)
    }

    /// A new client token for a room from a refresh token.
    #[graphql(requires_scopes = "video:write", directive = cost::apply(UPSTREAM_REQUEST))]
    async fn refresh_room_client_token(
        &self,
        ctx: &Context<'_>,
        input: RefreshRoomClientTokenInput,
    ) -> Result<RefreshRoomClientTokenPayload, AppError> {
        let result = async {
            let (room, refresh_token, ttl) = input.parse()?;
            let action = Action::refresh_client_token(room_in_scope(ctx, room)?, refresh_token, ttl);
            answered(upstream(ctx).act::<wire::ClientToken>(&action).await?)
        }
        .await;
        record("refreshRoomClientToken", &result);
        RefreshRoomClientTokenPayload::new(input.client_mutation_id, result?)
    }

    /// Ends a session (`POST /room_sessions/{id}/actions/end`), which kicks everyone still in.
    #[graphql(requires_scopes = "video:write", directive = cost::apply(UPSTREAM_REQUEST))]
    async fn end_room_session(
        &self,
        ctx: &Context<'_>,
        input: EndRoomSessionInput,
    ) -> Result<EndRoomSessionPayload, AppError> {
        let result = async {
            let session = super::ids::parse_uuid("input.sessionId", &input.session_id)?;
            let session = session_in_scope(ctx, session).await?;
            upstream(ctx).act::<wire::ActionResult>(&Action::end_session(session)).await?;
            Ok(RoomSession::reference(EntityId::from_uuid(session)))
        }
        .await;
        record("endRoomSession", &result);
        Ok(EndRoomSessionPayload { client_mutation_id: input.client_mutation_id, room_session: result? })
    }

    /// Removes participants from a session (`POST /room_sessions/{id}/actions/kick`).
    #[graphql(requires_scopes = "video:write", directive = cost::apply(UPSTREAM_REQUEST))]
    async fn kick_participants(
        &self,
        ctx: &Context<'_>,
        input: ParticipantsActionInput,
    ) -> Result<ParticipantsActionPayload, AppError> {
        participants_action(ctx, input, ParticipantAction::Kick, "kickParticipants").await
    }

    /// Mutes participants of a session (`POST /room_sessions/{id}/actions/mute`).
    #[graphql(requires_scopes = "video:write", directive = cost::apply(UPSTREAM_REQUEST))]
    async fn mute_participants(
        &self,
        ctx: &Context<'_>,
        input: ParticipantsActionInput,
    ) -> Result<ParticipantsActionPayload, AppError> {
        participants_action(ctx, input, ParticipantAction::Mute, "muteParticipants").await
    }

    /// Unmutes participants of a session (`POST /room_sessions/{id}/actions/unmute`).
    #[graphql(requires_scopes = "video:write", directive = cost::apply(UPSTREAM_REQUEST))]
    async fn unmute_participants(
        &self,
        ctx: &Context<'_>,
        input: ParticipantsActionInput,
    ) -> Result<ParticipantsActionPayload, AppError> {
        participants_action(ctx, input, ParticipantAction::Unmute, "unmuteParticipants").await
    }
}

async fn participants_action(
    ctx: &Context<'_>,
    input: ParticipantsActionInput,
    action: ParticipantAction,
    name: &'static str,
) -> Result<ParticipantsActionPayload, AppError> {
    let result = async {
        let (session, targets) = input.parse()?;
        let session = session_in_scope(ctx, session).await?;
        upstream(ctx).act::<wire::ActionResult>(&Action::participants(session, action, &targets)).await?;
        Ok(RoomSession::reference(EntityId::from_uuid(session)))
    }
    .await;
    record(name, &result);
    Ok(ParticipantsActionPayload { client_mutation_id: input.client_mutation_id, room_session: result? })
}

/// Records a room Telnyx answered as the request's current state of it.
async fn prime(ctx: &Context<'_>, room: wire::Room) -> Arc<wire::Room> {
    let room = Arc::new(room);
    if let Some(id) = room.id.as_deref().and_then(|id| Uuid::try_parse(id).ok()) {
        upstream(ctx).prime(RoomById(id), Some(room.clone())).await;
    }
    room
}
