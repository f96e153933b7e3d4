//! HTTP: `/graphql` per the GraphQL-over-HTTP spec, GraphiQL, `/health`, `/ready`, `/metrics`.
//!
//! The GraphQL endpoint negotiates `application/graphql-response+json` (the spec's media type,
//! with 4xx for requests that cannot execute) and legacy `application/json` (always 200 once
//! the request is well-formed). Each request gets its own upstream access ([`Upstream`]): the
//! caller's credential, a deadline and an upstream-request budget.
//!
//! In `passthrough` mode a request without `Authorization` spends the server's own Telnyx key,
//! so it runs only if a browser could not have sent it cross-site without a CORS preflight (see
//! [`csrf_safe`]). In `jwt` mode every request needs a valid token (401 otherwise, before
//! anything else runs) and Telnyx always gets the server's key.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::GraphiQLSource;
use async_graphql::{BatchRequest, BatchResponse};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Extension;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::SecretString;
use serde_json::json;
use std::net::SocketAddr;
use tower_http::services::ServeDir;

use crate::auth::rate_limit::{Decision, Limiter};
use crate::auth::trusted_documents::{Mode as TrustedMode, TrustedDocuments};
use crate::auth::{sha256_hex, AuthError, Authenticator, READ_SCOPE};
use crate::error::AppError;
use crate::schema::{Executor, RequestLimits, RequestPolicy, Upstream, OPERATION_HEADER};
use crate::telnyx::{Client, Credential};

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
    /// The configured fallback key, used when a request carries no `Authorization` header.
    pub api_key: Option<SecretString>,
    /// Who may read the federation SDL.
    pub federation_sdl: FederationSdl,
    /// The trusted-documents manifest (`TRUSTED_DOCUMENTS`), if any.
    pub trusted_documents: Option<Arc<TrustedDocuments>>,
    /// What browsers get on `GET /graphql`.
    pub graphiql: GraphiQl,
    /// Bounds on each GraphQL request.
    pub limits: HttpLimits,
    /// False once shutdown has begun, so load balancers stop sending traffic.
    pub ready: Arc<AtomicBool>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
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

/// Who may read `{ _service { sdl } }`.
#[derive(Clone)]
pub struct FederationSdl {
    /// Every caller.
    pub everyone: bool,
    /// Callers sending this in [`FederationSdl::TOKEN_HEADER`].
    pub token: Option<SecretString>,
}

impl FederationSdl {
    /// The header a gateway sends the token in.
    pub const TOKEN_HEADER: &'static str = "x-federation-sdl-token";

    fn allows(&self, headers: &HeaderMap) -> bool {
        use secrecy::ExposeSecret;
        use sha2::{Digest, Sha256};
        self.everyone
            || self.token.as_ref().zip(headers.get(Self::TOKEN_HEADER)).is_some_and(|(token, sent)| {
                // Digests of equal length, so the comparison's time says nothing of the token.
                Sha256::digest(token.expose_secret().as_bytes()) == Sha256::digest(sent.as_bytes())
            })
    }
}

/// How GraphiQL is served.
#[derive(Clone)]
pub enum GraphiQl {
    /// Not at all (e.g. in production).
    Disabled,
    /// Our page, with assets installed from npm and served by this service (works offline).
    Local {
        /// The page.
        page: Arc<str>,
        /// `node_modules` of the assets package, served under `/graphiql/assets/`.
        assets: PathBuf,
    },
    /// async-graphql's page, which loads its assets from a CDN.
    Cdn,
}

impl GraphiQl {
    /// Local assets if `dir` has the page and installed packages, else the CDN page.
    pub fn from_dir(dir: &Path) -> Self {
        let assets = dir.join("node_modules");
        match std::fs::read_to_string(dir.join("index.html")) {
            Ok(page) if assets.is_dir() => Self::Local { page: page.into(), assets },
            _ => {
                tracing::info!(dir = %dir.display(), "GraphiQL assets not installed; GraphiQL will load them from a CDN");
                Self::Cdn
            }
        }
    }
}

/// The service's routes, without the outer layers (see [`crate::app`]).
pub fn router(state: AppState) -> Router {
    let router = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route("/metrics", get(|State(state): State<AppState>| async move { state.metrics.render() }));
    let router = match &state.graphiql {
        GraphiQl::Local { assets, .. } => router.nest_service("/graphiql/assets", ServeDir::new(assets)),
        _ => router,
    };
    router.with_state(state)
}

async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    }
}

