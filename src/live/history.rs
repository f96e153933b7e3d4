//! Cursors, retention and replay, so a subscriber that reconnects misses nothing.
//!
//! Every published event has a [`Cursor`]: the epoch of the history it belongs to and its
//! position there. Without Redis the history is this process's bounded [`Ring`] (a restarted
//! process starts a new epoch); with Redis it is the stream itself (entry ids are positions)
//! and the epoch a random value kept beside it, so a Redis that lost the stream has lost the
//! epoch too. A cursor from another epoch, older than what is retained, ahead of the history,
//! or malformed is [`Expired`]: the subscriber is told, never given a silent partial replay.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;

use super::hub::Delivered;

/// Where an event sits: the history's epoch and the position in it. Clients see it as an
/// opaque string (`RoomEvent.cursor`, an SSE event's `id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The history this position belongs to.
    pub epoch: Arc<str>,
    /// The position in it.
    pub position: Position,
}

/// A position in a history: a Redis stream entry id (`millis-seq`), or, in one process,
/// `0-seq`. Ordered as the history is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Milliseconds of the entry id (0 in one process).
    pub millis: u64,
    /// The sequence within them.
    pub seq: u64,
}

impl Position {
    /// A Redis stream entry id.
    pub fn parse(id: &str) -> Option<Self> {
        let (millis, seq) = id.split_once('-')?;
        Some(Self { millis: millis.parse().ok()?, seq: seq.parse().ok()? })
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.millis, self.seq)
    }
}

/// Why a subscription cannot resume after a cursor (all are `EVENTS_EXPIRED` to the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Expired {
    /// Not a cursor this service wrote.
    #[error("the cursor is not one this service wrote")]
    Malformed,
    /// From another history: a process or Redis restarted since.
    #[error("the cursor is from before a restart; the events since are not retained")]
    OtherEpoch,
    /// Events after it are no longer retained.
    #[error("events after the cursor are no longer retained")]
    Trimmed,
    /// Ahead of every event published.
    #[error("the cursor is ahead of every event published")]
    Ahead,
}

const VERSION: &str = "e1";

impl Cursor {
    /// The opaque form clients hold.
    pub fn encode(&self) -> String {
        let text = format!("{VERSION}:{}:{}", self.epoch, self.position);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    /// Reads what [`Cursor::encode`] wrote.
    pub fn decode(text: &str) -> Result<Self, Expired> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).map_err(|_| Expired::Malformed)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| Expired::Malformed)?;
        let mut parts = text.splitn(3, ':');
        let (Some(VERSION), Some(epoch), Some(position)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Expired::Malformed);
        };
        let position = Position::parse(position).ok_or(Expired::Malformed)?;
        if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Expired::Malformed);
        }
        Ok(Self { epoch: epoch.into(), position })
    }
}

/// A new random epoch.
pub fn new_epoch() -> Arc<str> {
    format!("{:016x}", rand::random::<u64>()).into()
}

/// How much history is kept (`LIVE_RETENTION_SECS`, `LIVE_RETENTION_EVENTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Events older than this are dropped.
    pub max_age: Duration,
    /// At most this many events are kept.
    pub max_events: usize,
}

/// The history of one process without Redis: the last events, bounded by [`Retention`].
pub struct Ring {
    epoch: Arc<str>,
    retention: Retention,
    entries: VecDeque<Arc<Delivered>>,
    /// The next event's sequence number.
    next: u64,
    /// The newest position dropped so far, if any.
    dropped: Option<Position>,
}

impl Ring {
    /// An empty history of a new epoch.
    pub fn new(retention: Retention) -> Self {
        Self { epoch: new_epoch(), retention, entries: VecDeque::new(), next: 1, dropped: None }
    }

    /// The cursor the next event gets.
    pub fn next_cursor(&mut self) -> Cursor {
        let position = Position { millis: 0, seq: self.next };
        self.next += 1;
        Cursor { epoch: self.epoch.clone(), position }
    }

