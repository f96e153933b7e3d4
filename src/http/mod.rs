//! HTTP: `/graphql` per the GraphQL-over-HTTP spec, GraphiQL, `/health`, `/ready`, `/metrics`.
//!
//! The GraphQL endpoint negotiates `application/graphql-response+json` (the spec's media type,
//! with 4xx for requests that cannot execute) and legacy `application/json` (always 200 once
//! the request is well-formed), or an event stream (GraphQL over SSE) when the client prefers
//! one, and for a subscription when it accepts one ([`media::Stream`]). A mutation over GET
//! is `405` before anything else is looked at. Each request gets its own upstream access
//! ([`Upstream`]): the caller's credential, a deadline and an upstream-request budget.
//!
//! In `passthrough` mode a request without `Authorization` spends the server's own Telnyx key,
//! so it runs only if a browser could not have sent it cross-site without a CORS preflight (see
//! [`admission`]). In `jwt` mode every request needs a valid token (401 otherwise, before
//! anything else runs) and Telnyx always gets the server's key.
//!
//! # Layout
//! - this module: the routes, the shared state, and running a request;
//! - `media`: response media types (GraphQL over HTTP) and request-level errors;
//! - `client`: the client's address, through trusted proxies;
//! - `admission`: what a request must pass before it runs (CSRF, caller, rate limit, trusted
//!   documents, who may read the federation SDL);
//! - `trace`: trace context for upstream calls, and the one log line per request;
//! - `graphiql`: GraphiQL's page and files, embedded in the binary.

mod admission;
mod client;
mod graphiql;
mod media;
mod sse;
mod stream;
mod trace;
mod ws;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_graphql::parser::types::OperationType;
use async_graphql::BatchRequest;
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Extension;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::rate_limit::{Decision, Limiter};
use crate::auth::trusted_documents::TrustedDocuments;
use crate::auth::{Authenticator, Caller, READ_SCOPE, WRITE_SCOPE};
use crate::error::AppError;
use crate::live::{Hub, Webhooks};
use crate::schema::{is_request_error, Executor, RequestLimits, RequestPolicy, RoomScope, Upstream};
use crate::telnyx::{Client, Credential};

pub use admission::FederationSdl;
use admission::{admit, caller_key, csrf_blocked, csrf_safe, rate_limited, unauthenticated};
pub use client::{resolve_client, ClientAddr, ForwardedHeader, TrustedProxies};
use media::{method_not_allowed, not_acceptable, request_error, Media, Stream};
pub use stream::{Connections, StreamLimits};
use trace::child_traceparent;
pub use trace::log_request;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    /// Who the caller is (`AUTH_MODE`).
    pub auth: Arc<Authenticator>,
    /// `CALLER_RATE_LIMIT`, if set.
    pub caller_limit: Option<Arc<Limiter>>,
    /// Runs GraphQL requests.
    pub executor: Arc<Executor>,
    /// The pooled upstream client.
    pub client: Client,
    /// The configured fallback key as the header sent upstream, used when a request carries
    /// no `Authorization` header: built once, not per request.
    pub api_key: Option<Credential>,
    /// Who may read the federation SDL.
    pub federation_sdl: FederationSdl,
    /// The trusted-documents manifest (`TRUSTED_DOCUMENTS`), if any.
    pub trusted_documents: Option<Arc<TrustedDocuments>>,
    /// Whether browsers get GraphiQL on `GET /graphql`.
    pub graphiql: bool,
    /// Bounds on each GraphQL request.
    pub limits: HttpLimits,
    /// False once shutdown has begun, so load balancers stop sending traffic.
    pub ready: Arc<AtomicBool>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Where live events reach subscribers.
    pub hub: Arc<Hub>,
    /// Bounds on WebSocket and SSE connections.
    pub stream_limits: StreamLimits,
    /// Streaming connections held, by caller.
    pub streams: Connections,
    /// Turns true when shutdown begins, so streams close instead of holding it up.
    pub closing: tokio::sync::watch::Receiver<bool>,
    /// Upgraded WebSockets, which the drain waits for.
    pub upgraded: tokio_util::task::TaskTracker,
    /// Browser origins allowed besides the service's own (`CORS_ALLOWED_ORIGINS`).
    pub allowed_origins: Arc<Vec<HeaderValue>>,
}

/// Bounds on each GraphQL request.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// All upstream work of one HTTP request ends by then.
    pub deadline: Duration,
    /// Upstream requests one HTTP request may cause.
    pub max_upstream_requests: usize,
    /// Operations in one batch.
    pub max_batch_size: usize,
}

