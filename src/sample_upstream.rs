//! A seeded, deterministic fake of Telnyx's Video read API.
//!
//! `--demo`, the integration tests and the benchmarks run against it, so it follows the
//! documented semantics (bearer auth, paging bounds, date filters on UTC calendar dates, error
//! envelopes) instead of returning canned JSON. [`SampleData::seeded`] builds the data from
//! arithmetic and a tiny LCG, so every run serves the same bytes; [`RequestLog`] records what
//! the facade asked for, so tests can assert on upstream traffic.

use std::{
    cmp::Ordering,
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use axum::{
    extract::{Path, Request, State},
    http::{header, StatusCode, Uri},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

/// Bearer token the sample upstream accepts (`Authorization: Bearer <SAMPLE_API_KEY>`).
pub const SAMPLE_API_KEY: &str = "KEYSAMPLE0demo0telnyx0rooms0graphql";

/// Well-known ids of seeded sessions, for docs and tests.
pub mod ids {
    /// A finished "standup" session nobody joined: 0 participants.
    pub const EMPTY_SESSION: &str = "0e1d2c3b-4a59-4687-a7b6-c5d4e3f2a1b0";
    /// A finished "standup" session with 1 participant, [`PARTICIPANT`].
    pub const SINGLE_SESSION: &str = "51a6e1e0-5e55-4011-8a6b-0c3d2e1f4a5b";
    /// A finished session of "Zoë's room" with 53 participants, joining across midnight.
    pub const MEDIUM_SESSION: &str = "5d3e7f19-0c2b-4a48-b6e5-7f9a1c3e5d72";
    /// A finished "all-hands" session with 613 participants, joining over four calendar days.
    pub const LARGE_SESSION: &str = "7a1b2c3d-9e8f-4a0b-8c1d-2e3f4a5b6c7d";
    /// The active "all-hands" session: 9 participants, 3 of them still in (no `left_at`).
    pub const ACTIVE_SESSION: &str = "ac71ee5e-5e55-4a1c-9b0d-1e2f3a4b5c6d";
    /// The "all-hands" room: 4 sessions, including [`LARGE_SESSION`] and [`ACTIVE_SESSION`].
    pub const ROOM: &str = "3f2a9c1e-8b7d-4c6a-9e5f-2d1b0a9c8e7f";
    /// The only participant of [`SINGLE_SESSION`].
    pub const PARTICIPANT: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
}

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
const CONTEXTS: [Option<&str>; 6] =
    [Some("Alice"), Some("Bob"), Some("Carol"), Some("Zoë 🎥"), Some("a&b=c + d%"), None];

/// Knuth's MMIX LCG: enough spread for fake data, and identical on every platform.
struct Lcg(u64);

impl Lcg {
    /// A number in `0..n` (0 when `n <= 0`).
    fn below(&mut self, n: i64) -> i64 {
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
fn uuid_from(serial: u64) -> String {
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
    fn session_view(&self, session: &Session, include: bool) -> Session {
        let of_session = |p: &Participant| p.session_id == session.id;
        let participants = include.then(|| select(&self.participants, of_session));
        let participants = participants.map(|ps| ps.into_iter().cloned().collect());
        Session { participants, ..session.clone() }
    }

    /// `room` as served: sessions (without their participants) embedded only when asked for.
    fn room_view(&self, room: &Room, include: bool) -> Room {
        let of_room = |s: &Session| s.room_id == room.id;
        let sessions = include.then(|| select(&self.sessions, of_room));
        let view = |s| self.session_view(s, false);
        let sessions = sessions.map(|ss| ss.into_iter().map(view).collect());
        Room { sessions, ..room.clone() }
    }
}

/// What lists need from an item: its id and Telnyx's stable list order.
trait Listed {
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
fn select<T: Listed>(items: &[T], keep: impl Fn(&T) -> bool) -> Vec<&T> {
    let mut kept: Vec<&T> = items.iter().filter(|item| keep(item)).collect();
    kept.sort_by(|a, b| a.order().cmp(&b.order()));
    kept
}

/// The item with path id `raw`: 400 if it is not a UUID, 404 if nothing has it.
fn find<'d, T: Listed>(items: &'d [T], raw: &str, param: &str, what: &str) -> Result<&'d T, ApiError> {
    let wanted = Uuid::parse_str(raw)
        .map_err(|_| ApiError::invalid(param, format!("{param} must be a UUID")))?
        .hyphenated()
        .to_string();
    let found = items.iter().find(|item| item.id().eq_ignore_ascii_case(&wanted));
    found.ok_or_else(|| ApiError::not_found(what))
}

/// One Telnyx error, answered inside the `{"errors": [...]}` envelope.
#[derive(Debug, Serialize)]
struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<Source>,
}

#[derive(Debug, Serialize)]
struct Source {
    parameter: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, title: &'static str, detail: String) -> Self {
        Self { status, code, title, detail, source: None }
    }

    fn unauthorized() -> Self {
        let detail = "The API key provided is invalid or missing.".into();
        Self::new(StatusCode::UNAUTHORIZED, "10009", "Authentication failed", detail)
    }

    fn invalid(parameter: &str, detail: String) -> Self {
        let source = Some(Source { parameter: parameter.into() });
        Self { source, ..Self::new(StatusCode::BAD_REQUEST, "10015", "Invalid parameter", detail) }
    }

    /// `what` is the resource as Telnyx words it, e.g. "Room session".
    fn not_found(what: &str) -> Self {
        let detail = format!("{what} not found.");
        Self::new(StatusCode::NOT_FOUND, "10005", "Resource not found", detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Errors {
            errors: [ApiError; 1],
        }
        (self.status, Json(Errors { errors: [self] })).into_response()
    }
}

/// Decoded query parameters; like most servers, a repeated key keeps its last value.
struct Params(HashMap<String, String>);

impl Params {
    /// `+` and `%20` decode to space, percent-encoded brackets to brackets.
    fn parse(uri: &Uri) -> Self {
        let raw = uri.query().unwrap_or_default().as_bytes();
        Self(url::form_urlencoded::parse(raw).into_owned().collect())
    }

    /// `key` read by `read`: `None` when absent, 400 naming `key` when unreadable.
    fn get<T>(&self, key: &str, read: impl FnOnce(&str) -> Option<T>, expected: &str) -> Result<Option<T>, ApiError> {
        let Some(raw) = self.0.get(key) else {
            return Ok(None);
        };
        let invalid = || ApiError::invalid(key, format!("{key} must be {expected}"));
        read(raw).map(Some).ok_or_else(invalid)
    }

    fn page(&self) -> Result<Page, ApiError> {
        let int = |raw: &str, max| raw.parse().ok().filter(|n| (1..=max).contains(n));
        let size = self.get("page[size]", |raw| int(raw, 250), "between 1 and 250")?;
        let number = self.get("page[number]", |raw| int(raw, usize::MAX), "at least 1")?;
        let (number, size) = (number.unwrap_or(1), size.unwrap_or(20));
        Ok(Page { number, size })
    }

    /// Exactly `true` or `false`.
    fn flag(&self, key: &str) -> Result<Option<bool>, ApiError> {
        self.get(key, |raw| raw.parse().ok(), "true or false")
    }

    /// Whether `include_<children>=true` asks to embed children.
    fn include(&self, children: &str) -> Result<bool, ApiError> {
        Ok(self.flag(&format!("include_{children}"))?.unwrap_or(false))
    }
}

/// Strictly `YYYY-MM-DD`: chrono alone would also take `2024-3-5`, hence the round trip.
fn parse_date(raw: &str) -> Option<NaiveDate> {
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    (date.format("%Y-%m-%d").to_string() == raw).then_some(date)
}

/// Validated paging: `number >= 1`, `size` in `1..=250`.
struct Page {
    number: usize,
    size: usize,
}

impl Page {
    /// This page of `items`, each turned into its served form by `view`.
    fn of<T, U>(&self, items: Vec<T>, view: impl FnMut(T) -> U) -> List<U> {
        let total_results = items.len();
        let skip = self.number.saturating_sub(1).saturating_mul(self.size);
        let meta = Meta {
            page_number: self.number,
            page_size: self.size,
            total_pages: total_results.div_ceil(self.size.max(1)),
            total_results,
        };
        let data = items.into_iter().skip(skip).take(self.size).map(view).collect();
        List { data, meta }
    }
}

#[derive(Serialize)]
struct Meta {
    page_number: usize,
    page_size: usize,
    total_pages: usize,
    total_results: usize,
}

#[derive(Serialize)]
struct List<T> {
    data: Vec<T>,
    meta: Meta,
}

#[derive(Serialize)]
struct One<T> {
    data: T,
}

type Check<'a, T> = Box<dyn Fn(&T) -> bool + 'a>;

/// A conjunction of checks parsed from the query; with none it keeps everything.
struct Filter<'a, T>(Vec<Check<'a, T>>);

impl<'a, T: 'a> Filter<'a, T> {
    fn keeps(&self, item: &T) -> bool {
        self.0.iter().all(|check| check(item))
    }

    fn and(mut self, check: impl Fn(&T) -> bool + 'a) -> Self {
        self.0.push(Box::new(check));
        self
    }

    /// `filter[date_<field>][eq|gte|lte]` on the UTC calendar date; null never matches.
    fn dates(mut self, q: &Params, field: &str, get: fn(&T) -> Option<DateTime<Utc>>) -> Result<Self, ApiError> {
        let ops = [("eq", Ordering::is_eq as fn(Ordering) -> bool), ("gte", Ordering::is_ge), ("lte", Ordering::is_le)];
        for (op, holds) in ops {
            let key = format!("filter[date_{field}][{op}]");
            if let Some(bound) = q.get(&key, parse_date, "a date (YYYY-MM-DD)")? {
                self = self.and(move |item| get(item).is_some_and(|t| holds(t.date_naive().cmp(&bound))));
            }
        }
        Ok(self)
    }

    /// Exact match on `key`; an item without the field never matches.
    fn exact(self, q: &'a Params, key: &str, get: fn(&T) -> Option<&String>) -> Self {
        match q.0.get(key) {
            Some(wanted) => self.and(move |item| get(item) == Some(wanted)),
            None => self,
        }
    }
}

