//! Subscriptions: what happens in a room now, from Telnyx's webhooks (see [`crate::live`]).
//!
//! Event objects resolve from the event's own data first (ids, context, the time a participant
//! joined or left); any other detail loads lazily through the event's [`EventUpstreams`], once
//! per event for all subscribers with the same credential.
//!
//! A subscription given a cursor (`after`, or a transport's [`ResumeAfter`]) first replays the
//! retained events after it, through the same filter, then continues live: the live channel is
//! joined before the replay starts and what the replay already gave is skipped, so there is no
//! gap and no duplicate at the seam.

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
use crate::live::{Cursor, Delivered, Hub, Kind, ReplayError};
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

/// Where a transport asks an operation to resume, whatever its `after` says: the last cursor
/// the client saw, from SSE's `Last-Event-ID` or graphql-ws's `connection_init`, newer than
/// the document it re-sends.
#[derive(Debug, Clone)]
pub struct ResumeAfter(pub String);

/// Events replayed per read of the history.
const REPLAY_PAGE: usize = 256;

/// Where a subscription's stream is.
enum Phase {
    /// Replaying the history after the cursor; `page` holds what was read but not yet sent.
    Replay { after: Cursor, page: std::collections::VecDeque<Arc<Delivered>> },
    /// Live; events at or before `seen` (the replay's last) are skipped.
    Live { seen: Option<Cursor> },
    /// Ended.
    Done,
}

/// The events of the subscription's hub that `filter` wants, after `resume` if given, each
/// made current in `upstreams` as it is resolved. A subscriber more than the hub's buffer
/// behind gets one error and its subscription ends, as does one whose cursor cannot be
/// continued from (`EVENTS_EXPIRED`).
fn events(
    ctx: &Context<'_>,
    filter: Filter,
    resume: Option<Cursor>,
) -> impl Stream<Item = Result<RoomEvent, AppError>> + use<> {
    let hub = ctx.data_unchecked::<Arc<Hub>>().clone();
    // Joined before the replay reads anything, so nothing published meanwhile is missed.
    let receiver = hub.subscribe();
    let upstreams = ctx.data_unchecked::<Arc<EventUpstreams>>().clone();
    let phase = match resume {
        Some(after) => Phase::Replay { after, page: Default::default() },
        None => Phase::Live { seen: None },
    };
    futures::stream::unfold((receiver, phase), move |(mut receiver, mut phase)| {
        let (hub, upstreams) = (hub.clone(), upstreams.clone());
        async move {
            loop {
                let delivered = match &mut phase {
                    Phase::Done => return None,
                    Phase::Replay { after, page } => match page.pop_front() {
                        Some(delivered) => {
                            *after = delivered.cursor.clone();
                            delivered
                        }
                        None => match hub.replay(after, REPLAY_PAGE).await {
                            Ok(read) if read.is_empty() => {
                                phase = Phase::Live { seen: Some(after.clone()) };
                                continue;
                            }
                            Ok(read) => {
                                page.extend(read);
                                continue;
                            }
                            Err(error) => {
                                metrics::counter!("live_resumptions_total", "outcome" => outcome(&error)).increment(1);
                                let error = match error {
                                    ReplayError::Expired(expired) => AppError::EventsExpired(expired),
                                    ReplayError::Unavailable => AppError::LiveUnavailable,
                                };
                                return Some((Err(error), (receiver, Phase::Done)));
                            }
                        },
                    },
                    Phase::Live { seen } => match receiver.recv().await {
                        Ok(delivered) => {
                            if replayed(seen.as_ref(), &delivered) {
                                continue;
                            }
                            delivered
                        }
                        Err(RecvError::Lagged(missed)) => {
                            // The channel dropped events while a replay read them from the
                            // history: if the oldest it still holds was replayed, so were all
                            // it dropped, and nothing was missed. A long replay overlaps many
                            // live events without its subscriber falling behind.
                            let oldest = if seen.is_some() { receiver.recv().await.ok() } else { None };
                            if oldest.is_some_and(|oldest| replayed(seen.as_ref(), &oldest)) {
                                continue;
                            }
                            metrics::counter!("live_subscribers_lagged_total").increment(1);
                            return Some((Err(AppError::SlowConsumer(missed)), (receiver, Phase::Done)));
                        }
                        Err(RecvError::Closed) => return None,
                    },
                };
                if filter.wants(&delivered) {
                    upstreams.enter(&delivered);
                    return Some((Ok(RoomEvent::of(delivered)), (receiver, phase)));
                }
            }
        }
    })
}

