//! GraphQL over WebSocket: the `graphql-transport-ws` protocol (graphql-ws's
//! `PROTOCOL.md`) on `GET /graphql` with `Upgrade: websocket`.
//!
//! Written here rather than taken from async-graphql-axum, whose implementation closes with
//! codes the protocol does not define (1002, 1011, 3008), has no `connection_init` timeout,
//! and offers no hook to bound subscriptions per connection or to end a connection when its
//! token expires. The protocol is small; each rule below is the spec's:
//! - `connection_init` within the timeout, else close 4408; a second one closes 4429; a
//!   refused one (bad token, no read access) closes 4403 saying which check failed; too many
//!   connections for the caller closes 4429 too.
//! - `subscribe` before `connection_ack` closes 4401; a second one with an id in use closes
//!   4409; an unreadable message closes 4400.
//! - Each operation streams `next` messages and ends with `complete`; one refused before it
//!   runs (validation, limits) gets one `error` instead. Over the per-connection bound, a
//!   `subscribe` gets `error` and the others carry on.
//! - The server pings every keep-alive interval (clients answer `pong`) and answers pings.
//! - The token's expiry closes the connection (4403), as does shutdown (1001).
//!
//! One addition, which clients that do not know it never trigger: `connection_init`'s payload
//! may carry `resume`, a map from operation id to the last `cursor` the client received for
//! it. graphql-ws's client re-sends each `subscribe` with the same id when it reconnects and
//! evaluates `connectionParams` anew each time, so a small helper there resumes every
//! subscription after its last event (see docs/live.md).

use std::net::IpAddr;
use std::time::Duration;

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response as HttpResponse;
use futures::stream::{BoxStream, StreamExt};
use serde_json::{json, Value};
use tokio_stream::StreamMap;

use super::admission::admit;
use super::stream::{delivered, expiry, shutdown, Refusal, Subscriber};
use super::AppState;
use crate::schema::Frame;

/// The only subprotocol served.
pub const PROTOCOL: &str = "graphql-transport-ws";

/// The largest message a client may send (a `subscribe` carries one document, bounded like a
/// request body).
const MAX_CLIENT_MESSAGE_BYTES: usize = 256 * 1024;

/// Whether a browser page of `Origin` may open the socket: pages of this service itself (its
/// own GraphiQL) and of `CORS_ALLOWED_ORIGINS`. Browsers let any site open a WebSocket to any
/// host, with no CORS and no preflight, so without this check any website a user visits could
/// run operations with the server's key (cross-site WebSocket hijacking). Clients that are not
/// browsers send no `Origin` and are not affected.
fn origin_allowed(headers: &HeaderMap, allowed: &[axum::http::HeaderValue]) -> bool {
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else { return true };
    if allowed.contains(origin) {
        return true;
    }
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.to_str().ok().and_then(|o| o.split_once("://")).map(|(_, host)| host);
    host.is_some() && host == origin_host
}

/// Upgrades to a WebSocket speaking `graphql-transport-ws`.
pub fn upgrade(state: Arc<AppState>, headers: &HeaderMap, peer: Option<IpAddr>, ws: WebSocketUpgrade) -> HttpResponse {
    if *state.closing.borrow() {
        return super::media::draining();
    }
    if !origin_allowed(headers, &state.allowed_origins) {
        metrics::counter!("live_refused_total", "reason" => "origin").increment(1);
        let message = "this page's origin may not open a WebSocket here; see CORS_ALLOWED_ORIGINS";
        return super::media::request_error(
            axum::http::StatusCode::FORBIDDEN,
            "FORBIDDEN",
            message,
            super::Media::Json,
        );
    }
    // A token in the upgrade request is used when `connection_init` carries none (non-browser
    // clients can send headers; browsers cannot).
    let authorization = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    // Small buffers: a connection mostly idles, and tungstenite's defaults (128 KiB to read,
    // 128 KiB to batch writes) made each subscriber cost about 150 KiB. Frames are written as
    // they come; a client's messages (init, subscribe) are small.
    let ws = ws
        .protocols([PROTOCOL])
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_frame_size(MAX_CLIENT_MESSAGE_BYTES);
    let offered = ws.selected_protocol().is_some();
    let upgraded = state.upgraded.clone();
    ws.on_upgrade(move |socket| {
        upgraded.track_future(async move {
            if !offered {
                close(socket, 4406, "Subprotocol not acceptable: use graphql-transport-ws").await;
                return;
            }
            Connection::new(state, authorization, peer).run(socket).await;
        })
    })
}

