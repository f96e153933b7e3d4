//! Filter inputs, parsed into the upstream's typed filters.

use async_graphql::{InputObject, ID};

use super::ids::parse_uuid;
use super::scalars::Date;
use crate::error::AppError;
use crate::telnyx::{DateRange, ParticipantFilter, RoomFilter as UpstreamRoomFilter, SessionFilter};

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

/// The longest text a filter accepts, in characters. Telnyx documents no bound for names and
/// contexts; this is longer than any real one, and keeps the upstream URL far below the 8 KB
/// that HTTP servers commonly accept, so an oversized value is refused here, not upstream.
pub const MAX_FILTER_TEXT_CHARS: usize = 256;

/// `value` if it is within [`MAX_FILTER_TEXT_CHARS`].
fn bounded(argument: &str, value: Option<String>) -> Result<Option<String>, AppError> {
    match value {
        Some(text) if text.chars().count() > MAX_FILTER_TEXT_CHARS => {
            Err(AppError::bad_input(argument, format!("must be at most {MAX_FILTER_TEXT_CHARS} characters")))
        }
        value => Ok(value),
    }
}

fn range(filter: Option<DateFilter>) -> DateRange {
    filter.map_or_else(DateRange::default, |f| DateRange {
        eq: f.eq.map(|d| d.0),
        gte: f.gte.map(|d| d.0),
        lte: f.lte.map(|d| d.0),
    })
}

/// Selects a session's participants by calendar dates and context. All given conditions must hold.
#[derive(InputObject, Default)]
pub struct RoomParticipantFilter {
    /// On which dates the participant joined.
    pub date_joined_at: Option<DateFilter>,
    /// On which dates the participant was last updated.
    pub date_updated_at: Option<DateFilter>,
    /// On which dates the participant left; participants still in the session never match.
    pub date_left_at: Option<DateFilter>,
    /// Exact context, as given through the client SDK (at most 256 characters).
    pub context: Option<String>,
}

impl RoomParticipantFilter {
    /// The upstream filter; fails on an over-long context.
    pub fn parse(self) -> Result<ParticipantFilter, AppError> {
        Ok(ParticipantFilter {
            session_id: None,
            date_joined_at: range(self.date_joined_at),
            date_updated_at: range(self.date_updated_at),
            date_left_at: range(self.date_left_at),
            context: bounded("filter.context", self.context)?,
        })
    }
}

/// Selects participants across sessions. All given conditions must hold.
#[derive(InputObject, Default)]
pub struct RoomParticipantsFilter {
    /// Only participants of this room session.
    pub session_id: Option<ID>,
    /// On which dates the participant joined.
    pub date_joined_at: Option<DateFilter>,
    /// On which dates the participant was last updated.
    pub date_updated_at: Option<DateFilter>,
    /// On which dates the participant left; participants still in a session never match.
    pub date_left_at: Option<DateFilter>,
    /// Exact context, as given through the client SDK (at most 256 characters).
    pub context: Option<String>,
}

impl RoomParticipantsFilter {
    /// The upstream filter; fails on a session id that is not a UUID or an over-long context.
    pub fn parse(self) -> Result<ParticipantFilter, AppError> {
        Ok(ParticipantFilter {
            session_id: self.session_id.map(|id| parse_uuid("filter.sessionId", &id)).transpose()?,
            date_joined_at: range(self.date_joined_at),
            date_updated_at: range(self.date_updated_at),
            date_left_at: range(self.date_left_at),
            context: bounded("filter.context", self.context)?,
        })
    }
}

/// Selects room sessions. All given conditions must hold.
#[derive(InputObject, Default)]
pub struct RoomSessionFilter {
    /// On which dates the session was created.
    pub date_created_at: Option<DateFilter>,
    /// On which dates the session was last updated.
    pub date_updated_at: Option<DateFilter>,
    /// On which dates the session ended; active sessions never match.
    pub date_ended_at: Option<DateFilter>,
    /// Only sessions of this room. Accepted on `Query.roomSessions` only (`Room.sessions` is already one room's).
    pub room_id: Option<ID>,
    /// Only active (true) or ended (false) sessions.
    pub active: Option<bool>,
}

impl RoomSessionFilter {
    /// The upstream filter; `room_id_allowed` is false where the room is already given.
    pub fn parse(self, room_id_allowed: bool) -> Result<SessionFilter, AppError> {
        if self.room_id.is_some() && !room_id_allowed {
            return Err(AppError::bad_input("filter.roomId", "is only accepted on Query.roomSessions"));
        }
        Ok(SessionFilter {
            date_created_at: range(self.date_created_at),
            date_updated_at: range(self.date_updated_at),
            date_ended_at: range(self.date_ended_at),
            room_id: self.room_id.map(|id| parse_uuid("filter.roomId", &id)).transpose()?,
            active: self.active,
        })
    }
}

/// Selects rooms. All given conditions must hold.
#[derive(InputObject, Default)]
pub struct RoomFilter {
    /// On which dates the room was created.
    pub date_created_at: Option<DateFilter>,
    /// On which dates the room was last updated.
    pub date_updated_at: Option<DateFilter>,
    /// Exact unique name (at most 256 characters).
    pub unique_name: Option<String>,
}

impl RoomFilter {
    /// The upstream filter; fails on an over-long name.
    pub fn parse(self) -> Result<UpstreamRoomFilter, AppError> {
        Ok(UpstreamRoomFilter {
            date_created_at: range(self.date_created_at),
            date_updated_at: range(self.date_updated_at),
            unique_name: bounded("filter.uniqueName", self.unique_name)?,
        })
    }
}