fn participant_filter(q: &Params) -> Result<Filter<'_, Participant>, ApiError> {
    Ok(Filter::<Participant>(Vec::new())
        .dates(q, "joined_at", |p| Some(p.joined_at))?
        .dates(q, "updated_at", |p| Some(p.updated_at))?
        .dates(q, "left_at", |p| p.left_at)?
        .exact(q, "filter[context]", |p| p.context.as_ref()))
}

fn session_filter(q: &Params) -> Result<Filter<'_, Session>, ApiError> {
    let keep = Filter::<Session>(Vec::new())
        .dates(q, "created_at", |s| Some(s.created_at))?
        .dates(q, "updated_at", |s| Some(s.updated_at))?
        .dates(q, "ended_at", |s| s.ended_at)?;
    Ok(match q.flag("filter[active]")? {
        Some(active) => keep.and(move |s| s.active == active),
        None => keep,
    })
}

fn room_filter(q: &Params) -> Result<Filter<'_, Room>, ApiError> {
    Ok(Filter::<Room>(Vec::new())
        .dates(q, "created_at", |r| Some(r.created_at))?
        .dates(q, "updated_at", |r| Some(r.updated_at))?
        .exact(q, "filter[unique_name]", |r| Some(&r.unique_name)))
}

type Data = State<Arc<SampleData>>;
type Reply<T> = Result<Json<T>, ApiError>;

