//! Room-scoped callers: a token may name the rooms its holder sees (`telnyx_room_ids`), and
//! then nothing outside them is shown, nor is its existence revealed.
//!
//! The checks sit where an entity's upstream data is first needed, so they cost nothing for
//! unscoped callers and at most one session lookup (shared with every other use of it in the
//! request) to tell which room a session belongs to.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_graphql::Context;
use uuid::Uuid;

use crate::error::AppError;

/// The rooms a caller may see; `None` for callers who are not room-scoped. Ordered, so a
/// scoped `rooms` list pages in a stable order.
#[derive(Debug, Clone, Default)]
pub struct RoomScope(pub Option<Arc<BTreeSet<Uuid>>>);

static UNSCOPED: RoomScope = RoomScope(None);

impl RoomScope {
    /// The scope of a caller limited to `rooms`, if it is.
    pub fn new(rooms: Option<&[Uuid]>) -> Self {
        Self(rooms.map(|rooms| Arc::new(rooms.iter().copied().collect())))
    }

    /// The request's scope (none unless the HTTP layer put one there).
    pub fn of<'a>(ctx: &Context<'a>) -> &'a RoomScope {
        ctx.data_opt::<RoomScope>().unwrap_or(&UNSCOPED)
    }

    /// The allowed rooms, if the caller is room-scoped.
    pub fn rooms(&self) -> Option<&BTreeSet<Uuid>> {
        self.0.as_deref()
    }

    /// Whether the caller may see `room`.
    pub fn allows(&self, room: &Uuid) -> bool {
        self.0.as_ref().is_none_or(|rooms| rooms.contains(room))
    }

    /// Whether the caller may see the room upstream named `room` (absent or not a UUID: no).
    pub fn allows_upstream(&self, room: Option<&str>) -> bool {
        match &self.0 {
            None => true,
            Some(rooms) => room.and_then(|r| Uuid::try_parse(r).ok()).is_some_and(|r| rooms.contains(&r)),
        }
    }

    /// `NOT_FOUND` for `what` with `id` unless `allowed`: outside the scope, an entity looks
    /// exactly like one that does not exist.
    pub fn hide(allowed: bool, what: &'static str, id: &str) -> Result<(), AppError> {
        if allowed {
            Ok(())
        } else {
            Err(AppError::NotFound { what, id: id.to_owned() })
        }
    }
}
