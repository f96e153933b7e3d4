//! Live rooms: Telnyx's signed webhooks in ([`webhook`]), fanned out to subscribers on every
//! replica ([`hub`]), and out again as GraphQL subscriptions over graphql-transport-ws
//! and GraphQL over SSE (in `http`); each event keeps a cursor into a retained history
//! ([`history`]), so a subscriber that reconnects resumes where it left off.
//!
//! Knows nothing of Telnyx's REST API; the subscription types live in `schema`.

pub mod event;
pub mod history;
pub mod hub;
pub mod signature;
pub mod webhook;

pub use event::{Event, Kind};
pub use history::{Cursor, Expired, Retention};
pub use hub::{Delivered, Hub, Published, ReplayError};
pub use signature::PublicKey;
pub use webhook::Webhooks;
