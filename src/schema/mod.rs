//! The GraphQL schema: thin resolvers over [`crate::pagination`] and [`crate::telnyx`].
//!
//! Every object type is a plain `#[Object]` impl: async-graphql serialises `SimpleObject`
//! fields before `ComplexObject` ones, which would break the selection set's field order;
//! the executor (`executor`, `spec`) repairs what async-graphql's execution breaks of the spec.
//!
//! Objects are either *loaded* (a list or lookup returned them) or *references* (an id from
//! an argument, a parent's foreign key or a federation representation); references load their
//! details on first use through the request's [`Upstream`], once per distinct id.

mod connection;
mod directives;
mod documents;
mod executor;
mod filters;
mod ids;
mod loader;
mod mutation;
mod node;
mod parser;
mod participant;
mod plan;
mod room;
mod room_session;
mod scalars;
mod scope;
mod shared;
mod spec;
mod subscription;

use std::sync::Arc;

use async_graphql::{Context, Object, Schema, ID};

use crate::error::AppError;
use crate::guard::DocumentLimits;
use crate::telnyx::{ListEndpoint, ParticipantById, Participants, RoomById, Rooms, Sessions};
use connection::{Connection, ConnectionArgs};
use directives::{by_first_or_last, cost, edges_and_nodes, listSize, UPSTREAM_REQUEST};
pub use executor::{Answer, Executor, RequestPolicy, Streaming, MAX_ERRORS};
use filters::{RoomFilter, RoomParticipantsFilter, RoomSessionFilter};
use ids::{parse_uuid, EntityId};
pub use loader::{EventUpstreams, RequestLimits, Upstream};
use mutation::Mutation;
use node::{Node, Selection, MAX_NODES};
use participant::RoomParticipant;
use room::Room;
use room_session::RoomSession;
pub use scope::RoomScope;
pub use shared::{is_request_error, Frame};
pub use subscription::ResumeAfter;
use subscription::Subscription;

/// The served schema.
pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// Limits the resolvers enforce, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest `first`/`last` accepted.
    pub max_first_last: u64,
}

/// How the schema is built, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct SchemaOptions {
    /// The largest `first`/`last` accepted.
    pub max_first_last: u64,
    /// Deepest query accepted.
    pub max_depth: usize,
    /// Largest complexity accepted (a connection costs its `first`/`last` times its selection).
    pub max_complexity: usize,
    /// Whether introspection is answered.
    pub introspection: bool,
    /// Parsed documents kept (also serving APQ); 0 turns both off.
    pub apq_cache_size: usize,
    /// Bounds on documents, checked before async-graphql parses or validates them.
    pub document_limits: DocumentLimits,
    /// Whether `_service { sdl }` declares `@requiresScopes` (where the service checks scopes).
    pub scopes_in_sdl: bool,
    /// Results a subscriber of a shared subscription may fall behind (`SUBSCRIBER_BUFFER`).
    pub subscriber_buffer: usize,
}

impl Default for SchemaOptions {
    /// The configuration's defaults; `schema.graphql` is exported with these.
    fn default() -> Self {
        Self {
            max_first_last: 1000,
            max_depth: 15,
            max_complexity: 50_000,
            introspection: true,
            apq_cache_size: 1000,
            document_limits: DocumentLimits::default(),
            scopes_in_sdl: false,
            subscriber_buffer: 256,
        }
    }
}

/// Builds the schema and its executor; per-request data ([`Upstream`]) is added by the HTTP
/// layer. No async-graphql extensions are installed: each would wrap every field's
/// resolution in boxed futures, so the executor does that work once per request instead
/// (only its twin for ftv1 traces, built from [`builder`] on first use, has one).
pub fn build(options: SchemaOptions) -> Executor {
    Executor::new(builder(&options).finish(), &options)
}

/// The schema as configured, before it is finished.
fn builder(options: &SchemaOptions) -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    let builder = Schema::build(Query, Mutation, Subscription)
        .enable_federation()
        .enable_subscription_in_federation()
        .limit_depth(options.max_depth)
        .limit_complexity(options.max_complexity)
        .data(Limits { max_first_last: options.max_first_last });
    if options.introspection {
        builder
    } else {
        builder.disable_introspection()
    }
}

/// The response header (read and dropped by the HTTP layer) naming the executed operation,
/// for metrics when the client did not send `operationName`.
pub const OPERATION_HEADER: &str = "x-graphql-operation";

/// The request's upstream access, put there by the HTTP layer for every request; in a
/// subscription, the one of the event being resolved.
fn upstream(ctx: &Context<'_>) -> Arc<Upstream> {
    match ctx.data_opt::<Arc<Upstream>>() {
        Some(upstream) => upstream.clone(),
        None => ctx.data_unchecked::<Arc<EventUpstreams>>().current(),
    }
}

