//! Relay's Global Object Identification: the `Node` interface, `node(id)`, `nodes(ids)`, and
//! the existence rules that federation's `_entities` shares with them.
//!
//! Ids stay the Telnyx UUIDs that clients, federation keys and Telnyx's dashboard use, so an
//! id alone does not say its type. The query usually does: Relay's refetch query for a
//! `RoomSession` fragment spreads that fragment inside `node`, so [`Selection`] reads which
//! types the selection names and what it asks of each, and [`resolve`] looks up only what it
//! must:
//! - one type named, with detail fields: that item is loaded (the fields would load it
//!   anyway, so it costs nothing extra) and a missing one is `null`;
//! - one type named, asking only for its lists (a refetched `participants` page): nothing
//!   extra is loaded; the list's own request proves the parent exists, and the executor turns
//!   its `NOT_FOUND` into `null` for the node (`spec::null_missing_entities`);
//! - no type or several named: the candidates are looked up concurrently (at most three
//!   requests, each cached for the request, so the fields that follow cost nothing).
//!
//! An id of another type than the one the selection names is `null`, never answered as the
//! named type.

use async_graphql::parser::types::{Field, FragmentDefinition, Selection as Item, SelectionSet};
use async_graphql::{Context, Interface, Name, Positioned, ID};
use futures::future::{BoxFuture, FutureExt};
use std::collections::HashMap;
use uuid::Uuid;

use super::ids::EntityId;
use super::participant::RoomParticipant;
use super::room::Room;
use super::room_session::RoomSession;
use crate::error::AppError;

/// Most ids one `nodes` field accepts.
pub const MAX_NODES: usize = 100;

/// An object with a globally unique id (Relay's Global Object Identification).
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "The object's id: its Telnyx UUID."))]
pub enum Node {
    /// A room.
    Room(Room),
    /// A room session.
    RoomSession(RoomSession),
    /// A room participant.
    RoomParticipant(RoomParticipant),
}

/// The types that implement `Node`, in the order lookups prefer them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Room,
    RoomSession,
    RoomParticipant,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Room, Kind::RoomSession, Kind::RoomParticipant];

    fn named(name: &str) -> Option<Kind> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Room => "Room",
            Kind::RoomSession => "RoomSession",
            Kind::RoomParticipant => "RoomParticipant",
        }
    }

    /// Fields whose upstream request fails with 404 when this object does not exist (a list
    /// under it), so asking one proves existence without loading the object itself.
    fn proving_lists(self) -> &'static [&'static str] {
        match self {
            Kind::Room => &["sessions"],
            Kind::RoomSession => &["participants"],
            Kind::RoomParticipant => &[],
        }
    }

    fn reference(self, id: Uuid) -> Node {
        let id = EntityId::from_uuid(id);
        match self {
            Kind::Room => Node::Room(Room::reference(id)),
            Kind::RoomSession => Node::RoomSession(RoomSession::reference(id)),
            Kind::RoomParticipant => Node::RoomParticipant(RoomParticipant::reference(id)),
        }
    }
}

/// What a selection asks of one type.
#[derive(Debug, Default, Clone, Copy)]
pub struct Asked {
    /// A fragment on the type is selected.
    named: bool,
    /// A field that needs the object's own data (anything but `id`, `__typename` and the
    /// proving lists) is selected.
    details: bool,
    /// A proving list is selected unconditionally (no `@skip`/`@include` on its way).
    lists: bool,
}

/// What the selection set of a `node`, `nodes` or `_entities` field asks of each type.
#[derive(Debug, Default)]
pub struct Selection([Asked; 3]);

impl Selection {
    /// Reads the selection set of the field `ctx` resolves. The document is validated, so
    /// fragments are acyclic and their type conditions exist.
    pub fn of(ctx: &Context<'_>) -> Self {
        let mut selection = Self::default();
        selection.walk(&ctx.item.node.selection_set.node, None, false, &ctx.query_env.fragments);
        selection
    }

    fn walk(
        &mut self,
        set: &SelectionSet,
        on: Option<Kind>,
        conditional: bool,
        fragments: &HashMap<Name, Positioned<FragmentDefinition>>,
    ) {
        for item in &set.items {
            match &item.node {
                Item::Field(field) => self.field(&field.node, on, conditional),
                Item::InlineFragment(inline) => {
                    let inline = &inline.node;
                    let on = inline.type_condition.as_ref().map_or(on, |t| self.enter(&t.node.on.node, on));
                    let conditional = conditional || !inline.directives.is_empty();
                    self.walk(&inline.selection_set.node, on, conditional, fragments);
                }
                Item::FragmentSpread(spread) => {
                    let Some(fragment) = fragments.get(&spread.node.fragment_name.node) else { continue };
                    let on = self.enter(&fragment.node.type_condition.node.on.node, on);
                    let conditional =
                        conditional || !spread.node.directives.is_empty() || !fragment.node.directives.is_empty();
                    self.walk(&fragment.node.selection_set.node, on, conditional, fragments);
                }
            }
        }
    }