    /// Keeps `event` (which holds the cursor [`Ring::next_cursor`] gave it), dropping what the
    /// retention no longer covers.
    pub fn push(&mut self, event: Arc<Delivered>) {
        self.entries.push_back(event);
        let now = Instant::now();
        while let Some(oldest) = self.entries.front() {
            let too_many = self.entries.len() > self.retention.max_events;
            if !too_many && now.duration_since(oldest.received) < self.retention.max_age {
                break;
            }
            self.dropped = Some(oldest.cursor.position);
            self.entries.pop_front();
        }
    }

    /// Up to `count` retained events after `after`, oldest first; empty once it is the
    /// newest.
    pub fn after(&self, after: &Cursor, count: usize) -> Result<Vec<Arc<Delivered>>, Expired> {
        if after.epoch != self.epoch {
            return Err(Expired::OtherEpoch);
        }
        if after.position.millis != 0 || after.position.seq >= self.next {
            return Err(Expired::Ahead);
        }
        if self.dropped.is_some_and(|dropped| dropped > after.position) {
            return Err(Expired::Trimmed);
        }
        let start = self.entries.partition_point(|event| event.cursor.position <= after.position);
        Ok(self.entries.range(start..).take(count).map(|event| Arc::new(event.fresh())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::event::Event;

    fn retention(max_events: usize) -> Retention {
        Retention { max_age: Duration::from_secs(3600), max_events }
    }

    fn push(ring: &mut Ring, id: &str) -> Cursor {
        let cursor = ring.next_cursor();
        ring.push(Arc::new(Delivered::new(Event::with_id(id), cursor.clone())));
        cursor
    }

    fn ids(events: &[Arc<Delivered>]) -> Vec<&str> {
        events.iter().map(|event| event.event.id.as_str()).collect()
    }

    #[test]
    fn a_cursor_reads_back_as_written_and_anything_else_is_malformed() {
        let cursor = Cursor { epoch: "0123abcd".into(), position: Position { millis: 1_733_000_000_000, seq: 7 } };
        assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor.clone()));
        let forged = |text: &str| Cursor::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text));
        for bad in ["", "e1:abc", "e1::1-2", "e2:abc:1-2", "e1:abc:1", "e1:abc:x-2", "e1:a:b:1-2", "e1:abc:-1-2"] {
            assert_eq!(forged(bad), Err(Expired::Malformed), "{bad}");
        }
        assert_eq!(Cursor::decode("not base64!"), Err(Expired::Malformed));
    }

    #[test]
    fn a_ring_replays_what_follows_a_cursor_in_pages() {
        let mut ring = Ring::new(retention(100));
        let first = push(&mut ring, "a");
        push(&mut ring, "b");
        let third = push(&mut ring, "c");
        push(&mut ring, "d");
        assert_eq!(ids(&ring.after(&first, 2).unwrap()), ["b", "c"]);
        assert_eq!(ids(&ring.after(&third, 10).unwrap()), ["d"]);
        let newest = ring.entries.back().unwrap().cursor.clone();
        assert!(ring.after(&newest, 10).unwrap().is_empty());
    }

    #[test]
    fn a_ring_refuses_cursors_it_cannot_continue_from() {
        let mut ring = Ring::new(retention(2));
        let first = push(&mut ring, "a");
        let second = push(&mut ring, "b");
        push(&mut ring, "c");
        push(&mut ring, "d");
        // "b" was dropped: a cursor at "a" would skip it, one at "b" misses nothing.
        assert_eq!(ring.after(&first, 10).err(), Some(Expired::Trimmed));
        assert_eq!(ids(&ring.after(&second, 10).unwrap()), ["c", "d"]);
        let other = Cursor { epoch: new_epoch(), ..second.clone() };
        assert_eq!(ring.after(&other, 10).err(), Some(Expired::OtherEpoch));
        let ahead = Cursor { position: Position { millis: 0, seq: 99 }, ..second };
        assert_eq!(ring.after(&ahead, 10).err(), Some(Expired::Ahead));
    }

    #[test]
    fn a_ring_drops_events_older_than_the_retention() {
        let mut ring = Ring::new(Retention { max_age: Duration::ZERO, max_events: 100 });
        let first = push(&mut ring, "a");
        push(&mut ring, "b");
        assert!(ring.entries.is_empty());
        assert_eq!(ring.after(&first, 10).err(), Some(Expired::Trimmed));
    }
}