/// Whether a room-scoped caller may see session `id` (its room is theirs): one session
/// lookup, shared with every other use of it in the request. A session that does not exist
/// or is outside the rooms is not visible; any other failure (Telnyx down) is the caller's
/// error, never a silent "does not exist".
async fn session_visible(ctx: &Context<'_>, id: Option<&str>) -> Result<bool, AppError> {
    let Some(id) = id else { return Ok(false) };
    match RoomSession::reference(EntityId::from_upstream(id)).data(ctx).await {
        Ok(_) => Ok(true),
        Err(AppError::NotFound { .. }) => Ok(false),
        Err(error) => Err(error),
    }
}

/// The query root.
pub struct Query;

/// Read access to Telnyx Video rooms, sessions and participants.
#[Object]
impl Query {
    /// A room session by id. Costs no upstream request until a field needs upstream data.
    #[graphql(directive = cost::apply(UPSTREAM_REQUEST))]
    async fn room_session(
        &self,
        #[graphql(desc = "The room session's id (a UUID).")] id: ID,
    ) -> Result<Option<RoomSession>, AppError> {
        Ok(Some(RoomSession::reference(EntityId::from_uuid(parse_uuid("id", &id)?))))
    }

    /// A room participant by id (`GET /room_participants/{id}`); null if there is none.
    #[graphql(requires_scopes = "video:read", directive = cost::apply(UPSTREAM_REQUEST))]
    async fn room_participant(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The participant's id (a UUID).")] id: ID,
    ) -> Result<Option<RoomParticipant>, AppError> {
        let found = upstream(ctx).item(ParticipantById(parse_uuid("id", &id)?)).await?;
        let Some(data) = found else { return Ok(None) };
        // Outside a room-scoped caller's rooms it is as absent as an unknown id.
        if RoomScope::of(ctx).rooms().is_some() && !session_visible(ctx, data.session_id.as_deref()).await? {
            return Ok(None);
        }
        Ok(Some(RoomParticipant::loaded(data, None)))
    }

    /// A room by id (`GET /rooms/{id}`); null if there is none.
    #[graphql(requires_scopes = "video:read", directive = cost::apply(UPSTREAM_REQUEST))]
    async fn room(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The room's id (a UUID).")] id: ID,
    ) -> Result<Option<Room>, AppError> {
        let id = parse_uuid("id", &id)?;
        if !RoomScope::of(ctx).allows(&id) {
            return Ok(None);
        }
        Ok(upstream(ctx).item(RoomById(id)).await?.map(Room::loaded))
    }