/// The response media types of the GraphQL-over-HTTP spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    GraphQlResponse,
    Json,
}

impl Media {
    const GRAPHQL_RESPONSE: &'static str = "application/graphql-response+json";

    /// Picks the response type from `Accept`; `None` if the client accepts neither.
    fn negotiate(headers: &HeaderMap) -> Option<Self> {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Some(Self::Json);
        };
        let ranges: Vec<&str> = accept
            .split(',')
            .filter(|range| !range.split(';').skip(1).any(|p| p.trim().replace(' ', "") == "q=0"))
            .map(|range| range.split(';').next().unwrap_or("").trim())
            .collect();
        let accepts = |wanted: &str| ranges.iter().any(|r| r.eq_ignore_ascii_case(wanted));
        if accepts(Self::GRAPHQL_RESPONSE) {
            Some(Self::GraphQlResponse)
        } else if accepts("application/json") || accepts("application/*") || accepts("*/*") {
            Some(Self::Json)
        } else {
            None
        }
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::GraphQlResponse => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        })
    }
}

/// An error answered before any GraphQL execution.
fn request_error(status: StatusCode, code: &str, message: &str, media: Media) -> Response {
    metrics::counter!("graphql_operations_total", "operation" => "", "code" => code.to_owned()).increment(1);
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, [(header::CONTENT_TYPE, media.content_type())], body.to_string()).into_response()
}

/// Headers that a browser sends cross-site only after a CORS preflight; any one of them, with
/// a value, shows the request was not forged (Apollo's and GraphQL Yoga's names).
const PREFLIGHT_HEADERS: [&str; 3] = ["apollo-require-preflight", "x-apollo-operation-name", "graphql-preflight"];

/// Whether a request could not have been sent by another site's page without the browser
/// asking us first (a CORS preflight, which only allowed origins pass): it carries
/// `Authorization`, a non-empty preflight header, or a `Content-Type` that HTML forms and
/// simple `fetch` calls cannot send. Apollo Server's `csrfPrevention` uses the same rule.
fn csrf_safe(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::AUTHORIZATION)
        || PREFLIGHT_HEADERS.iter().any(|name| headers.get(*name).is_some_and(|v| !v.is_empty()))
    {
        return true;
    }
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else { return false };
    let essence = content_type.to_str().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    !matches!(essence.as_str(), "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain")
}

fn csrf_blocked(media: Media) -> Response {
    let message = "blocked as a possible cross-site request forgery: send `Content-Type: application/json`, \
                   `Authorization`, or a non-empty `apollo-require-preflight`, `x-apollo-operation-name` or \
                   `graphql-preflight` header";
    request_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", message, media)
}

/// A request whose caller could not be identified: 401 (503 if the keys are unavailable)
/// with the RFC 6750 challenge, before anything runs.
fn unauthenticated(error: &AuthError, media: Media) -> Response {
    let (status, code) = match error.status() {
        503 => (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"),
        _ => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
    };
    let mut response = request_error(status, code, &error.to_string(), media);
    if let Ok(challenge) = HeaderValue::from_str(&error.challenge()) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
    }
    response
}

/// Over `CALLER_RATE_LIMIT`: 429 with `Retry-After` (whole seconds, rounded up) and the same
/// in `extensions.retryAfter`, before anything runs.
fn rate_limited(wait: Duration, media: Media) -> Response {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    metrics::counter!("graphql_operations_total", "operation" => "", "code" => "RATE_LIMITED").increment(1);
    let body = json!({ "errors": [{
        "message": format!("too many requests from this caller (CALLER_RATE_LIMIT); retry in {seconds} s"),
        "extensions": { "code": "RATE_LIMITED", "retryAfter": seconds },
    }] });
    let headers = [(header::CONTENT_TYPE, media.content_type()), (header::RETRY_AFTER, HeaderValue::from(seconds))];
    (StatusCode::TOO_MANY_REQUESTS, headers, body.to_string()).into_response()
}

fn not_acceptable() -> Response {
    let message = "accept application/graphql-response+json or application/json";
    request_error(StatusCode::NOT_ACCEPTABLE, "NOT_ACCEPTABLE", message, Media::Json)
}

/// The client's address, when the server was started with it (not when driven in-process).
type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

