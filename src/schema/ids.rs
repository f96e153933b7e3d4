//! Ids: parsed once at the boundary, so nothing unvalidated reaches an upstream path.

use std::sync::Arc;

use async_graphql::{Context, ID};
use uuid::Uuid;

use super::upstream;
use crate::error::AppError;
use crate::telnyx::{Identified, ItemEndpoint, UpstreamError};

/// Parses a UUID argument, accepting only the canonical hyphenated form (any case): of the
/// forms `uuid` reads, that is the only one 36 bytes long, and it checks each byte itself.
pub fn parse_uuid(argument: &str, id: &str) -> Result<Uuid, AppError> {
    (id.len() == 36)
        .then(|| Uuid::try_parse(id).ok())
        .flatten()
        .ok_or_else(|| AppError::bad_input(argument, format!("\"{id}\" is not a UUID")))
}

/// An entity known by id alone until a field needs its upstream data.
///
/// Federation hands us ids from other subgraphs: an invalid one must fail only the fields of
/// its own entity, not the whole `_entities` batch, so parsing is deferred to the first use.
#[derive(Debug, Clone)]
pub struct EntityId {
    /// The id as given, echoed back unchanged.
    pub raw: ID,
    /// The parsed id, or why it doesn't parse.
    pub uuid: Result<Uuid, AppError>,
}

impl EntityId {
    /// An id that came from a client or another subgraph.
    pub fn new(raw: ID) -> Self {
        let uuid = parse_uuid("id", &raw);
        Self { raw, uuid }
    }

    /// An id already known to be valid.
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self { raw: ID(uuid.to_string()), uuid: Ok(uuid) }
    }

    /// An id as upstream sent it (which may, in principle, not be a UUID).
    pub fn from_upstream(raw: &str) -> Self {
        Self::new(ID(raw.to_owned()))
    }

    /// For a list under this entity: Telnyx answers 404 when the entity itself does not
    /// exist, which is `NOT_FOUND` naming it, as a lookup of the entity would say.
    pub fn missing_on_404(&self, what: &'static str) -> impl FnOnce(AppError) -> AppError + '_ {
        move |error| match error {
            AppError::Upstream(upstream @ UpstreamError::Status { status: 404, .. }) => {
                AppError::ParentNotFound { what, id: self.raw.to_string(), upstream }
            }
            other => other,
        }
    }
}

/// An upstream item: loaded (a list or lookup returned it), or known by id alone until a
/// detail field needs it, then loaded once per request through the request's loader.
pub struct Entity<T: Identified> {
    /// The id, as given or as upstream sent it.
    pub id: EntityId,
    data: Option<Arc<T>>,
}

impl<T: Identified> Entity<T> {
    /// An item upstream returned.
    pub fn loaded(data: Arc<T>) -> Self {
        Self { id: EntityId::from_upstream(data.raw_id().unwrap_or_default()), data: Some(data) }
    }

    /// An item known by id only; costs no upstream request until [`Entity::data`] is called.
    pub fn reference(id: EntityId) -> Self {
        Self { id, data: None }
    }

    /// The data, as loaded, or from the request's loader (`NOT_FOUND` if there is none).
    pub async fn data(&self, ctx: &Context<'_>) -> Result<Arc<T>, AppError> {
        if let Some(data) = &self.data {
            return Ok(data.clone());
        }
        let found = upstream(ctx).item(T::Key::of(self.id.uuid.clone()?)).await?;
        found.ok_or_else(|| AppError::NotFound { what: T::Key::WHAT, id: self.id.raw.to_string() })
    }

    /// The data if it was loaded with the entity.
    pub fn loaded_data(&self) -> Option<&T> {
        self.data.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_uuids_are_accepted() {
        assert!(parse_uuid("id", &ID("7B61621F-5FE4-4AAD-AB11-9FD19E272E73".into())).is_ok());
        for bad in [
            "../../rooms",
            "7b61621f5fe44aadab119fd19e272e73",
            "{7b61621f-5fe4-4aad-ab11-9fd19e272e73}",
            "urn:uuid:7b61621f-5fe4-4aad-ab11-9fd19e272e73",
            // 36 bytes, as the canonical form, but not it:
            "7b61621f-5fe4-4aad-ab11-9fd19e272e7g",
            "7b61621f-5fe4-4aad-ab119-fd19e272e73",
            "7b61621f-5fe4-4aad-ab11-9fd19e272eé",
            "",
        ] {
            assert_eq!(parse_uuid("id", &ID(bad.into())).unwrap_err().code(), "BAD_USER_INPUT", "{bad}");
        }
    }
}