/// The service's routes, without the outer layers (see [`crate::app`]).
pub fn router(state: AppState, webhooks: Option<Arc<Webhooks>>) -> Router {
    let mut router = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route("/metrics", get(|State(state): State<Arc<AppState>>| async move { state.metrics.render() }));
    if state.graphiql {
        router = router.route("/graphiql/assets/{*path}", get(graphiql::asset));
    }
    let router = router.with_state(Arc::new(state));
    match webhooks {
        Some(webhooks) => router.merge(
            Router::new()
                .route("/webhooks/telnyx", axum::routing::post(crate::live::webhook::receive))
                .with_state(webhooks),
        ),
        None => router,
    }
}

/// 503 once shutdown has begun. Redis being unreachable for live events is reported but
/// keeps the replica ready: queries still work, webhooks answer 503 (Telnyx retries them) and
/// subscriptions resume when Redis is back, so pulling every replica would only add an outage.
async fn ready(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    if !state.ready.load(Ordering::Relaxed) {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else if !state.hub.is_up() {
        (StatusCode::OK, "ready; live events degraded: Redis is unreachable, webhooks answer 503 until it is back")
    } else {
        (StatusCode::OK, "ready")
    }
}

/// The client's address ([`client`]), when the request came over TCP (not driven in-process).
type Peer = Option<Extension<ClientAddr>>;

/// Takes the request whole rather than as `HeaderMap` and `Bytes` extractors: the first
/// clones every header.
async fn graphql_post(State(state): State<Arc<AppState>>, peer: Peer, mut request: axum::extract::Request) -> Response {
    let headers = std::mem::take(request.headers_mut());
    let body = match Bytes::from_request(request, &state).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    let (media, stream) = media::negotiate(&headers);
    if stream == Stream::Preferred {
        if state.auth.forwards_credentials() && !csrf_safe(&headers) {
            return csrf_blocked(Media::Json);
        }
        let request = serde_json::from_slice::<async_graphql::Request>(&body)
            .map_err(|_| "the body is not one GraphQL request (a stream runs one operation)".to_owned());
        return Box::pin(sse::serve(state, address(peer), &headers, request, None, true)).await;
    }
    let Some(media) = media else { return not_acceptable() };
    if state.auth.forwards_credentials() && !csrf_safe(&headers) {
        return csrf_blocked(media);
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        let message = "POST bodies must be JSON with `Content-Type: application/json`";
        return request_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", message, media);
    }
    let (batch, mut ids) = match parse_body(&body) {
        Ok(parsed) => parsed,
        Err(error) => {
            let message = format!("the body is not a GraphQL request: {error}");
            return request_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message, media);
        }
    };
    // A client that accepts a stream but prefers JSON (urql) streams only subscriptions.
    let batch = match batch {
        BatchRequest::Single(request) if stream == Stream::Accepted => {
            let id = ids.pop().flatten();
            if runs(&state, &request, id.as_deref(), OperationType::Subscription).await {
                return Box::pin(sse::serve(state, address(peer), &headers, Ok(request), id, true)).await;
            }
            ids = vec![id];
            BatchRequest::Single(request)
        }
        batch => batch,
    };
    execute(state, peer, &headers, batch, ids, media, true).await
}

/// Whether `request`, or the persisted document `id` names, runs an operation of `kind`.
async fn runs(state: &AppState, request: &async_graphql::Request, id: Option<&str>, kind: OperationType) -> bool {
    let Some(id) = id else { return state.executor.is_operation(request, kind).await };
    let Some(document) = state.trusted_documents.as_deref().and_then(|trusted| trusted.by_id(id)) else {
        return false;
    };
    let mut probe = async_graphql::Request::new(document.to_string());
    probe.operation_name.clone_from(&request.operation_name);
    state.executor.is_operation(&probe, kind).await
}

fn address(peer: Peer) -> Option<IpAddr> {
    peer.map(|Extension(ClientAddr(addr))| addr)
}

/// A request naming a persisted document by id: GraphQL over HTTP's `documentId` or Relay's
/// `doc_id`, beside the usual fields.
#[derive(serde::Deserialize)]
struct WithDocumentId {
    #[serde(flatten)]
    request: async_graphql::Request,
    #[serde(rename = "documentId", alias = "doc_id")]
    document_id: Option<String>,
}