async fn graphql_post(State(state): State<AppState>, peer: Peer, headers: HeaderMap, body: Bytes) -> Response {
    let Some(media) = Media::negotiate(&headers) else { return not_acceptable() };
    if state.auth.forwards_credentials() && !csrf_safe(&headers) {
        return csrf_blocked(media);
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        let message = "POST bodies must be JSON with `Content-Type: application/json`";
        return request_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", message, media);
    }
    match parse_body(&body) {
        Ok((batch, ids)) => execute(state, peer, &headers, batch, ids, media, true).await,
        Err(error) => {
            let message = format!("the body is not a GraphQL request: {error}");
            request_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message, media)
        }
    }
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

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum BatchWithDocumentIds {
    Single(Box<WithDocumentId>),
    Batch(Vec<WithDocumentId>),
}

/// A POST body as requests and the document id each names, if any. Bodies that cannot name
/// one take async-graphql's own (faster) path.
fn parse_body(body: &[u8]) -> serde_json::Result<(BatchRequest, Vec<Option<String>>)> {
    let names_id = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    if !names_id(b"\"documentId\"") && !names_id(b"\"doc_id\"") {
        return serde_json::from_slice::<BatchRequest>(body).map(|batch| (batch, Vec::new()));
    }
    Ok(match serde_json::from_slice::<BatchWithDocumentIds>(body)? {
        BatchWithDocumentIds::Single(one) => (BatchRequest::Single(one.request), vec![one.document_id]),
        BatchWithDocumentIds::Batch(many) => {
            let (requests, ids) = many.into_iter().map(|one| (one.request, one.document_id)).unzip();
            (BatchRequest::Batch(requests), ids)
        }
    })
}

/// `GET /graphql`: GraphiQL for a browser navigating here, else a query in the URL.
async fn graphql_get(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let has_query = query
        .split('&')
        .any(|p| ["query=", "extensions=", "documentId=", "doc_id="].iter().any(|key| p.starts_with(key)));
    if !has_query && accepts_html(&headers) {
        match &state.graphiql {
            GraphiQl::Local { page, .. } => return Html(page.to_string()).into_response(),
            GraphiQl::Cdn => {
                let page = GraphiQLSource::build().endpoint("/graphql").title("telnyx-rooms-graphql").finish();
                return Html(page).into_response();
            }
            GraphiQl::Disabled => {}
        }
    }
    let Some(media) = Media::negotiate(&headers) else { return not_acceptable() };
    if state.auth.forwards_credentials() && !csrf_safe(&headers) {
        return csrf_blocked(media);
    }
    match parse_query_string(&query) {
        Ok((request, id)) => {
            execute(state, peer, &headers, BatchRequest::Single(request), vec![id], media, false).await
        }
        Err(message) => request_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message, media),
    }
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
    state: AppState,
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
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let caller = match state.auth.caller(authorization).await {
        Ok(caller) => caller,
        Err(error) => return unauthenticated(&error, media),
    };
    if let Some(limiter) = &state.caller_limit {
        let key = match (&caller, authorization) {
            (Some(caller), _) => format!("sub:{}", caller.subject),
            // A hash, so the limiter never holds a credential.
            (None, Some(authorization)) => format!("key:{}", sha256_hex(authorization)),
            (None, None) => {
                format!("ip:{}", peer.map_or_else(String::new, |Extension(ConnectInfo(addr))| addr.ip().to_string()))
            }
        };
        if let Decision::Wait(wait) = limiter.check(&key).await {
            return rate_limited(wait, media);
        }
    }
    let limits = RequestLimits {
        deadline: tokio::time::Instant::now() + state.limits.deadline,
        max_upstream_requests: state.limits.max_upstream_requests,
        traceparent: Some(child_traceparent(headers.get("traceparent"))),
    };
    let access = match &caller {
        // Scopes are checked where Telnyx would be called, so fields needing no upstream data
        // (`roomSession(id) { id }`) stay open to any authenticated caller.
        Some(caller) if !caller.has_scope(READ_SCOPE) => Err(AppError::Forbidden(READ_SCOPE)),
        // A JWT caller's token never goes upstream: Telnyx gets the server's key.
        Some(_) => state.api_key.as_ref().and_then(Credential::from_api_key).ok_or(AppError::Unauthenticated),
        None => credential(headers, state.api_key.as_ref()).ok_or(AppError::Unauthenticated),
    };
    let upstream = Arc::new(Upstream::new(state.client.clone(), access, limits));
    let policy = RequestPolicy { mutations: post, federation_sdl: state.federation_sdl.allows(headers) };
    let response = state.executor.execute_batch(batch.data(upstream).data(caller), policy).await;

    let responses: Vec<&async_graphql::Response> = match &response {
        BatchResponse::Single(r) => vec![r],
        BatchResponse::Batch(rs) => rs.iter().collect(),
    };
    for r in &responses {
        let name = r.http_headers.get(OPERATION_HEADER).and_then(|v| v.to_str().ok());
        let operation = operation_label(name);
        let code = match first_code(r) {
            Some(code) => code.to_owned(),
            None if r.errors.is_empty() => "OK".to_owned(),
            None => "INTERNAL".to_owned(),
        };
        metrics::counter!("graphql_operations_total", "operation" => operation, "code" => code).increment(1);
    }
    let status = match (&response, media) {
        (BatchResponse::Single(r), _) if first_code(r) == Some("METHOD_NOT_ALLOWED") => {
            return (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::CONTENT_TYPE, media.content_type()), (header::ALLOW, HeaderValue::from_static("POST"))],
                serde_json::to_vec(&Body::from(r)).unwrap_or_default(),
            )
                .into_response();
        }
        (BatchResponse::Single(r), Media::GraphQlResponse) if is_request_error(r) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    let body = match &response {
        BatchResponse::Single(r) => serde_json::to_vec(&Body::from(r)),
        BatchResponse::Batch(rs) => serde_json::to_vec(&rs.iter().map(Body::from).collect::<Vec<_>>()),
    };
    let body = body.unwrap_or_else(|_| br#"{"errors":[{"message":"response not serialisable"}]}"#.to_vec());
    (status, [(header::CONTENT_TYPE, media.content_type())], body).into_response()
}

