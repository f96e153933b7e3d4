//! The nine write operations of `video-actions.openapi.yaml`: create, update and delete rooms,
//! issue and refresh client tokens, and end a room session or kick, mute or unmute its
//! participants.
//!
//! Handlers read the body (see [`super::body`]) and hand over to a method that checks the ids
//! and then changes the data under the store's write lock, so that reads starting afterwards
//! see the change.

use std::{collections::HashSet, sync::Arc};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    routing::{patch, post},
    Json, Router,
};
use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;

use super::{
    body::{JoinTokenRequest, RefreshTokenRequest, RoomSettings, Targets},
    data::{find, position, Participant, Room, SampleData},
    error::ApiError,
    read::{one, One, Reply},
    store::Store,
    token::Kind,
};

/// The clock, cut to the microseconds Telnyx's timestamps carry, so that what is stored is
/// exactly what is served.
pub(super) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

impl SampleData {
    /// 422 if another room than `except` already has the unique name `name`: Telnyx keeps
    /// them unique within the account.
    fn check_name_is_free(&self, name: Option<&str>, except: Option<&str>) -> Result<(), ApiError> {
        let taken = |room: &Room| Some(room.unique_name.as_str()) == name && Some(room.id.as_str()) != except;
        if self.rooms.iter().any(taken) {
            return Err(ApiError::invalid_field("/unique_name".into(), "unique_name has already been taken.".into()));
        }
        Ok(())
    }

    /// Room `id` with `settings` over the spec's defaults. The spec gives `unique_name` no
    /// default; the room's id stands in, which keeps names unique and never null.
    fn create_room(&mut self, id: String, settings: RoomSettings, now: DateTime<Utc>) -> Result<Room, ApiError> {
        self.check_name_is_free(settings.unique_name.as_deref(), None)?;
        let mut room = Room {
            id: id.clone(),
            unique_name: id,
            max_participants: 10,
            enable_recording: false,
            webhook_event_url: String::new(),
            webhook_event_failover_url: String::new(),
            webhook_timeout_secs: None,
            created_at: now,
            updated_at: now,
            active_session_id: None,
            record_type: "room".into(),
            sessions: None,
        };
        settings.apply(&mut room);
        self.rooms.push(room.clone());
        Ok(room)
    }

    fn update_room(&mut self, raw_id: &str, settings: RoomSettings, now: DateTime<Utc>) -> Result<Room, ApiError> {
        let i = position(&self.rooms, raw_id, "room_id", "Room")?;
        self.check_name_is_free(settings.unique_name.as_deref(), Some(&self.rooms[i].id))?;
        let room = &mut self.rooms[i];
        settings.apply(room);
        room.updated_at = now;
        Ok(room.clone())
    }

    /// Deletes the room with its sessions and their participants, so that nothing served
    /// afterwards points at a room that does not exist.
    fn delete_room(&mut self, raw_id: &str) -> Result<(), ApiError> {
        let room = self.rooms.remove(position(&self.rooms, raw_id, "room_id", "Room")?);
        let sessions: HashSet<String> =
            self.sessions.iter().filter(|s| s.room_id == room.id).map(|s| s.id.clone()).collect();
        self.sessions.retain(|s| s.room_id != room.id);
        self.participants.retain(|p| !sessions.contains(&p.session_id));
        Ok(())
    }

    /// The index of the session with path id `raw_id`; 422 if it has already ended, since
    /// there is nobody left to act on.
    fn active_session(&self, raw_id: &str) -> Result<usize, ApiError> {
        let i = position(&self.sessions, raw_id, "room_session_id", "Room session")?;
        if self.sessions[i].active {
            Ok(i)
        } else {
            Err(ApiError::session_ended())
        }
    }

    /// Checks that `targets` can be acted on in session `raw_id`: it is active and every listed
    /// id is one of its participants (404 otherwise). Returns the session's index.
    fn check_targets(&self, raw_id: &str, targets: &Targets) -> Result<usize, ApiError> {
        let i = self.active_session(raw_id)?;
        if let Some(only) = &targets.only {
            let session = &self.sessions[i].id;
            let known: HashSet<&str> =
                self.participants.iter().filter(|p| &p.session_id == session).map(|p| p.id.as_str()).collect();
            if !only.iter().all(|id| known.contains(id.as_str())) {
                return Err(ApiError::not_found("Room participant"));
            }
        }
        Ok(i)
    }

    /// Makes the participants of session `session_id` that `pick` picks and that are still in
    /// leave at `now`; returns how many left.
    fn leave(&mut self, session_id: &str, now: DateTime<Utc>, pick: impl Fn(&Participant) -> bool) -> usize {
        let still_in = |p: &&mut Participant| p.session_id == session_id && p.left_at.is_none() && pick(p);
        let mut left = 0;
        for participant in self.participants.iter_mut().filter(still_in) {
            (participant.left_at, participant.updated_at) = (Some(now), now);
            left += 1;
        }
        left
    }

    /// Ends the session, which, as the spec notes, also kicks everyone still in; its room has
    /// no active session any more.
    fn end_session(&mut self, raw_id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
        let i = self.active_session(raw_id)?;
        let session = &mut self.sessions[i];
        (session.active, session.ended_at, session.updated_at) = (false, Some(now), now);
        let id = session.id.clone();
        self.leave(&id, now, |_| true);
        for room in self.rooms.iter_mut().filter(|room| room.active_session_id.as_ref() == Some(&id)) {
            room.active_session_id = None;
        }
        Ok(())
    }

