//! The upstream: Telnyx's Video REST API.
//!
//! This module speaks HTTP and JSON and knows nothing of GraphQL: [`Client`] sends requests
//! with a caller's [`Credential`], [`wire`] holds the bodies exactly as Telnyx sends them, and
//! [`UpstreamError`] says what went wrong in upstream terms. Lists are described by the
//! [`ListEndpoint`] trait so that the pagination machinery stays generic over all of them.

mod action;
mod client;
mod credential;
mod endpoint;
mod error;
mod transport;
pub mod wire;

pub use action::{Action, ParticipantAction, Patch, RoomSettings, Targets};
pub use client::{Call, Client, ClientConfig, ListPage, Throttle};
pub use credential::Credential;
pub use endpoint::{
    DateRange, Identified, ItemEndpoint, ListEndpoint, ParticipantById, ParticipantFilter, Participants, RoomById,
    RoomFilter, RoomSessions, Rooms, SessionById, SessionFilter, SessionParticipants, Sessions,
};
pub use error::{UpstreamError, UpstreamErrorDetail};
pub use transport::{HttpTransport, Outgoing, RawResponse, Transport};
