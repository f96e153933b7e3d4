//! `RoomParticipant` and its filter.

use async_graphql::{InputObject, Object, ID};
use uuid::Uuid;

use super::connection::ConnectionNode;
use super::scalars::{Date, DateTime};
use crate::error::AppError;
use crate::telnyx::{wire, DateRange, ParticipantFilter, UpstreamError};

/// A participant of a room session.
pub struct RoomParticipant {
    wire: wire::RoomParticipant,
    /// The session the participant was listed under, for when upstream omits `session_id`.
    listed_under: Uuid,
}

impl RoomParticipant {
    /// Wraps an upstream participant listed under session `listed_under`.
    pub fn new(wire: wire::RoomParticipant, listed_under: Uuid) -> Self {
        Self { wire, listed_under }
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
    async fn id(&self) -> Result<ID, AppError> {
        // The contract says `ID!`; inventing an id would corrupt clients' caches.
        self.wire.id.clone().map(ID).ok_or(AppError::Upstream(UpstreamError::InvalidBody))
    }

    /// The id of the room session the participant is part of.
    async fn session_id(&self) -> ID {
        ID(self.wire.session_id.clone().unwrap_or_else(|| self.listed_under.to_string()))
    }

    /// Context given to the participant through the client SDK, e.g. a display name.
    async fn context(&self) -> Option<&str> {
        self.wire.context.as_deref()
    }

    /// When the participant joined the session.
    async fn joined_at(&self) -> Option<DateTime> {
        self.wire.joined_at.map(DateTime)
    }

    /// When the participant was last updated.
    async fn updated_at(&self) -> Option<DateTime> {
        self.wire.updated_at.map(DateTime)
    }

    /// When the participant left the session; null while still in it.
    async fn left_at(&self) -> Option<DateTime> {
        self.wire.left_at.map(DateTime)
    }
}

/// Selects participants by calendar dates and context. All given conditions must hold.
#[derive(InputObject, Default)]
pub struct RoomParticipantFilter {
    /// On which dates the participant joined.
    pub date_joined_at: Option<DateFilter>,
    /// On which dates the participant was last updated.
    pub date_updated_at: Option<DateFilter>,
    /// On which dates the participant left; participants still in the session never match.
    pub date_left_at: Option<DateFilter>,
    /// Exact context, as given through the client SDK.
    pub context: Option<String>,
}

/// A range of calendar dates (UTC); all given bounds must hold.
#[derive(InputObject, Clone, Copy)]
pub struct DateFilter {
    /// On this date.
    pub eq: Option<Date>,
    /// On or after this date.
    pub gte: Option<Date>,
    /// On or before this date.
    pub lte: Option<Date>,
}

impl From<DateFilter> for DateRange {
    fn from(filter: DateFilter) -> Self {
        DateRange { eq: filter.eq.map(|d| d.0), gte: filter.gte.map(|d| d.0), lte: filter.lte.map(|d| d.0) }
    }
}

impl From<RoomParticipantFilter> for ParticipantFilter {
    fn from(filter: RoomParticipantFilter) -> Self {
        ParticipantFilter {
            date_joined_at: filter.date_joined_at.map(Into::into).unwrap_or_default(),
            date_updated_at: filter.date_updated_at.map(Into::into).unwrap_or_default(),
            date_left_at: filter.date_left_at.map(Into::into).unwrap_or_default(),
            context: filter.context,
        }
    }
}
