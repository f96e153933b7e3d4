//! The endpoints, described well enough to page through lists and load items generically.

use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::wire;

/// A page-number REST list: `GET {path}?filter[...]&page[size]=&page[number]=`.
///
/// Implementors are values (ids and filters included), so they double as cache keys and as
/// what binds a cursor to its connection.
pub trait ListEndpoint: Clone + Eq + std::hash::Hash + Send + Sync + 'static {
    /// The wire type of one item.
    type Item: Identified;

    /// The route with placeholders, for logs and metrics (never an id or a credential).
    const ROUTE: &'static str;

    /// The path under the API base URL; ids are typed, so nothing unvalidated reaches it.
    fn path(&self) -> String;

    /// The `filter[...]` query parameters, unencoded, in a fixed order.
    fn filter_params(&self) -> Vec<(String, String)>;

    /// What identifies the list: path and filter, without paging. Equal identities are the
    /// same list, which is what cursors are bound to.
    fn identity(&self) -> String {
        let mut identity = self.path();
        for (key, value) in self.filter_params() {
            identity.extend(["\n", &key, "=", &value]);
        }
        identity
    }
}

/// A single-item endpoint: `GET {path}`, where 404 means "no such item".
pub trait ItemEndpoint: Clone + Eq + std::hash::Hash + Send + Sync + 'static {
    /// The wire type of the item.
    type Item: DeserializeOwned + Send + Sync + 'static;

    /// The route with placeholders, for logs and metrics.
    const ROUTE: &'static str;

    /// What the item is, in words, e.g. `room participant`.
    const WHAT: &'static str;

    /// The endpoint of the item with this id.
    fn of(id: Uuid) -> Self;

    /// The path under the API base URL.
    fn path(&self) -> String;
}

/// A wire item that knows the single-item endpoint it can also be loaded from, so that
/// items a list returned can stand in for later lookups of the same item.
pub trait Identified: DeserializeOwned + Send + Sync + 'static {
    /// The item's own endpoint.
    type Key: ItemEndpoint<Item = Self>;

    /// The id as upstream sent it.
    fn raw_id(&self) -> Option<&str>;

    /// The key, if the item carries a valid id.
    fn key(&self) -> Option<Self::Key> {
        self.raw_id().and_then(|id| Uuid::try_parse(id).ok()).map(Self::Key::of)
    }
}

/// `{before}{id}{after}`, the id lowercase and hyphenated as Telnyx writes it: every upstream
/// request builds its path (and a list's cursors its identity), and `format!` spent three
/// times as many instructions on this.
fn path_with_id(before: &str, id: Uuid, after: &str) -> String {
    let mut path = String::with_capacity(before.len() + uuid::fmt::Hyphenated::LENGTH + after.len());
    path.push_str(before);
    path.push_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
    path.push_str(after);
    path
}

/// Single items by id.
macro_rules! item_endpoint {
    ($(#[$doc:meta])* $name:ident, $item:ty, $what:literal, $route:literal, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub Uuid);

        impl ItemEndpoint for $name {
            type Item = $item;
            const ROUTE: &'static str = $route;
            const WHAT: &'static str = $what;

            fn of(id: Uuid) -> Self {
                Self(id)
            }

            fn path(&self) -> String {
                path_with_id(concat!($prefix, "/"), self.0, "")
            }
        }

        impl Identified for $item {
            type Key = $name;

            fn raw_id(&self) -> Option<&str> {
                self.id.as_deref()
            }
        }
    };
}

item_endpoint!(
    /// `GET /room_participants/{room_participant_id}`.
    ParticipantById, wire::RoomParticipant, "room participant", "/room_participants/{room_participant_id}", "/room_participants"
);
item_endpoint!(
    /// `GET /room_sessions/{room_session_id}`.
    SessionById, wire::RoomSession, "room session", "/room_sessions/{room_session_id}", "/room_sessions"
);
item_endpoint!(
    /// `GET /rooms/{room_id}`.
    RoomById, wire::Room, "room", "/rooms/{room_id}", "/rooms"
);

/// A `filter[<field>][eq|gte|lte]` date range; the upstream compares calendar dates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DateRange {
    /// On that date.
    pub eq: Option<NaiveDate>,
    /// On or after that date.
    pub gte: Option<NaiveDate>,
    /// On or before that date.
    pub lte: Option<NaiveDate>,
}