    /// The type a fragment on `type_name` narrows to (`Node` keeps the enclosing one).
    fn enter(&mut self, type_name: &str, on: Option<Kind>) -> Option<Kind> {
        let Some(kind) = Kind::named(type_name) else { return on };
        self.0[kind as usize].named = true;
        Some(kind)
    }

    fn field(&mut self, field: &Field, on: Option<Kind>, conditional: bool) {
        let Some(kind) = on else { return };
        let asked = &mut self.0[kind as usize];
        match field.name.node.as_str() {
            "id" | "__typename" => {}
            name if kind.proving_lists().contains(&name) => {
                asked.lists |= !conditional && field.directives.is_empty();
            }
            _ => asked.details = true,
        }
    }

    /// What is asked of the type named `type_name`.
    pub fn asked(&self, type_name: &str) -> Asked {
        Kind::named(type_name).map(|kind| self.0[kind as usize]).unwrap_or_default()
    }

    fn named(&self) -> Vec<Kind> {
        Kind::ALL.into_iter().filter(|kind| self.0[*kind as usize].named).collect()
    }
}

/// An object that can tell whether it exists (for the caller: outside a room-scoped
/// caller's rooms, nothing does).
pub trait Exists: Send + Sync {
    /// `Ok` if it exists; `NOT_FOUND` if not; any other error if that could not be told.
    fn exists<'a>(&'a self, ctx: &'a Context<'_>) -> BoxFuture<'a, Result<(), AppError>>;
}

impl Exists for Node {
    fn exists<'a>(&'a self, ctx: &'a Context<'_>) -> BoxFuture<'a, Result<(), AppError>> {
        match self {
            Node::Room(room) => room.exists(ctx),
            Node::RoomSession(session) => session.exists(ctx),
            Node::RoomParticipant(participant) => participant.exists(ctx),
        }
    }
}

/// `object` if it exists, `None` if it does not.
async fn present<T: Exists>(ctx: &Context<'_>, object: T) -> Result<Option<T>, AppError> {
    match object.exists(ctx).await {
        Ok(()) => Ok(Some(object)),
        Err(AppError::NotFound { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The object with id `id`, as the selection asks for it (see the module docs).
pub async fn resolve(ctx: &Context<'_>, id: &ID, selection: &Selection) -> Result<Option<Node>, AppError> {
    let id = super::ids::parse_uuid("id", id)?;
    let named = selection.named();
    if let [kind] = named.as_slice() {
        let asked = selection.0[*kind as usize];
        if asked.lists && !asked.details {
            return Ok(Some(kind.reference(id)));
        }
        return present(ctx, kind.reference(id)).await;
    }
    let candidates = if named.is_empty() { Kind::ALL.to_vec() } else { named };
    let lookups = candidates.into_iter().map(|kind| present(ctx, kind.reference(id)));
    let mut first_error = None;
    for found in futures::future::join_all(lookups).await {
        match found {
            Ok(Some(node)) => return Ok(Some(node)),
            Ok(None) => {}
            Err(error) => first_error = first_error.or(Some(error)),
        }
    }
    first_error.map_or(Ok(None), Err)
}

/// A federation reference: trusted when only its keys are asked for; loaded when a detail
/// field would load it anyway, and then `null` (with one `NOT_FOUND` naming it) if it does
/// not exist; left to its lists to prove when only they are asked for. A lookup that fails
/// otherwise (Telnyx down) fails only the entity's own fields, never the whole batch.
pub async fn entity<T: Exists + async_graphql::OutputType>(ctx: &Context<'_>, object: T) -> Option<T> {
    if !Selection::of(ctx).asked(&T::type_name()).details {
        return Some(object);
    }
    match object.exists(ctx).await {
        Err(error @ AppError::NotFound { .. }) => {
            // At `_entities`; the executor adds the representation's index.
            let error: async_graphql::Error = error.into();
            ctx.add_error(ctx.set_error_path(error.into_server_error(ctx.item.pos)));
            None
        }
        _ => Some(object),
    }
}

/// Implements [`Exists`] for an object type through its scope-checked `data`.
macro_rules! exists_through_data {
    ($($ty:ty),*) => {$(
        impl Exists for $ty {
            fn exists<'a>(&'a self, ctx: &'a Context<'_>) -> BoxFuture<'a, Result<(), AppError>> {
                async move { self.data(ctx).await.map(drop) }.boxed()
            }
        }
    )*};
}
exists_through_data!(Room, RoomSession, RoomParticipant);