fn one<T>(data: T) -> Reply<One<T>> {
    Ok(Json(One { data }))
}

/// One page of the `items` that `keep` keeps, each in its served form.
fn listing<'d, T: Listed, U>(
    q: &Params,
    items: &'d [T],
    keep: &Filter<'_, T>,
    view: impl FnMut(&'d T) -> U,
) -> Reply<List<U>> {
    Ok(Json(q.page()?.of(select(items, |item| keep.keeps(item)), view)))
}

async fn list_participants(State(data): Data, uri: Uri) -> Reply<List<Participant>> {
    let q = Params::parse(&uri);
    let keep = participant_filter(&q)?.exact(&q, "filter[session_id]", |p| Some(&p.session_id));
    listing(&q, &data.participants, &keep, Participant::clone)
}

async fn list_session_participants(State(data): Data, Path(id): Path<String>, uri: Uri) -> Reply<List<Participant>> {
    let session = find(&data.sessions, &id, "room_session_id", "Room session")?;
    let q = Params::parse(&uri);
    let keep = participant_filter(&q)?.and(|p| p.session_id == session.id);
    listing(&q, &data.participants, &keep, Participant::clone)
}

async fn get_participant(State(data): Data, Path(id): Path<String>) -> Reply<One<Participant>> {
    one(find(&data.participants, &id, "room_participant_id", "Room participant")?.clone())
}

async fn list_sessions(State(data): Data, uri: Uri) -> Reply<List<Session>> {
    let q = Params::parse(&uri);
    let keep = session_filter(&q)?.exact(&q, "filter[room_id]", |s| Some(&s.room_id));
    let include = q.include("participants")?;
    listing(&q, &data.sessions, &keep, |s| data.session_view(s, include))
}

async fn list_room_sessions(State(data): Data, Path(id): Path<String>, uri: Uri) -> Reply<List<Session>> {
    let room = find(&data.rooms, &id, "room_id", "Room")?;
    let q = Params::parse(&uri);
    let keep = session_filter(&q)?.and(|s| s.room_id == room.id);
    let include = q.include("participants")?;
    listing(&q, &data.sessions, &keep, |s| data.session_view(s, include))
}

async fn get_session(State(data): Data, Path(id): Path<String>, uri: Uri) -> Reply<One<Session>> {
    let session = find(&data.sessions, &id, "room_session_id", "Room session")?;
    one(data.session_view(session, Params::parse(&uri).include("participants")?))
}

async fn list_rooms(State(data): Data, uri: Uri) -> Reply<List<Room>> {
    let q = Params::parse(&uri);
    let keep = room_filter(&q)?;
    let include = q.include("sessions")?;
    listing(&q, &data.rooms, &keep, |r| data.room_view(r, include))
}

async fn get_room(State(data): Data, Path(id): Path<String>, uri: Uri) -> Reply<One<Room>> {
    let room = find(&data.rooms, &id, "room_id", "Room")?;
    one(data.room_view(room, Params::parse(&uri).include("sessions")?))
}

async fn authenticate(request: Request, next: Next) -> Response {
    let presented = request.headers().get(header::AUTHORIZATION);
    if presented.is_some_and(|v| v.as_bytes().strip_prefix(b"Bearer ") == Some(SAMPLE_API_KEY.as_bytes())) {
        next.run(request).await
    } else {
        ApiError::unauthorized().into_response()
    }
}

async fn record(State(log): State<RequestLog>, request: Request, next: Next) -> Response {
    let uri = request.uri();
    let raw = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    log.record(raw);
    next.run(request).await
}

/// The axum router serving the API under `/v2`; shares `log` for request inspection.
pub fn router(data: Arc<SampleData>, log: RequestLog) -> Router {
    Router::new()
        .route("/v2/room_participants", get(list_participants))
        .route("/v2/room_participants/{id}", get(get_participant))
        .route("/v2/room_sessions", get(list_sessions))
        .route("/v2/room_sessions/{id}", get(get_session))
        .route("/v2/room_sessions/{id}/participants", get(list_session_participants))
        .route("/v2/rooms", get(list_rooms))
        .route("/v2/rooms/{id}", get(get_room))
        .route("/v2/rooms/{id}/sessions", get(list_room_sessions))
        .fallback(|| async { ApiError::not_found("Resource") })
        .with_state(data)
        // The last layer runs first: record every request, even those authentication rejects.
        .layer(middleware::from_fn(authenticate))
        .layer(middleware::from_fn_with_state(log, record))
}