async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame { code, reason: Utf8Bytes::from(reason.to_owned()) };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// One operation's next result, or its end (`None`).
type Results = BoxStream<'static, Option<Arc<Frame>>>;

struct Connection {
    state: Arc<AppState>,
    header_authorization: Option<String>,
    peer: Option<IpAddr>,
    subscriber: Option<Subscriber>,
    operations: StreamMap<String, Results>,
    /// Whether the operation with this id has produced a result yet.
    started: std::collections::HashSet<String>,
    /// From `connection_init`: the cursor each operation id resumes after, used once.
    resume: std::collections::HashMap<String, String>,
}

/// Why the loop ends: the close frame to send, if any.
type Closing = Option<(u16, String)>;

impl Connection {
    fn new(state: Arc<AppState>, header_authorization: Option<String>, peer: Option<IpAddr>) -> Self {
        Self {
            state,
            header_authorization,
            peer,
            subscriber: None,
            operations: StreamMap::new(),
            started: Default::default(),
            resume: Default::default(),
        }
    }

    async fn run(mut self, mut socket: WebSocket) {
        let limits = self.state.stream_limits;
        let init_deadline = tokio::time::sleep(limits.init_timeout);
        tokio::pin!(init_deadline);
        let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + limits.keepalive, limits.keepalive);
        let shutdown = shutdown(self.state.closing.clone());
        tokio::pin!(shutdown);
        // The token's expiry, once `connection_init` has admitted one: one timer for the
        // connection, not a new one registered and dropped for every message and frame.
        let mut token_expiry: futures::future::BoxFuture<'static, ()> = Box::pin(std::future::pending());
        let mut expiry_armed = false;
        let closing_reason: Closing = loop {
            if !expiry_armed {
                if let Some(expires_at) = self.subscriber.as_ref().and_then(Subscriber::expires_at) {
                    token_expiry = Box::pin(expiry(Some(expires_at)));
                    expiry_armed = true;
                }
            }
            tokio::select! {
                message = socket.recv() => match message {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(reason) = self.on_message(&mut socket, text.as_str()).await {
                            break Some(reason);
                        }
                    }
                    Some(Ok(Message::Binary(_))) => break Some((4400, "binary messages are not part of the protocol".into())),
                    Some(Ok(Message::Close(_))) => {
                        // The library queued the closing handshake's reply; send it before going.
                        let _ = futures::SinkExt::flush(&mut socket).await;
                        break None;
                    }
                    None | Some(Err(_)) => break None,
                    Some(Ok(_)) => {}
                },
                () = &mut init_deadline, if self.subscriber.is_none() => {
                    break Some((4408, "Connection initialisation timeout".into()));
                }
                Some((id, result)) = self.operations.next(), if !self.operations.is_empty() => {
                    if !self.on_result(&mut socket, id, result).await {
                        break None;
                    }
                }
                _ = keepalive.tick() => {
                    if send(&mut socket, json!({ "type": "ping" })).await.is_err() {
                        break None;
                    }
                }
                () = &mut token_expiry => {
                    break Some((4403, "Forbidden: the token has expired".into()));
                }
                () = &mut shutdown => break Some((1001, "the server is shutting down".into())),
            }
        };
        metrics::gauge!("live_subscriptions").decrement(self.operations.len() as f64);
        if let Some((code, reason)) = closing_reason {
            close(socket, code, &reason).await;
        }
    }

    /// Handles one client message; `Some` closes the connection.
    async fn on_message(&mut self, socket: &mut WebSocket, text: &str) -> Closing {
        let Ok(message) = serde_json::from_str::<Value>(text) else {
            return Some((4400, "the message is not JSON".into()));
        };
        let kind = message.get("type").and_then(Value::as_str).unwrap_or_default();
        match kind {
            "connection_init" => {
                if self.subscriber.is_some() {
                    return Some((4429, "Too many initialisation requests".into()));
                }
                let payload = message.get("payload").unwrap_or(&Value::Null);
                let authorization = authorization_in(payload).or(self.header_authorization.clone());
                match Subscriber::admit(&self.state, authorization.as_deref(), self.peer).await {
                    Ok(subscriber) => {
                        self.subscriber = Some(subscriber);
                        self.resume = resume_in(payload, self.state.stream_limits.subscriptions_per_connection);
                        send(socket, json!({ "type": "connection_ack" })).await.err().map(|_| (1011, String::new()))
                    }
                    Err(Refusal::TooManyConnections(max)) => Some((4429, Refusal::TooManyConnections(max).message())),
                    Err(refusal) => Some((4403, format!("Forbidden: {}", refusal.message()))),
                }
            }
            "ping" => send(socket, json!({ "type": "pong" })).await.err().map(|_| (1011, String::new())),
            "pong" => None,
            "subscribe" => self.subscribe(socket, &message).await,
            "complete" => {
                if let Some(id) = message.get("id").and_then(Value::as_str) {
                    if self.operations.remove(id).is_some() {
                        self.started.remove(id);
                        metrics::gauge!("live_subscriptions").decrement(1.0);
                    }
                }
                None
            }
            _ => Some((4400, format!("unknown message type `{kind}`"))),
        }
    }

    async fn subscribe(&mut self, socket: &mut WebSocket, message: &Value) -> Closing {
        let Some(subscriber) = &self.subscriber else { return Some((4401, "Unauthorized".into())) };
        let Some(id) = message.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()) else {
            return Some((4400, "`subscribe` needs an `id`".into()));
        };
        if self.operations.contains_key(id) {
            return Some((4409, format!("Subscriber for {id} already exists")));
        }
        let Some(mut request) =
            message.get("payload").and_then(|p| serde_json::from_value::<async_graphql::Request>(p.clone()).ok())
        else {
            return Some((4400, "`subscribe` needs a GraphQL request as its payload".into()));
        };
        // Trusted documents hold on every transport.
        if let Err((code, message)) = admit(self.state.trusted_documents.as_deref(), &mut request, None) {
            let error = json!([{ "message": message, "extensions": { "code": code } }]);
            let refused = send(socket, json!({ "type": "error", "id": id, "payload": error })).await;
            return refused.err().map(|_| (1011, String::new()));
        }
        let max = self.state.stream_limits.subscriptions_per_connection;
        if self.operations.len() >= max {
            let error = json!([{
                "message": format!("at most {max} operations may run at once on one connection"),
                "extensions": { "code": "TOO_MANY_SUBSCRIPTIONS" },
            }]);
            let refused = send(socket, json!({ "type": "error", "id": id, "payload": error })).await;
            return refused.err().map(|_| (1011, String::new()));
        }
        let streaming;
        (request.data, streaming) = subscriber.data();
        if let Some(cursor) = self.resume.remove(id) {
            request.data.insert(crate::schema::ResumeAfter(cursor));
        }
        let results = subscriber.state().executor.execute_stream(request, subscriber.policy(), streaming).await;
        self.operations.insert(id.to_owned(), results.map(Some).chain(futures::stream::iter([None])).boxed());
        metrics::gauge!("live_subscriptions").increment(1.0);
        None
    }

    /// Sends an operation's result or end; false if the socket is gone.
    async fn on_result(&mut self, socket: &mut WebSocket, id: String, result: Option<Arc<Frame>>) -> bool {
        // Ids are the client's: written as JSON strings into the shared frame's envelope.
        let quoted = serde_json::to_string(&id).unwrap_or_default();
        let message = match result {
            None => {
                self.operations.remove(&id);
                metrics::gauge!("live_subscriptions").decrement(1.0);
                if !self.started.remove(&id) {
                    // It ended having sent `error` (or nothing at all): no `complete` after `error`.
                    return true;
                }
                format!(r#"{{"type":"complete","id":{quoted}}}"#)
            }
            Some(frame) => {
                let first = self.started.insert(id.clone());
                match (&frame.refused, first) {
                    // Refused before it ran (validation, limits): one `error`, and the operation
                    // is over. Errors while running (e.g. the room does not exist) are results:
                    // `next`, then `complete`, as graphql-ws's own server does and as gateways
                    // pass them on.
                    (Some(errors), true) => {
                        self.started.remove(&id);
                        self.operations.remove(&id);
                        metrics::gauge!("live_subscriptions").decrement(1.0);
                        format!(r#"{{"type":"error","id":{quoted},"payload":{errors}}}"#)
                    }
                    _ => {
                        let next = format!(r#"{{"type":"next","id":{quoted},"payload":{}}}"#, frame.json);
                        let sent = send_text(socket, next).await.is_ok();
                        if sent {
                            delivered(&frame);
                        }
                        return sent;
                    }
                }
            }
        };
        send_text(socket, message).await.is_ok()
    }
}

/// The token a `connection_init` payload carries: `Authorization` (any case), directly or
/// under `headers`, as graphql-ws clients' `connectionParams` put it.
fn authorization_in(payload: &Value) -> Option<String> {
    let find = |object: &Value| {
        object
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_owned)
    };
    find(payload).or_else(|| payload.get("headers").and_then(find))
}

/// The cursors a `connection_init` payload asks operations to resume after (`resume`: operation
/// id to cursor), at most `max` of them; anything else in it is ignored.
fn resume_in(payload: &Value, max: usize) -> std::collections::HashMap<String, String> {
    let Some(resume) = payload.get("resume").and_then(Value::as_object) else { return Default::default() };
    let cursors = resume.iter().filter_map(|(id, cursor)| Some((id.clone(), cursor.as_str()?.to_owned())));
    cursors.filter(|(_, cursor)| cursor.len() <= 256).take(max).collect()
}

async fn send(socket: &mut WebSocket, message: Value) -> Result<(), axum::Error> {
    send_text(socket, message.to_string()).await
}

/// Sends a message already written as JSON.
async fn send_text(socket: &mut WebSocket, message: String) -> Result<(), axum::Error> {
    tokio::time::timeout(Duration::from_secs(30), socket.send(Message::Text(Utf8Bytes::from(message))))
        .await
        .unwrap_or_else(|_| Err(axum::Error::new("the client did not read for 30 s")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_service_s_own_pages_and_allowed_origins_may_open_a_socket() {
        let headers = |origin: Option<&str>| {
            let mut headers = HeaderMap::new();
            headers.insert("host", "rooms.example:8000".parse().unwrap());
            if let Some(origin) = origin {
                headers.insert("origin", origin.parse().unwrap());
            }
            headers
        };
        let allowed = ["https://app.example".parse().unwrap()];
        assert!(origin_allowed(&headers(None), &allowed), "not a browser");
        assert!(origin_allowed(&headers(Some("http://rooms.example:8000")), &allowed), "its own GraphiQL");
        assert!(origin_allowed(&headers(Some("https://app.example")), &allowed));
        assert!(!origin_allowed(&headers(Some("https://evil.example")), &allowed));
        assert!(!origin_allowed(&headers(Some("http://rooms.example:8001")), &allowed));
        assert!(!origin_allowed(&headers(Some("null")), &allowed));
    }

    #[test]
    fn the_token_is_found_where_graphql_ws_clients_put_it() {
        assert_eq!(authorization_in(&json!({ "Authorization": "Bearer a" })).as_deref(), Some("Bearer a"));
        assert_eq!(authorization_in(&json!({ "authorization": "Bearer b" })).as_deref(), Some("Bearer b"));
        assert_eq!(
            authorization_in(&json!({ "headers": { "Authorization": "Bearer c" } })).as_deref(),
            Some("Bearer c")
        );
        assert_eq!(authorization_in(&Value::Null), None);
    }

    #[test]
    fn resume_cursors_are_read_by_operation_id_and_bounded() {
        let payload = json!({ "Authorization": "x", "resume": { "1": "c1", "2": 7, "3": "x".repeat(300) } });
        assert_eq!(resume_in(&payload, 20), [("1".to_owned(), "c1".to_owned())].into());
        let many: serde_json::Map<String, Value> = (0..50).map(|i| (i.to_string(), json!("c"))).collect();
        assert_eq!(resume_in(&json!({ "resume": many }), 20).len(), 20);
        assert!(resume_in(&json!({ "resume": "all" }), 20).is_empty());
    }
}
