//! Compiled plans for known documents.
//!
//! async-graphql executes every request through generic machinery: a boxed future per field,
//! an `IndexMap` per object, typed values built and then serialised. For a cached document the
//! work is known in advance, so the query is compiled once, the first time it runs, into a
//! [`Plan`]: the fields it selects, merged by response key in the order the spec's field
//! collection gives, with `@skip`/`@include` already applied. The plan answers once
//! async-graphql has validated the operation in full (the first request only validated, not
//! executed; later ones with variable values that cannot change the outcome). Running a plan
//! loads its connections through the request's [`Upstream`] with the resolvers' own pager
//! ([`super::connection::load_slice`]), and writes the response's JSON straight from the
//! upstream items: no futures or maps per object.
//!
//! async-graphql stays the reference executor. A plan covers only what it writes exactly as
//! the reference does; anything else is not compiled, and the request runs on async-graphql:
//! - queries (no operation directives) over `roomSession(id) { __typename id participants }`,
//!   `roomParticipants` and `__typename`, the participant connection's `edges`, `nodes`,
//!   `cursor`, `pageInfo`, `totalCount` and every scalar of `RoomParticipant`, through
//!   aliases, inline fragments and fragment spreads on those types;
//! - `@skip`/`@include` with a literal condition (a variable condition would need a plan per
//!   value);
//! - documents of one operation: async-graphql computes the complexity of all of them, with
//!   the request's variables. A plan whose complexity depends on variables (`first: $n`)
//!   computes it as async-graphql's validation does, and leaves a request over the limit to it.
//!
//! A plan gives up when a request meets anything it does not write as the reference would:
//! a room-scoped caller, an argument that does not parse, an upstream error, a null where the
//! schema says non-null. The request then runs on async-graphql with the same [`Upstream`],
//! whose cache already holds every load the plan made, so nothing goes upstream twice and the
//! answer, errors included, is the reference's. `tests/api/plans.rs` holds the two executors
//! to the same bytes on generated documents and upstream answers.

mod compile;
mod write;

use async_graphql::{Name, Value};

pub(super) use compile::compile;

use super::connection::Needs;

/// A compiled query: its root fields.
#[derive(Debug)]
pub struct Plan {
    root: Vec<Keyed<QueryField>>,
    /// The operation's complexity, where variables decide it (else the full validation,
    /// passed once, has checked it).
    cost: Option<Cost>,
}

/// The limits a plan keeps as async-graphql would.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest `first`/`last` accepted.
    pub max_first_last: u64,
    /// The largest complexity accepted.
    pub max_complexity: usize,
}

/// An operation's complexity, as async-graphql's validation computes it.
#[derive(Debug)]
enum Cost {
    Fixed(usize),
    Sum(Vec<Cost>),
    /// A connection field: see [`super::connection::complexity`].
    Connection {
        first: Arg,
        last: Arg,
        child: Box<Cost>,
    },
}

impl Cost {
    /// Whether variables decide it.
    fn varies(&self) -> bool {
        match self {
            Cost::Fixed(_) => false,
            Cost::Sum(parts) => parts.iter().any(Cost::varies),
            Cost::Connection { first, last, child } => {
                matches!(first, Arg::Variable(..)) || matches!(last, Arg::Variable(..)) || child.varies()
            }
        }
    }
}

/// A field under its response key.
#[derive(Debug)]
struct Keyed<T> {
    /// The key as it opens the member in JSON: `"alias":`. Names are `[_A-Za-z][_0-9A-Za-z]*`,
    /// so nothing needs escaping.
    member: Box<str>,
    field: T,
}

#[derive(Debug)]
enum QueryField {
    Typename,
    /// `roomSession(id)`: a reference that needs no upstream request of its own.
    RoomSession {
        id: Arg,
        fields: Vec<Keyed<SessionField>>,
    },
    /// `roomParticipants(filter, ...)`.
    RoomParticipants(Box<List>),
}

#[derive(Debug)]
enum SessionField {
    Typename,
    Id,
    /// `participants(filter, ...)`.
    Participants(Box<List>),
}

/// A participant connection: its arguments and selection.
#[derive(Debug)]
struct List {
    filter: Arg,
    first: Arg,
    after: Arg,
    last: Arg,
    before: Arg,
    /// What the selection needs fetched, as the resolver's look-ahead decides it.
    needs: Needs,
    fields: Vec<Keyed<ConnectionField>>,
}

#[derive(Debug)]
enum ConnectionField {
    Typename,
    TotalCount,
    PageInfo(Vec<Keyed<PageInfoField>>),
    Edges(Vec<Keyed<EdgeField>>),
    Nodes(Vec<Keyed<ParticipantField>>),
}

#[derive(Debug)]
enum PageInfoField {
    Typename,
    HasPreviousPage,
    HasNextPage,
    StartCursor,
    EndCursor,
}

#[derive(Debug)]
enum EdgeField {
    Typename,
    Cursor,
    Node(Vec<Keyed<ParticipantField>>),
}

#[derive(Debug, Clone, Copy)]
enum ParticipantField {
    Typename,
    Id,
    SessionId,
    Context,
    JoinedAt,
    UpdatedAt,
    LeftAt,
}

/// An argument as the document gives it.
#[derive(Debug)]
enum Arg {
    Absent,
    Literal(Value),
    /// A variable, with the operation's default for it.
    Variable(Name, Option<Value>),
}
