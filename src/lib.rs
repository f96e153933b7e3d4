//! A Relay-style GraphQL facade over Telnyx's Video REST API.
//!
//! # Layout
//! Data flows one way: HTTP → schema (resolvers) → pagination plan → telnyx client → back up
//! as typed values.
//! - [`config`]: flags with environment fallbacks, read once at start-up.
//! - [`app`]: builds the router from the configuration and serves it on a given listener.
//! - `http`: the axum routes (`/graphql`, GraphiQL, `/health`) and per-request credentials.
//! - [`schema`]: GraphQL types and thin resolvers; a request-scoped DataLoader batches and
//!   deduplicates upstream pages.
//! - [`pagination`]: pure maths — Relay arguments to a window, a window to upstream pages,
//!   and cursors — property-tested against naive models.
//! - [`telnyx`]: the upstream client and its wire types; knows nothing of GraphQL.
//! - [`error`]: the one error enum and its one mapping to GraphQL error codes.
//! - [`telemetry`]: structured logs and the Prometheus recorder.
//! - [`sample_upstream`]: the seeded fake Telnyx behind `--demo`, the tests and the benchmarks.

pub mod app;
pub mod config;
pub mod error;
mod http;
pub mod pagination;
pub mod sample_upstream;
pub mod schema;
pub mod telemetry;
pub mod telnyx;
