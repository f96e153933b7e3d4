//! The seeded data set and the item types, field for field as Telnyx sends them.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

use super::{error::ApiError, ids};

/// A room participant, field for field as Telnyx sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub id: String,
    pub session_id: String,
    /// Whatever the client SDK passed; null for some participants.
    pub context: Option<String>,
    #[serde(serialize_with = "micros")]
    pub joined_at: DateTime<Utc>,
    #[serde(serialize_with = "micros")]
    pub updated_at: DateTime<Utc>,
    /// Null while the participant is still in the session.
    #[serde(serialize_with = "micros_opt")]
    pub left_at: Option<DateTime<Utc>>,
    /// Always `"room_participant"`.
    pub record_type: String,
}

/// A room session, field for field as Telnyx sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub room_id: String,
    /// True exactly when `ended_at` is null.
    pub active: bool,
    #[serde(serialize_with = "micros")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "micros")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "micros_opt")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Always `"room_session"`.
    pub record_type: String,
    /// Present only when asked for with `include_participants=true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participants: Option<Vec<Participant>>,
}

/// A room, field for field as Telnyx sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub id: String,
    pub unique_name: String,
    pub max_participants: u32,
    pub enable_recording: bool,
    pub webhook_event_url: String,
    /// Telnyx's default is the empty string, not null.
    pub webhook_event_failover_url: String,
    pub webhook_timeout_secs: Option<u32>,
    #[serde(serialize_with = "micros")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "micros")]
    pub updated_at: DateTime<Utc>,
    /// The room's one active session, if any.
    pub active_session_id: Option<String>,
    /// Always `"room"`.
    pub record_type: String,
    /// Present only when asked for with `include_sessions=true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Vec<Session>>,
}

/// Telnyx always sends exactly six fractional digits, e.g. `2021-04-16T09:46:20.954863Z`.
fn micros<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&t.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
}

fn micros_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => micros(t, s),
        None => s.serialize_none(),
    }
}

/// The seeded data set, each list stored in Telnyx's order; public so that tests can compute
/// expected answers directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleData {
    pub rooms: Vec<Room>,
    pub sessions: Vec<Session>,
    pub participants: Vec<Participant>,
}

/// A seeded room; times are minutes after [`BASE_SECS`].
struct RoomSpec {
    id: Option<&'static str>,
    name: &'static str,
    max: u32,
    recording: bool,
    hooks: (&'static str, &'static str, Option<u32>),
    created: i64,
    sessions: &'static [SessionSpec],
}

