//! End-to-end tests: the real service on an ephemeral port, against a real HTTP upstream
//! (the sample upstream, or wiremock where exact requests and faults matter).

mod credentials;
mod errors;
mod helpers;
mod http;
mod pagination;
mod requests;
mod schema;
