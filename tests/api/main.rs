//! End-to-end tests: the real service on an ephemeral port, against a real HTTP upstream
//! (the sample upstream, or wiremock where exact requests and faults matter).

mod auth;
mod credentials;
mod docs;
mod drain;
mod errors;
mod fan_out;
mod faults;
mod ftv1;
mod fuzz;
mod graph;
mod helpers;
mod hostile;
mod http;
mod limits;
mod live;
mod live_room;
mod mutations;
mod negotiation;
mod node;
mod operations;
mod pagination;
mod plans;
mod process;
mod protocol;
mod proxies;
mod rate_limits;
mod requests;
mod resume;
mod schema;
mod tracing;
mod trusted;
mod validation;
