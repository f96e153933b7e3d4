//! Bounds on what one GraphQL document may make the service do, checked before async-graphql
//! parses or validates it. One process serves everyone, so a document must never be able to
//! overflow a stack or spend seconds of CPU, whatever its shape.
//!
//! Two passes, both linear:
//! - [`scan`] reads the raw text once, before any parsing: it counts tokens and bracket
//!   nesting, so the parser (which recurses per level of `{`, `[` and `(`) never sees more
//!   than `MAX_TOKENS` tokens or `MAX_RECURSION` levels.
//! - [`check`] walks the parsed document once: it rejects fragment cycles, and prices every
//!   fragment once (memoised, iteratively, so neither cycles nor long chains recurse) to bound
//!   the document's size *after* fragment expansion, aliases, root fields and directives, which
//!   is what async-graphql's validation and our own walks cost.
//!
//! Everything here is pure: text and documents in, a [`Rejection`] out. It knows GraphQL, not
//! this service's schema.

mod document;
mod lexer;

pub use document::{check, root_fields};
pub use lexer::scan;

use async_graphql::Pos;

/// The configured bounds (see the "Limits" table in `docs/operations.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentLimits {
    /// Tokens in the document text (punctuators, names, numbers, strings).
    pub max_tokens: usize,
    /// Nesting of selection sets, lists, objects and argument lists, all counted together.
    pub max_recursion: usize,
    /// Fields of all operations once every fragment spread is expanded.
    pub max_expanded_fields: usize,
    /// Aliased fields of an operation, fragments expanded.
    pub max_aliases: usize,
    /// Fields at an operation's root, fragments expanded.
    pub max_root_fields: usize,
    /// Directives at any one location (a field, a fragment, an operation, a variable).
    pub max_directives: usize,
}

impl Default for DocumentLimits {
    fn default() -> Self {
        Self {
            max_tokens: 15_000,
            max_recursion: 64,
            max_expanded_fields: 5_000,
            max_aliases: 30,
            max_root_fields: 20,
            max_directives: 10,
        }
    }
}

/// The limit a document exceeded, named as it is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `MAX_TOKENS`.
    Tokens,
    /// `MAX_RECURSION`.
    Recursion,
    /// `MAX_EXPANDED_FIELDS`.
    ExpandedFields,
    /// `MAX_ALIASES`.
    Aliases,
    /// `MAX_ROOT_FIELDS`.
    RootFields,
    /// `MAX_DIRECTIVES`.
    Directives,
}

impl Limit {
    /// The setting's name, which error messages and `extensions.limit` carry.
    pub fn setting(self) -> &'static str {
        match self {
            Self::Tokens => "MAX_TOKENS",
            Self::Recursion => "MAX_RECURSION",
            Self::ExpandedFields => "MAX_EXPANDED_FIELDS",
            Self::Aliases => "MAX_ALIASES",
            Self::RootFields => "MAX_ROOT_FIELDS",
            Self::Directives => "MAX_DIRECTIVES",
        }
    }
}

/// Why a document is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The document is larger than a limit allows.
    #[error("{what} (limit {limit}, {setting})", setting = .exceeded.setting())]
    TooLarge {
        /// Which limit.
        exceeded: Limit,
        /// Its configured value.
        limit: usize,
        /// What went over it, in words.
        what: &'static str,
        /// Where it went over, when there is one place.
        pos: Option<Pos>,
    },
    /// The text cannot be a GraphQL document, found without parsing it.
    #[error("{0}")]
    Syntax(&'static str, Pos),
    /// The document breaks a validation rule that async-graphql does not check (or checks
    /// only after work we must not do for such a document).
    #[error("{message}")]
    Invalid {
        /// What is wrong, in graphql-js's wording where there is one.
        message: String,
        /// Where.
        pos: Pos,
    },
}

impl Rejection {
    /// Where in the document the problem is, if at one place.
    pub fn pos(&self) -> Option<Pos> {
        match self {
            Self::TooLarge { pos, .. } => *pos,
            Self::Syntax(_, pos) | Self::Invalid { pos, .. } => Some(*pos),
        }
    }

    fn too_large(exceeded: Limit, limit: usize, what: &'static str, pos: Option<Pos>) -> Self {
        Self::TooLarge { exceeded, limit, what, pos }
    }

    fn invalid(message: impl Into<String>, pos: Pos) -> Self {
        Self::Invalid { message: message.into(), pos }
    }
}