    /// Rooms, as a Relay connection over `GET /rooms`.
    #[graphql(
        requires_scopes = "video:read",
        complexity = "connection::complexity(first, last, child_complexity)",
        directive = cost::apply(UPSTREAM_REQUEST),
        directive = listSize::apply(None, by_first_or_last(), edges_and_nodes(), Some(false))
    )]
    async fn rooms(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only rooms matching all given conditions.")] filter: Option<RoomFilter>,
        #[graphql(
            desc = "Return at most this many rooms from the start of the window. Defaults to 20 when neither `first` nor `last` is given."
        )]
        first: Option<i32>,
        #[graphql(desc = "Start after the room with this cursor.")] after: Option<String>,
        #[graphql(desc = "Return at most this many rooms from the end of the window.")] last: Option<i32>,
        #[graphql(desc = "End before the room with this cursor.")] before: Option<String>,
    ) -> Result<Connection<Room>, AppError> {
        let endpoint = Rooms { filter: filter.unwrap_or_default().parse()? };
        let args = ConnectionArgs { first, after, last, before };
        if let Some(allowed) = RoomScope::of(ctx).rooms() {
            // A room-scoped caller's rooms, each looked up by id: Telnyx's list cannot be
            // narrowed to a set of ids.
            let upstream = upstream(ctx);
            let loads = allowed.iter().map(|id| upstream.item(RoomById(*id)));
            let rooms = futures::future::try_join_all(loads).await?;
            let rooms = rooms.into_iter().flatten().filter(|room| endpoint.filter.matches(room)).collect();
            let identity = format!("{}:scoped", endpoint.identity());
            return connection::in_memory(ctx, &identity, rooms, args, Room::loaded);
        }
        connection::load(ctx, endpoint, args, Room::loaded).await
    }

    /// Room sessions across rooms, as a Relay connection over `GET /room_sessions`.
    #[graphql(
        requires_scopes = "video:read",
        complexity = "connection::complexity(first, last, child_complexity)",
        directive = cost::apply(UPSTREAM_REQUEST),
        directive = listSize::apply(None, by_first_or_last(), edges_and_nodes(), Some(false))
    )]
    async fn room_sessions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only sessions matching all given conditions.")] filter: Option<RoomSessionFilter>,
        #[graphql(
            desc = "Return at most this many sessions from the start of the window. Defaults to 20 when neither `first` nor `last` is given."
        )]
        first: Option<i32>,
        #[graphql(desc = "Start after the session with this cursor.")] after: Option<String>,
        #[graphql(desc = "Return at most this many sessions from the end of the window.")] last: Option<i32>,
        #[graphql(desc = "End before the session with this cursor.")] before: Option<String>,
    ) -> Result<Connection<RoomSession>, AppError> {
        let endpoint = Sessions { filter: filter.unwrap_or_default().parse(true)? };
        let scope = RoomScope::of(ctx);
        if scope.rooms().is_some() && !endpoint.filter.room_id.is_some_and(|room| scope.allows(&room)) {
            return Err(AppError::NarrowToRooms("filter.roomId"));
        }
        connection::load(ctx, endpoint, ConnectionArgs { first, after, last, before }, RoomSession::loaded).await
    }

    /// Room participants across sessions, as a Relay connection over `GET /room_participants`.
    #[graphql(
        requires_scopes = "video:read",
        complexity = "connection::complexity(first, last, child_complexity)",
        directive = cost::apply(UPSTREAM_REQUEST),
        directive = listSize::apply(None, by_first_or_last(), edges_and_nodes(), Some(false))
    )]
    async fn room_participants(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only participants matching all given conditions.")] filter: Option<RoomParticipantsFilter>,
        #[graphql(
            desc = "Return at most this many participants from the start of the window. Defaults to 20 when neither `first` nor `last` is given."
        )]
        first: Option<i32>,
        #[graphql(desc = "Start after the participant with this cursor.")] after: Option<String>,
        #[graphql(desc = "Return at most this many participants from the end of the window.")] last: Option<i32>,
        #[graphql(desc = "End before the participant with this cursor.")] before: Option<String>,
    ) -> Result<Connection<RoomParticipant>, AppError> {
        let endpoint = Participants { filter: filter.unwrap_or_default().parse()? };
        let session = endpoint.filter.session_id.map(|id| id.to_string());
        if RoomScope::of(ctx).rooms().is_some() && !session_visible(ctx, session.as_deref()).await? {
            return Err(AppError::NarrowToRooms("filter.sessionId"));
        }
        let args = ConnectionArgs { first, after, last, before };
        connection::load(ctx, endpoint, args, |data| RoomParticipant::loaded(data, None)).await
    }

    /// The object with this id (Relay's Global Object Identification); null if there is none.
    ///
    /// Ids are Telnyx's UUIDs. When the selection names one type (as Relay's refetch queries
    /// do, e.g. `... on RoomSession`), this costs what the same selection costs through
    /// `roomSession(id)`, plus one lookup if it asks for nothing but `id`; an id of another
    /// type is null. When it names no type or several, the candidates are looked up
    /// concurrently: up to one request per type, each reused by the fields that follow.
    #[graphql(requires_scopes = "video:read", directive = cost::apply(UPSTREAM_REQUEST))]
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The object's id (a UUID).")] id: ID,
    ) -> Result<Option<Node>, AppError> {
        node::resolve(ctx, &id, &Selection::of(ctx)).await
    }

    /// The objects with these ids, in the same order, each as `node(id)` would return it.
    #[graphql(requires_scopes = "video:read", complexity = "ids.len().max(1) * child_complexity", directive = cost::apply(UPSTREAM_REQUEST))]
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The objects' ids (UUIDs), at most 100.")] ids: Vec<ID>,
    ) -> Result<Vec<Option<Node>>, AppError> {
        if ids.len() > MAX_NODES {
            return Err(AppError::bad_input("ids", format!("at most {MAX_NODES} ids are accepted, got {}", ids.len())));
        }
        let selection = Selection::of(ctx);
        futures::future::try_join_all(ids.iter().map(|id| node::resolve(ctx, id, &selection))).await
    }

    /// Federation: a `RoomSession` reference; see [`node::entity`] for what it costs.
    #[graphql(entity)]
    async fn find_room_session_by_id(&self, ctx: &Context<'_>, id: ID) -> Option<RoomSession> {
        node::entity(ctx, RoomSession::reference(EntityId::new(id))).await
    }

    /// Federation: a `RoomParticipant` reference.
    #[graphql(entity)]
    async fn find_room_participant_by_id(&self, ctx: &Context<'_>, id: ID) -> Option<RoomParticipant> {
        node::entity(ctx, RoomParticipant::reference(EntityId::new(id))).await
    }

    /// Federation: a `Room` reference.
    #[graphql(entity)]
    async fn find_room_by_id(&self, ctx: &Context<'_>, id: ID) -> Option<Room> {
        node::entity(ctx, Room::reference(EntityId::new(id))).await
    }
}