/// Records every request the sample upstream receives, as `<path>?<raw query>` exactly as
/// received (or just `<path>` with no query), in order. Only the first
/// [`RequestLog::KEPT`] lines are kept, so a benchmark's millions of requests are counted
/// without growing memory.
#[derive(Debug, Clone, Default)]
pub struct RequestLog(Arc<Mutex<(Vec<String>, usize)>>);

impl RequestLog {
    /// Request lines kept verbatim; later requests are only counted.
    pub const KEPT: usize = 10_000;

    /// A panicking test must not poison the log for the tests that share it.
    fn lock(&self) -> MutexGuard<'_, (Vec<String>, usize)> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, line: &str) {
        let mut log = self.lock();
        log.1 += 1;
        if log.0.len() < Self::KEPT {
            log.0.push(line.to_owned());
        }
    }

    /// The request lines, oldest first (at most [`RequestLog::KEPT`]).
    pub fn requests(&self) -> Vec<String> {
        self.lock().0.clone()
    }

    /// How many requests arrived since the last [`RequestLog::clear`].
    pub fn count(&self) -> usize {
        self.lock().1
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        *self.lock() = Default::default();
    }
}

/// Which API requests fail on purpose: every `n`th request (counted over all API requests)
/// of each kind; 0 turns a kind off. Parsed from `503:N,429:N,slow:N`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Every `n`th request answers 503 with a Telnyx error body.
    pub unavailable: u64,
    /// Every `n`th request answers 429 with `Retry-After: 1`.
    pub rate_limited: u64,
    /// Every `n`th request is answered after 3 seconds.
    pub slow: u64,
}

impl std::str::FromStr for Faults {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let mut faults = Faults::default();
        for part in spec.split(',').filter(|p| !p.is_empty()) {
            let (kind, every) = part.split_once(':').ok_or_else(|| format!("`{part}` is not KIND:N"))?;
            let every = every.parse().map_err(|_| format!("`{every}` is not a number"))?;
            match kind {
                "503" => faults.unavailable = every,
                "429" => faults.rate_limited = every,
                "slow" => faults.slow = every,
                _ => return Err(format!("unknown fault `{kind}` (use 503, 429 or slow)")),
            }
        }
        Ok(faults)
    }
}

impl Faults {
    fn into_state(self) -> Arc<(Faults, std::sync::atomic::AtomicU64)> {
        Arc::new((self, std::sync::atomic::AtomicU64::new(0)))
    }
}

async fn inject(
    State(state): State<Arc<(Faults, std::sync::atomic::AtomicU64)>>,
    request: Request,
    next: Next,
) -> Response {
    let (faults, counter) = &*state;
    let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let hits = |every: u64| every > 0 && n % every == 0;
    if hits(faults.unavailable) {
        let body = serde_json::json!({ "errors": [{ "code": "10000", "title": "Service unavailable" }] });
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    if hits(faults.rate_limited) {
        let body = serde_json::json!({ "errors": [{ "code": "10011", "title": "Too many requests" }] });
        return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "1")], Json(body)).into_response();
    }
    if hits(faults.slow) {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
    next.run(request).await
}

/// A running sample upstream on a bound listener (use 127.0.0.1:0 in tests).
#[derive(Debug)]
pub struct SampleUpstream {
    /// The bound address, with the real port when asked for port 0.
    pub addr: SocketAddr,
    pub log: RequestLog,
    pub data: Arc<SampleData>,
}

impl SampleUpstream {
    /// Binds `addr`, spawns the server on the current tokio runtime and returns at once.
    pub async fn spawn(addr: SocketAddr) -> std::io::Result<Self> {
        Self::spawn_with_faults(addr, Faults::default()).await
    }

