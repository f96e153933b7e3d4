//! Configuration: command-line flags with environment fallbacks, read here and nowhere else.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use secrecy::SecretString;

/// A Relay-style GraphQL facade over Telnyx's Video REST API.
#[derive(Debug, Clone, Parser)]
#[command(name = "telnyx-rooms-graphql", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8000")]
    pub listen_addr: SocketAddr,

    /// Telnyx API base URL.
    #[arg(long, env = "TELNYX_API_BASE_URL", default_value = "https://api.telnyx.com/v2")]
    pub telnyx_api_base_url: url::Url,

    /// Telnyx API key used when a request has no `Authorization` header of its own.
    #[arg(long, env = "TELNYX_API_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub telnyx_api_key: Option<SecretString>,

    /// How callers authenticate: `passthrough` (their `Authorization` is a Telnyx key, forwarded)
    /// or `jwt` (an end-user JWT checked here; Telnyx is called with TELNYX_API_KEY).
    #[arg(long, env = "AUTH_MODE", value_enum, default_value_t = AuthMode::Passthrough)]
    pub auth_mode: AuthMode,

    /// `jwt` mode: the identity provider's JWKS URL.
    #[arg(long, env = "JWT_JWKS_URL")]
    pub jwt_jwks_url: Option<url::Url>,

    /// `jwt` mode: the issuer (`iss`) tokens must carry.
    #[arg(long, env = "JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// `jwt` mode: the audience (`aud`) tokens must include.
    #[arg(long, env = "JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// `jwt` mode: the claim that limits a token to some rooms (an array of room ids).
    #[arg(long, env = "JWT_ROOMS_CLAIM", default_value = "telnyx_room_ids")]
    pub jwt_rooms_claim: String,

    /// `jwt` mode: seconds of clock skew allowed on `exp` and `nbf`.
    #[arg(long, env = "JWT_LEEWAY_SECS", default_value_t = 60)]
    pub jwt_leeway_secs: u64,

    /// `jwt` mode: seconds after which the JWKS is fetched again (key rotation).
    #[arg(long, env = "JWT_JWKS_REFRESH_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub jwt_jwks_refresh_secs: u64,

    /// `jwt` mode: least seconds between two JWKS fetches caused by tokens with unknown `kid`s.
    #[arg(long, env = "JWT_JWKS_MIN_REFETCH_SECS", default_value_t = 10)]
    pub jwt_jwks_min_refetch_secs: u64,

    /// Requests each caller may make, e.g. `600/min` or `600/min,burst=50`; off when unset.
    /// The caller is the JWT `sub`, else a hash of the forwarded credential, else the client
    /// address. Over it: HTTP 429 with `Retry-After`, nothing sent upstream.
    #[arg(long, env = "CALLER_RATE_LIMIT", value_name = "RATE")]
    pub caller_rate_limit: Option<crate::auth::rate_limit::Rate>,

    /// Requests to Telnyx per key, e.g. `20/s`, for the whole deployment when REDIS_URL is set
    /// (else for this process); off when unset. Requests wait within their deadline, then fail
    /// RATE_LIMITED.
    #[arg(long, env = "UPSTREAM_RATE_LIMIT", value_name = "RATE")]
    pub upstream_rate_limit: Option<crate::auth::rate_limit::Rate>,

    /// Redis that replicas share rate limits, webhook dedupe and live events through, e.g.
    /// `redis://10.0.0.5:6379`.
    #[arg(long, env = "REDIS_URL", hide_env_values = true, value_parser = parse_secret)]
    pub redis_url: Option<SecretString>,

    /// A trusted-documents manifest (Apollo's persisted query manifest or Relay's
    /// `persisted_queries.json`): its documents run by id, without their text being sent.
    #[arg(long, env = "TRUSTED_DOCUMENTS", value_name = "PATH")]
    pub trusted_documents: Option<std::path::PathBuf>,

    /// With TRUSTED_DOCUMENTS: `enforce` refuses every other document (and APQ registration);
    /// `allow` runs them and counts them in `/metrics`.
    #[arg(long, env = "TRUSTED_DOCUMENTS_MODE", value_enum, default_value_t = crate::auth::trusted_documents::Mode::Allow)]
    pub trusted_documents_mode: crate::auth::trusted_documents::Mode,

    /// Start even though anonymous callers reaching a non-loopback LISTEN_ADDR would use
    /// TELNYX_API_KEY, i.e. read the whole Telnyx account (see `Config::anonymous_exposure`).
    #[arg(long, env = "ALLOW_ANONYMOUS", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_anonymous: bool,

    /// Proxies (CIDRs or addresses, comma-separated) whose forwarding header names the client,
    /// for the caller rate limit and the logs; e.g. the ingress controller's pods. Off when
    /// unset: the TCP peer is the client, whatever its headers say.
    #[arg(long, env = "TRUSTED_PROXIES", value_name = "CIDRS", value_delimiter = ',', value_parser = parse_network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// The header TRUSTED_PROXIES record the client in: `x-forwarded-for` or `forwarded` (RFC
    /// 7239). Only this one is read; name the one your proxy appends to.
    #[arg(long, env = "TRUSTED_PROXY_HEADER", value_enum, default_value_t = crate::http::ForwardedHeader::XForwardedFor)]
    pub trusted_proxy_header: crate::http::ForwardedHeader,

    /// Milliseconds allowed for connecting to Telnyx.
    #[arg(long, env = "UPSTREAM_CONNECT_TIMEOUT_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub upstream_connect_timeout_ms: u64,

    /// Milliseconds allowed for a whole upstream request, body included.
    #[arg(long, env = "UPSTREAM_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub upstream_timeout_ms: u64,

    /// Largest `first`/`last` a connection accepts.
    #[arg(long, env = "MAX_FIRST_LAST", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub max_first_last: u64,

    /// Largest upstream response body, in bytes; larger ones fail with UPSTREAM_ERROR.
    #[arg(long, env = "UPSTREAM_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub upstream_max_body_bytes: usize,

    /// Attempts per upstream GET, retries included (connection errors, timeouts, 5xx, 429).
    #[arg(long, env = "UPSTREAM_MAX_ATTEMPTS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub upstream_max_attempts: u32,

    /// Base of the exponential retry backoff (full jitter), in milliseconds.
    #[arg(long, env = "UPSTREAM_RETRY_BASE_MS", default_value_t = 100)]
    pub upstream_retry_base_ms: u64,

    /// Upstream requests in flight at once, process-wide; more wait in a fair queue.
    #[arg(long, env = "UPSTREAM_MAX_IN_FLIGHT", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub upstream_max_in_flight: u32,

    /// Milliseconds all upstream work of one GraphQL request may take, retries included.
    #[arg(long, env = "REQUEST_DEADLINE_MS", default_value_t = 15_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_deadline_ms: u64,

    /// Milliseconds before an incoming HTTP request is answered 408; keep it above the deadline.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,

    /// Largest request body, in bytes (413 above).
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 256 * 1024)]
    pub max_body_bytes: usize,

    /// Deepest query accepted (QUERY_TOO_DEEP above).
    #[arg(long, env = "MAX_DEPTH", default_value_t = 15)]
    pub max_depth: usize,

    /// Largest query complexity accepted (QUERY_TOO_EXPENSIVE above); a connection costs its
    /// `first`/`last` times its selection, so aliases and nested lists add up.
    #[arg(long, env = "MAX_COMPLEXITY", default_value_t = 50_000)]
    pub max_complexity: usize,

    /// Tokens a document may have, counted before parsing (GRAPHQL_PARSE_FAILED above).
    #[arg(long, env = "MAX_TOKENS", default_value_t = 15_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: u32,

    /// Nesting of selections, lists, objects and argument lists a document may have, counted
    /// together before parsing (GRAPHQL_PARSE_FAILED above). Capped at 256, which the parser
    /// and validation are proven to survive on a 2 MiB stack.
    #[arg(long, env = "MAX_RECURSION", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub max_recursion: u16,

    /// Fields all operations of a document may select once fragments are expanded
    /// (QUERY_TOO_EXPENSIVE above); checked before validation, which expands them.
    #[arg(long, env = "MAX_EXPANDED_FIELDS", default_value_t = 5_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_expanded_fields: u32,

    /// Aliased fields an operation may have, fragments expanded (QUERY_TOO_EXPENSIVE above).
    #[arg(long, env = "MAX_ALIASES", default_value_t = 30)]
    pub max_aliases: u32,

    /// Fields an operation may select at its root, fragments expanded (QUERY_TOO_EXPENSIVE above).
    #[arg(long, env = "MAX_ROOT_FIELDS", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_root_fields: u32,

    /// Directives at any one location of a document (QUERY_TOO_EXPENSIVE above).
    #[arg(long, env = "MAX_DIRECTIVES", default_value_t = 10)]
    pub max_directives: u32,

    /// Upstream requests one GraphQL request may cause (QUERY_TOO_EXPENSIVE beyond).
    #[arg(long, env = "MAX_UPSTREAM_REQUESTS", default_value_t = 100)]
    pub max_upstream_requests: usize,

    /// Operations in one batched request (400 above).
    #[arg(long, env = "MAX_BATCH_SIZE", default_value_t = 10)]
    pub max_batch_size: usize,

    /// Answer introspection queries (turn off in production if the schema is private).
    #[arg(long, env = "INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,

    /// Answer `{ _service { sdl } }` (Apollo Federation's schema query) to every caller;
    /// defaults to INTROSPECTION, since the SDL is the whole schema with its descriptions.
    #[arg(long, env = "FEDERATION_SDL", action = clap::ArgAction::Set)]
    pub federation_sdl: Option<bool>,

    /// Answer `_service { sdl }` to requests carrying this value in `X-Federation-Sdl-Token`
    /// (a gateway composing with IntrospectAndCompose's `introspectionHeaders`), whatever
    /// FEDERATION_SDL says.
    #[arg(long, env = "FEDERATION_SDL_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub federation_sdl_token: Option<SecretString>,

    /// Parsed documents kept, by SHA-256 of their text; they also serve Apollo's automatic
    /// persisted queries (APQ). 0 turns both off.
    #[arg(long, env = "APQ_CACHE_SIZE", default_value_t = 1000)]
    pub apq_cache_size: usize,

    /// Origins allowed to call the API from browsers (comma-separated); none by default.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<http::HeaderValue>,

    /// Let allowed origins send credentials (cookies, `Authorization`).
    #[arg(long, env = "CORS_ALLOW_CREDENTIALS", default_value_t = true, action = clap::ArgAction::Set)]
    pub cors_allow_credentials: bool,

    /// Telnyx's webhook public key (base64 of its 32 Ed25519 bytes, from the portal), as
    /// Telnyx's SDKs read it. Without it `POST /webhooks/telnyx` is off (404).
    #[arg(long, env = "TELNYX_PUBLIC_KEY")]
    pub telnyx_public_key: Option<String>,

    /// Seconds a webhook's `telnyx-timestamp` may be away from now.
    #[arg(long, env = "WEBHOOK_TOLERANCE_SECS", default_value_t = 300)]
    pub webhook_tolerance_secs: u64,

    /// Largest webhook body accepted, in bytes.
    #[arg(long, env = "WEBHOOK_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub webhook_max_body_bytes: usize,

    /// Seconds an event id is remembered, so Telnyx's redeliveries are published once.
    #[arg(long, env = "WEBHOOK_DEDUPE_SECS", default_value_t = 86_400)]
    pub webhook_dedupe_secs: u64,

    /// Events a subscriber may fall behind before its subscription is closed.
    #[arg(long, env = "SUBSCRIBER_BUFFER", default_value_t = 256)]
    pub subscriber_buffer: usize,

    /// Seconds of live events kept, so a subscriber that reconnects can resume after its last
    /// event's cursor (older cursors get EVENTS_EXPIRED).
    #[arg(long, env = "LIVE_RETENTION_SECS", default_value_t = 3600)]
    pub live_retention_secs: u64,

    /// Live events kept at most, whatever their age (in Redis's stream, or in this process).
    #[arg(long, env = "LIVE_RETENTION_EVENTS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub live_retention_events: u64,

    /// Operations one WebSocket connection may run at once.
    #[arg(long, env = "SUBSCRIPTIONS_PER_CONNECTION", default_value_t = 20)]
    pub subscriptions_per_connection: usize,

    /// Streaming connections (WebSocket and SSE) one caller may hold at once.
    #[arg(long, env = "STREAM_CONNECTIONS_PER_CALLER", default_value_t = 10)]
    pub stream_connections_per_caller: usize,

    /// Milliseconds a WebSocket client has to send `connection_init`.
    #[arg(long, env = "WS_INIT_TIMEOUT_MS", default_value_t = 10_000)]
    pub ws_init_timeout_ms: u64,

    /// Milliseconds between keep-alive pings (WebSocket) and comments (SSE).
    #[arg(long, env = "STREAM_KEEPALIVE_MS", default_value_t = 15_000)]
    pub stream_keepalive_ms: u64,

    /// Seconds after SIGTERM/Ctrl-C during which everything is still served while `/ready`
    /// answers 503 and responses say `Connection: close`, so load balancers and keep-alive
    /// clients move away before the listener closes. Ends early after 1 s without requests
    /// (health probes aside). Set it to cover the load balancer's health checks; 0 when
    /// something else does this (a Kubernetes `preStop` sleep does, but costs 1 s at most here).
    #[arg(long, env = "SHUTDOWN_DELAY_SECS", default_value_t = 5)]
    pub shutdown_delay_secs: u64,

    /// Seconds from SIGTERM/Ctrl-C to exit, SHUTDOWN_DELAY_SECS included: then the drain
    /// (in-flight queries, mutations and webhooks finish, WebSockets close with 1001 and SSE
    /// streams end, so clients resume on another replica), then exit 0. Keep it above
    /// SHUTDOWN_DELAY_SECS plus REQUEST_DEADLINE_MS.
    #[arg(long, env = "SHUTDOWN_DRAIN_SECS", default_value_t = 25)]
    pub shutdown_drain_secs: u64,

    /// Send a W3C `traceparent` with each request to Telnyx (the caller's trace, or the
    /// upstream span's when traces are on); `false` keeps trace ids from leaving the service.
    #[arg(long, env = "UPSTREAM_TRACEPARENT", default_value_t = true, action = clap::ArgAction::Set)]
    pub upstream_traceparent: bool,

    /// OpenTelemetry traces (the standard `OTEL_*` variables).
    #[command(flatten)]
    pub traces: crate::telemetry::TraceConfig,

    /// Log format: `pretty` for people, `json` for log pipelines.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// Serve GraphiQL (embedded in the binary, no CDN) on `GET /graphql` for browsers.
    #[arg(long, env = "GRAPHIQL", default_value_t = true, action = clap::ArgAction::Set)]
    pub graphiql: bool,

    /// Run against a built-in sample Telnyx upstream on a loopback port; no API key needed.
    #[arg(long)]
    pub demo: bool,

    /// With --demo: milliseconds between the live room's changes (someone joins or leaves the
    /// sample's "all-hands" session, and a signed webhook tells the service).
    #[arg(long, value_name = "MS", requires = "demo", default_value_t = 3000, value_parser = clap::value_parser!(u64).range(1..))]
    pub demo_live_interval_ms: u64,

    /// Serve only the sample Telnyx upstream on this address (for benchmarks and test suites).
    #[arg(long, value_name = "ADDR", conflicts_with = "demo")]
    pub sample_upstream: Option<SocketAddr>,

    /// With --sample-upstream: fail every Nth request on purpose, e.g. `503:20,429:50,slow:100`.
    #[arg(long, value_name = "KIND:N,...", requires = "sample_upstream", default_value = "")]
    pub sample_faults: crate::sample_upstream::Faults,

    /// Check `GET /health` on LISTEN_ADDR and exit 0 if it answers 200 (for container health checks).
    #[arg(long)]
    pub healthcheck: bool,

    /// Print the GraphQL schema (SDL) and exit: what `schema.graphql` holds; with AUTH_MODE=jwt,
    /// the federation SDL that mode serves to gateways (with `@requiresScopes`).
    #[arg(long)]
    pub print_schema: bool,
}