/// A POST body as requests and the document id each names, if any. A body is one request or
/// a list of them, told apart by its first byte: async-graphql's own `BatchRequest` (an untagged
/// enum) copies the whole body into an intermediate tree to try each form in turn. Bodies that
/// cannot name an id skip the (also buffering) flattened form.
fn parse_body(body: &[u8]) -> serde_json::Result<(BatchRequest, Vec<Option<String>>)> {
    use memchr::memmem::Finder;
    use std::sync::LazyLock;
    // Built once: building a searcher cost more than searching a small body with it.
    static DOCUMENT_ID: LazyLock<[Finder<'static>; 2]> =
        LazyLock::new(|| [Finder::new(b"\"documentId\""), Finder::new(b"\"doc_id\"")]);
    let list = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    if !DOCUMENT_ID.iter().any(|name| name.find(body).is_some()) {
        let batch = match list {
            true => BatchRequest::Batch(serde_json::from_slice(body)?),
            false => BatchRequest::Single(serde_json::from_slice(body)?),
        };
        return Ok((batch, Vec::new()));
    }
    Ok(match list {
        false => {
            let one = serde_json::from_slice::<WithDocumentId>(body)?;
            (BatchRequest::Single(one.request), vec![one.document_id])
        }
        true => {
            let many = serde_json::from_slice::<Vec<WithDocumentId>>(body)?;
            let (requests, ids) = many.into_iter().map(|one| (one.request, one.document_id)).unzip();
            (BatchRequest::Batch(requests), ids)
        }
    })
}

/// `GET /graphql`: a WebSocket for subscriptions, GraphiQL for a browser navigating here,
/// else an operation in the URL: a mutation is refused (405) before anything else is looked
/// at, whatever the headers; a subscription, or anything when the client prefers a stream,
/// streams over SSE; the rest is answered with JSON.
async fn graphql_get(State(state): State<Arc<AppState>>, peer: Peer, request: axum::extract::Request) -> Response {
    let (mut parts, _) = request.into_parts();
    if parts.headers.get(header::UPGRADE).is_some() {
        return match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(websocket) => ws::upgrade(state, &parts.headers, address(peer), websocket),
            Err(rejection) => rejection.into_response(),
        };
    }
    let (headers, query) = (parts.headers, parts.uri.query().unwrap_or_default().to_owned());
    let (media, stream) = media::negotiate(&headers);
    let has_query = query
        .split('&')
        .any(|p| ["query=", "extensions=", "documentId=", "doc_id="].iter().any(|key| p.starts_with(key)));
    if stream != Stream::Preferred && !has_query && accepts_html(&headers) && state.graphiql {
        return graphiql::page().into_response();
    }
    let (request, id) = match parse_query_string(&query) {
        Ok(parsed) => parsed,
        Err(message) => {
            return request_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message, media.unwrap_or(Media::Json));
        }
    };
    if runs(&state, &request, id.as_deref(), OperationType::Mutation).await {
        return method_not_allowed(media.unwrap_or(Media::Json));
    }
    let streams = match stream {
        Stream::Preferred => true,
        Stream::Accepted => runs(&state, &request, id.as_deref(), OperationType::Subscription).await,
        Stream::No => false,
    };
    if streams {
        if state.auth.forwards_credentials() && !csrf_safe(&headers) {
            return csrf_blocked(Media::Json);
        }
        return Box::pin(sse::serve(state, address(peer), &headers, Ok(request), id, false)).await;
    }
    let Some(media) = media else { return not_acceptable() };
    if state.auth.forwards_credentials() && !csrf_safe(&headers) {
        return csrf_blocked(media);
    }
    execute(state, peer, &headers, BatchRequest::Single(request), vec![id], media, false).await
}

/// A GET request's `query`, `operationName`, `variables` and `extensions` (the last two as
/// JSON), as GraphQL over HTTP names them, and the persisted document it names, if any.
fn parse_query_string(query: &str) -> Result<(async_graphql::Request, Option<String>), String> {
    let mut request = async_graphql::Request::new("");
    let mut document_id = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "documentId" | "doc_id" => document_id = Some(value.into_owned()),
            "query" => request.query = value.into_owned(),
            "operationName" => request.operation_name = Some(value.into_owned()).filter(|name| !name.is_empty()),
            "variables" => {
                let variables =
                    serde_json::from_str(&value).map_err(|e| format!("`variables` is not a JSON object: {e}"))?;
                request.variables = async_graphql::Variables::from_json(variables);
            }
            "extensions" => {
                request.extensions =
                    serde_json::from_str(&value).map_err(|e| format!("`extensions` is not a JSON object: {e}"))?;
            }
            _ => {}
        }
    }
    Ok((request, document_id))
}

