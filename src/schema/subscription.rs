//! Subscriptions: what happens in a room now, from Telnyx's webhooks (see [`crate::live`]).
//!
//! Event objects resolve from the event's own data first (ids, context, the time a participant
//! joined or left); any other detail loads lazily through the event's [`EventUpstreams`], once
//! per event for all subscribers with the same credential.

use std::sync::Arc;

use async_graphql::{Context, Interface, Object, Subscription, ID};
use futures::stream::Stream;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::connection::{self, Edge};
use super::ids::{parse_uuid, EntityId};
use super::participant::RoomParticipant;
use super::room::Room;
use super::room_session::RoomSession;
use super::scalars::DateTime;
use super::EventUpstreams;
use crate::error::AppError;
use crate::live::{Delivered, Hub, Kind};
use crate::telnyx::{wire, SessionParticipants};

/// The subscription root.
pub struct Subscription;

/// Which events a subscription wants.
#[derive(Clone, Copy)]
enum Filter {
    Room(Uuid),
    Session(Uuid),
}

impl Filter {
    fn wants(self, delivered: &Delivered) -> bool {
        match self {
            Filter::Room(room) => delivered.event.room_id == Some(room),
            Filter::Session(session) => delivered.event.session_id == Some(session),
        }
    }
}

/// The events of the subscription's hub that `filter` wants, each made current in
/// `upstreams` as it is resolved. A subscriber more than the hub's buffer behind gets one
/// error and its subscription ends.
fn events(ctx: &Context<'_>, filter: Filter) -> impl Stream<Item = Result<RoomEvent, AppError>> + use<> {
    let receiver = ctx.data_unchecked::<Arc<Hub>>().subscribe();
    let upstreams = ctx.data_unchecked::<Arc<EventUpstreams>>().clone();
    futures::stream::unfold(Some(receiver), move |receiver| {
        let upstreams = upstreams.clone();
        async move {
            let mut receiver = receiver?;
            loop {
                match receiver.recv().await {
                    Ok(delivered) if filter.wants(&delivered) => {
                        upstreams.enter(&delivered);
                        return Some((Ok(RoomEvent::of(delivered)), Some(receiver)));
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => {
                        metrics::counter!("live_subscribers_lagged_total").increment(1);
                        return Some((Err(AppError::SlowConsumer(missed)), None));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    })
}

/// Live room events.
#[Subscription]
impl Subscription {
    /// Every event of a room from now on: sessions starting and ending, participants joining
    /// and leaving. Subscribing looks the room up once with the caller's credential, so only
    /// those who may read the room hear of it (`NOT_FOUND` otherwise). Needs `video:read`.
    async fn room_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The room's id (a UUID).")] room_id: ID,
    ) -> Result<impl Stream<Item = Result<RoomEvent, AppError>> + use<>, AppError> {
        let room = Room::reference(EntityId::from_uuid(parse_uuid("roomId", &room_id)?));
        let id = room.data(ctx).await?.id.as_deref().and_then(|id| Uuid::try_parse(id).ok());
        Ok(events(ctx, Filter::Room(id.ok_or(AppError::Upstream(crate::telnyx::UpstreamError::InvalidBody))?)))
    }

    /// Every event of one session from now on: its end, participants joining and leaving.
    /// Subscribing looks the session up once, as `roomEvents` does the room. Needs `video:read`.
    async fn room_session_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The session's id (a UUID).")] session_id: ID,
    ) -> Result<impl Stream<Item = Result<RoomEvent, AppError>> + use<>, AppError> {
        let session = parse_uuid("sessionId", &session_id)?;
        RoomSession::reference(EntityId::from_uuid(session)).data(ctx).await?;
        Ok(events(ctx, Filter::Session(session)))
    }
}

/// Something that happened in a room.
#[derive(Interface)]
#[graphql(
    field(name = "id", ty = "ID", desc = "The event's id (Telnyx's; a redelivery has the same one)."),
    field(name = "occurred_at", ty = "Option<DateTime>", desc = "When it happened."),
    field(name = "room", ty = "Option<Room>", desc = "The room it happened in."),
    field(name = "session", ty = "Option<RoomSession>", desc = "The session it happened in.")
)]
pub enum RoomEvent {
    /// A session started.
    RoomSessionStarted(RoomSessionStarted),
    /// A session ended.
    RoomSessionEnded(RoomSessionEnded),
    /// A participant joined.
    ParticipantJoined(ParticipantJoined),
    /// A participant left.
    ParticipantLeft(ParticipantLeft),
}

impl RoomEvent {
    fn of(delivered: Arc<Delivered>) -> Self {
        let base = Base(delivered);
        match base.0.event.kind {
            Kind::SessionStarted => Self::RoomSessionStarted(RoomSessionStarted(base)),
            Kind::SessionEnded => Self::RoomSessionEnded(RoomSessionEnded(base)),
            Kind::ParticipantJoined => {
                let participant = base.participant(true);
                Self::ParticipantJoined(ParticipantJoined { base, participant })
            }
            Kind::ParticipantLeft => {
                let participant = base.participant(false);
                Self::ParticipantLeft(ParticipantLeft { base, participant })
            }
        }
    }
}

/// What every event has.
struct Base(Arc<Delivered>);

impl Base {
    fn id(&self) -> ID {
        ID(self.0.event.id.clone())
    }

    fn occurred_at(&self) -> Option<DateTime> {
        self.0.event.occurred_at.map(DateTime)
    }

    fn room(&self) -> Option<Room> {
        self.0.event.room_id.map(|id| Room::reference(EntityId::from_uuid(id)))
    }

    fn session(&self) -> Option<RoomSession> {
        self.0.event.session_id.map(|id| RoomSession::reference(EntityId::from_uuid(id)))
    }

    /// The participant as the event tells of it: it joined (or left) when the event occurred.
    fn participant(&self, joined: bool) -> Option<RoomParticipant> {
        let event = &self.0.event;
        let known = wire::RoomParticipant {
            id: event.participant_id.map(|id| id.to_string()),
            session_id: event.session_id.map(|id| id.to_string()),
            context: event.context.clone(),
            joined_at: if joined { event.occurred_at } else { None },
            updated_at: None,
            left_at: if joined { None } else { event.occurred_at },
        };
        event.participant_id.map(|id| RoomParticipant::known(id, known))
    }

    fn duration_secs(&self) -> Option<i32> {
        self.0.event.duration_secs.and_then(|d| i32::try_from(d).ok())
    }
}

/// A session started in the room.
pub struct RoomSessionStarted(Base);

#[Object]
impl RoomSessionStarted {
    async fn id(&self) -> ID {
        self.0.id()
    }
    async fn occurred_at(&self) -> Option<DateTime> {
        self.0.occurred_at()
    }
    async fn room(&self) -> Option<Room> {
        self.0.room()
    }
    async fn session(&self) -> Option<RoomSession> {
        self.0.session()
    }
}

/// A session ended.
pub struct RoomSessionEnded(Base);

#[Object]
impl RoomSessionEnded {
    async fn id(&self) -> ID {
        self.0.id()
    }
    async fn occurred_at(&self) -> Option<DateTime> {
        self.0.occurred_at()
    }
    async fn room(&self) -> Option<Room> {
        self.0.room()
    }
    async fn session(&self) -> Option<RoomSession> {
        self.0.session()
    }
    /// How long the session lasted, in seconds.
    async fn duration_secs(&self) -> Option<i32> {
        self.0.duration_secs()
    }
    /// Why it ended, as Telnyx says.
    async fn ended_reason(&self) -> Option<&str> {
        self.0 .0.event.reason.as_deref()
    }
}

/// A participant joined a session.
pub struct ParticipantJoined {
    base: Base,
    participant: Option<RoomParticipant>,
}

#[Object]
impl ParticipantJoined {
    async fn id(&self) -> ID {
        self.base.id()
    }
    async fn occurred_at(&self) -> Option<DateTime> {
        self.base.occurred_at()
    }
    async fn room(&self) -> Option<Room> {
        self.base.room()
    }
    async fn session(&self) -> Option<RoomSession> {
        self.base.session()
    }
    /// Who joined (`joinedAt` is when this happened).
    async fn participant(&self) -> Option<&RoomParticipant> {
        self.participant.as_ref()
    }
    /// Who joined, as an edge of the session's `participants` connection, for Relay's
    /// `@appendEdge` or an Apollo cache update. Telnyx lists participants by when they joined,
    /// so the newcomer is last: its cursor costs one request for the list's total, only when
    /// selected (once per event for all subscribers with the same credential).
    async fn participant_edge(&self, ctx: &Context<'_>) -> Result<Option<Edge<'_, RoomParticipant>>, AppError> {
        let (Some(participant), Some(session_id)) = (&self.participant, self.base.0.event.session_id) else {
            return Ok(None);
        };
        let list = SessionParticipants { session_id, filter: Default::default() };
        Ok(Some(Edge::new(participant, connection::last_cursor_if_selected(ctx, &list).await?)))
    }
}

/// A participant left a session.
pub struct ParticipantLeft {
    base: Base,
    participant: Option<RoomParticipant>,
}

#[Object]
impl ParticipantLeft {
    async fn id(&self) -> ID {
        self.base.id()
    }
    async fn occurred_at(&self) -> Option<DateTime> {
        self.base.occurred_at()
    }
    async fn room(&self) -> Option<Room> {
        self.base.room()
    }
    async fn session(&self) -> Option<RoomSession> {
        self.base.session()
    }
    /// Who left (`leftAt` is when this happened).
    async fn participant(&self) -> Option<&RoomParticipant> {
        self.participant.as_ref()
    }
    /// How long the participant stayed, in seconds.
    async fn duration_secs(&self) -> Option<i32> {
        self.base.duration_secs()
    }
    /// Why the participant left, as Telnyx says.
    async fn left_reason(&self) -> Option<&str> {
        self.base.0.event.reason.as_deref()
    }
}
