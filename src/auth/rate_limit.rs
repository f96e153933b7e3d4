//! Rate limits (GCRA) on keys: callers, and the Telnyx key the deployment calls with.
//!
//! Each limiter counts in this process with `governor`, or, with `REDIS_URL`, in Redis with
//! the same algorithm in one Lua script (atomic, on Redis's clock), so every replica shares
//! one count. If Redis cannot be reached the limiter keeps deciding with its own counts (a
//! deployment keeps serving rather than failing closed), logs the change once, shows it in
//! `rate_limit_store_up` and tries Redis again at most once a second; `/ready` stays 200.

use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use crate::telemetry::spans;

/// A rate: `count` per `period`, with bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per period.
    pub count: NonZeroU32,
    /// The period.
    pub period: Duration,
    /// Requests allowed at once (defaults to `count`).
    pub burst: NonZeroU32,
}

impl Rate {
    /// The time one request's allowance takes to come back.
    fn interval(&self) -> Duration {
        self.period / self.count.get()
    }
}

impl FromStr for Rate {
    type Err = String;

    /// `600/min`, `20/s`, `1000/h`, optionally with `,burst=50`.
    fn from_str(text: &str) -> Result<Self, String> {
        let expected = || format!("`{text}` is not a rate such as `600/min`, `20/s` or `600/min,burst=50`");
        let (rate, burst) = match text.split_once(",burst=") {
            Some((rate, burst)) => (rate, Some(burst.trim().parse::<NonZeroU32>().map_err(|_| expected())?)),
            None => (text, None),
        };
        let (count, unit) = rate.trim().split_once('/').ok_or_else(expected)?;
        let count: NonZeroU32 = count.trim().parse().map_err(|_| expected())?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(expected()),
        };
        Ok(Self { count, period, burst: burst.unwrap_or(count) })
    }
}

/// Whether a request may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Yes.
    Allow,
    /// Not before this much time has passed.
    Wait(Duration),
}

/// GCRA in Redis: the key holds the theoretical arrival time (TAT) in microseconds on Redis's
/// clock. Allowed when the new TAT is within the burst tolerance; otherwise answers how long
/// to wait. The key expires once it no longer matters.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - tolerance - interval
if allow_at > now then
  return allow_at - now
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return 0
";

/// One limit over keys.
pub struct Limiter {
    name: &'static str,
    rate: Rate,
    local: DefaultKeyedRateLimiter<String>,
    shared: Option<Arc<Shared>>,
    checks: AtomicU64,
}

/// The Redis connection shared by the limiters of one process.
pub struct Shared {
    client: redis::Client,
    connection: Mutex<Option<ConnectionManager>>,
    /// When connecting last failed (ms since the process's clock started), to retry at most
    /// once a second.
    failed_at: AtomicU64,
    script: redis::Script,
    started: std::time::Instant,
}

impl Shared {
    /// A lazily connected Redis; an invalid URL is an error at start-up.
    pub fn new(url: &SecretString) -> Result<Arc<Self>, String> {
        let client = redis::Client::open(url.expose_secret()).map_err(|e| format!("REDIS_URL is invalid: {e}"))?;
        metrics::gauge!("rate_limit_store_up").set(0.0);
        Ok(Arc::new(Self {
            client,
            connection: Mutex::new(None),
            failed_at: AtomicU64::new(u64::MAX),
            script: redis::Script::new(GCRA),
            started: std::time::Instant::now(),
        }))
    }

    /// The connection, connecting if needed (not more than once a second after a failure).
    async fn connection(&self) -> Option<ConnectionManager> {
        let mut connection = self.connection.lock().await;
        if let Some(connection) = connection.as_ref() {
            return Some(connection.clone());
        }
        let now = self.started.elapsed().as_millis() as u64;
        let failed_at = self.failed_at.load(Ordering::Relaxed);
        if failed_at != u64::MAX && now.saturating_sub(failed_at) < 1_000 {
            return None;
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1);
        match ConnectionManager::new_with_config(self.client.clone(), config).await {
            Ok(manager) => {
                tracing::info!("rate limits are shared through Redis");
                metrics::gauge!("rate_limit_store_up").set(1.0);
                *connection = Some(manager.clone());
                Some(manager)
            }
            Err(error) => {
                if failed_at == u64::MAX {
                    tracing::warn!(%error, "Redis is unreachable; rate limits count in this process until it is back");
                }
                self.failed_at.store(now.max(1), Ordering::Relaxed);
                None
            }
        }
    }