/// (fixed id, start minute, participants, join window in minutes, active).
type SessionSpec = (Option<&'static str>, i64, usize, i64, bool);

/// 2024-03-04T00:00:00Z: all seeded timestamps are offsets from it, never from the clock.
const BASE_SECS: i64 = 1_709_510_400;

const fn at(day: i64, hour: i64, minute: i64) -> i64 {
    (day * 24 + hour) * 60 + minute
}

#[rustfmt::skip]
const ROOMS: [RoomSpec; 4] = [
    RoomSpec { id: None, name: "standup", max: 10, recording: false, created: at(0, 8, 15),
        hooks: ("https://hooks.example.com/standup", "", None),
        sessions: &[
            (Some(ids::EMPTY_SESSION), at(1, 9, 0), 0, 15, false),
            (Some(ids::SINGLE_SESSION), at(2, 9, 0), 1, 15, false),
            (None, at(3, 9, 0), 7, 20, false),
            (None, at(14, 9, 0), 4, 20, true),
        ] },
    RoomSpec { id: Some(ids::ROOM), name: "all-hands", max: 1000, recording: true, created: at(0, 9, 40),
        hooks: ("https://hooks.example.com/all-hands", "https://failover.example.com/all-hands", Some(25)),
        sessions: &[
            (None, at(2, 15, 0), 12, 30, false),
            (Some(ids::LARGE_SESSION), at(5, 8, 0), 613, 3 * 24 * 60, false),
            (None, at(9, 16, 0), 3, 10, false),
            (Some(ids::ACTIVE_SESSION), at(13, 10, 0), 9, 60, true),
        ] },
    RoomSpec { id: None, name: "Zoë's room", max: 60, recording: true, created: at(1, 12, 5),
        hooks: ("https://hooks.example.com/zo%C3%AB", "", Some(10)),
        sessions: &[
            (Some(ids::MEDIUM_SESSION), at(4, 18, 0), 53, 8 * 60, false),
            (None, at(7, 20, 0), 2, 30, false),
            (None, at(11, 11, 0), 15, 45, false),
        ] },
    RoomSpec { id: None, name: "support", max: 20, recording: false, created: at(3, 7, 0),
        hooks: ("https://support.example.com/telnyx", "https://failover.example.com/support", None),
        sessions: &[
            (None, at(6, 10, 0), 5, 60, false),
            (None, at(10, 14, 0), 8, 90, false),
            (None, at(12, 23, 30), 6, 120, false),
        ] },
];

/// Repeated on purpose, so that `filter[context]` selects proper subsets.
#[rustfmt::skip]
pub(super) const CONTEXTS: [Option<&str>; 6] =
    [Some("Alice"), Some("Bob"), Some("Carol"), Some("Zoë 🎥"), Some("a&b=c + d%"), None];

/// Knuth's MMIX LCG: enough spread for fake data, and identical on every platform.
pub(super) struct Lcg(pub(super) u64);

impl Lcg {
    /// A number in `0..n` (0 when `n <= 0`).
    pub(super) fn below(&mut self, n: i64) -> i64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as i64).checked_rem(n).unwrap_or(0)
    }

    /// `secs` after [`BASE_SECS`] plus 1..=999_999 µs, so that orderings decided in whole
    /// seconds survive and no timestamp has zero microseconds.
    fn stamp(&mut self, secs: i64) -> DateTime<Utc> {
        let micros = 1 + self.below(999_999);
        DateTime::UNIX_EPOCH + TimeDelta::seconds(BASE_SECS + secs) + TimeDelta::microseconds(micros)
    }
}

/// SplitMix64's finalizer: a bijection on u64, so distinct serials give distinct ids.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A lowercase version-4-looking UUID carrying all 64 bits of `mix(serial)`.
pub(super) fn uuid_from(serial: u64) -> String {
    let (a, b) = (mix(serial), mix(!serial));
    let fourth = ((a & 0xf) << 8) | (b & 0xff);
    format!("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", a >> 32, (a >> 16) & 0xffff, (a >> 4) & 0xfff, fourth, b >> 16)
}

impl SampleData {
    /// The same data on every call: 4 rooms, 14 sessions, 739 participants. Times are decided in
    /// whole seconds from a fixed base (never the clock), so orderings like `joined_at <= left_at`
    /// survive the microseconds added on top.
    pub fn seeded() -> Self {
        let (mut rng, mut serial) = (Lcg(0x7e1_0c0de), 0);
        let mut id = |fixed: Option<&str>| {
            serial += 1;
            fixed.map_or_else(|| uuid_from(serial), str::to_owned)
        };
        let mut data = Self { rooms: Vec::new(), sessions: Vec::new(), participants: Vec::new() };
        for spec in &ROOMS {
            let room_id = id(spec.id);
            let mut active_session_id = None;
            for &(fixed, start, count, window, active) in spec.sessions {
                let session_id = id(fixed);
                let created = start * 60 + rng.below(60);
                // The session's last second of activity; even an empty session lasts ten minutes.
                let mut last = created + 600;
                for i in 0..count {
                    let joined = created + 30 + rng.below(window * 60);
                    // In an active session every third participant is still in.
                    let left = (!active || i % 3 != 0).then(|| joined + 120 + rng.below(5400));
                    let updated = left.unwrap_or(joined + 1 + rng.below(5));
                    last = last.max(updated);
                    let left_at = left.map(|secs| rng.stamp(secs));
                    let context = CONTEXTS[rng.below(CONTEXTS.len() as i64) as usize];
                    let fixed = (session_id == ids::SINGLE_SESSION).then_some(ids::PARTICIPANT);
                    data.participants.push(Participant {
                        id: id(fixed),
                        session_id: session_id.clone(),
                        context: context.map(str::to_owned),
                        joined_at: rng.stamp(joined),
                        updated_at: left_at.unwrap_or_else(|| rng.stamp(updated)),
                        left_at,
                        record_type: "room_participant".into(),
                    });
                }
                let ended_at = (!active).then(|| last + 5 + rng.below(60)).map(|s| rng.stamp(s));
                active_session_id = active_session_id.or(active.then(|| session_id.clone()));
                data.sessions.push(Session {
                    id: session_id,
                    room_id: room_id.clone(),
                    active,
                    created_at: rng.stamp(created),
                    updated_at: ended_at.unwrap_or_else(|| rng.stamp(last + 1)),
                    ended_at,
                    record_type: "room_session".into(),
                    participants: None,
                });
            }
            let (created, (webhook, failover, timeout)) = (spec.created * 60, spec.hooks);
            let updated = created + 3600 + rng.below(86_400);
            data.rooms.push(Room {
                id: room_id,
                unique_name: spec.name.into(),
                max_participants: spec.max,
                enable_recording: spec.recording,
                webhook_event_url: webhook.into(),
                webhook_event_failover_url: failover.into(),
                webhook_timeout_secs: timeout,
                created_at: rng.stamp(created),
                updated_at: rng.stamp(updated),
                active_session_id,
                record_type: "room".into(),
                sessions: None,
            });
        }
        data.participants.sort_by(|a, b| a.order().cmp(&b.order()));
        data.sessions.sort_by(|a, b| a.order().cmp(&b.order()));
        data.rooms.sort_by(|a, b| a.order().cmp(&b.order()));
        data
    }