/// Runs a request; `ids` are the persisted documents its operations name (none, or one per
/// operation); `post` is false for GET, where mutations are refused (405).
#[allow(clippy::too_many_arguments)]
async fn execute(
    state: Arc<AppState>,
    peer: Peer,
    headers: &HeaderMap,
    mut batch: BatchRequest,
    ids: Vec<Option<String>>,
    media: Media,
    post: bool,
) -> Response {
    let count = match &batch {
        BatchRequest::Single(_) => 1,
        BatchRequest::Batch(requests) => requests.len(),
    };
    if count > state.limits.max_batch_size {
        let message = format!("a batch may hold at most {} operations", state.limits.max_batch_size);
        return request_error(StatusCode::BAD_REQUEST, "BATCH_TOO_LARGE", &message, media);
    }
    // Who is calling comes first: without a valid token nothing else is looked at.
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let caller = match state.auth.caller(authorization).await {
        Ok(caller) => caller,
        Err(error) => return unauthenticated(&error, media),
    };
    if let Some(limiter) = &state.caller_limit {
        if let Decision::Wait(wait) = limiter.check(&caller_key(caller.as_ref(), authorization, address(peer))).await {
            return rate_limited(wait, media);
        }
    }
    let requests: &mut [async_graphql::Request] = match &mut batch {
        BatchRequest::Single(request) => std::slice::from_mut(request),
        BatchRequest::Batch(requests) => requests,
    };
    for (index, request) in requests.iter_mut().enumerate() {
        let id = ids.get(index).cloned().flatten();
        if let Err((code, message)) = admit(state.trusted_documents.as_deref(), request, id) {
            return request_error(StatusCode::BAD_REQUEST, code, &message, media);
        }
    }
    if requests.is_empty()
        || requests.iter().any(|r| r.query.is_empty() && !r.extensions.contains_key("persistedQuery"))
    {
        return request_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", "missing `query`", media);
    }
    let limits = RequestLimits {
        deadline: tokio::time::Instant::now() + state.limits.deadline,
        max_upstream_requests: state.limits.max_upstream_requests,
        traceparent: Some(child_traceparent(headers.get(crate::telemetry::spans::TRACEPARENT))),
    };
    // Scopes are checked where Telnyx would be called, so fields needing no upstream data
    // (`roomSession(id) { id }`) stay open to any authenticated caller.
    let authorization = headers.get(header::AUTHORIZATION);
    let access = |scope| upstream_access(caller.as_ref(), authorization, state.api_key.as_ref(), scope);
    let upstream = Arc::new(Upstream::new(state.client.clone(), access(READ_SCOPE), access(WRITE_SCOPE), limits));
    let policy =
        RequestPolicy { mutations: post, federation_sdl: state.federation_sdl.allows(headers), streams: false };
    let scope = RoomScope::new(caller.as_ref().and_then(|c| c.rooms.as_deref()));
    let mut batch = batch.data(upstream).data(scope);
    if crate::telemetry::ftv1::requested(headers) {
        batch = batch.data(crate::telemetry::ftv1::Requested);
    }
    let single = matches!(batch, BatchRequest::Single(_));
    // Boxed, as are the streams above: a future holds every future it awaits, and each await
    // up to the handler moves it whole, so one held inline grows every request's by its size.
    let answers = Box::pin(state.executor.execute_batch(batch, policy)).await;

    for answer in &answers {
        let code = match answer.response() {
            None => "OK",
            Some(r) => match first_code(r) {
                Some(code) => code,
                None if r.errors.is_empty() => "OK",
                None => "INTERNAL",
            },
        };
        crate::telemetry::count_operation(answer.operation(), code);
    }
    let mut status = StatusCode::OK;
    if let (true, Some(r)) = (single, answers[0].response()) {
        if first_code(r) == Some("METHOD_NOT_ALLOWED") {
            return method_not_allowed(media);
        }
        if media == Media::GraphQlResponse && is_request_error(r) {
            status = StatusCode::BAD_REQUEST;
        }
    }
    let mut body = Vec::new();
    if single {
        answers[0].write_json(&mut body);
    } else {
        body.push(b'[');
        for (index, answer) in answers.iter().enumerate() {
            if index > 0 {
                body.push(b',');
            }
            answer.write_json(&mut body);
        }
        body.push(b']');
    }
    (status, [(header::CONTENT_TYPE, media.content_type())], body).into_response()
}

fn first_code(response: &async_graphql::Response) -> Option<&str> {
    match response.errors.first()?.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(code) => Some(code),
        _ => None,
    }
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
}

/// The credential a caller reaches Telnyx with for what needs `scope`, or why it may not: a
/// JWT caller needs the scope and then Telnyx gets the server's key (its token never goes
/// upstream); otherwise the caller's own `Authorization` is forwarded, or the server's key
/// used when it sent none.
fn upstream_access(
    caller: Option<&Caller>,
    authorization: Option<&HeaderValue>,
    api_key: Option<&Credential>,
    scope: &'static str,
) -> Result<Credential, AppError> {
    match (caller, authorization) {
        (Some(caller), _) if !caller.has_scope(scope) => Err(AppError::Forbidden(scope)),
        (None, Some(value)) => Ok(Credential::from_header(value)),
        _ => api_key.cloned().ok_or(AppError::Unauthenticated),
    }
}
