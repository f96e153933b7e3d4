//! Ids: parsed once at the boundary, so nothing unvalidated reaches an upstream path.

use async_graphql::ID;
use uuid::Uuid;

use crate::error::AppError;

/// Parses a UUID argument, accepting only the canonical hyphenated form (any case).
pub fn parse_uuid(argument: &str, id: &ID) -> Result<Uuid, AppError> {
    let canonical = id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    canonical
        .then(|| Uuid::try_parse(id).ok())
        .flatten()
        .ok_or_else(|| AppError::bad_input(argument, format!("\"{}\" is not a UUID", id.as_str())))
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_uuids_are_accepted() {
        assert!(parse_uuid("id", &ID("7B61621F-5FE4-4AAD-AB11-9FD19E272E73".into())).is_ok());
        for bad in ["../../rooms", "7b61621f5fe44aadab119fd19e272e73", "{7b61621f-5fe4-4aad-ab11-9fd19e272e73}", ""] {
            assert_eq!(parse_uuid("id", &ID(bad.into())).unwrap_err().code(), "BAD_USER_INPUT", "{bad}");
        }
    }
}