    /// `session` as served: participants embedded only when asked for.
    pub(super) fn session_view(&self, session: &Session, include: bool) -> Session {
        let of_session = |p: &Participant| p.session_id == session.id;
        let participants = include.then(|| select(&self.participants, of_session));
        let participants = participants.map(|ps| ps.into_iter().cloned().collect());
        Session { participants, ..session.clone() }
    }

    /// `room` as served: sessions (without their participants) embedded only when asked for.
    pub(super) fn room_view(&self, room: &Room, include: bool) -> Room {
        let of_room = |s: &Session| s.room_id == room.id;
        let sessions = include.then(|| select(&self.sessions, of_room));
        let view = |s| self.session_view(s, false);
        let sessions = sessions.map(|ss| ss.into_iter().map(view).collect());
        Room { sessions, ..room.clone() }
    }
}

/// What lists need from an item: its id and Telnyx's stable list order.
pub(super) trait Listed {
    fn id(&self) -> &str;
    fn order(&self) -> (DateTime<Utc>, &str);
}

macro_rules! listed {
    ($($item:ty => $at:ident),*) => {$(
        impl Listed for $item {
            fn id(&self) -> &str { &self.id }
            fn order(&self) -> (DateTime<Utc>, &str) { (self.$at, &self.id) }
        }
    )*};
}

listed!(Participant => joined_at, Session => created_at, Room => created_at);

/// The kept items in list order. Sorting per request keeps hand-built `SampleData` correct
/// too, and costs next to nothing on the already sorted seeded data.
pub(super) fn select<T: Listed>(items: &[T], keep: impl Fn(&T) -> bool) -> Vec<&T> {
    let mut kept: Vec<&T> = items.iter().filter(|item| keep(item)).collect();
    kept.sort_by(|a, b| a.order().cmp(&b.order()));
    kept
}

/// The index of the item with path id `raw`: 400 if it is not a UUID, 404 if nothing has it.
pub(super) fn position<T: Listed>(items: &[T], raw: &str, param: &str, what: &str) -> Result<usize, ApiError> {
    let wanted = Uuid::parse_str(raw)
        .map_err(|_| ApiError::invalid(param, format!("{param} must be a UUID")))?
        .hyphenated()
        .to_string();
    let found = items.iter().position(|item| item.id().eq_ignore_ascii_case(&wanted));
    found.ok_or_else(|| ApiError::not_found(what))
}

/// The item with path id `raw`: 400 if it is not a UUID, 404 if nothing has it.
pub(super) fn find<'d, T: Listed>(items: &'d [T], raw: &str, param: &str, what: &str) -> Result<&'d T, ApiError> {
    position(items, raw, param, what).map(|i| &items[i])
}
