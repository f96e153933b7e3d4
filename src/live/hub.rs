//! The fan-out of room events: webhooks publish, subscriptions receive.
//!
//! Every process keeps one broadcast channel its subscribers read. Without Redis, a webhook
//! publishes straight into it. With Redis, a webhook appends the event to a stream
//! (`XADD`), and every replica's reader (`XREAD BLOCK`) moves new entries into its own
//! channel: a webhook received by any replica reaches subscribers on all of them, and a reader
//! that lost Redis resumes from the last entry it saw, so nothing published meanwhile is lost.
//!
//! Telnyx delivers at least once; redeliveries are recognised by the event's id within a
//! window (`SET NX EX` in Redis, shared by the replicas; a bounded map in one process), so each
//! event is published once.
//!
//! Each subscriber reads the channel at its own pace from a bounded ring: one that falls more
//! than the ring behind is told so (`Lagged`) and closed, without slowing the others or
//! growing memory.
//!
//! Every event carries its [`Cursor`] in the history ([`super::history`]): this process's
//! ring without Redis, the stream itself with Redis (trimmed to the retention as entries are
//! added). [`Hub::replay`] reads that history after a cursor, a page at a time.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, AsyncConnectionConfig};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::broadcast;

use super::event::Event;
use super::history::{new_epoch, Cursor, Expired, Position, Retention, Ring};
use crate::telemetry::spans;

/// The Redis stream events go through; it is also their history.
const STREAM: &str = "telnyx-rooms-graphql:events";
/// The stream's epoch: a random value set by the first replica to find none. A Redis that lost
/// the stream lost this too, so cursors into the lost stream are told apart.
const EPOCH: &str = "telnyx-rooms-graphql:events:epoch";
/// The field of a stream entry holding its webhook's `traceparent` (with traces on).
const TRACE_FIELD: &str = "trace";
/// How long one `XREAD` waits for new entries before asking again.
const BLOCK: Duration = Duration::from_secs(5);
/// How long a replay waits for a replica's reader to connect for the first time.
const READER_WAIT: Duration = Duration::from_secs(5);

/// An event as subscribers receive it.
#[derive(Debug)]
pub struct Delivered {
    /// The event.
    pub event: Event,
    /// Where it sits in the history.
    pub cursor: Cursor,
    /// When it reached this process's fan-out (for `live_delivery_seconds`).
    pub received: Instant,
    /// Per-event state the subscriptions share (see `schema::subscription`); `Any` so this
    /// module knows nothing of GraphQL.
    pub shared: Mutex<HashMap<String, Arc<dyn std::any::Any + Send + Sync>>>,
    /// The webhook hand-off's `traceparent`, when it was traced (through Redis's stream too).
    pub trace: Option<http::HeaderValue>,
}

impl Delivered {
    /// `event` at `cursor`, reaching the fan-out now.
    pub fn new(event: Event, cursor: Cursor) -> Self {
        Self { event, cursor, received: Instant::now(), shared: Mutex::default(), trace: None }
    }

    /// The same event at the same cursor without the per-event state: what the history keeps
    /// and what a replay gets, so that loads made while delivering or replaying an event do not
    /// stay in memory for as long as the event is retained.
    pub(crate) fn fresh(&self) -> Self {
        Self {
            event: self.event.clone(),
            cursor: self.cursor.clone(),
            received: self.received,
            shared: Mutex::default(),
            trace: self.trace.clone(),
        }
    }

    /// With the trace context its stream entry carries, if any.
    fn traced(mut self, entry: &redis::streams::StreamId) -> Self {
        self.trace = entry.get::<String>(TRACE_FIELD).and_then(|trace| http::HeaderValue::from_str(&trace).ok());
        self
    }
}

/// Why the history cannot be replayed after a cursor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The cursor cannot be continued from.
    #[error(transparent)]
    Expired(#[from] Expired),
    /// Redis, which holds the history, is unreachable.
    #[error("the history of live events is unavailable (Redis is unreachable)")]
    Unavailable,
}

/// What became of a published event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// Handed to the fan-out.
    New,
    /// Seen before within the window: acknowledged, not published again.
    Duplicate,
}

/// The fan-out could not take the event: the caller must not acknowledge it.
#[derive(Debug, thiserror::Error)]
#[error("the event could not be handed to the fan-out: {0}")]
pub struct NotHandedOff(String);