/// Builds `filter[...]` parameters in a fixed order.
#[derive(Default)]
struct Params(Vec<(String, String)>);

impl Params {
    fn dates(mut self, field: &str, range: &DateRange) -> Self {
        for (op, date) in [("eq", range.eq), ("gte", range.gte), ("lte", range.lte)] {
            if let Some(date) = date {
                self.0.push((format!("filter[{field}][{op}]"), date.format("%Y-%m-%d").to_string()));
            }
        }
        self
    }

    fn value(mut self, field: &str, value: Option<impl ToString>) -> Self {
        if let Some(value) = value {
            self.0.push((format!("filter[{field}]"), value.to_string()));
        }
        self
    }
}

/// The filters of the participant lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ParticipantFilter {
    /// `filter[session_id]` (only `/room_participants` has it).
    pub session_id: Option<Uuid>,
    /// `filter[date_joined_at]`.
    pub date_joined_at: DateRange,
    /// `filter[date_updated_at]`.
    pub date_updated_at: DateRange,
    /// `filter[date_left_at]`.
    pub date_left_at: DateRange,
    /// `filter[context]`, an exact match.
    pub context: Option<String>,
}

impl ParticipantFilter {
    fn params(&self) -> Vec<(String, String)> {
        Params::default()
            .value("session_id", self.session_id)
            .dates("date_joined_at", &self.date_joined_at)
            .dates("date_updated_at", &self.date_updated_at)
            .dates("date_left_at", &self.date_left_at)
            .value("context", self.context.as_ref())
            .0
    }
}

/// The filters of the session lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SessionFilter {
    /// `filter[date_created_at]`.
    pub date_created_at: DateRange,
    /// `filter[date_updated_at]`.
    pub date_updated_at: DateRange,
    /// `filter[date_ended_at]`.
    pub date_ended_at: DateRange,
    /// `filter[room_id]` (only `/room_sessions` has it).
    pub room_id: Option<Uuid>,
    /// `filter[active]`.
    pub active: Option<bool>,
}

impl SessionFilter {
    fn params(&self) -> Vec<(String, String)> {
        Params::default()
            .dates("date_created_at", &self.date_created_at)
            .dates("date_updated_at", &self.date_updated_at)
            .dates("date_ended_at", &self.date_ended_at)
            .value("room_id", self.room_id)
            .value("active", self.active)
            .0
    }
}

/// The filters of the room list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RoomFilter {
    /// `filter[date_created_at]`.
    pub date_created_at: DateRange,
    /// `filter[date_updated_at]`.
    pub date_updated_at: DateRange,
    /// `filter[unique_name]`, an exact match.
    pub unique_name: Option<String>,
}

impl RoomFilter {
    /// Whether `room` matches, as Telnyx's list would decide (UTC dates, exact name), for
    /// rooms fetched one by one rather than listed.
    pub fn matches(&self, room: &wire::Room) -> bool {
        self.date_created_at.contains(room.created_at)
            && self.date_updated_at.contains(room.updated_at)
            && self.unique_name.as_ref().is_none_or(|name| room.unique_name.as_ref() == Some(name))
    }
}

impl DateRange {
    /// Whether the date (UTC) of `at` is within every given bound; an absent time is within
    /// no bound, and an empty range holds everything.
    pub fn contains(&self, at: Option<chrono::DateTime<chrono::Utc>>) -> bool {
        if self.eq.is_none() && self.gte.is_none() && self.lte.is_none() {
            return true;
        }
        let Some(date) = at.map(|at| at.date_naive()) else { return false };
        self.eq.is_none_or(|eq| date == eq)
            && self.gte.is_none_or(|gte| date >= gte)
            && self.lte.is_none_or(|lte| date <= lte)
    }
}

