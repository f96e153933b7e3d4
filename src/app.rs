//! Builds the application from its configuration and serves it on a given listener.

use std::future::{Future, IntoFuture};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;

use crate::auth::jwks::{KeySet, KeySetConfig};
use crate::auth::jwt::{Expectations, Verifier};
use crate::auth::rate_limit::{Decision, Limiter, Shared};
use crate::auth::sha256_hex;
use crate::auth::trusted_documents::TrustedDocuments;
use crate::auth::Authenticator;
use crate::config::{AuthMode, Config};
use crate::http::{self, AppState, Connections, FederationSdl, HttpLimits, StreamLimits, TrustedProxies};
use crate::live::{Hub, PublicKey, Retention, Webhooks};
use crate::schema::{self, SchemaOptions};
use crate::telemetry;
use crate::telnyx::{Client, ClientConfig, Credential, Throttle};

/// The service, ready to serve.
pub struct App {
    router: axum::Router,
    /// Tells streams (WebSocket, SSE) that shutdown has begun.
    closing: tokio::sync::watch::Sender<bool>,
    /// Upgraded WebSockets, which hyper's graceful shutdown no longer sees.
    upgraded: TaskTracker,
    traffic: Traffic,
    /// `SHUTDOWN_DELAY_SECS`: the longest the unready period lasts.
    delay: Duration,
    /// `SHUTDOWN_DRAIN_SECS`: everything after the signal, the unready period included.
    drain: Duration,
}

/// What the unready period watches: whether this replica still takes traffic, and how many
/// requests (health probes aside) have reached it.
#[derive(Clone)]
struct Traffic {
    ready: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
}

/// The unready period ends early once no request has arrived for this long: the load
/// balancers have stopped sending (or there were none), so closing the listener loses nothing.
const QUIET: Duration = Duration::from_secs(1);

