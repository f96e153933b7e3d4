//! What the streaming transports ([`super::ws`], [`super::sse`]) share: who the subscriber
//! is (checked once, when it connects), the data each of its operations runs with, and the
//! bound on connections per caller.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::auth::{sha256_hex, AuthError, Caller, READ_SCOPE, WRITE_SCOPE};
use crate::error::AppError;
use crate::schema::{EventUpstreams, Frame, RequestPolicy, RoomScope, Streaming};
use crate::telnyx::Credential;

use super::admission::caller_key;
use super::{upstream_access, AppState};

/// Bounds on streaming connections.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Operations one WebSocket connection may run at once.
    pub subscriptions_per_connection: usize,
    /// Streaming connections (WebSocket and SSE) one caller may hold at once.
    pub connections_per_caller: usize,
    /// Seconds a WebSocket may take to send `connection_init`.
    pub init_timeout: std::time::Duration,
    /// How often the server pings (WebSocket) or sends a comment (SSE).
    pub keepalive: std::time::Duration,
}

/// A caller that passed authentication on a streaming transport.
pub struct Subscriber {
    state: Arc<AppState>,
    caller: Option<Caller>,
    read: Result<Credential, AppError>,
    write: Result<Credential, AppError>,
    /// A digest of the credential reads go with, so events' loads are shared only between
    /// subscribers who read with the same one.
    credential_key: String,
    /// Counts this connection against its caller until dropped.
    _slot: ConnectionSlot,
}

/// Why a streaming caller was turned away.
pub enum Refusal {
    /// The token failed a check (the message says which, never the token).
    Auth(AuthError),
    /// The caller may not read at all (no credential, or no `video:read`).
    Access(AppError),
    /// The caller holds too many streaming connections.
    TooManyConnections(usize),
}

impl Refusal {
    /// What to tell the caller.
    pub fn message(&self) -> String {
        match self {
            Refusal::Auth(error) => error.to_string(),
            Refusal::Access(error) => error.to_string(),
            Refusal::TooManyConnections(max) => format!("at most {max} streaming connections per caller"),
        }
    }
}

impl Subscriber {
    /// Authenticates a streaming caller presenting `authorization` (if any), as a request
    /// would be, and counts its connection.
    pub async fn admit(
        state: &Arc<AppState>,
        authorization: Option<&str>,
        peer: Option<IpAddr>,
    ) -> Result<Self, Refusal> {
        let caller = state.auth.caller(authorization).await.map_err(Refusal::Auth)?;
        // A token from `connection_init` must be one a header could carry.
        let header = authorization.map(http::HeaderValue::from_str).transpose();
        let header = header.map_err(|_| Refusal::Access(AppError::Unauthenticated))?;
        let access = |scope| upstream_access(caller.as_ref(), header.as_ref(), state.api_key.as_ref(), scope);
        let (read, write) = (access(READ_SCOPE), access(WRITE_SCOPE));
        let readable = read.clone().map_err(Refusal::Access)?;
        let credential_key = sha256_hex(readable.header_value().as_bytes());
        let key = caller_key(caller.as_ref(), authorization, peer);
        let slot = state.streams.acquire(key, state.stream_limits.connections_per_caller)?;
        Ok(Self { state: state.clone(), caller, read, write, credential_key, _slot: slot })
    }

    /// When the caller's token expires (Unix seconds), if it does.
    pub fn expires_at(&self) -> Option<i64> {
        self.caller.as_ref().map(|caller| caller.expires_at)
    }

    /// The data one operation of this subscriber runs with, and what the executor needs to
    /// know of it to stream its results.
    pub fn data(&self) -> (async_graphql::Data, Streaming) {
        let mut data = async_graphql::Data::default();
        let limits = &self.state.limits;
        let upstreams = Arc::new(EventUpstreams::new(
            self.state.client.clone(),
            self.read.clone(),
            self.write.clone(),
            self.credential_key.clone(),
            limits.deadline,
            limits.max_upstream_requests,
        ));
        data.insert(upstreams.clone());
        data.insert(self.state.hub.clone());
        let rooms = self.caller.as_ref().and_then(|c| c.rooms.as_deref());
        data.insert(RoomScope::new(rooms));
        // Who the operation reads as: the credential (as a digest) and the rooms it may see.
        let mut rooms: Vec<String> = rooms.unwrap_or_default().iter().map(ToString::to_string).collect();
        rooms.sort_unstable();
        let scoped = self.caller.as_ref().is_some_and(|c| c.rooms.is_some());
        let audience = format!("{}|{scoped}|{}", self.credential_key, rooms.join(","));
        (data, Streaming { upstreams, audience })
    }

    /// The policy streaming operations run under.
    pub fn policy(&self) -> RequestPolicy {
        RequestPolicy { mutations: true, federation_sdl: false, streams: true }
    }

    /// The service's state.
    pub fn state(&self) -> &AppState {
        &self.state
    }
}

/// Streaming connections held, by caller.
#[derive(Debug, Default)]
pub struct Connections(Arc<Mutex<HashMap<String, usize>>>);

impl Clone for Connections {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// One connection counted against its caller, until dropped.
pub struct ConnectionSlot {
    connections: Connections,
    key: String,
}

impl Connections {
    fn acquire(&self, key: String, max: usize) -> Result<ConnectionSlot, Refusal> {
        let mut held = self.0.lock().expect("connections lock");
        let count = held.entry(key.clone()).or_insert(0);
        if *count >= max {
            return Err(Refusal::TooManyConnections(max));
        }
        *count += 1;
        metrics::gauge!("live_connections").increment(1.0);
        Ok(ConnectionSlot { connections: self.clone(), key })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut held = self.connections.0.lock().expect("connections lock");
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
        metrics::gauge!("live_connections").decrement(1.0);
    }
}

/// A future that resolves when `expires_at` (Unix seconds) passes; never without one.
pub async fn expiry(expires_at: Option<i64>) {
    match expires_at {
        Some(at) => {
            let left = (at - chrono::Utc::now().timestamp()).max(0) as u64;
            tokio::time::sleep(std::time::Duration::from_secs(left)).await;
        }
        None => std::future::pending().await,
    }
}

/// A future that resolves when shutdown begins.
pub async fn shutdown(mut closing: tokio::sync::watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await;
}

/// Records how long an event took from reaching this process to being written to a
/// subscriber (`live_delivery_seconds`), once its frame is out.
pub fn delivered(frame: &Frame) {
    if let Some(received) = frame.received {
        metrics::histogram!("live_delivery_seconds").record(received.elapsed());
    }
}