/// How events travel.
pub struct Hub {
    local: broadcast::Sender<Arc<Delivered>>,
    redis: Option<RedisLink>,
    /// The history without Redis.
    ring: Mutex<Ring>,
    retention: Retention,
    seen: Mutex<Seen>,
    window: Duration,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("shared", &self.redis.is_some()).finish()
    }
}

struct RedisLink {
    client: redis::Client,
    publisher: tokio::sync::Mutex<Option<ConnectionManager>>,
    up: Arc<AtomicBool>,
    /// Whether the reader has connected once. It starts from the stream's end then, so what
    /// was added before reaches no live channel here: a replay must not hand over to live
    /// delivery before (see [`Hub::replay`]).
    reading: tokio::sync::watch::Sender<bool>,
}

impl Hub {
    /// A hub whose subscribers may each fall `buffer` events behind, deduplicating over
    /// `window` and keeping `retention` of history; shared between replicas through `redis`
    /// if given. Starts the Redis reader.
    pub fn new(
        buffer: usize,
        window: Duration,
        retention: Retention,
        redis: Option<&SecretString>,
    ) -> Result<Arc<Self>, String> {
        let (local, _) = broadcast::channel(buffer.max(1));
        let redis = redis
            .map(|url| {
                let client =
                    redis::Client::open(url.expose_secret()).map_err(|e| format!("REDIS_URL is invalid: {e}"))?;
                Ok::<_, String>(RedisLink {
                    client,
                    publisher: tokio::sync::Mutex::new(None),
                    up: Arc::new(AtomicBool::new(false)),
                    reading: tokio::sync::watch::Sender::new(false),
                })
            })
            .transpose()?;
        let ring = Mutex::new(Ring::new(retention));
        let hub = Arc::new(Self { local, redis, ring, retention, seen: Mutex::new(Seen::default()), window });
        if hub.redis.is_some() {
            metrics::gauge!("live_redis_up").set(0.0);
            tokio::spawn(read_stream(Arc::downgrade(&hub)));
        }
        Ok(hub)
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Delivered>> {
        self.local.subscribe()
    }

    /// Whether events can be handed off now (always, without Redis).
    /// Whether events outlive this process (they are in Redis, for every replica to replay).
    pub fn is_shared(&self) -> bool {
        self.redis.is_some()
    }

    pub fn is_up(&self) -> bool {
        self.redis.as_ref().is_none_or(|redis| redis.up.load(Ordering::Relaxed))
    }

    /// Publishes `event` once: `Ok` only once it is durably handed off (in Redis's stream, or
    /// in this process's channel without Redis).
    pub async fn publish(&self, event: Event) -> Result<Published, NotHandedOff> {
        let Some(redis) = &self.redis else {
            if !self.seen.lock().expect("seen lock").first_time(&event.id, self.window) {
                return Ok(Published::Duplicate);
            }
            let mut ring = self.ring.lock().expect("ring lock");
            let mut delivered = Delivered::new(event, ring.next_cursor());
            delivered.trace = spans::current_traceparent();
            ring.push(Arc::new(delivered.fresh()));
            // Sent while the ring is held, so subscribers receive events in cursor order.
            self.deliver(Arc::new(delivered));
            return Ok(Published::New);
        };
        let mut connection = redis.publisher().await.map_err(NotHandedOff)?;
        let seen_key = format!("{STREAM}:seen:{}", event.id);
        let mut set = redis::cmd("SET");
        set.arg(&seen_key).arg(1).arg("NX").arg("EX").arg(self.window.as_secs().max(1));
        let first: redis::RedisResult<Option<String>> = spans::redis("SET", set.query_async(&mut connection)).await;
        let first = first.map_err(|e| NotHandedOff(redis.failed(e)))?;
        if first.is_none() {
            return Ok(Published::Duplicate);
        }
        let body = serde_json::to_string(&event).expect("events serialise");
        // Trimmed to the retention as it grows, by count and by age (`~`: whole nodes only,
        // so a little more may be kept, never less).
        let oldest_kept = chrono::Utc::now().timestamp_millis() - self.retention.max_age.as_millis() as i64;
        let mut pipe = redis::pipe();
        pipe.cmd("XADD")
            .arg(STREAM)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.retention.max_events)
            .arg("*")
            .arg("event")
            .arg(body);
        // With traces on, the hand-off's trace context, so every replica's event spans join
        // the webhook's trace.
        if let Some(trace) = spans::current_traceparent() {
            pipe.arg(TRACE_FIELD).arg(trace.as_bytes());
        }
        pipe.cmd("XTRIM").arg(STREAM).arg("MINID").arg("~").arg(oldest_kept.max(0)).ignore();
        // One span for the pipeline, named by the command that publishes.
        let added: redis::RedisResult<(String,)> = spans::redis("XADD", pipe.query_async(&mut connection)).await;
        if let Err(error) = added {
            // Not published: forget it was seen, so Telnyx's retry publishes it.
            let _: redis::RedisResult<()> = connection.del(&seen_key).await;
            return Err(NotHandedOff(redis.failed(error)));
        }
        Ok(Published::New)
    }