/// Builds the service for `config` (which [`Config::startup_refusal`] has accepted).
pub fn build(config: &Config) -> Result<App, Box<dyn std::error::Error + Send + Sync>> {
    let shared_limits = config.redis_url.as_ref().map(Shared::new).transpose()?;
    let mut client = Client::new(&ClientConfig {
        base_url: config.telnyx_api_base_url.clone(),
        connect_timeout: config.upstream_connect_timeout(),
        timeout: config.upstream_timeout(),
        max_body_bytes: config.upstream_max_body_bytes,
        max_attempts: config.upstream_max_attempts,
        retry_base: Duration::from_millis(config.upstream_retry_base_ms),
        max_in_flight: config.upstream_max_in_flight as usize,
    })?
    .sending_traceparent(config.upstream_traceparent);
    if let Some(rate) = config.upstream_rate_limit {
        client =
            client.with_throttle(Arc::new(UpstreamThrottle(Limiter::new("upstream", rate, shared_limits.clone()))));
    }
    let caller_limit =
        config.caller_rate_limit.map(|rate| Arc::new(Limiter::new("caller", rate, shared_limits.clone())));
    let executor = schema::build(schema_options(config));
    let ready = Arc::new(AtomicBool::new(true));
    let traffic = Traffic { ready: ready.clone(), requests: Arc::new(AtomicU64::new(0)) };
    let auth = match config.auth_mode {
        AuthMode::Passthrough => Authenticator::Passthrough,
        AuthMode::Jwt => {
            let missing = |name: &str| format!("AUTH_MODE=jwt needs {name}");
            let keys = KeySet::new(KeySetConfig {
                url: config.jwt_jwks_url.clone().ok_or_else(|| missing("JWT_JWKS_URL"))?,
                refresh: Duration::from_secs(config.jwt_jwks_refresh_secs),
                min_refetch: Duration::from_secs(config.jwt_jwks_min_refetch_secs),
                timeout: config.upstream_timeout(),
            })?;
            let expected = Expectations {
                issuer: config.jwt_issuer.clone().ok_or_else(|| missing("JWT_ISSUER"))?,
                audience: config.jwt_audience.clone().ok_or_else(|| missing("JWT_AUDIENCE"))?,
                leeway_secs: config.jwt_leeway_secs,
                rooms_claim: config.jwt_rooms_claim.clone(),
            };
            Authenticator::Jwt(Verifier::new(keys, expected))
        }
    };
    let trusted_documents = match &config.trusted_documents {
        Some(path) => {
            let documents = TrustedDocuments::load(path, config.trusted_documents_mode)?;
            tracing::info!(documents = documents.len(), mode = ?documents.mode, "trusted documents loaded");
            Some(Arc::new(documents))
        }
        None => None,
    };
    let retention = Retention {
        max_age: Duration::from_secs(config.live_retention_secs),
        max_events: config.live_retention_events as usize,
    };
    let window = Duration::from_secs(config.webhook_dedupe_secs);
    let hub = Hub::new(config.subscriber_buffer, window, retention, config.redis_url.as_ref())?;
    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    let webhooks = match &config.telnyx_public_key {
        Some(key) => Some(Arc::new(Webhooks {
            key: PublicKey::from_base64(key)?,
            tolerance_secs: config.webhook_tolerance_secs,
            max_body_bytes: config.webhook_max_body_bytes,
            hub: hub.clone(),
            closing: closing.clone(),
        })),
        None => {
            tracing::info!("TELNYX_PUBLIC_KEY is not set: POST /webhooks/telnyx is off, subscriptions get no events");
            None
        }
    };
    let upgraded = TaskTracker::new();
    let state = AppState {
        auth: Arc::new(auth),
        caller_limit,
        trusted_documents,
        executor: Arc::new(executor),
        client,
        api_key: config.telnyx_api_key.as_ref().and_then(Credential::from_api_key),
        federation_sdl: FederationSdl { everyone: config.federation_sdl(), token: config.federation_sdl_token.clone() },
        graphiql: config.graphiql,
        limits: HttpLimits {
            deadline: config.request_deadline(),
            max_upstream_requests: config.max_upstream_requests,
            max_batch_size: config.max_batch_size,
        },
        ready: ready.clone(),
        metrics: telemetry::metrics_handle(),
        hub,
        stream_limits: StreamLimits {
            subscriptions_per_connection: config.subscriptions_per_connection,
            connections_per_caller: config.stream_connections_per_caller,
            init_timeout: Duration::from_millis(config.ws_init_timeout_ms),
            keepalive: Duration::from_millis(config.stream_keepalive_ms),
        },
        streams: Connections::default(),
        closing,
        upgraded: upgraded.clone(),
        allowed_origins: Arc::new(config.cors_allowed_origins.clone()),
    };
    let proxies =
        Arc::new(TrustedProxies { networks: config.trusted_proxies.clone(), header: config.trusted_proxy_header });
    // One stack, outermost first: the request id is set first, so the log line and the echoed
    // header carry it; CORS answers preflights before the timeout and body limit apply. Added
    // as one `Router::layer`, the stack boxes the request's future once (and the `from_fn`
    // once more); a `Router::layer` per layer boxed and copied it at every layer.
    let edge = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(axum::middleware::from_fn_with_state(Edge { proxies, traffic: traffic.clone() }, edge))
        .option_layer(cors(config))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, config.request_timeout()))
        .layer(DefaultBodyLimit::max(config.max_body_bytes));
    let router = http::router(state, webhooks).layer(edge);
    Ok(App {
        router,
        closing: closing_tx,
        upgraded,
        traffic,
        delay: Duration::from_secs(config.shutdown_delay_secs),
        drain: config.shutdown_drain(),
    })
}

/// The upstream rate limit, keyed by a hash of the credential (never the credential itself).
struct UpstreamThrottle(Limiter);

#[async_trait::async_trait]
impl Throttle for UpstreamThrottle {
    async fn wait_time(&self, credential: &Credential) -> Option<Duration> {
        match self.0.check(&sha256_hex(credential.header_value().as_bytes())).await {
            Decision::Allow => None,
            Decision::Wait(wait) => Some(wait),
        }
    }
}

impl App {
    /// The service as a plain router, for serving it some other way (or driving it
    /// in-process, as the request-path fuzzing does).
    pub fn into_router(self) -> axum::Router {
        self.router
    }
}

/// CORS for browser frontends on the configured origins only; none configured, none allowed.
/// The schema as configured.
fn schema_options(config: &Config) -> SchemaOptions {
    SchemaOptions {
        max_first_last: config.max_first_last,
        max_depth: config.max_depth,
        max_complexity: config.max_complexity,
        introspection: config.introspection,
        apq_cache_size: config.apq_cache_size,
        document_limits: config.document_limits(),
        scopes_in_sdl: config.auth_mode == AuthMode::Jwt,
        subscriber_buffer: config.subscriber_buffer,
    }
}