    /// Like [`SampleUpstream::spawn`], failing a deterministic share of API requests (for
    /// load tests of the facade's resilience).
    pub async fn spawn_with_faults(addr: SocketAddr, faults: Faults) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (data, log) = (Arc::new(SampleData::seeded()), RequestLog::default());
        // Outside the API's authentication, for the benchmark's request counts.
        let stats = log.clone();
        let app = Router::new()
            .route("/__stats", get(move || async move { Json(serde_json::json!({ "requests": stats.count() })) }))
            .merge(
                router(data.clone(), log.clone()).layer(middleware::from_fn_with_state(faults.into_state(), inject)),
            );
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "sample upstream stopped");
            }
        });
        Ok(Self { addr, log, data })
    }

    /// Base URL to configure the facade with: "http://{addr}/v2".
    pub fn base_url(&self) -> String {
        format!("http://{}/v2", self.addr)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use axum::body::{to_bytes, Body};
    use chrono::SecondsFormat;
    use serde_json::{json, Value};
    use tower::ServiceExt;

    use super::*;

    fn app() -> (Router, Arc<SampleData>, RequestLog) {
        let (data, log) = (Arc::new(SampleData::seeded()), RequestLog::default());
        (router(data.clone(), log.clone()), data, log)
    }

    /// GETs `uri` with the given `Authorization` header and returns the status and parsed body.
    async fn call(app: &Router, uri: &str, authorization: Option<&str>) -> (StatusCode, Value) {
        let mut request = axum::http::Request::get(uri);
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        (status, serde_json::from_slice(&to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap())
    }

    async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
        call(app, uri, Some(&format!("Bearer {SAMPLE_API_KEY}"))).await
    }

    /// Ids over every page of the list at `uri` (which already has its `?`), checking `meta` at the end.
    async fn all_ids(app: &Router, uri: &str) -> Vec<String> {
        let mut ids = Vec::new();
        for number in 1.. {
            let (status, body) = get(app, &format!("{uri}&page[size]=100&page[number]={number}")).await;
            assert_eq!(status, StatusCode::OK, "{uri}: {body}");
            ids.extend(body["data"].as_array().unwrap().iter().map(|item| item["id"].as_str().unwrap().to_owned()));
            if number >= body["meta"]["total_pages"].as_u64().unwrap() {
                assert_eq!(body["meta"]["total_results"], ids.len(), "{uri}");
                return ids;
            }
        }
        unreachable!()
    }

    /// Asserts that the list at `uri` is exactly the (stored-order) `items` that `keep` keeps,
    /// and that those are a proper, non-empty subset, so the filter did something.
    async fn assert_selects<T: Listed>(app: &Router, uri: &str, items: &[T], keep: impl Fn(&T) -> bool) {
        let expected: Vec<String> = items.iter().filter(|item| keep(item)).map(|item| item.id().to_owned()).collect();
        assert!(!expected.is_empty() && expected.len() < items.len(), "{uri} selects {}", expected.len());
        assert_eq!(all_ids(app, uri).await, expected, "{uri}");
    }

    fn day(raw: &str) -> NaiveDate {
        parse_date(raw).unwrap()
    }

    fn envelope(code: &str, title: &str, detail: &str) -> Value {
        json!({ "errors": [{ "code": code, "title": title, "detail": detail }] })
    }

    #[test]
    fn seeding_twice_gives_the_same_data() {
        assert_eq!(SampleData::seeded(), SampleData::seeded());
    }

    #[test]
    fn well_known_ids_name_data_of_the_documented_shape() {
        let data = SampleData::seeded();
        let of = |session: &'static str| move |p: &&Participant| p.session_id == session;
        let counts = [ids::EMPTY_SESSION, ids::SINGLE_SESSION, ids::MEDIUM_SESSION, ids::LARGE_SESSION]
            .map(|session| data.participants.iter().filter(of(session)).count());
        assert_eq!(counts, [0, 1, 53, 613]);
        let active: Vec<_> = data.participants.iter().filter(of(ids::ACTIVE_SESSION)).collect();
        assert!(active.iter().any(|p| p.left_at.is_none()) && active.iter().any(|p| p.left_at.is_some()));
        assert!(data.sessions.iter().any(|s| s.id == ids::ACTIVE_SESSION && s.active && s.room_id == ids::ROOM));
        let in_room: Vec<_> = data.sessions.iter().filter(|s| s.room_id == ids::ROOM).map(|s| s.id.as_str()).collect();
        assert!(in_room.len() >= 3 && in_room.contains(&ids::LARGE_SESSION), "{in_room:?}");
        let single: Vec<_> = data.participants.iter().filter(of(ids::SINGLE_SESSION)).collect();
        assert_eq!(single[0].id, ids::PARTICIPANT);
        let large: Vec<_> = data.participants.iter().filter(of(ids::LARGE_SESSION)).collect();
        assert!(large.iter().map(|p| p.joined_at.date_naive()).collect::<BTreeSet<_>>().len() >= 3);
        let contexts: HashSet<_> = large.iter().map(|p| p.context.as_deref()).collect();
        assert_eq!(contexts, CONTEXTS.into_iter().collect());
    }

    #[test]
    fn every_room_has_at_most_one_active_session_and_points_at_it() {
        let data = SampleData::seeded();
        assert_eq!((data.rooms.len(), data.sessions.len()), (4, 14));
        for room in &data.rooms {
            let sessions: Vec<_> = data.sessions.iter().filter(|s| s.room_id == room.id).collect();
            let active: Vec<_> = sessions.iter().filter(|s| s.active).map(|s| s.id.clone()).collect();
            assert!((2..=6).contains(&sessions.len()) && active.len() <= 1, "{}", room.unique_name);
            assert_eq!(room.active_session_id, active.first().cloned());
            assert!(sessions.iter().all(|s| s.active == s.ended_at.is_none()));
            assert!(sessions.iter().all(|s| s.created_at >= room.created_at));
        }
    }

    #[test]
    fn seeded_timestamps_are_consistent_microsecond_precise_and_in_list_order() {
        let data = SampleData::seeded();
        let precise =
            |t: &DateTime<Utc>| t.timestamp_subsec_nanos().is_multiple_of(1000) && t.timestamp_subsec_micros() != 0;
        for p in &data.participants {
            let session = data.sessions.iter().find(|s| s.id == p.session_id).unwrap();
            assert!(p.updated_at >= p.joined_at && p.left_at.is_none_or(|left| left >= p.joined_at));
            assert!(session.created_at <= p.joined_at);
            assert!(session.ended_at.is_none_or(|end| p.left_at.is_some_and(|left| left <= end)));
            assert!([p.joined_at, p.updated_at].iter().chain(&p.left_at).all(precise));
        }
        for s in &data.sessions {
            assert!(
                s.created_at <= s.updated_at && [s.created_at, s.updated_at].iter().chain(&s.ended_at).all(precise)
            );
        }
        assert!(data.rooms.iter().all(|r| r.created_at <= r.updated_at && precise(&r.created_at)));
        assert!(data.participants.windows(2).all(|w| w[0].order() < w[1].order()));
        assert!(data.sessions.windows(2).all(|w| w[0].order() < w[1].order()));
        assert!(data.rooms.windows(2).all(|w| w[0].order() < w[1].order()));
    }

    #[test]
    fn seeded_ids_are_distinct_lowercase_version_4_uuids() {
        let data = SampleData::seeded();
        let rooms = data.rooms.iter().map(Room::id);
        let all: Vec<&str> = rooms
            .chain(data.sessions.iter().map(Session::id))
            .chain(data.participants.iter().map(Participant::id))
            .collect();
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), all.len());
        for id in all {
            let uuid = Uuid::parse_str(id).unwrap();
            assert_eq!((uuid.get_version_num(), uuid.get_variant()), (4, uuid::Variant::RFC4122), "{id}");
            assert_eq!(uuid.hyphenated().to_string(), id);
        }
    }

    #[test]
    fn items_serialize_as_telnyx_wire_json_with_six_fractional_digits() {
        let data = SampleData::seeded();
        let session = data.sessions.iter().find(|s| s.id == ids::ACTIVE_SESSION).unwrap();
        let json = serde_json::to_value(session).unwrap();
        let created = json["created_at"].as_str().unwrap();
        assert_eq!(created, session.created_at.to_rfc3339_opts(SecondsFormat::Micros, true));
        assert_eq!((created.len(), &created[19..20], &created[26..]), (27, ".", "Z"));
        assert_eq!((&json["ended_at"], &json["record_type"]), (&Value::Null, &json!("room_session")));
        assert!(json.get("participants").is_none());
        assert_eq!(&serde_json::from_value::<Session>(json).unwrap(), session);
    }

    #[tokio::test]
    async fn requests_without_the_exact_bearer_key_get_the_401_envelope() {
        let (app, _, _) = app();
        let expected = envelope("10009", "Authentication failed", "The API key provided is invalid or missing.");
        let wrong = [format!("bearer {SAMPLE_API_KEY}"), format!("Bearer {SAMPLE_API_KEY}x"), SAMPLE_API_KEY.into()];
        for authorization in wrong.iter().map(|value| Some(value.as_str())).chain([None, Some("Bearer ")]) {
            assert_eq!(call(&app, "/v2/rooms", authorization).await, (StatusCode::UNAUTHORIZED, expected.clone()));
        }
    }

    #[tokio::test]
    async fn out_of_range_page_parameters_are_rejected_naming_the_parameter() {
        let (app, _, _) = app();
        let (status, body) = get(&app, "/v2/rooms?page[size]=251").await;
        let source = json!({ "parameter": "page[size]" });
        let detail = "page[size] must be between 1 and 250";
        let expected = json!({ "errors": [{ "code": "10015", "title": "Invalid parameter", "detail": detail, "source": source }] });
        assert_eq!((status, body), (StatusCode::BAD_REQUEST, expected));
        let size = ["page[size]=0", "page[size]=-1", "page%5Bsize%5D=abc", "page[size]=", "page[size]=2.5"];
        let number = ["page[number]=0", "page[number]=-1", "page[number]=abc", "page[number]=99999999999999999999"];
        for (query, parameter) in size.map(|q| (q, "page[size]")).into_iter().chain(number.map(|q| (q, "page[number]")))
        {
            let (status, body) = get(&app, &format!("/v2/room_participants?{query}")).await;
            assert_eq!(
                (status, &body["errors"][0]["source"]["parameter"]),
                (StatusCode::BAD_REQUEST, &json!(parameter))
            );
        }
    }

    #[tokio::test]
    async fn a_page_past_the_end_is_empty_with_the_right_meta() {
        let (app, _, _) = app();
        let uri = format!("/v2/room_sessions/{}/participants?page[size]=20&page[number]=4", ids::MEDIUM_SESSION);
        let meta = json!({ "page_number": 4, "page_size": 20, "total_pages": 3, "total_results": 53 });
        assert_eq!(get(&app, &uri).await, (StatusCode::OK, json!({ "data": [], "meta": meta })));
        let uri = format!("/v2/room_sessions/{}/participants", ids::EMPTY_SESSION);
        let meta = json!({ "page_number": 1, "page_size": 20, "total_pages": 0, "total_results": 0 });
        assert_eq!(get(&app, &uri).await, (StatusCode::OK, json!({ "data": [], "meta": meta })));
    }

    #[tokio::test]
    async fn pages_default_to_twenty_and_concatenate_to_the_whole_list_in_order() {
        let (app, data, _) = app();
        let (_, body) = get(&app, &format!("/v2/room_sessions/{}/participants", ids::LARGE_SESSION)).await;
        let meta = json!({ "page_number": 1, "page_size": 20, "total_pages": 31, "total_results": 613 });
        assert_eq!((&body["meta"], body["data"].as_array().unwrap().len()), (&meta, 20));
        let expected: Vec<_> = data.participants.iter().filter(|p| p.session_id == ids::LARGE_SESSION).collect();
        assert_eq!(body["data"][19], serde_json::to_value(expected[19]).unwrap());
        let all = all_ids(&app, &format!("/v2/room_sessions/{}/participants?", ids::LARGE_SESSION)).await;
        assert_eq!(all, expected.iter().map(|p| p.id.clone()).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn participant_filters_select_exactly_the_matching_participants() {
        let (app, data, _) = app();
        let (ps, large) = (&data.participants, format!("/v2/room_sessions/{}/participants?", ids::LARGE_SESSION));
        let in_large = |p: &Participant| p.session_id == ids::LARGE_SESSION;
        let joined = |p: &Participant| p.joined_at.date_naive();
        let eq = format!("{large}filter[date_joined_at][eq]=2024-03-10");
        assert_selects(&app, &eq, ps, |p| in_large(p) && joined(p) == day("2024-03-10")).await;
        let gte = format!("{large}filter[date_joined_at][gte]=2024-03-11");
        assert_selects(&app, &gte, ps, |p| in_large(p) && joined(p) >= day("2024-03-11")).await;
        let range = format!("{large}filter[date_joined_at][gte]=2024-03-10&filter[date_joined_at][lte]=2024-03-11");
        let within = |p: &Participant| (day("2024-03-10")..=day("2024-03-11")).contains(&joined(p));
        assert_selects(&app, &range, ps, |p| in_large(p) && within(p)).await;
        let updated = format!("{large}filter[date_updated_at][eq]=2024-03-11&filter[context]=Alice");
        let alice = |p: &Participant| p.context.as_deref() == Some("Alice");
        assert_selects(&app, &updated, ps, |p| {
            in_large(p) && p.updated_at.date_naive() == day("2024-03-11") && alice(p)
        })
        .await;
        let left = format!("{large}filter[date_left_at][lte]=2024-03-10");
        assert_selects(&app, &left, ps, |p| {
            in_large(p) && p.left_at.is_some_and(|t| t.date_naive() <= day("2024-03-10"))
        })
        .await;
        // Still-present participants have no left_at, so no left_at filter can match them.
        let left = format!(
            "/v2/room_participants?filter[session_id]={}&filter[date_left_at][gte]=2024-01-01",
            ids::ACTIVE_SESSION
        );
        assert_selects(&app, &left, ps, |p| p.session_id == ids::ACTIVE_SESSION && p.left_at.is_some()).await;
        let session = format!("/v2/room_participants?filter[session_id]={}&unknown=ignored", ids::MEDIUM_SESSION);
        assert_selects(&app, &session, ps, |p| p.session_id == ids::MEDIUM_SESSION).await;
    }

    #[tokio::test]
    async fn context_filters_decode_percent_and_plus_encoding_and_match_exactly() {
        let (app, data, _) = app();
        let cases = [
            ("filter[context]=a%26b%3Dc%20%2B%20d%25", "a&b=c + d%"),
            ("filter%5Bcontext%5D=a%26b%3Dc+%2B+d%25", "a&b=c + d%"),
            ("filter[context]=Zo%C3%AB+%F0%9F%8E%A5", "Zoë 🎥"),
            ("filter[context]=Bob", "Bob"),
        ];
        for (query, context) in cases {
            let uri = format!("/v2/room_participants?{query}");
            assert_selects(&app, &uri, &data.participants, |p| p.context.as_deref() == Some(context)).await;
        }
        let (_, body) = get(&app, "/v2/room_participants?filter[context]=bob").await;
        assert_eq!(body["meta"]["total_results"], 0);
    }

    #[tokio::test]
    async fn session_and_room_filters_select_exactly_the_matching_items() {
        let (app, data, _) = app();
        let (sessions, rooms) = (&data.sessions, &data.rooms);
        let of_room = format!("/v2/room_sessions?filter[room_id]={}", ids::ROOM);
        assert_selects(&app, &of_room, sessions, |s| s.room_id == ids::ROOM).await;
        assert_selects(&app, "/v2/room_sessions?filter[active]=true", sessions, |s| s.active).await;
        let ended = "/v2/room_sessions?filter[date_ended_at][gte]=2024-03-01&filter[active]=false";
        assert_selects(&app, ended, sessions, |s| s.ended_at.is_some()).await;
        let created = "/v2/room_sessions?filter[date_created_at][eq]=2024-03-06";
        assert_selects(&app, created, sessions, |s| s.created_at.date_naive() == day("2024-03-06")).await;
        let updated = format!("/v2/rooms/{}/sessions?filter[date_updated_at][lte]=2024-03-12", ids::ROOM);
        let early = |s: &Session| s.room_id == ids::ROOM && s.updated_at.date_naive() <= day("2024-03-12");
        assert_selects(&app, &updated, sessions, early).await;
        assert_selects(&app, "/v2/rooms?filter[unique_name]=Zo%C3%AB%27s+room", rooms, |r| {
            r.unique_name == "Zoë's room"
        })
        .await;
        let created = "/v2/rooms?filter[date_created_at][eq]=2024-03-04";
        assert_selects(&app, created, rooms, |r| r.created_at.date_naive() == day("2024-03-04")).await;
    }

    #[tokio::test]
    async fn invalid_filter_values_are_rejected_naming_the_parameter() {
        let (app, _, _) = app();
        let cases = [
            ("/v2/room_participants?filter[date_joined_at][eq]=2024-3-10", "filter[date_joined_at][eq]"),
            ("/v2/room_participants?filter[date_left_at][gte]=yesterday", "filter[date_left_at][gte]"),
            ("/v2/room_participants?filter[date_updated_at][lte]=2024-02-30", "filter[date_updated_at][lte]"),
            ("/v2/room_sessions?filter[active]=yes", "filter[active]"),
            ("/v2/room_sessions?include_participants=1", "include_participants"),
            ("/v2/rooms?filter[date_created_at][eq]=20240304", "filter[date_created_at][eq]"),
        ];
        for (uri, parameter) in cases {
            let (status, body) = get(&app, uri).await;
            assert_eq!((status, &body["errors"][0]["code"]), (StatusCode::BAD_REQUEST, &json!("10015")), "{uri}");
            assert_eq!(body["errors"][0]["source"]["parameter"], parameter, "{uri}");
        }
    }

    #[tokio::test]
    async fn unknown_ids_are_404_and_malformed_ids_are_400() {
        let (app, _, _) = app();
        let unknown = "00000000-0000-4000-8000-000000000000";
        let cases = [
            (format!("/v2/room_sessions/{unknown}/participants"), "Room session not found."),
            (format!("/v2/room_sessions/{unknown}"), "Room session not found."),
            (format!("/v2/rooms/{unknown}/sessions"), "Room not found."),
            (format!("/v2/rooms/{unknown}"), "Room not found."),
            (format!("/v2/room_participants/{unknown}"), "Room participant not found."),
        ];
        for (uri, detail) in cases {
            assert_eq!(get(&app, &uri).await, (StatusCode::NOT_FOUND, envelope("10005", "Resource not found", detail)));
        }
        for uri in ["/v2/room_sessions/not-a-uuid/participants", "/v2/rooms/123", "/v2/room_participants/x"] {
            let (status, body) = get(&app, uri).await;
            assert_eq!((status, &body["errors"][0]["code"]), (StatusCode::BAD_REQUEST, &json!("10015")), "{uri}");
        }
        let (status, body) = get(&app, &format!("/v2/room_sessions/{}", ids::MEDIUM_SESSION.to_uppercase())).await;
        assert_eq!((status, &body["data"]["id"]), (StatusCode::OK, &json!(ids::MEDIUM_SESSION)));
    }

    #[tokio::test]
    async fn children_are_embedded_only_when_asked_for() {
        let (app, data, _) = app();
        let (_, body) = get(&app, &format!("/v2/room_sessions/{}", ids::SINGLE_SESSION)).await;
        assert!(body["data"].get("participants").is_none());
        let (_, body) =
            get(&app, &format!("/v2/room_sessions/{}?include_participants=true", ids::SINGLE_SESSION)).await;
        let participant = data.participants.iter().find(|p| p.id == ids::PARTICIPANT).unwrap();
        assert_eq!(body["data"]["participants"], json!([participant]));
        let (_, body) = get(&app, &format!("/v2/room_participants/{}", ids::PARTICIPANT)).await;
        assert_eq!(body, json!({ "data": participant }));
        let (_, body) = get(&app, &format!("/v2/rooms/{}?include_sessions=true", ids::ROOM)).await;
        let embedded = body["data"]["sessions"].as_array().unwrap();
        let expected: Vec<_> = data.sessions.iter().filter(|s| s.room_id == ids::ROOM).map(|s| json!(s.id)).collect();
        assert_eq!(embedded.iter().map(|s| s["id"].clone()).collect::<Vec<_>>(), expected);
        assert!(embedded.iter().all(|s| s.get("participants").is_none()));
        let (_, body) = get(&app, "/v2/room_sessions?include_participants=true&page[size]=250").await;
        let embedded: usize =
            body["data"].as_array().unwrap().iter().map(|s| s["participants"].as_array().unwrap().len()).sum();
        assert_eq!(embedded, data.participants.len());
    }

    #[tokio::test]
    async fn the_request_log_records_raw_paths_and_queries_in_order_even_when_rejected() {
        let (app, _, log) = app();
        get(&app, "/v2/rooms").await;
        get(&app, "/v2/room_participants?filter%5Bcontext%5D=a%26b+c&page[size]=5").await;
        call(&app, "/v2/rooms?x=1", None).await;
        let expected = ["/v2/rooms", "/v2/room_participants?filter%5Bcontext%5D=a%26b+c&page[size]=5", "/v2/rooms?x=1"];
        assert_eq!((log.requests(), log.count()), (expected.map(String::from).to_vec(), 3));
        log.clear();
        assert_eq!(log.count(), 0);
    }

    #[tokio::test]
    async fn a_spawned_upstream_serves_json_over_tcp_at_its_base_url() {
        let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
        let path = format!("/room_sessions/{}/participants?page[size]=1", ids::SINGLE_SESSION);
        let request = reqwest::Client::new().get(format!("{}{path}", upstream.base_url()));
        let response = request.bearer_auth(SAMPLE_API_KEY).send().await.unwrap();
        assert_eq!(
            (response.status(), response.headers()["content-type"].as_bytes()),
            (StatusCode::OK, &b"application/json"[..])
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["data"][0]["id"], ids::PARTICIPANT);
        assert_eq!(upstream.log.requests(), [format!("/v2{path}")]);
    }

    #[test]
    fn fault_specs_parse_and_reject_nonsense() {
        assert_eq!("503:20,429:50,slow:100".parse(), Ok(Faults { unavailable: 20, rate_limited: 50, slow: 100 }));
        assert_eq!("".parse(), Ok(Faults::default()));
        assert!("500:3".parse::<Faults>().is_err());
        assert!("503".parse::<Faults>().is_err());
    }

    #[tokio::test]
    async fn every_nth_request_fails_as_configured() {
        let faults = Faults { unavailable: 2, ..Default::default() };
        let upstream = SampleUpstream::spawn_with_faults(([127, 0, 0, 1], 0).into(), faults).await.unwrap();
        let url = format!("{}/rooms", upstream.base_url());
        let client = reqwest::Client::new();
        let mut statuses = Vec::new();
        for _ in 0..4 {
            let response = client.get(&url).bearer_auth(SAMPLE_API_KEY).send().await.unwrap();
            statuses.push(response.status().as_u16());
        }
        assert_eq!(statuses, [200, 503, 200, 503]);
    }
}