fn first_code(response: &async_graphql::Response) -> Option<&str> {
    match response.errors.first()?.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(code) => Some(code),
        _ => None,
    }
}

/// Resolves the persisted document a request names (by `documentId`/`doc_id`, or by APQ
/// hash when the manifest has it) and applies the trusted-documents mode: in `enforce`, a
/// document not in the manifest is refused, so APQ cannot register new ones either; in
/// `allow`, it runs and is counted.
fn admit(
    trusted: Option<&TrustedDocuments>,
    request: &mut async_graphql::Request,
    id: Option<String>,
) -> Result<(), (&'static str, String)> {
    let Some(trusted) = trusted else {
        return match id {
            Some(_) => Err(("BAD_REQUEST", "persisted documents are not enabled on this server".into())),
            None => Ok(()),
        };
    };
    if let Some(id) = id {
        let Some(document) = trusted.by_id(&id) else {
            return Err(("PERSISTED_QUERY_NOT_FOUND", "no persisted document has this id".into()));
        };
        request.query = document.to_string();
        return Ok(());
    }
    let apq_hash = match request.extensions.get("persistedQuery") {
        Some(async_graphql::Value::Object(fields)) => match fields.get("sha256Hash") {
            Some(async_graphql::Value::String(hash)) => Some(hash.clone()),
            _ => None,
        },
        _ => None,
    };
    if request.query.is_empty() {
        if let Some(document) = apq_hash.as_deref().and_then(|hash| trusted.by_hash(hash)) {
            request.query = document.to_string();
            return Ok(());
        }
    }
    let listed = !request.query.is_empty() && trusted.by_hash(&sha256_hex(&request.query)).is_some();
    match (listed, trusted.mode) {
        (true, _) => Ok(()),
        (false, TrustedMode::Enforce) => {
            metrics::counter!("graphql_untrusted_documents_total", "outcome" => "refused").increment(1);
            Err(("PERSISTED_QUERY_NOT_IN_LIST", "only the trusted documents of this deployment run here".into()))
        }
        (false, TrustedMode::Allow) => {
            if !request.query.is_empty() {
                metrics::counter!("graphql_untrusted_documents_total", "outcome" => "allowed").increment(1);
            }
            Ok(())
        }
    }
}

/// A request that failed before execution (parse or validation): no `data` at all, and the
/// errors have no `path`. A field error that nulls the whole result still has a path.
fn is_request_error(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// The spec's response map, serialised straight from async-graphql's ordered values (so
/// the selection set's order survives): `data` is absent, not null, when execution never
/// started.
#[derive(serde::Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a async_graphql::Value>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [async_graphql::ServerError],
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    extensions: &'a std::collections::BTreeMap<String, async_graphql::Value>,
}

impl<'a> From<&'a async_graphql::Response> for Body<'a> {
    fn from(response: &'a async_graphql::Response) -> Self {
        let data = (!is_request_error(response)).then_some(&response.data);
        Body { data, errors: &response.errors, extensions: &response.extensions }
    }
}

