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

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::AsyncCommands;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::broadcast;

use super::event::Event;

/// The Redis stream events go through.
const STREAM: &str = "telnyx-rooms-graphql:events";
/// Entries the stream keeps (approximately): enough for a replica to catch up after a
/// restart of Redis or of its connection, bounded so the stream never grows without end.
const STREAM_MAX_LEN: usize = 100_000;
/// How long one `XREAD` waits for new entries before asking again.
const BLOCK: Duration = Duration::from_secs(5);

/// An event as subscribers receive it.
#[derive(Debug)]
pub struct Delivered {
    /// The event.
    pub event: Event,
    /// When it reached this process's fan-out (for `live_delivery_seconds`).
    pub received: Instant,
    /// Per-event state the subscriptions share (see `schema::subscription`); `Any` so this
    /// module knows nothing of GraphQL.
    pub shared: Mutex<HashMap<String, Arc<dyn std::any::Any + Send + Sync>>>,
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
}

impl Hub {
    /// A hub whose subscribers may each fall `buffer` events behind, deduplicating over
    /// `window`; shared between replicas through `redis` if given. Starts the Redis reader.
    pub fn new(buffer: usize, window: Duration, redis: Option<&SecretString>) -> Result<Arc<Self>, String> {
        let (local, _) = broadcast::channel(buffer.max(1));
        let redis = redis
            .map(|url| {
                let client =
                    redis::Client::open(url.expose_secret()).map_err(|e| format!("REDIS_URL is invalid: {e}"))?;
                Ok::<_, String>(RedisLink {
                    client,
                    publisher: tokio::sync::Mutex::new(None),
                    up: Arc::new(AtomicBool::new(false)),
                })
            })
            .transpose()?;
        let hub = Arc::new(Self { local, redis, seen: Mutex::new(Seen::default()), window });
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
            self.deliver(event);
            return Ok(Published::New);
        };
        let mut connection = redis.publisher().await.map_err(NotHandedOff)?;
        let seen_key = format!("{STREAM}:seen:{}", event.id);
        let first: Option<String> = redis::cmd("SET")
            .arg(&seen_key)
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(self.window.as_secs().max(1))
            .query_async(&mut connection)
            .await
            .map_err(|e| NotHandedOff(redis.failed(e)))?;
        if first.is_none() {
            return Ok(Published::Duplicate);
        }
        let body = serde_json::to_string(&event).expect("events serialise");
        let added: redis::RedisResult<String> = connection
            .xadd_maxlen(STREAM, redis::streams::StreamMaxlen::Approx(STREAM_MAX_LEN), "*", &[("event", body)])
            .await;
        if let Err(error) = added {
            // Not published: forget it was seen, so Telnyx's retry publishes it.
            let _: redis::RedisResult<()> = connection.del(&seen_key).await;
            return Err(NotHandedOff(redis.failed(error)));
        }
        Ok(Published::New)
    }

    fn deliver(&self, event: Event) {
        metrics::counter!("live_events_total", "type" => event.kind.event_type()).increment(1);
        // No receivers is not an error: nobody is subscribed right now.
        let _ = self.local.send(Arc::new(Delivered { event, received: Instant::now(), shared: Mutex::default() }));
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
    loop {
        let Some(strong) = hub.upgrade() else { return };
        let Some(redis) = strong.redis.as_ref() else { return };
        let Some(conn) = connection.as_mut() else {
            match redis.client.get_multiplexed_async_connection().await {
                Ok(new) => {
                    connection = Some(new);
                    if last_id == "$" {
                        // Start after whatever the stream holds now.
                        last_id = latest_id(connection.as_mut().expect("just set")).await.unwrap_or_else(|| "0".into());
                    }
                    set_up(redis, true);
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
                    match event {
                        Some(event) => strong.deliver(event),
                        None => tracing::warn!(id = %entry.id, "skipping an unreadable live event in Redis"),
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

async fn latest_id(connection: &mut redis::aio::MultiplexedConnection) -> Option<String> {
    let reply: redis::streams::StreamRangeReply = connection.xrevrange_count(STREAM, "+", "-", 1).await.ok()?;
    reply.ids.first().map(|entry| entry.id.clone())
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
    use crate::live::event::Kind;

    fn event(id: &str) -> Event {
        Event {
            id: id.into(),
            kind: Kind::SessionStarted,
            occurred_at: None,
            room_id: None,
            session_id: None,
            participant_id: None,
            context: None,
            duration_secs: None,
            reason: None,
        }
    }

    #[tokio::test]
    async fn an_event_is_published_once_however_often_it_is_delivered() {
        let hub = Hub::new(16, Duration::from_secs(60), None).unwrap();
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
    async fn a_subscriber_that_falls_behind_the_buffer_is_told_so() {
        let hub = Hub::new(2, Duration::from_secs(60), None).unwrap();
        let mut slow = hub.subscribe();
        for id in ["1", "2", "3", "4"] {
            hub.publish(event(id)).await.unwrap();
        }
        assert!(matches!(slow.recv().await, Err(broadcast::error::RecvError::Lagged(2))));
    }
}
