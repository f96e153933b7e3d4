//! GraphQL over Server-Sent Events, the `graphql-sse` protocol's distinct connections mode:
//! a `POST` (or `GET`, the request in the query string) to `/graphql` streams its results as
//! `next` events and ends with `complete`, for networks that block WebSockets. Any operation
//! streams when the client prefers `text/event-stream` to JSON (graphql-sse's client, a
//! browser's `EventSource`); only a subscription does when it merely accepts it (urql), so
//! queries stay plain, cacheable JSON (see [`super::media::Stream`]). The caller
//! authenticates with its request's `Authorization`, exactly as a query does; a comment keeps
//! idle connections open.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::StreamExt;

use super::admission::{admit, unauthenticated};
use super::media::{request_error, Media};
use super::stream::{delivered, expiry, shutdown, Refusal, Subscriber};
use super::AppState;
use crate::schema::{RequestPolicy, ResumeAfter};

/// Streams one operation's results: `request` is the POST body's, or the GET query string's
/// (`post` false: mutations are then refused, as for any GET); `id` the persisted document
/// it names, if any. Its future is a few KB: callers box it, so JSON requests need not carry it.
pub async fn serve(
    state: Arc<AppState>,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    request: Result<async_graphql::Request, String>,
    id: Option<String>,
    post: bool,
) -> Response {
    let media = Media::Json;
    if *state.closing.borrow() {
        return super::media::draining();
    }
    let mut request = match request {
        Ok(request) => request,
        Err(message) => return request_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message, media),
    };
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let subscriber = match Subscriber::admit(&state, authorization, peer).await {
        Ok(subscriber) => subscriber,
        Err(Refusal::Auth(error)) => return unauthenticated(&error, media),
        Err(refusal @ Refusal::Access(_)) => {
            return request_error(StatusCode::FORBIDDEN, "FORBIDDEN", &refusal.message(), media);
        }
        Err(refusal @ Refusal::TooManyConnections(_)) => {
            return request_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", &refusal.message(), media);
        }
    };
    if let Err((code, message)) = admit(state.trusted_documents.as_deref(), &mut request, id) {
        return request_error(StatusCode::BAD_REQUEST, code, &message, media);
    }
    let streaming;
    (request.data, streaming) = subscriber.data();
    // A reconnecting client (a browser's `EventSource` by itself, graphql-sse's client through
    // its `headers`) names the last event it received.
    if let Some(last) = headers.get("last-event-id").and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()) {
        request.data.insert(ResumeAfter(last.to_owned()));
    }
    let policy = RequestPolicy { mutations: post, ..subscriber.policy() };
    let results = state.executor.execute_stream(request, policy, streaming).await;
    let closing = state.closing.clone();
    let expires_at = subscriber.expires_at();
    let held = (subscriber, Counted::new());
    let events = results
        // When the token expires the stream is complete; shutdown just closes the connection,
        // without `complete`, so clients reconnect (to another replica) and resume.
        .take_until(Box::pin(expiry(expires_at)))
        .map(move |frame| {
            // The frame is written as soon as it is yielded (SSE streams are not buffered).
            delivered(&frame);
            let event = Event::default().event("next");
            // Each event's cursor is its SSE id, which a reconnecting client sends back.
            let event = match &frame.cursor {
                Some(cursor) => event.id(cursor.encode()),
                None => event,
            };
            Ok::<_, axum::Error>(event.data(&frame.json))
        })
        .chain(futures::stream::iter([Ok(Event::default().event("complete").data(""))]))
        .take_until(Box::pin(shutdown(closing)))
        .map(move |event| {
            // Holds the caller's connection slot and the gauge for as long as the stream lives.
            let _held = &held;
            Ok::<_, Infallible>(event.unwrap_or_else(|_| Event::default().event("complete").data("")))
        });
    Sse::new(events).keep_alive(KeepAlive::new().interval(state.stream_limits.keepalive)).into_response()
}

/// Counts a running stream in `live_subscriptions` until dropped (also when the client goes).
struct Counted;

impl Counted {
    fn new() -> Self {
        metrics::gauge!("live_subscriptions").increment(1.0);
        Self
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        metrics::gauge!("live_subscriptions").decrement(1.0);
    }
}