/// The operation name as a metrics label: bounded in length and alphabet, since clients
/// choose it.
fn operation_label(name: Option<&str>) -> String {
    name.unwrap_or("").chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect()
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
}

/// The client's own `Authorization` header, else the configured key.
fn credential(headers: &HeaderMap, api_key: Option<&SecretString>) -> Option<Credential> {
    match headers.get(header::AUTHORIZATION) {
        Some(value) => Some(Credential::from_header(value)),
        None => api_key.and_then(Credential::from_api_key),
    }
}

/// A W3C `traceparent` for our upstream calls: the caller's trace with a new span id, or a
/// new trace when the caller sent none (or an invalid one).
fn child_traceparent(incoming: Option<&HeaderValue>) -> HeaderValue {
    let parent = incoming.and_then(|v| v.to_str().ok()).and_then(|v| {
        let parts: Vec<&str> = v.trim().split('-').collect();
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        match parts.as_slice() {
            [version, trace, span, flags]
                if hex(version, 2)
                    && *version != "ff"
                    && hex(trace, 32)
                    && hex(span, 16)
                    && hex(flags, 2)
                    && trace.bytes().any(|b| b != b'0') =>
            {
                Some((trace.to_ascii_lowercase(), flags.to_ascii_lowercase()))
            }
            _ => None,
        }
    });
    let (trace, flags) = parent.unwrap_or_else(|| (format!("{:032x}", rand::random::<u128>().max(1)), "01".to_owned()));
    let span = format!("{:016x}", rand::random::<u64>().max(1));
    HeaderValue::from_str(&format!("00-{trace}-{span}-{flags}")).expect("hex is a valid header value")
}

/// One log line per request, with its request id (set by the request-id layer outside).
pub async fn log_request(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    metrics::counter!("http_requests_total", "status" => status.to_string()).increment(1);
    tracing::info!(
        request_id,
        %method,
        path,
        status,
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn accept_negotiation_follows_graphql_over_http() {
        assert_eq!(Media::negotiate(&HeaderMap::new()), Some(Media::Json));
        assert_eq!(Media::negotiate(&accept("application/graphql-response+json")), Some(Media::GraphQlResponse));
        assert_eq!(
            Media::negotiate(&accept("application/json, application/graphql-response+json;q=0.9")),
            Some(Media::GraphQlResponse)
        );
        assert_eq!(Media::negotiate(&accept("application/json")), Some(Media::Json));
        assert_eq!(Media::negotiate(&accept("*/*")), Some(Media::Json));
        assert_eq!(
            Media::negotiate(&accept("application/graphql-response+json;q=0, application/json")),
            Some(Media::Json)
        );
        assert_eq!(Media::negotiate(&accept("text/plain")), None);
    }

    #[test]
    fn traceparent_continues_the_callers_trace_with_a_new_span() {
        let incoming = HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let child = child_traceparent(Some(&incoming));
        let child = child.to_str().unwrap();
        assert!(child.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(child.ends_with("-01"));
        assert_ne!(child, incoming.to_str().unwrap());
    }

    #[test]
    fn an_invalid_traceparent_starts_a_new_trace() {
        for bad in [
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            let child = child_traceparent(Some(&HeaderValue::from_static(bad)));
            let parts: Vec<&str> = child.to_str().unwrap().split('-').collect();
            assert_eq!(parts.len(), 4);
            assert_ne!(parts[1], "00000000000000000000000000000000");
            assert!(!bad.contains(parts[1]));
        }
    }

    #[test]
    fn only_requests_a_page_cannot_forge_cross_site_run_without_authorization() {
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, HeaderValue::from_static(value));
            }
            csrf_safe(&headers)
        };
        assert!(!with(&[]));
        assert!(!with(&[("content-type", "text/plain;charset=UTF-8")]));
        assert!(!with(&[("content-type", "Application/X-WWW-Form-Urlencoded")]));
        assert!(!with(&[("content-type", "multipart/form-data; boundary=x")]));
        assert!(!with(&[("apollo-require-preflight", "")]));
        assert!(with(&[("content-type", "application/json")]));
        assert!(with(&[("authorization", "Bearer k")]));
        for header in PREFLIGHT_HEADERS {
            assert!(with(&[(header, "1"), ("content-type", "text/plain")]), "{header}");
        }
    }

    #[test]
    fn operation_labels_are_bounded() {
        assert_eq!(operation_label(Some("Participants")), "Participants");
        assert_eq!(operation_label(Some("a\"b{c}")), "abc");
        assert_eq!(operation_label(Some(&"x".repeat(500))).len(), 64);
    }
}