    fn deliver(&self, delivered: Arc<Delivered>) {
        metrics::counter!("live_events_total", "type" => delivered.event.kind.event_type()).increment(1);
        // No receivers is not an error: nobody is subscribed right now.
        let _ = self.local.send(delivered);
    }

    /// Up to `count` events after `after` in the history, oldest first; empty once `after`
    /// is the newest. Each call reads one page, so a long replay holds one page at a time.
    pub async fn replay(&self, after: &Cursor, count: usize) -> Result<Vec<Arc<Delivered>>, ReplayError> {
        let Some(redis) = &self.redis else {
            return Ok(self.ring.lock().expect("ring lock").after(after, count)?);
        };
        // A replica just started reads the stream from its end once its reader connects: a
        // replay that ended before then would hand over to a live channel that never gets
        // what was added in between. So a replay waits for the reader's first connection.
        let mut reading = redis.reading.subscribe();
        match tokio::time::timeout(READER_WAIT, reading.wait_for(|reading| *reading)).await {
            Ok(Ok(_)) => {}
            _ => return Err(ReplayError::Unavailable),
        }
        let mut connection = redis.publisher().await.map_err(|_| ReplayError::Unavailable)?;
        let (epoch, page): (Option<String>, redis::streams::StreamRangeReply) = redis::pipe()
            .cmd("GET")
            .arg(EPOCH)
            .cmd("XRANGE")
            .arg(STREAM)
            .arg(format!("({}", after.position))
            .arg("+")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut connection)
            .await
            .map_err(|_| ReplayError::Unavailable)?;
        let Some(epoch) = epoch.filter(|epoch| **epoch == *after.epoch) else {
            return Err(Expired::OtherEpoch.into());
        };
        // Read after the page: Redis trims oldest first, so if the oldest entry it keeps now is
        // not after the cursor, the page read before missed nothing. (Whether entries between
        // a trimmed cursor and the oldest kept existed cannot be told, so that is expired too.)
        let info: HashMap<String, redis::Value> = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(STREAM)
            .query_async(&mut connection)
            .await
            .map_err(|_| ReplayError::Unavailable)?;
        let last = info.get("last-generated-id").and_then(entry_id);
        if last.is_none_or(|last| after.position > last) {
            return Err(Expired::Ahead.into());
        }
        let length = info.get("length").and_then(|v| redis::from_redis_value::<u64>(v.clone()).ok()).unwrap_or(0);
        let oldest = match info.get("first-entry") {
            Some(redis::Value::Array(entry)) => entry.first().and_then(entry_id),
            _ => None,
        };
        let continuous = match oldest {
            Some(oldest) => after.position >= oldest,
            // Nothing is kept: only a cursor at the very last entry missed nothing.
            None => length == 0 && last == Some(after.position),
        };
        if !continuous {
            return Err(Expired::Trimmed.into());
        }
        let epoch: Arc<str> = epoch.into();
        let events = page.ids.into_iter().filter_map(|entry| {
            let event = entry.get::<String>("event").and_then(|body| serde_json::from_str::<Event>(&body).ok())?;
            let position = Position::parse(&entry.id)?;
            Some(Arc::new(Delivered::new(event, Cursor { epoch: epoch.clone(), position }).traced(&entry)))
        });
        Ok(events.collect())
    }
}