/// How callers authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// The caller's `Authorization` is a Telnyx key and is forwarded; without one, the
    /// server's key is used.
    Passthrough,
    /// The caller's `Authorization: Bearer` is an end-user JWT checked here.
    Jwt,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable, coloured when on a terminal.
    Pretty,
    /// One JSON object per line.
    Json,
}

fn parse_secret(value: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(value))
}

/// A network (`10.0.0.0/8`) or one address (`10.0.0.7`).
fn parse_network(value: &str) -> Result<ipnet::IpNet, String> {
    let value = value.trim();
    value
        .parse::<ipnet::IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{value}` is neither a network (10.0.0.0/8) nor an address"))
}

impl Config {
    /// Connect timeout as a duration.
    pub fn upstream_connect_timeout(&self) -> Duration {
        Duration::from_millis(self.upstream_connect_timeout_ms)
    }

    /// Whole-request timeout as a duration.
    pub fn upstream_timeout(&self) -> Duration {
        Duration::from_millis(self.upstream_timeout_ms)
    }

    /// Bound on all upstream work of one GraphQL request.
    pub fn request_deadline(&self) -> Duration {
        Duration::from_millis(self.request_deadline_ms)
    }

    /// Bound on answering one incoming HTTP request.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// Why this configuration must not start, if it must not. `jwt` mode needs its issuer,
    /// audience, keys and the server's Telnyx key. And secure by default: in `passthrough`
    /// mode a request without `Authorization` runs with `TELNYX_API_KEY`, so on a
    /// non-loopback address the whole account would be public unless the operator says so
    /// with ALLOW_ANONYMOUS=true. `--demo` is exempt (its key opens only the built-in sample).
    pub fn startup_refusal(&self) -> Option<String> {
        if let Some(Err(error)) = self.telnyx_public_key.as_deref().map(crate::live::PublicKey::from_base64) {
            return Some(format!("refusing to start: {error}"));
        }
        if self.auth_mode == AuthMode::Jwt {
            let missing: Vec<&str> = [
                ("JWT_JWKS_URL", self.jwt_jwks_url.is_none()),
                ("JWT_ISSUER", self.jwt_issuer.is_none()),
                ("JWT_AUDIENCE", self.jwt_audience.is_none()),
                ("TELNYX_API_KEY", self.telnyx_api_key.is_none() && !self.demo),
            ]
            .into_iter()
            .filter_map(|(name, absent)| absent.then_some(name))
            .collect();
            return (!missing.is_empty())
                .then(|| format!("refusing to start: AUTH_MODE=jwt needs {}", missing.join(", ")));
        }
        let exposed = self.telnyx_api_key.is_some()
            && !self.listen_addr.ip().is_loopback()
            && !self.allow_anonymous
            && !self.demo;
        exposed.then(|| {
            format!(
                "refusing to start: anyone who can reach {} would use TELNYX_API_KEY and read the whole Telnyx \
                 account. Either set AUTH_MODE=jwt, unset TELNYX_API_KEY (callers then send their own key in \
                 Authorization), listen on a loopback address, or set ALLOW_ANONYMOUS=true if that is intended \
                 (e.g. a private network behind a gateway that authenticates)",
                self.listen_addr
            )
        })
    }

    /// The bounds on documents (see [`crate::guard`]).
    pub fn document_limits(&self) -> crate::guard::DocumentLimits {
        crate::guard::DocumentLimits {
            max_tokens: self.max_tokens as usize,
            max_recursion: usize::from(self.max_recursion),
            max_expanded_fields: self.max_expanded_fields as usize,
            max_aliases: self.max_aliases as usize,
            max_root_fields: self.max_root_fields as usize,
            max_directives: self.max_directives as usize,
        }
    }

    /// Whether `_service { sdl }` is answered to callers without the token.
    pub fn federation_sdl(&self) -> bool {
        self.federation_sdl.unwrap_or(self.introspection)
    }

    /// How long the drain after a shutdown signal may take.
    pub fn shutdown_drain(&self) -> Duration {
        Duration::from_secs(self.shutdown_drain_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Config::command().debug_assert();
    }

    #[test]
    fn defaults_match_the_documentation() {
        let config = Config::try_parse_from(["telnyx-rooms-graphql"]).unwrap();
        assert_eq!(config.listen_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(config.upstream_connect_timeout(), Duration::from_millis(2000));
        assert_eq!(config.upstream_timeout(), Duration::from_secs(10));
        assert_eq!(config.max_first_last, 1000);
        assert_eq!(config.document_limits(), crate::guard::DocumentLimits::default());
        assert!(config.federation_sdl());
    }

    #[test]
    fn the_server_key_on_a_public_address_needs_allow_anonymous() {
        let parse =
            |args: &[&str]| Config::try_parse_from([&["x", "--telnyx-api-key", "KEYx"], args].concat()).unwrap();
        let exposed = parse(&["--listen-addr", "0.0.0.0:8000"]).startup_refusal().unwrap();
        assert!(exposed.contains("ALLOW_ANONYMOUS=true") && exposed.contains("0.0.0.0:8000"), "{exposed}");
        assert!(!exposed.contains("KEYx"));
        assert!(parse(&["--listen-addr", "[::]:8000"]).startup_refusal().is_some());
        assert!(parse(&["--listen-addr", "0.0.0.0:8000", "--allow-anonymous", "true"]).startup_refusal().is_none());
        assert!(parse(&["--listen-addr", "127.0.0.1:8000"]).startup_refusal().is_none());
        assert!(parse(&["--listen-addr", "[::1]:8000"]).startup_refusal().is_none());
        assert!(parse(&["--listen-addr", "0.0.0.0:8000", "--demo"]).startup_refusal().is_none());
        let keyless = Config::try_parse_from(["x", "--listen-addr", "0.0.0.0:8000"]).unwrap();
        assert!(keyless.startup_refusal().is_none());
    }

    #[test]
    fn jwt_mode_names_everything_it_lacks_and_never_needs_allow_anonymous() {
        let bare = Config::try_parse_from(["x", "--auth-mode", "jwt"]).unwrap();
        let refusal = bare.startup_refusal().unwrap();
        assert!(refusal.ends_with("needs JWT_JWKS_URL, JWT_ISSUER, JWT_AUDIENCE, TELNYX_API_KEY"), "{refusal}");
        let complete = Config::try_parse_from([
            "x",
            "--auth-mode=jwt",
            "--jwt-jwks-url=https://idp.example/jwks.json",
            "--jwt-issuer=https://idp.example/",
            "--jwt-audience=rooms",
            "--telnyx-api-key=KEYx",
            "--listen-addr=0.0.0.0:8000",
        ])
        .unwrap();
        assert_eq!(complete.startup_refusal(), None);
    }

    #[test]
    fn the_federation_sdl_follows_introspection_unless_set() {
        let config = Config::try_parse_from(["x", "--introspection", "false"]).unwrap();
        assert!(!config.federation_sdl());
        let config = Config::try_parse_from(["x", "--introspection", "false", "--federation-sdl", "true"]).unwrap();
        assert!(config.federation_sdl());
    }

    #[test]
    fn the_api_key_is_never_printed() {
        let config = Config::try_parse_from(["x", "--telnyx-api-key", "KEYsecret"]).unwrap();
        assert!(!format!("{config:?}").contains("KEYsecret"));
    }
}