    /// Kicks the targeted participants that are still in; the session is updated when
    /// anybody left.
    fn kick(&mut self, raw_id: &str, targets: &Targets, now: DateTime<Utc>) -> Result<(), ApiError> {
        let i = self.check_targets(raw_id, targets)?;
        let id = self.sessions[i].id.clone();
        if self.leave(&id, now, |p| targets.pick(p)) > 0 {
            self.sessions[i].updated_at = now;
        }
        Ok(())
    }
}

/// The data of a `generate_join_client_token` answer.
#[derive(Serialize)]
struct JoinTokens {
    token: String,
    token_expires_at: String,
    refresh_token: String,
    refresh_token_expires_at: String,
}

/// The data of a `refresh_client_token` answer.
#[derive(Serialize)]
struct RefreshedToken {
    token: String,
    token_expires_at: String,
}

impl Store {
    /// The id of the room with path id `raw_id`, as stored.
    fn room_id(&self, raw_id: &str) -> Result<String, ApiError> {
        Ok(find(&self.snapshot().rooms, raw_id, "room_id", "Room")?.id.clone())
    }

    fn join_tokens(&self, raw_room_id: &str, request: JoinTokenRequest) -> Result<JoinTokens, ApiError> {
        let (room, now) = (self.room_id(raw_room_id)?, now());
        let access = self.signer.issue(Kind::Access, &room, self.next_id(), now, request.token_ttl_secs);
        let refresh = self.signer.issue(Kind::Refresh, &room, self.next_id(), now, request.refresh_token_ttl_secs);
        Ok(JoinTokens {
            token: access.token,
            token_expires_at: access.expires_at,
            refresh_token: refresh.token,
            refresh_token_expires_at: refresh.expires_at,
        })
    }

    /// A new access token, for a refresh token this upstream issued for the room and that has
    /// not expired; otherwise 403, the one failure the spec documents here.
    fn refresh_token(&self, raw_room_id: &str, request: RefreshTokenRequest) -> Result<RefreshedToken, ApiError> {
        let room = self.room_id(raw_room_id)?;
        if !self.signer.is_live_refresh_token(&request.refresh_token, &room) {
            return Err(ApiError::forbidden("The refresh token is invalid, expired, or not for this room."));
        }
        let access = self.signer.issue(Kind::Access, &room, self.next_id(), now(), request.token_ttl_secs);
        Ok(RefreshedToken { token: access.token, token_expires_at: access.expires_at })
    }
}

type Shared = State<Arc<Store>>;
type Created<T> = Result<(StatusCode, Json<One<T>>), ApiError>;

fn created<T>(data: T) -> Created<T> {
    Ok((StatusCode::CREATED, Json(One { data })))
}

/// The data of every session action's answer: `{"result": "ok"}`.
#[derive(Serialize)]
struct ActionResult {
    result: &'static str,
}

fn done() -> Reply<One<ActionResult>> {
    one(ActionResult { result: "ok" })
}

async fn create_room(State(store): Shared, body: Bytes) -> Created<Room> {
    let settings = RoomSettings::parse(&body)?;
    created(store.write(|data| data.create_room(store.next_id(), settings, now()))?)
}

async fn update_room(State(store): Shared, Path(id): Path<String>, body: Bytes) -> Reply<One<Room>> {
    let settings = RoomSettings::parse(&body)?;
    one(store.write(|data| data.update_room(&id, settings, now()))?)
}

async fn delete_room(State(store): Shared, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    store.write(|data| data.delete_room(&id))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn generate_join_client_token(State(store): Shared, Path(id): Path<String>, body: Bytes) -> Created<JoinTokens> {
    created(store.join_tokens(&id, JoinTokenRequest::parse(&body)?)?)
}

async fn refresh_client_token(State(store): Shared, Path(id): Path<String>, body: Bytes) -> Created<RefreshedToken> {
    created(store.refresh_token(&id, RefreshTokenRequest::parse(&body)?)?)
}

/// The spec defines no body for ending a session, so none is read.
async fn end_session(State(store): Shared, Path(id): Path<String>) -> Reply<One<ActionResult>> {
    store.write(|data| data.end_session(&id, now()))?;
    done()
}

async fn kick(State(store): Shared, Path(id): Path<String>, body: Bytes) -> Reply<One<ActionResult>> {
    let targets = Targets::parse(&body)?;
    store.write(|data| data.kick(&id, &targets, now()))?;
    done()
}

/// Mute and unmute: the data has no audio state, so they only check the session and their
/// targets, then answer as the spec says.
async fn mute_or_unmute(State(store): Shared, Path(id): Path<String>, body: Bytes) -> Reply<One<ActionResult>> {
    store.snapshot().check_targets(&id, &Targets::parse(&body)?)?;
    done()
}

/// The writes that need the API key.
pub(super) fn routes() -> Router<Arc<Store>> {
    Router::new()
        .route("/v2/rooms", post(create_room))
        .route("/v2/rooms/{id}", patch(update_room).delete(delete_room))
        .route("/v2/rooms/{id}/actions/generate_join_client_token", post(generate_join_client_token))
}

/// The writes the spec marks `security: []`, which therefore need no API key: the refresh
/// token is a client's only credential, and the session actions are declared the same way.
pub(super) fn open_routes() -> Router<Arc<Store>> {
    Router::new()
        .route("/v2/rooms/{id}/actions/refresh_client_token", post(refresh_client_token))
        .route("/v2/room_sessions/{id}/actions/end", post(end_session))
        .route("/v2/room_sessions/{id}/actions/kick", post(kick))
        .route("/v2/room_sessions/{id}/actions/mute", post(mute_or_unmute))
        .route("/v2/room_sessions/{id}/actions/unmute", post(mute_or_unmute))
}
