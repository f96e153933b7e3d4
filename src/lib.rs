//! A Relay-style GraphQL facade over Telnyx's Video REST API.
//!
//! # Layout
//! Data flows one way: HTTP → auth → schema (resolvers) → pagination plan → telnyx client →
//! back up as typed values.
//! - [`config`]: flags with environment fallbacks, read once at start-up.
//! - [`app`]: builds the service from the configuration (layers, CORS, limits) and serves it
//!   on a given listener with graceful shutdown.
//! - `http`: the routes (`/graphql` per GraphQL over HTTP, GraphiQL, `/health`, `/ready`,
//!   `/metrics`), each request's admission (CSRF, caller, rate limit, trusted documents), and
//!   its credential, deadline and upstream budget; subscriptions over graphql-transport-ws
//!   (WebSocket) and GraphQL over SSE.
//! - [`live`]: Telnyx's signed webhooks in, and the fan-out of their events to subscribers on
//!   every replica (through a Redis stream when configured); `live::history` keeps each event's
//!   cursor and the retained history a reconnecting subscriber resumes from.
//! - [`auth`]: caller identity: `passthrough` (forward the caller's Telnyx key) or `jwt`
//!   (end-user JWTs checked against the identity provider's JWKS, scopes); rate limits (per
//!   process, or shared through Redis); trusted-document manifests. Knows no Telnyx or GraphQL.
//! - [`guard`]: pure, linear bounds on documents (tokens, nesting, fragment cycles, sizes after
//!   fragment expansion, aliases, root fields, directives), checked before async-graphql parses
//!   or validates anything.
//! - [`schema`]: GraphQL types and thin resolvers; an executor around async-graphql (document
//!   limits, document cache and APQ, spec repairs, error codes, the error cap); request-scoped
//!   loaders that batch and deduplicate upstream pages and items; `schema::plan`: compiled
//!   plans that answer known queries without async-graphql's per-field machinery, which stays
//!   the reference they fall back to; `schema::parser`: a one-pass parser in front of
//!   async-graphql's, which answers whatever it is not sure of.
//! - [`pagination`]: pure maths — Relay arguments to a window, a window to upstream pages,
//!   and cursors — property-tested against naive models.
//! - [`telnyx`]: the upstream client (retries, deadline, in-flight bound) and its wire types;
//!   knows nothing of GraphQL.
//! - [`error`]: the one error enum and its one mapping to GraphQL error codes.
//! - [`telemetry`]: structured logs, the Prometheus recorder, OpenTelemetry traces (OTLP, W3C
//!   trace context in and out) and Apollo's inline ftv1 traces.
//! - [`sample_upstream`]: the seeded fake Telnyx behind `--demo`, the tests and the benchmarks.

pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod guard;
mod http;
pub mod live;
pub mod pagination;
pub mod sample_upstream;
pub mod schema;
pub mod telemetry;
pub mod telnyx;
