//! Apollo demand control's directives (Federation v2.9), declared with their spec
//! definitions so `schema.graphql` carries them too: a router prices an operation before it
//! reaches us, and refuses what would cost Telnyx too much.

#![allow(non_snake_case, unused_variables)]

use async_graphql::TypeDirective;

/// Complexity weight of one upstream request, also used by the complexity limit.
pub const UPSTREAM_REQUEST: i32 = 10;

/// `@cost`: what resolving the element costs.
#[TypeDirective(
    location = "ArgumentDefinition",
    location = "Enum",
    location = "FieldDefinition",
    location = "InputFieldDefinition",
    location = "Object"
)]
pub fn cost(weight: i32) {}

/// `@listSize`: how many items a list field returns.
#[TypeDirective(location = "FieldDefinition")]
pub fn listSize(
    assumedSize: Option<i32>,
    slicingArguments: Option<Vec<String>>,
    sizedFields: Option<Vec<String>>,
    #[graphql(default_with = "Some(true)")] requireOneSlicingArgument: Option<bool>,
) {
}

/// `@listSize(slicingArguments:)` of a Relay connection: as many items as `first` or
/// `last` say (20 when neither is given, which a router prices with its default list size).
pub fn by_first_or_last() -> Option<Vec<String>> {
    Some(vec!["first".into(), "last".into()])
}

/// `@listSize(sizedFields:)` of a Relay connection: the lists the slicing argument sizes.
pub fn edges_and_nodes() -> Option<Vec<String>> {
    Some(vec!["edges".into(), "nodes".into()])
}