/// What `--print-schema` prints: the SDL clients compile against (`schema.graphql`); with
/// `AUTH_MODE=jwt`, the federation SDL a gateway composes from, whose `@requiresScopes` (a
/// federation directive) exist only in that mode.
pub fn printed_schema(config: &Config) -> String {
    let executor = schema::build(schema_options(config));
    match config.auth_mode {
        AuthMode::Passthrough => executor.sdl(),
        AuthMode::Jwt => executor.federation_sdl(),
    }
}

fn cors(config: &Config) -> Option<CorsLayer> {
    if config.cors_allowed_origins.is_empty() {
        return None;
    }
    let headers = [
        header::CONTENT_TYPE,
        header::AUTHORIZATION,
        header::ACCEPT,
        HeaderName::from_static("x-request-id"),
        crate::telemetry::spans::TRACEPARENT,
        HeaderName::from_static("apollo-require-preflight"),
        HeaderName::from_static("graphql-preflight"),
        HeaderName::from_static("x-apollo-operation-name"),
        HeaderName::from_static("apollographql-client-name"),
        HeaderName::from_static("apollographql-client-version"),
    ];
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(config.cors_allowed_origins.clone()))
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers(headers)
            .expose_headers([HeaderName::from_static("x-request-id")])
            .allow_credentials(config.cors_allow_credentials)
            .max_age(Duration::from_secs(600)),
    )
}

/// Serves `app` on `listener` until `shutdown` resolves, then leaves, in this order:
/// 1. The unready period (`SHUTDOWN_DELAY_SECS`, ended early by [`QUIET`]): `/ready` answers 503
///    and each response says `Connection: close`, but everything is still served, so load
///    balancers (whose health checks see the 503) and keep-alive clients (which reconnect) move
///    away before anything is refused. Closing the listener at once would reset connections still
///    in its backlog and race requests sent on idle keep-alive connections.
/// 2. The drain: the listener closes; new WebSocket and SSE requests get 503 with `Retry-After`;
///    open WebSockets close with 1001 and SSE streams end without `complete`, so clients reconnect
///    to another replica and resume from their cursor; in-flight queries, mutations and webhooks
///    finish.
///
/// Returns when all of that is done, or when `SHUTDOWN_DRAIN_SECS` after the signal have passed.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let App { router, closing, upgraded, traffic, delay, drain } = app;
    let (begun, mut begun_rx) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        traffic.ready.store(false, Ordering::Relaxed);
        let _ = begun.send(true);
        unready_period(&traffic.requests, delay).await;
        tracing::info!("draining: no new connections; finishing requests in flight");
        let _ = closing.send(true);
    };
    let router = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, router).with_graceful_shutdown(signal).into_future();
    let drained = async move {
        server.await?;
        // Hyper has finished every HTTP exchange; the WebSockets it handed over finish here,
        // once their close frames are written.
        upgraded.close();
        upgraded.wait().await;
        Ok(())
    };
    let drain_over = async move {
        let _ = begun_rx.wait_for(|begun| *begun).await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        result = drained => result,
        () = drain_over => {
            tracing::warn!("the drain period is over with requests still in flight");
            Ok(())
        }
    }
}

/// Waits until `requests` has not moved for [`QUIET`], or `longest` has passed.
async fn unready_period(requests: &AtomicU64, longest: Duration) {
    let end = tokio::time::Instant::now() + longest;
    let mut seen = requests.load(Ordering::Relaxed);
    loop {
        let tick = end.min(tokio::time::Instant::now() + QUIET);
        tokio::time::sleep_until(tick).await;
        let now = requests.load(Ordering::Relaxed);
        if now == seen || tick == end {
            return;
        }
        seen = now;
    }
}

/// What the edge middleware needs.
#[derive(Clone)]
struct Edge {
    proxies: Arc<TrustedProxies>,
    traffic: Traffic,
}

/// What every request passes through once, in one middleware (each `from_fn` layer clones
/// the routes and boxes the request's future again): its client address is resolved; it is
/// counted for [`unready_period`] (probes aside: load balancers and the kubelet keep polling
/// a leaving replica); it is logged; and once shutdown has begun its client is asked to
/// reconnect elsewhere after the response.
async fn edge(State(edge): State<Edge>, mut request: Request, next: Next) -> Response {
    http::resolve_client(&edge.proxies, &mut request);
    let traffic = &edge.traffic;
    if !matches!(request.uri().path(), "/ready" | "/health") {
        traffic.requests.fetch_add(1, Ordering::Relaxed);
    }
    let mut response = http::log_request(request, next).await;
    if !traffic.ready.load(Ordering::Relaxed) && response.status() != StatusCode::SWITCHING_PROTOCOLS {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
