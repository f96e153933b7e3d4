//! The GraphQL schema: thin resolvers over [`crate::pagination`] and [`crate::telnyx`].
//!
//! Every object type is a plain `#[Object]` impl: async-graphql serialises `SimpleObject`
//! fields before `ComplexObject` ones, which would break the selection set's field order;
//! [`field_order::FieldOrder`] repairs what concurrent resolution breaks of it.

mod connection;
mod field_order;
mod loader;
mod participant;
mod room_session;
mod scalars;

use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Schema, ID};

use crate::error::{AppError, ErrorCodes};
pub use loader::Upstream;
use room_session::{parse_uuid, RoomSession};

/// The served schema.
pub type AppSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// Limits the resolvers enforce, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest `first`/`last` accepted.
    pub max_first_last: u64,
}

/// Builds the schema; per-request data ([`Upstream`]) is added by the HTTP layer.
pub fn build(limits: Limits) -> AppSchema {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .extension(ErrorCodes)
        .extension(field_order::FieldOrder)
        .data(limits)
        .finish()
}

/// The query root.
pub struct Query;

/// Read access to Telnyx Video rooms.
#[Object]
impl Query {
    /// A room session by id. Costs no upstream request until a field needs upstream data.
    async fn room_session(
        &self,
        _ctx: &Context<'_>,
        #[graphql(desc = "The room session's id (a UUID).")] id: ID,
    ) -> Result<Option<RoomSession>, AppError> {
        Ok(Some(RoomSession::new(parse_uuid("id", &id)?)))
    }
}