    /// Runs the GCRA script for `key`; `None` if Redis did not answer.
    async fn decide(&self, key: &str, rate: &Rate) -> Option<Decision> {
        let mut connection = self.connection().await?;
        let interval = rate.interval().as_micros() as u64;
        let tolerance = interval * u64::from(rate.burst.get() - 1);
        let mut invocation = self.script.key(key);
        invocation.arg(interval).arg(tolerance);
        let result: redis::RedisResult<u64> = spans::redis("EVALSHA", invocation.invoke_async(&mut connection)).await;
        match result {
            Ok(0) => {
                metrics::gauge!("rate_limit_store_up").set(1.0);
                Some(Decision::Allow)
            }
            Ok(wait) => Some(Decision::Wait(Duration::from_micros(wait))),
            Err(error) => {
                metrics::gauge!("rate_limit_store_up").set(0.0);
                tracing::warn!(%error, "Redis did not answer a rate-limit check; counting in this process");
                if error.is_connection_dropped() || error.is_io_error() || error.is_timeout() {
                    *self.connection.lock().await = None;
                    self.failed_at.store((self.started.elapsed().as_millis() as u64).max(1), Ordering::Relaxed);
                }
                None
            }
        }
    }
}

impl Limiter {
    /// A limiter named `name` (in metrics and Redis keys) at `rate`, shared if `shared`.
    pub fn new(name: &'static str, rate: Rate, shared: Option<Arc<Shared>>) -> Self {
        let quota = Quota::with_period(rate.interval()).unwrap_or_else(|| Quota::per_second(rate.count));
        let local = DefaultKeyedRateLimiter::keyed(quota.allow_burst(rate.burst));
        Self { name, rate, local, shared, checks: AtomicU64::new(0) }
    }

    /// Takes one request from `key`'s allowance, or says how long to wait for it. Keys are
    /// hashed before they reach Redis, so no credential is stored there.
    pub async fn check(&self, key: &str) -> Decision {
        if let Some(shared) = &self.shared {
            let redis_key = format!("trg:rl:{}:{}", self.name, super::sha256_hex(key));
            if let Some(decision) = shared.decide(&redis_key, &self.rate).await {
                return self.count(decision);
            }
        }
        // Forget idle keys now and then, so memory follows the number of active callers.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.local.retain_recent();
        }
        let decision = match self.local.check_key(&key.to_owned()) {
            Ok(()) => Decision::Allow,
            Err(not_until) => Decision::Wait(not_until.wait_time_from(DefaultClock::default().now())),
        };
        self.count(decision)
    }

    fn count(&self, decision: Decision) -> Decision {
        if let Decision::Wait(_) = decision {
            metrics::counter!("rate_limited_total", "limit" => self.name).increment(1);
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_read_as_written() {
        let rate: Rate = "600/min".parse().unwrap();
        assert_eq!((rate.count.get(), rate.period, rate.burst.get()), (600, Duration::from_secs(60), 600));
        assert_eq!(rate.interval(), Duration::from_millis(100));
        let rate: Rate = "20/s,burst=5".parse().unwrap();
        assert_eq!((rate.count.get(), rate.burst.get()), (20, 5));
        for bad in ["", "600", "0/min", "10/week", "10/min,burst=0", "x/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_key_gets_its_burst_then_waits_while_other_keys_are_unaffected() {
        let limiter = Limiter::new("test", "2/min".parse().unwrap(), None);
        assert_eq!(limiter.check("a").await, Decision::Allow);
        assert_eq!(limiter.check("a").await, Decision::Allow);
        let Decision::Wait(wait) = limiter.check("a").await else { panic!("a third request in a minute") };
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30), "{wait:?}");
        assert_eq!(limiter.check("b").await, Decision::Allow);
    }
}
