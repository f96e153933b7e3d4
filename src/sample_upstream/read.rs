//! The eight read operations: lists with Telnyx's paging and filters, and single items.

use std::{cmp::Ordering, collections::HashMap, sync::Arc};

use axum::{extract::Path, http::Uri, routing::get, Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{
    data::{find, select, Listed, Participant, Room, Session},
    error::ApiError,
    store::{Snapshot, Store},
};

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
pub(super) fn parse_date(raw: &str) -> Option<NaiveDate> {
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

/// A single item, as Telnyx wraps it.
#[derive(Serialize)]
pub(super) struct One<T> {
    pub(super) data: T,
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

pub(super) type Reply<T> = Result<Json<T>, ApiError>;

pub(super) fn one<T>(data: T) -> Reply<One<T>> {
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

async fn list_participants(Snapshot(data): Snapshot, uri: Uri) -> Reply<List<Participant>> {
    let q = Params::parse(&uri);
    let keep = participant_filter(&q)?.exact(&q, "filter[session_id]", |p| Some(&p.session_id));
    listing(&q, &data.participants, &keep, Participant::clone)
}

async fn list_session_participants(
    Snapshot(data): Snapshot,
    Path(id): Path<String>,
    uri: Uri,
) -> Reply<List<Participant>> {
    let session = find(&data.sessions, &id, "room_session_id", "Room session")?;
    let q = Params::parse(&uri);
    let keep = participant_filter(&q)?.and(|p| p.session_id == session.id);
    listing(&q, &data.participants, &keep, Participant::clone)
}

async fn get_participant(Snapshot(data): Snapshot, Path(id): Path<String>) -> Reply<One<Participant>> {
    one(find(&data.participants, &id, "room_participant_id", "Room participant")?.clone())
}

async fn list_sessions(Snapshot(data): Snapshot, uri: Uri) -> Reply<List<Session>> {
    let q = Params::parse(&uri);
    let keep = session_filter(&q)?.exact(&q, "filter[room_id]", |s| Some(&s.room_id));
    let include = q.include("participants")?;
    listing(&q, &data.sessions, &keep, |s| data.session_view(s, include))
}

async fn list_room_sessions(Snapshot(data): Snapshot, Path(id): Path<String>, uri: Uri) -> Reply<List<Session>> {
    let room = find(&data.rooms, &id, "room_id", "Room")?;
    let q = Params::parse(&uri);
    let keep = session_filter(&q)?.and(|s| s.room_id == room.id);
    let include = q.include("participants")?;
    listing(&q, &data.sessions, &keep, |s| data.session_view(s, include))
}

async fn get_session(Snapshot(data): Snapshot, Path(id): Path<String>, uri: Uri) -> Reply<One<Session>> {
    let session = find(&data.sessions, &id, "room_session_id", "Room session")?;
    one(data.session_view(session, Params::parse(&uri).include("participants")?))
}

async fn list_rooms(Snapshot(data): Snapshot, uri: Uri) -> Reply<List<Room>> {
    let q = Params::parse(&uri);
    let keep = room_filter(&q)?;
    let include = q.include("sessions")?;
    listing(&q, &data.rooms, &keep, |r| data.room_view(r, include))
}

async fn get_room(Snapshot(data): Snapshot, Path(id): Path<String>, uri: Uri) -> Reply<One<Room>> {
    let room = find(&data.rooms, &id, "room_id", "Room")?;
    one(data.room_view(room, Params::parse(&uri).include("sessions")?))
}

/// The read operations, by path.
pub(super) fn routes() -> Router<Arc<Store>> {
    Router::new()
        .route("/v2/room_participants", get(list_participants))
        .route("/v2/room_participants/{id}", get(get_participant))
        .route("/v2/room_sessions", get(list_sessions))
        .route("/v2/room_sessions/{id}", get(get_session))
        .route("/v2/room_sessions/{id}/participants", get(list_session_participants))
        .route("/v2/rooms", get(list_rooms))
        .route("/v2/rooms/{id}", get(get_room))
        .route("/v2/rooms/{id}/sessions", get(list_room_sessions))
}