impl RedisLink {
    async fn publisher(&self) -> Result<ConnectionManager, String> {
        let mut publisher = self.publisher.lock().await;
        if let Some(connection) = publisher.as_ref() {
            return Ok(connection.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1);
        let connection =
            ConnectionManager::new_with_config(self.client.clone(), config).await.map_err(|e| self.failed(e))?;
        *publisher = Some(connection.clone());
        Ok(connection)
    }

    fn failed(&self, error: redis::RedisError) -> String {
        tracing::warn!(%error, "Redis did not take a live event");
        error.to_string()
    }
}

/// Moves the stream's new entries into the local channel, for as long as the hub lives;
/// after losing Redis it retries every second and resumes after the last entry it saw.
async fn read_stream(hub: std::sync::Weak<Hub>) {
    let mut last_id = "$".to_owned();
    let mut connection: Option<redis::aio::MultiplexedConnection> = None;
    // The stream's epoch, read again on every connection (a restarted Redis may have a new one).
    let mut epoch: Arc<str> = "".into();
    loop {
        let Some(strong) = hub.upgrade() else { return };
        let Some(redis) = strong.redis.as_ref() else { return };
        let Some(conn) = connection.as_mut() else {
            // A blocking read waits up to BLOCK for an answer: redis-rs's default response
            // timeout (500 ms) would end every quiet one as a lost connection.
            let config = AsyncConnectionConfig::new().set_response_timeout(Some(BLOCK + Duration::from_secs(5)));
            let connected = async {
                let mut new = redis.client.get_multiplexed_async_connection_with_config(&config).await?;
                let read = stream_epoch(&mut new).await?;
                // The first time, start after whatever the stream holds now.
                let start = match last_id.as_str() {
                    "$" => Some(latest_id(&mut new).await?),
                    _ => None,
                };
                Ok::<_, redis::RedisError>((new, read, start))
            };
            match connected.await {
                Ok((new, read, start)) => {
                    connection = Some(new);
                    epoch = read;
                    if let Some(start) = start {
                        last_id = start;
                    }
                    set_up(redis, true);
                    redis.reading.send_replace(true);
                }
                Err(_) => {
                    set_up(redis, false);
                    drop(strong);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            continue;
        };
        let options = StreamReadOptions::default().block(BLOCK.as_millis() as usize).count(500);
        let reply: redis::RedisResult<Option<StreamReadReply>> =
            conn.xread_options(&[STREAM], &[last_id.as_str()], &options).await;
        match reply {
            Ok(reply) => {
                set_up(redis, true);
                for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                    last_id = entry.id.clone();
                    let event = entry.get::<String>("event").and_then(|body| serde_json::from_str::<Event>(&body).ok());
                    match (event, Position::parse(&entry.id)) {
                        (Some(event), Some(position)) => {
                            let cursor = Cursor { epoch: epoch.clone(), position };
                            strong.deliver(Arc::new(Delivered::new(event, cursor).traced(&entry)))
                        }
                        _ => tracing::warn!(id = %entry.id, "skipping an unreadable live event in Redis"),
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "lost the Redis stream of live events; resuming when it is back");
                set_up(redis, false);
                connection = None;
                drop(strong);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// A stream entry id in a Redis reply.
fn entry_id(value: &redis::Value) -> Option<Position> {
    match value {
        redis::Value::BulkString(bytes) => std::str::from_utf8(bytes).ok().and_then(Position::parse),
        redis::Value::SimpleString(text) => Position::parse(text),
        _ => None,
    }
}

/// The stream's epoch, set to a new one if Redis has none.
async fn stream_epoch(connection: &mut redis::aio::MultiplexedConnection) -> redis::RedisResult<Arc<str>> {
    let (_, epoch): (Option<String>, String) = redis::pipe()
        .cmd("SET")
        .arg(EPOCH)
        .arg(&*new_epoch())
        .arg("NX")
        .cmd("GET")
        .arg(EPOCH)
        .query_async(connection)
        .await?;
    Ok(epoch.into())
}

/// The id of the stream's newest entry, `0` when it is empty.
async fn latest_id(connection: &mut redis::aio::MultiplexedConnection) -> redis::RedisResult<String> {
    let reply: redis::streams::StreamRangeReply = connection.xrevrange_count(STREAM, "+", "-", 1).await?;
    Ok(reply.ids.first().map_or_else(|| "0".to_owned(), |entry| entry.id.clone()))
}

fn set_up(redis: &RedisLink, up: bool) {
    redis.up.store(up, Ordering::Relaxed);
    metrics::gauge!("live_redis_up").set(if up { 1.0 } else { 0.0 });
}

/// Event ids seen in this process within the window, bounded in number.
#[derive(Default)]
struct Seen {
    order: VecDeque<(Instant, String)>,
    ids: HashMap<String, Instant>,
}

/// At most this many ids are remembered; beyond it the oldest are forgotten first.
const MAX_SEEN: usize = 100_000;

impl Seen {
    /// Whether `id` is new (and remembers it).
    fn first_time(&mut self, id: &str, window: Duration) -> bool {
        let now = Instant::now();
        while let Some((at, old)) = self.order.front() {
            if now.duration_since(*at) < window && self.order.len() < MAX_SEEN {
                break;
            }
            if self.ids.get(old) == Some(at) {
                self.ids.remove(old);
            }
            self.order.pop_front();
        }
        if self.ids.contains_key(id) {
            return false;
        }
        self.ids.insert(id.to_owned(), now);
        self.order.push_back((now, id.to_owned()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETENTION: Retention = Retention { max_age: Duration::from_secs(3600), max_events: 1000 };

    fn event(id: &str) -> Event {
        Event::with_id(id)
    }

    #[tokio::test]
    async fn an_event_is_published_once_however_often_it_is_delivered() {
        let hub = Hub::new(16, Duration::from_secs(60), RETENTION, None).unwrap();
        let mut receiver = hub.subscribe();
        assert_eq!(hub.publish(event("a")).await.unwrap(), Published::New);
        assert_eq!(hub.publish(event("a")).await.unwrap(), Published::Duplicate);
        assert_eq!(hub.publish(event("b")).await.unwrap(), Published::New);
        assert_eq!(receiver.recv().await.unwrap().event.id, "a");
        assert_eq!(receiver.recv().await.unwrap().event.id, "b");
        assert!(receiver.try_recv().is_err());
    }

    #[test]
    fn the_window_and_the_bound_forget_old_ids() {
        let mut seen = Seen::default();
        assert!(seen.first_time("x", Duration::ZERO));
        assert!(seen.first_time("x", Duration::ZERO), "outside a zero window, seen again as new");
        let mut seen = Seen::default();
        for i in 0..MAX_SEEN + 10 {
            seen.first_time(&i.to_string(), Duration::from_secs(3600));
        }
        assert!(seen.ids.len() <= MAX_SEEN + 1);
    }

    #[tokio::test]
    async fn the_history_keeps_events_but_not_what_was_loaded_for_them() {
        let hub = Hub::new(2, Duration::from_secs(60), RETENTION, None).unwrap();
        let mut receiver = hub.subscribe();
        let loaded = |delivered: &Delivered| delivered.shared.lock().unwrap().len();
        for id in ["a", "b"] {
            hub.publish(event(id)).await.unwrap();
        }
        let a = receiver.recv().await.unwrap();
        let b = receiver.recv().await.unwrap();
        b.shared.lock().unwrap().insert("live".into(), Arc::new(()));
        let delivered_b = Arc::downgrade(&b);
        drop(b);
        // The channel moves on past "b"; the history still has it.
        for id in ["c", "d"] {
            hub.publish(event(id)).await.unwrap();
        }
        assert!(delivered_b.upgrade().is_none(), "what live delivery loaded goes once it is delivered");

        let replayed = hub.replay(&a.cursor, 10).await.unwrap();
        assert_eq!(replayed.iter().map(|d| d.event.id.as_str()).collect::<Vec<_>>(), ["b", "c", "d"]);
        assert_eq!(loaded(&replayed[0]), 0);
        replayed[1].shared.lock().unwrap().insert("replay".into(), Arc::new(()));
        let again = hub.replay(&a.cursor, 10).await.unwrap();
        assert_eq!(again.iter().map(|d| loaded(d)).collect::<Vec<_>>(), [0, 0, 0], "nor what a replay loaded");
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_the_buffer_is_told_so() {
        let hub = Hub::new(2, Duration::from_secs(60), RETENTION, None).unwrap();
        let mut slow = hub.subscribe();
        for id in ["1", "2", "3", "4"] {
            hub.publish(event(id)).await.unwrap();
        }
        assert!(matches!(slow.recv().await, Err(broadcast::error::RecvError::Lagged(2))));
    }
}