/// Whether `delivered` is at or before `seen`, the last event a replay gave.
fn replayed(seen: Option<&Cursor>, delivered: &Delivered) -> bool {
    seen.is_some_and(|seen| seen.epoch == delivered.cursor.epoch && delivered.cursor.position <= seen.position)
}

fn outcome(error: &ReplayError) -> &'static str {
    match error {
        ReplayError::Expired(_) => "expired",
        ReplayError::Unavailable => "unavailable",
    }
}

/// The cursor to resume after: the transport's, else the document's `after`. A cursor that
/// does not even read as one is `EVENTS_EXPIRED` here, before anything is looked up.
fn resume_after(ctx: &Context<'_>, after: Option<String>) -> Result<Option<Cursor>, AppError> {
    let from_transport = ctx.data_opt::<ResumeAfter>().map(|resume| resume.0.clone());
    from_transport.or(after).map(|text| Cursor::decode(&text).map_err(AppError::EventsExpired)).transpose()
}

/// Live room events.
#[Subscription]
impl Subscription {
    /// Every event of a room from now on (or, with `after`, from just after that event):
    /// sessions starting and ending, participants joining and leaving. Subscribing looks the
    /// room up once with the caller's credential, so only those who may read the room hear of
    /// it (`NOT_FOUND` otherwise). Needs `video:read`.
    async fn room_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The room's id (a UUID).")] room_id: ID,
        #[graphql(desc = "Resume after the event with this `cursor`: the retained events since are \
                          replayed first, then live ones, with no gap and no duplicate. A cursor \
                          that can no longer be continued from ends the subscription with \
                          `EVENTS_EXPIRED`: refetch, then subscribe without one.")]
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<RoomEvent, AppError>> + use<>, AppError> {
        let resume = resume_after(ctx, after)?;
        let room = Room::reference(EntityId::from_uuid(parse_uuid("roomId", &room_id)?));
        let id = room.data(ctx).await?.id.as_deref().and_then(|id| Uuid::try_parse(id).ok());
        let room = id.ok_or(AppError::Upstream(crate::telnyx::UpstreamError::InvalidBody))?;
        Ok(events(ctx, Filter::Room(room), resume))
    }

    /// Every event of one session from now on (or, with `after`, from just after that event):
    /// its end, participants joining and leaving. Subscribing looks the session up once, as
    /// `roomEvents` does the room. Needs `video:read`.
    async fn room_session_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The session's id (a UUID).")] session_id: ID,
        #[graphql(desc = "Resume after the event with this `cursor`, as `roomEvents` does.")] after: Option<String>,
    ) -> Result<impl Stream<Item = Result<RoomEvent, AppError>> + use<>, AppError> {
        let resume = resume_after(ctx, after)?;
        let session = parse_uuid("sessionId", &session_id)?;
        RoomSession::reference(EntityId::from_uuid(session)).data(ctx).await?;
        Ok(events(ctx, Filter::Session(session), resume))
    }
}

/// Something that happened in a room.
#[derive(Interface)]
#[graphql(
    field(name = "id", ty = "ID", desc = "The event's id (Telnyx's; a redelivery has the same one)."),
    field(
        name = "cursor",
        ty = "String",
        desc = "Where the event sits in this service's history of events, opaque: pass it as \
                `after` to resume just after it."
    ),
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

    fn cursor(&self) -> String {
        self.0.cursor.encode()
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
    async fn cursor(&self) -> String {
        self.0.cursor()
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
    async fn cursor(&self) -> String {
        self.0.cursor()
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
    async fn cursor(&self) -> String {
        self.base.cursor()
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
    async fn cursor(&self) -> String {
        self.base.cursor()
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