impl RoomFilter {
    fn params(&self) -> Vec<(String, String)> {
        Params::default()
            .dates("date_created_at", &self.date_created_at)
            .dates("date_updated_at", &self.date_updated_at)
            .value("unique_name", self.unique_name.as_ref())
            .0
    }
}

/// List endpoints: a struct of what identifies the list, its route, path and filter.
macro_rules! list_endpoint {
    ($(#[$doc:meta])* $name:ident { $($field:ident: $ty:ty),* }, $item:ty, $route:literal, |$s:ident| $path:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name {
            $(#[allow(missing_docs)] pub $field: $ty,)*
        }

        impl ListEndpoint for $name {
            type Item = $item;
            const ROUTE: &'static str = $route;

            fn path(&self) -> String {
                let $s = self;
                $path
            }

            fn filter_params(&self) -> Vec<(String, String)> {
                self.filter.params()
            }
        }
    };
}

list_endpoint!(
    /// `GET /room_sessions/{room_session_id}/participants`.
    SessionParticipants { session_id: Uuid, filter: ParticipantFilter },
    wire::RoomParticipant, "/room_sessions/{room_session_id}/participants",
    |s| path_with_id("/room_sessions/", s.session_id, "/participants")
);
list_endpoint!(
    /// `GET /room_participants`.
    Participants { filter: ParticipantFilter }, wire::RoomParticipant, "/room_participants", |_s| "/room_participants".into()
);
list_endpoint!(
    /// `GET /room_sessions`.
    Sessions { filter: SessionFilter }, wire::RoomSession, "/room_sessions", |_s| "/room_sessions".into()
);
list_endpoint!(
    /// `GET /rooms/{room_id}/sessions`.
    RoomSessions { room_id: Uuid, filter: SessionFilter },
    wire::RoomSession, "/rooms/{room_id}/sessions",
    |s| path_with_id("/rooms/", s.room_id, "/sessions")
);
list_endpoint!(
    /// `GET /rooms`.
    Rooms { filter: RoomFilter }, wire::Room, "/rooms", |_s| "/rooms".into()
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_carry_the_id_lowercase_and_hyphenated() {
        let id = Uuid::parse_str("7A1B2C3D-9E8F-4A0B-8C1D-2E3F4A5B6C7D").unwrap();
        let session = SessionParticipants { session_id: id, filter: ParticipantFilter::default() };
        assert_eq!(session.path(), "/room_sessions/7a1b2c3d-9e8f-4a0b-8c1d-2e3f4a5b6c7d/participants");
        let room = RoomSessions { room_id: id, filter: SessionFilter::default() };
        assert_eq!(room.path(), format!("/rooms/{id}/sessions"));
        assert_eq!(ParticipantById(id).path(), format!("/room_participants/{id}"));
    }

    #[test]
    fn only_the_filters_given_become_parameters_in_a_fixed_order() {
        let date = NaiveDate::from_ymd_opt(2021, 4, 16).unwrap();
        let filter = ParticipantFilter {
            date_joined_at: DateRange { gte: Some(date), ..Default::default() },
            date_left_at: DateRange { eq: Some(date), lte: Some(date), ..Default::default() },
            context: Some("Alice".into()),
            ..Default::default()
        };
        let params: Vec<_> = filter.params().into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            params,
            [
                "filter[date_joined_at][gte]=2021-04-16",
                "filter[date_left_at][eq]=2021-04-16",
                "filter[date_left_at][lte]=2021-04-16",
                "filter[context]=Alice",
            ]
        );
    }

    #[test]
    fn session_filters_spell_booleans_and_ids_as_telnyx_does() {
        let room = Uuid::nil();
        let filter = SessionFilter { room_id: Some(room), active: Some(false), ..Default::default() };
        let params: Vec<_> = filter.params().into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(params, [format!("filter[room_id]={room}"), "filter[active]=false".to_owned()]);
    }
}
