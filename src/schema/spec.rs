//! Brings async-graphql 7.2's responses to the letter of the GraphQL spec.
//!
//! async-graphql resolves sibling fields concurrently and stores each result when it
//! completes, and since 7.1 it drops a failed field instead of nulling it. So, once
//! execution is done, [`Shape::repair`]:
//! - reorders every response map by the selection set ("Serialized Map Ordering");
//! - puts `null` where a field failed, and propagates that null up through non-null
//!   positions to the nearest nullable one ("Handling Field Errors");
//! - makes `null` a `node`, `nodes` item or `_entities` item that turned out not to exist
//!   (see `super::node`): a node silently, as Relay expects of an unknown id; an entity with
//!   one `NOT_FOUND` at its index, as a gateway expects;
//! - gives `_entities` errors the list index async-graphql leaves out of their path, so a
//!   gateway can tell which representation failed;
//! - removes the `__typename` that [`keep_empty_objects`] adds to a selection set whose
//!   fields may all be skipped: async-graphql answers an object without fields as `null`
//!   (even where the schema says non-null), the spec as `{}`.
//!
//! Before execution, [`check`] rejects what async-graphql would only notice while resolving:
//! a required variable without a value (`BAD_USER_INPUT`, a request error), introspection when
//! it is turned off (an error rather than a silent `null`), `_service` for callers who may not
//! read the SDL, and a mutation sent over GET. These walk the document with
//! [`guard::root_fields`], which reads each fragment once, so they are safe on documents
//! async-graphql has not validated yet.
//!
//! These are plain functions called around execution rather than an async-graphql
//! extension: any extension wraps every field's resolution in boxed futures, which doubled
//! the CPU cost of a query.

use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, Field, OperationDefinition, OperationType, Selection,
    SelectionSet, Type,
};
use async_graphql::registry::Registry;
use async_graphql::{OutputType, PathSegment, Response, ServerError, ServerResult, Value, Variables};
use indexmap::IndexMap;

use super::executor::RequestPolicy;
use super::{Mutation, Query, Subscription};
use crate::guard;

/// What [`check`] enforces besides the spec.
#[derive(Debug, Clone, Copy)]
pub struct Checks {
    /// Whether introspection is answered.
    pub introspection: bool,
    /// What the HTTP layer allows this request.
    pub policy: RequestPolicy,
}

/// What [`check`] learnt about the operation, for after it runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selected {
    /// It selects `_service` at its root.
    pub federation_sdl: bool,
    /// It selects `_entities` at its root (whose repair needs the request's variables).
    pub entities: bool,
}

/// Checks a parsed request before it runs.
pub fn check(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
    checks: Checks,
) -> ServerResult<Selected> {
    let Some(operation) = operation(document, operation_name) else { return Ok(Selected::default()) };
    if operation.ty == OperationType::Mutation && !checks.policy.mutations {
        let message = "mutations are only accepted over POST";
        return Err(coded(ServerError::new(message, None), "METHOD_NOT_ALLOWED"));
    }
    if operation.ty == OperationType::Subscription && !checks.policy.streams {
        let message =
            "subscriptions are served over WebSocket (graphql-transport-ws) or SSE (Accept: text/event-stream)";
        return Err(coded(ServerError::new(message, None), "BAD_REQUEST"));
    }
    check_variables(operation, variables)?;
    let roots = guard::root_fields(operation, document);
    if !checks.introspection && roots.iter().any(|name| matches!(*name, "__schema" | "__type")) {
        let message = "introspection is disabled on this server";
        return Err(coded(ServerError::new(message, None), "GRAPHQL_VALIDATION_FAILED"));
    }
    let federation_sdl = roots.contains(&"_service");
    if federation_sdl && !checks.policy.federation_sdl {
        let message = "the federation SDL (`_service`) is not served to this caller; see FEDERATION_SDL";
        return Err(coded(ServerError::new(message, None), "GRAPHQL_VALIDATION_FAILED"));
    }
    Ok(Selected { federation_sdl, entities: roots.contains(&"_entities") })
}

/// Moves the directives of every `__typename` onto an inline fragment around it
/// (`__typename @skip(if: $v)` becomes `... @skip(if: $v) { __typename }`, which means the
/// same). async-graphql's validation skips `__typename` fields entirely, so their directives
/// went unchecked (unknown, repeated, mistyped) and a variable used only there was reported
/// as unused; on an inline fragment every rule sees them. Runs once per document, before it is
/// cached, on a document whose nesting the guard has bounded.
pub fn expose_typename_directives(document: &mut ExecutableDocument) {
    use async_graphql::parser::types::{Field, InlineFragment};
    use async_graphql::Positioned;

    fn walk(set: &mut SelectionSet) {
        for selection in &mut set.items {
            let pos = selection.pos;
            match &mut selection.node {
                Selection::Field(field)
                    if field.node.name.node == "__typename" && !field.node.directives.is_empty() =>
                {
                    let directives = std::mem::take(&mut field.node.directives);
                    let field: Positioned<Field> = field.clone();
                    let items = vec![Positioned::new(Selection::Field(field), pos)];
                    let selection_set = Positioned::new(SelectionSet { items }, pos);
                    let inline = InlineFragment { type_condition: None, directives, selection_set };
                    selection.node = Selection::InlineFragment(Positioned::new(inline, pos));
                }
                Selection::Field(field) => walk(&mut field.node.selection_set.node),
                Selection::InlineFragment(inline) => walk(&mut inline.node.selection_set.node),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    match &mut document.operations {
        DocumentOperations::Single(operation) => walk(&mut operation.node.selection_set.node),
        DocumentOperations::Multiple(operations) => {
            operations.values_mut().for_each(|operation| walk(&mut operation.node.selection_set.node))
        }
    }
    for fragment in document.fragments.values_mut() {
        walk(&mut fragment.node.selection_set.node);
    }
}

/// The alias of the `__typename` [`keep_empty_objects`] adds; [`Shape::repair`] removes it.
pub const KEPT: &str = "_selectionKept_";

/// Adds `_selectionKept_: __typename` at the start of every selection set of an object whose
/// fields may all be skipped (no field selected without a condition), so that async-graphql,
/// which answers an object without fields as `null`, answers `{}` once the repair has removed
/// it. Not at a subscription's root, which must select exactly one field. Runs once per
/// document, before it is cached.
pub fn keep_empty_objects(document: &mut ExecutableDocument) {
    use async_graphql::parser::types::Field;
    use async_graphql::{Name, Positioned};

    fn keep(set: &mut Positioned<SelectionSet>) {
        let always = |selection: &Positioned<Selection>| matches!(&selection.node, Selection::Field(field) if field.node.directives.is_empty());
        if !set.node.items.is_empty() && !set.node.items.iter().any(always) {
            let pos = set.pos;
            let field = Field {
                alias: Some(Positioned::new(Name::new(KEPT), pos)),
                name: Positioned::new(Name::new("__typename"), pos),
                arguments: Vec::new(),
                directives: Vec::new(),
                selection_set: Positioned::new(SelectionSet::default(), pos),
            };
            set.node.items.insert(0, Positioned::new(Selection::Field(Positioned::new(field, pos)), pos));
        }
    }
    fn walk(set: &mut Positioned<SelectionSet>) {
        for selection in &mut set.node.items {
            match &mut selection.node {
                Selection::Field(field) if !field.node.selection_set.node.items.is_empty() => {
                    keep(&mut field.node.selection_set);
                    walk(&mut field.node.selection_set);
                }
                Selection::Field(_) | Selection::FragmentSpread(_) => {}
                Selection::InlineFragment(inline) => walk(&mut inline.node.selection_set),
            }
        }
    }
    let operations: Vec<&mut Positioned<OperationDefinition>> = match &mut document.operations {
        DocumentOperations::Single(operation) => vec![operation],
        DocumentOperations::Multiple(operations) => operations.values_mut().collect(),
    };
    for operation in operations {
        if operation.node.ty != OperationType::Subscription {
            keep(&mut operation.node.selection_set);
        }
        walk(&mut operation.node.selection_set);
    }
    for fragment in document.fragments.values_mut() {
        walk(&mut fragment.node.selection_set);
    }
}

/// Brings the federation SDL async-graphql writes to what this service serves: linked to
/// Federation v2.9, and with `@requiresScopes` only when `scopes` (see
/// [`strip_requires_scopes`]).
pub fn serve_federation_sdl(sdl: &mut String, scopes: bool) {
    link_federation_v2_9(sdl);
    if !scopes {
        strip_requires_scopes(sdl);
    }
}

/// Applies `rewrite` to every string in `data`: the response of an operation that selected
/// `_service`, whose only strings are SDLs, whatever the aliases.
pub fn rewrite_strings(data: &mut Value, rewrite: &impl Fn(&mut String)) {
    match data {
        Value::String(text) => rewrite(text),
        Value::Object(map) => map.values_mut().for_each(|value| rewrite_strings(value, rewrite)),
        Value::List(items) => items.iter_mut().for_each(|value| rewrite_strings(value, rewrite)),
        _ => {}
    }
}

/// Removes `@requiresScopes` from a federation SDL. Scopes are declared only where the service
/// checks them (`AUTH_MODE=jwt`): in `passthrough` mode Telnyx decides, and a gateway must not
/// ask callers for scopes their Telnyx keys do not carry (Apollo Gateway cannot load a
/// supergraph that declares them at all).
fn strip_requires_scopes(sdl: &mut String) {
    if !sdl.contains("@requiresScopes") {
        return;
    }
    let mut kept = String::with_capacity(sdl.len());
    let mut rest = sdl.as_str();
    while let Some(at) = rest.find(" @requiresScopes(") {
        kept.push_str(&rest[..at]);
        rest = rest[at..].find(')').map_or("", |end| &rest[at + end + 1..]);
    }
    kept.push_str(rest);
    *sdl = kept.replace(", \"@requiresScopes\"", "");
}

/// Links a federation SDL to Federation v2.9, which defines the demand-control directives
/// `@cost` and `@listSize` the schema applies; async-graphql 7.2 writes a v2.5 link, which
/// does not.
fn link_federation_v2_9(sdl: &mut String) {
    if sdl.contains(FEDERATION_V2_5) {
        *sdl = sdl.replacen(FEDERATION_V2_5, "https://specs.apollo.dev/federation/v2.9", 1).replacen(
            "import: [\"@key\",",
            "import: [\"@key\", \"@cost\", \"@listSize\",",
            1,
        );
    }
}

const FEDERATION_V2_5: &str = "https://specs.apollo.dev/federation/v2.5";

/// The name of the operation that runs, for metrics: the one asked for, or the document's
/// only operation.
pub fn operation_name(document: &ExecutableDocument, asked: Option<&str>) -> Option<String> {
    asked.map(str::to_owned).or_else(|| match &document.operations {
        DocumentOperations::Multiple(ops) if ops.len() == 1 => ops.keys().next().map(|n| n.to_string()),
        _ => None,
    })
}

pub(crate) fn coded(mut error: ServerError, code: &str) -> ServerError {
    error.extensions.get_or_insert_with(Default::default).set("code", code);
    error
}

/// Whether a root field of the operation that runs is given `argument` (a value other than
/// null, written or through a variable).
pub fn root_argument_given(
    document: &ExecutableDocument,
    name: Option<&str>,
    variables: &Variables,
    argument: &str,
) -> bool {
    let Some(operation) = operation(document, name) else { return false };
    let fields = collect_all(&[&operation.selection_set.node], document, None);
    fields.keys().filter_map(|key| root_field(&[&operation.selection_set.node], document, key)).any(|field| {
        field.get_argument(argument).is_some_and(|value| {
            let value = value.node.clone().into_const_with(|name| variables.get(&name).cloned().ok_or(()));
            value.is_ok_and(|value| value != Value::Null)
        })
    })
}

/// The type of the operation that runs: the one named, or the document's only one.
pub fn operation_type(document: &ExecutableDocument, name: Option<&str>) -> Option<OperationType> {
    operation(document, name).map(|operation| operation.ty)
}

pub(super) fn operation<'a>(document: &'a ExecutableDocument, name: Option<&str>) -> Option<&'a OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| &op.node),
        _ => None,
    }
}

/// Whether every variable value given to the operation that runs is valid for its declared
/// type beyond doubt: a non-null value of a built-in scalar, or a list of them. Then
/// async-graphql's full validation, once passed by this document and operation, would pass
/// again: the only rule of it that reads variable values (`ArgumentsOfCorrectType`) checks
/// each against the type of the argument it is used in, which `VariableInAllowedPosition`
/// has made the variable's own type or a nullable form of it. Anything else (null, enums,
/// input objects, custom scalars, an `Int` out of range) answers false, and the request is
/// validated in full.
pub fn variables_plainly_valid(document: &ExecutableDocument, name: Option<&str>, variables: &Variables) -> bool {
    fn fits(ty: &Type, value: &Value) -> bool {
        match (&ty.base, value) {
            (_, Value::Null) => false,
            (BaseType::List(item), Value::List(items)) => items.iter().all(|value| fits(item, value)),
            (BaseType::List(_), _) => false,
            (BaseType::Named(name), value) => match (name.as_str(), value) {
                ("String" | "ID", Value::String(_)) | ("Boolean", Value::Boolean(_)) => true,
                ("Int", Value::Number(n)) => n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
                ("Float", Value::Number(n)) => n.as_f64().is_some_and(f64::is_finite),
                _ => false,
            },
        }
    }
    let Some(operation) = operation(document, name) else { return false };
    operation.variable_definitions.iter().all(|definition| {
        let definition = &definition.node;
        variables.get(&definition.name.node).is_none_or(|value| fits(&definition.var_type.node, value))
    })
}

/// A non-null variable without a default needs a non-null value (spec: "Coercing Variable
/// Values"); async-graphql would only fail the fields that use it, at execution.
fn check_variables(operation: &OperationDefinition, variables: &Variables) -> ServerResult<()> {
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        let required = !definition.var_type.node.nullable && definition.default_value.is_none();
        let given = variables.get(&definition.name.node).is_some_and(|v| *v != Value::Null);
        if required && !given {
            let message =
                format!("variable `${}` of type `{}` is required", definition.name.node, definition.var_type.node);
            return Err(coded(ServerError::new(message, Some(definition.name.pos)), "BAD_USER_INPUT"));
        }
    }
    Ok(())
}

/// Response keys in selection order, each with its field name and merged sub-selections.
type Fields<'a> = IndexMap<&'a str, (&'a str, Vec<&'a SelectionSet>)>;

/// What decides `@skip` and `@include` in one request: its variables and the operation's
/// defaults for them.
#[derive(Clone, Copy)]
struct Conditions<'a> {
    variables: Option<&'a Variables>,
    definitions: &'a [async_graphql::Positioned<async_graphql::parser::types::VariableDefinition>],
}

impl Conditions<'_> {
    /// Whether a selection with `directives` is collected.
    fn include(&self, directives: &[async_graphql::Positioned<async_graphql::parser::types::Directive>]) -> bool {
        directives.iter().all(|directive| {
            let directive = &directive.node;
            let condition = directive.get_argument("if").and_then(|value| {
                let value = value.node.clone().into_const_with(|name| {
                    let given = self.variables.and_then(|variables| variables.get(&name));
                    let default = || {
                        let definition = self.definitions.iter().find(|d| d.node.name.node == name)?;
                        definition.node.default_value.as_ref().map(|value| value.node.clone())
                    };
                    given.cloned().or_else(default).ok_or(())
                });
                match value {
                    Ok(Value::Boolean(condition)) => Some(condition),
                    _ => None,
                }
            });
            match (directive.name.node.as_str(), condition) {
                ("skip", Some(condition)) => !condition,
                ("include", Some(condition)) => condition,
                _ => true,
            }
        })
    }
}

/// The spec's field collection of `set` into `fields`; with `conditions`, without what
/// `@skip`/`@include` leave out (only the response's order needs that: a key left out is not
/// in it).
fn collect<'a>(
    set: &'a SelectionSet,
    document: &'a ExecutableDocument,
    fields: &mut Fields<'a>,
    conditions: Option<&Conditions<'_>>,
) {
    let included = |directives: &[_]| conditions.is_none_or(|conditions| conditions.include(directives));
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) if included(&field.node.directives) => {
                let field = &field.node;
                let entry =
                    fields.entry(field.response_key().node.as_str()).or_insert((field.name.node.as_str(), Vec::new()));
                entry.1.push(&field.selection_set.node);
            }
            Selection::InlineFragment(fragment) if included(&fragment.node.directives) => {
                collect(&fragment.node.selection_set.node, document, fields, conditions)
            }
            Selection::FragmentSpread(spread) if included(&spread.node.directives) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    collect(&fragment.node.selection_set.node, document, fields, conditions);
                }
            }
            _ => {}
        }
    }
}

fn collect_all<'a>(
    sets: &[&'a SelectionSet],
    document: &'a ExecutableDocument,
    conditions: Option<&Conditions<'_>>,
) -> Fields<'a> {
    let mut fields = IndexMap::new();
    for set in sets {
        collect(set, document, &mut fields, conditions);
    }
    fields
}

/// Reorders `value` (the result of the merged `sets`) and everything below it. The field
/// order is worked out once per selection, not once per list item.
fn reorder(value: &mut Value, sets: &[&SelectionSet], document: &ExecutableDocument, conditions: &Conditions<'_>) {
    if matches!(value, Value::List(_) | Value::Object(_)) {
        reorder_with(value, &collect_all(sets, document, Some(conditions)), document, conditions);
    }
}

fn reorder_with(value: &mut Value, fields: &Fields<'_>, document: &ExecutableDocument, conditions: &Conditions<'_>) {
    match value {
        Value::List(items) => {
            let children: Vec<(&str, Fields<'_>)> = fields
                .iter()
                .map(|(key, (_, subsets))| (*key, collect_all(subsets, document, Some(conditions))))
                .collect();
            for item in items {
                match item {
                    Value::Object(map) => {
                        order(map, fields);
                        unkeep(map, fields);
                        for (child, (_, child_fields)) in in_step(map, children.iter(), |(key, _)| key) {
                            reorder_with(child, child_fields, document, conditions);
                        }
                    }
                    other => reorder_with(other, fields, document, conditions),
                }
            }
        }
        Value::Object(map) => {
            order(map, fields);
            unkeep(map, fields);
            for (child, (_, (_, subsets))) in in_step(map, fields.iter(), |(key, _)| key) {
                reorder(child, subsets, document, conditions);
            }
        }
        _ => {}
    }
}

/// Removes [`KEPT`] where `fields` select it (compared by length first, so most selections
/// cost a few integer comparisons and no hashing).
fn unkeep(map: &mut IndexMap<async_graphql::Name, Value>, fields: &Fields<'_>) {
    if fields.keys().any(|key| *key == KEPT) {
        map.shift_remove(KEPT);
    }
}

/// Each value of `map` with the entry of `entries` (in the same order, as [`order`] leaves
/// them) whose `key` is the value's key; values without one are left out. A walk of both, not a
/// lookup per key: hashing each key (SipHash, in async-graphql's maps) was a tenth of a query.
fn in_step<I: Iterator + Clone>(
    map: &mut IndexMap<async_graphql::Name, Value>,
    entries: I,
    key: impl Fn(&I::Item) -> &str,
) -> impl Iterator<Item = (&mut Value, I::Item)> {
    let mut rest = entries;
    map.iter_mut().filter_map(move |(name, value)| {
        let mut ahead = rest.clone();
        let entry = ahead.find(|entry| key(entry) == name.as_str())?;
        rest = ahead;
        Some((value, entry))
    })
}

/// Puts `map`'s keys in `fields`' order (unknown keys last), unless they already are.
fn order(map: &mut IndexMap<async_graphql::Name, Value>, fields: &Fields<'_>) {
    // In order when the keys are a subsequence of the fields (each key is unique): a walk of
    // both, without hashing.
    let mut expected = fields.keys();
    let in_order = map.keys().all(|key| expected.any(|field| *field == key.as_str()));
    if !in_order {
        let mut unordered = std::mem::take(map);
        for key in fields.keys() {
            if let Some((name, child)) = unordered.shift_remove_entry(*key) {
                map.insert(name, child);
            }
        }
        map.extend(unordered);
    }
}

/// The schema's types, for telling which response positions may be null.
pub struct Shape {
    registry: Registry,
}

impl Shape {
    /// The types reachable from the query root.
    pub fn of_schema() -> Self {
        let mut registry = Registry::default();
        <Query as OutputType>::create_type_info(&mut registry);
        <Mutation as OutputType>::create_type_info(&mut registry);
        <Subscription as async_graphql::SubscriptionType>::create_type_info(&mut registry);
        Self { registry }
    }

    /// Repairs `response` of `document`'s operation `operation_name` (see the module docs);
    /// `variables` are needed only when the operation selects `_entities` or has variables.
    pub fn repair(
        &self,
        response: &mut Response,
        document: &ExecutableDocument,
        operation_name: Option<&str>,
        variables: Option<&Variables>,
    ) {
        let Some(operation) = operation(document, operation_name) else { return };
        let root = [&operation.selection_set.node];
        let root_type = match operation.ty {
            OperationType::Query => "Query",
            OperationType::Mutation => "Mutation",
            OperationType::Subscription => "Subscription",
        };
        let types = Types { registry: &self.registry, document, root_type };
        if !response.errors.is_empty() {
            types.null_missing_nodes(response, &root);
            let missing = types.null_missing_entities(response, &root, variables);
            types.fix_entity_paths(response, &missing);
        }
        types.null_failed_fields(response, &root);
        let conditions = Conditions { variables, definitions: &operation.variable_definitions };
        reorder(&mut response.data, &root, document, &conditions);
    }
}

impl Shape {
    /// The spec's Field Selection Merging (5.3.2) over every operation of `document`: fields
    /// that answer under one response key must be the same field with the same arguments
    /// wherever they can meet, and so, merged, must their selections. async-graphql checks
    /// this only between fields of one selection set under one fragment type, so
    /// `{ a: id ... on Query { a: active } }` or `{ s { a: id } s { a: active } }` ran, with
    /// whichever field completed last in the response. Runs once per parsed document, after
    /// the guard has refused fragment cycles and bounded the expanded size. (The spec's other
    /// half, SameResponseShape between fields of two object types, is not checked here.)
    pub fn check_merging(&self, document: &ExecutableDocument) -> ServerResult<()> {
        let merging = Merging { registry: &self.registry, document };
        for (_, operation) in document.operations.iter() {
            let root = match operation.node.ty {
                OperationType::Query => "Query",
                OperationType::Mutation => "Mutation",
                OperationType::Subscription => "Subscription",
            };
            merging.check(&[(Some(root), &operation.node.selection_set.node)])?;
        }
        Ok(())
    }
}

/// A field where a selection set selects it: on which type (`None` where the schema cannot
/// tell, as under `_entities`).
struct Occurrence<'a> {
    parent: Option<&'a str>,
    field: &'a async_graphql::Positioned<Field>,
}

/// The fields a set of selection sets selects, by response key in the order first met.
type Groups<'a> = IndexMap<&'a str, Vec<Occurrence<'a>>, foldhash::fast::RandomState>;

/// The fragments already spread while collecting.
type Visited<'a> = std::collections::HashSet<&'a str, foldhash::fast::RandomState>;

struct Merging<'a> {
    registry: &'a Registry,
    document: &'a ExecutableDocument,
}

impl<'a> Merging<'a> {
    /// Checks the fields `sets` select together (each on its type), then their selections.
    fn check(&self, sets: &[(Option<&'a str>, &'a SelectionSet)]) -> ServerResult<()> {
        let mut groups = Groups::default();
        let mut visited = Visited::default();
        for (parent, set) in sets {
            self.collect(*parent, set, &mut groups, &mut visited);
        }
        for (key, occurrences) in &groups {
            // Most keys are selected once: nothing to compare, one selection to check.
            if let [only] = occurrences.as_slice() {
                if !only.field.node.selection_set.node.items.is_empty() {
                    self.check(&[(self.field_type(only), &only.field.node.selection_set.node)])?;
                }
                continue;
            }
            // Occurrences on one object type are all equal once each equals the first; so one
            // representative per type is compared with each new occurrence.
            let mut representatives: Vec<&Occurrence<'a>> = Vec::new();
            for occurrence in occurrences {
                for representative in &representatives {
                    if self.can_meet(representative.parent, occurrence.parent) {
                        same_field(key, representative.field, occurrence.field)?;
                    }
                }
                if !representatives.iter().any(|r| r.parent == occurrence.parent) {
                    representatives.push(occurrence);
                }
            }
            // Selections merge where their fields can meet: per object type, with the
            // occurrences on abstract or unknown types.
            let objects: Vec<Option<&str>> =
                representatives.iter().map(|r| r.parent).filter(|p| self.is_object(*p)).collect();
            let classes: Vec<Vec<&Occurrence<'a>>> = if objects.is_empty() {
                vec![occurrences.iter().collect()]
            } else {
                objects
                    .iter()
                    .map(|object| {
                        occurrences.iter().filter(|o| o.parent == *object || !self.is_object(o.parent)).collect()
                    })
                    .collect()
            };
            for class in classes {
                let children: Vec<(Option<&'a str>, &'a SelectionSet)> = class
                    .iter()
                    .filter(|o| !o.field.node.selection_set.node.items.is_empty())
                    .map(|o| (self.field_type(o), &o.field.node.selection_set.node))
                    .collect();
                if !children.is_empty() {
                    self.check(&children)?;
                }
            }
        }
        Ok(())
    }

    /// The spec's field collection, ignoring `@skip`/`@include` (validation must hold for
    /// every value of them), each field with the type it is selected on.
    fn collect(
        &self,
        parent: Option<&'a str>,
        set: &'a SelectionSet,
        groups: &mut Groups<'a>,
        visited: &mut Visited<'a>,
    ) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let key = field.node.alias.as_ref().unwrap_or(&field.node.name).node.as_str();
                    groups.entry(key).or_default().push(Occurrence { parent, field });
                }
                Selection::InlineFragment(inline) => {
                    let on = inline.node.type_condition.as_ref().map(|c| c.node.on.node.as_str());
                    self.collect(on.or(parent), &inline.node.selection_set.node, groups, visited);
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if let Some(fragment) = self.document.fragments.get(name).filter(|_| visited.insert(name)) {
                        let on = Some(fragment.node.type_condition.node.on.node.as_str());
                        self.collect(on, &fragment.node.selection_set.node, groups, visited);
                    }
                }
            }
        }
    }

    fn is_object(&self, name: Option<&str>) -> bool {
        name.and_then(|name| self.registry.types.get(name)).is_some_and(|t| !t.is_abstract())
    }

    /// Fields on two types can meet in one response object unless the types are two
    /// different object types.
    fn can_meet(&self, a: Option<&str>, b: Option<&str>) -> bool {
        a == b || !self.is_object(a) || !self.is_object(b)
    }

    /// The named type of the field's value, if the schema knows it.
    fn field_type(&self, occurrence: &Occurrence<'a>) -> Option<&'a str> {
        let name = occurrence.field.node.name.node.as_str();
        let field = self.registry.types.get(occurrence.parent?)?.field_by_name(name)?;
        Some(async_graphql::registry::MetaTypeName::concrete_typename(&field.ty))
    }
}

/// `GRAPHQL_VALIDATION_FAILED` unless `a` and `b` (under response key `key`) are the same
/// field with the same arguments.
fn same_field(
    key: &str,
    a: &async_graphql::Positioned<Field>,
    b: &async_graphql::Positioned<Field>,
) -> ServerResult<()> {
    let conflict = |why: String| {
        let message = format!(
            "Fields \"{key}\" conflict because {why}. Use different aliases on the fields to fetch both if this was intentional."
        );
        let mut error = ServerError::new(message, Some(a.pos));
        error.locations.push(b.pos);
        Err(coded(error, "GRAPHQL_VALIDATION_FAILED"))
    };
    let (a, b) = (&a.node, &b.node);
    if a.name.node != b.name.node {
        return conflict(format!("\"{}\" and \"{}\" are different fields", a.name.node, b.name.node));
    }
    let same_arguments = a.arguments.len() == b.arguments.len()
        && a.arguments
            .iter()
            .all(|(name, value)| b.get_argument(&name.node).is_some_and(|other| other.node == value.node));
    if !same_arguments {
        return conflict("they have differing arguments".to_owned());
    }
    Ok(())
}

/// What the schema and the document say about positions in the response.
struct Types<'a> {
    registry: &'a Registry,
    document: &'a ExecutableDocument,
    /// The operation's root type.
    root_type: &'static str,
}

impl Types<'_> {
    /// Puts `null` where a field failed and propagates it through non-null positions.
    fn null_failed_fields(&self, response: &mut Response, root: &[&SelectionSet]) {
        let mut paths: Vec<Vec<PathSegment>> = response.errors.iter().map(|e| e.path.clone()).collect();
        paths.sort_by_key(|p| std::cmp::Reverse(p.len()));
        // Positions already made null by propagation: a sibling's error must not bring the
        // object back (as `{}` with the sibling's null in it), whichever error came first.
        let mut nulled: Vec<Vec<PathSegment>> = Vec::new();
        for path in paths {
            let Some(PathSegment::Field(key)) = path.last() else { continue };
            if nulled.iter().any(|position| path.starts_with(position)) {
                continue;
            }
            let Some(parent) = value_at(&mut response.data, &path[..path.len() - 1]) else { continue };
            // A parent whose only selected fields all failed comes back as `null`, not `{}`.
            if *parent == Value::Null {
                *parent = Value::Object(Default::default());
            }
            let Value::Object(parent) = parent else { continue };
            if parent.contains_key(key.as_str()) {
                continue;
            }
            parent.insert(async_graphql::Name::new(key), Value::Null);
            // Walk up while the position that became null may not be null.
            let types = self.types_along(&response.data, root, &path);
            let mut end = path.len();
            while end > 0 && types.get(end - 1).is_some_and(|t| t.as_deref().is_some_and(|t| t.ends_with('!'))) {
                end -= 1;
                match value_at(&mut response.data, &path[..end]) {
                    Some(value) => *value = Value::Null,
                    None => break,
                }
            }
            if end < path.len() {
                nulled.push(path[..end].to_vec());
            }
        }
    }

    /// The declared type of each position along `path` (`None` where it can't be told).
    fn types_along(&self, data: &Value, root: &[&SelectionSet], path: &[PathSegment]) -> Vec<Option<String>> {
        let mut types = Vec::with_capacity(path.len());
        let mut current_type = self.root_type.to_owned();
        let mut sets: Vec<&SelectionSet> = root.to_vec();
        let mut value = Some(data);
        for segment in path {
            let next = match segment {
                PathSegment::Field(key) => {
                    let named = self.concrete(&current_type, value);
                    let fields = collect_all(&sets, self.document, None);
                    let Some((name, subsets)) = fields.get(key.as_str()) else { break };
                    let ty = match *name {
                        "__typename" => Some("String!".to_owned()),
                        name => {
                            named.and_then(|t| self.registry.types.get(&t)?.field_by_name(name)).map(|f| f.ty.clone())
                        }
                    };
                    sets = subsets.clone();
                    value = match value {
                        Some(Value::Object(map)) => map.get(key.as_str()),
                        _ => None,
                    };
                    ty
                }
                PathSegment::Index(index) => {
                    value = match value {
                        Some(Value::List(items)) => items.get(*index),
                        _ => None,
                    };
                    let list = current_type.trim_end_matches('!');
                    list.strip_prefix('[').and_then(|t| t.strip_suffix(']')).map(str::to_owned)
                }
            };
            let Some(next) = next else { break };
            types.push(Some(next.clone()));
            current_type = next;
        }
        types
    }

    /// The object type a value of `declared` type has: its `__typename` when the response
    /// has it, else the declared type unless that is a union or interface.
    fn concrete(&self, declared: &str, value: Option<&Value>) -> Option<String> {
        if let Some(Value::Object(map)) = value {
            if let Some(Value::String(name)) = map.get("__typename") {
                return Some(name.clone());
            }
        }
        let meta = self.registry.concrete_type_by_name(declared)?;
        (!meta.is_abstract()).then(|| meta.name().to_owned())
    }

    /// A `node` (or `nodes` item) whose own field failed `NOT_FOUND` does not exist: the
    /// field was a list under it that Telnyx answered 404, or its own lookup. It becomes
    /// `null`, and the errors under it go, as for any unknown id.
    fn null_missing_nodes(&self, response: &mut Response, root: &[&SelectionSet]) {
        let mut positions = Vec::new();
        for (key, (name, _)) in collect_all(root, self.document, None) {
            let at = vec![PathSegment::Field(key.to_owned())];
            match name {
                "node" => positions.push(at),
                "nodes" => {
                    let Some(Value::List(items)) = value_at(&mut response.data, &at) else { continue };
                    positions.extend((0..items.len()).map(|i| [at.clone(), vec![PathSegment::Index(i)]].concat()));
                }
                _ => {}
            }
        }
        for position in positions {
            let own = |e: &ServerError| e.path.len() == position.len() + 1 && e.path.starts_with(&position);
            if response.errors.iter().any(|e| own(e) && is_not_found(e)) {
                response.errors.retain(|e| !e.path.starts_with(&position));
                if let Some(value) = value_at(&mut response.data, &position) {
                    *value = Value::Null;
                }
            }
        }
    }

    /// An `_entities` item whose own `NOT_FOUND` names its representation's id does not
    /// exist: it becomes `null` with one error at its index. Returns those indices.
    fn null_missing_entities(
        &self,
        response: &mut Response,
        root: &[&SelectionSet],
        variables: Option<&Variables>,
    ) -> Vec<usize> {
        let Some(field) = root_field(root, self.document, "_entities") else { return Vec::new() };
        let ids = representation_ids(field, variables);
        let mut missing: Vec<(usize, ServerError)> = Vec::new();
        response.errors.retain(|error| {
            let own = matches!(error.path.as_slice(),
                [PathSegment::Field(root)] | [PathSegment::Field(root), PathSegment::Field(_)] if root == "_entities");
            if !own || !is_not_found(error) {
                return true;
            }
            let named = ids
                .iter()
                .enumerate()
                .filter(|(_, id)| id.as_ref().is_some_and(|id| error.message.contains(&format!("\"{id}\""))));
            let mut any = false;
            for (index, _) in named {
                any = true;
                if !missing.iter().any(|(i, _)| *i == index) {
                    let mut error = error.clone();
                    error.path = vec![PathSegment::Field("_entities".into()), PathSegment::Index(index)];
                    missing.push((index, error));
                }
            }
            !any
        });
        missing.sort_by_key(|(index, _)| *index);
        let Value::Object(data) = &mut response.data else { return Vec::new() };
        let Some(Value::List(entities)) = data.get_mut("_entities") else { return Vec::new() };
        let mut indices = Vec::with_capacity(missing.len());
        for (index, error) in missing {
            if let Some(entity) = entities.get_mut(index) {
                *entity = Value::Null;
            }
            response.errors.retain(|e| !e.path.starts_with(&error.path));
            response.errors.push(error);
            indices.push(index);
        }
        indices
    }

    /// async-graphql reports an entity's field error at `["_entities", field]`; this finds the
    /// entity (one that lacks the field, preferring one whose id the message names) and
    /// inserts its index.
    fn fix_entity_paths(&self, response: &mut Response, missing: &[usize]) {
        let Value::Object(data) = &response.data else { return };
        let Some(Value::List(entities)) = data.get("_entities") else { return };
        let mut taken: Vec<(usize, String)> = Vec::new();
        for error in &mut response.errors {
            let [PathSegment::Field(root), PathSegment::Field(key), ..] = error.path.as_slice() else { continue };
            if root != "_entities" {
                continue;
            }
            // async-graphql turns an entity whose every field failed into `null`.
            let lacks = |i: &usize| match &entities[*i] {
                Value::Object(e) => !e.contains_key(key.as_str()),
                other => *other == Value::Null,
            };
            let names_id = |i: &usize| match &entities[*i] {
                Value::Object(e) => {
                    matches!(e.get("id"), Some(Value::String(id)) if error.message.contains(id.as_str()))
                }
                _ => false,
            };
            let free = |i: &usize| !taken.iter().any(|(t, k)| t == i && k == key);
            let candidates: Vec<usize> = (0..entities.len()).filter(|i| !missing.contains(i)).filter(lacks).collect();
            let chosen =
                candidates.iter().copied().find(|i| names_id(i)).or_else(|| candidates.iter().copied().find(free));
            if let Some(index) = chosen {
                taken.push((index, key.clone()));
                error.path.insert(1, PathSegment::Index(index));
            }
        }
    }
}

fn is_not_found(error: &ServerError) -> bool {
    error.extensions.as_ref().and_then(|e| e.get("code")) == Some(&Value::from("NOT_FOUND"))
}

/// The root field with response key `key`, wherever the root's fragments put it.
fn root_field<'a>(sets: &[&'a SelectionSet], document: &'a ExecutableDocument, key: &str) -> Option<&'a Field> {
    sets.iter().find_map(|set| {
        set.items.iter().find_map(|selection| match &selection.node {
            Selection::Field(field) => (field.node.response_key().node == key).then_some(&field.node),
            Selection::InlineFragment(inline) => root_field(&[&inline.node.selection_set.node], document, key),
            Selection::FragmentSpread(spread) => document
                .fragments
                .get(&spread.node.fragment_name.node)
                .and_then(|fragment| root_field(&[&fragment.node.selection_set.node], document, key)),
        })
    })
}

/// The `id` of each representation `_entities` was given, by index.
fn representation_ids(field: &Field, variables: Option<&Variables>) -> Vec<Option<String>> {
    let Some(argument) = field.get_argument("representations") else { return Vec::new() };
    let value = argument.node.clone().into_const_with(|name| variables.and_then(|v| v.get(&name)).cloned().ok_or(()));
    let Ok(Value::List(representations)) = value else { return Vec::new() };
    representations
        .iter()
        .map(|representation| match representation {
            Value::Object(fields) => match fields.get("id") {
                Some(Value::String(id)) => Some(id.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn value_at<'v>(value: &'v mut Value, path: &[PathSegment]) -> Option<&'v mut Value> {
    path.iter().try_fold(value, |value, segment| match (value, segment) {
        (Value::Object(map), PathSegment::Field(key)) => map.get_mut(key.as_str()),
        (Value::List(items), PathSegment::Index(index)) => items.get_mut(*index),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_under_one_response_key_must_be_one_field_wherever_they_can_meet() {
        let shape = Shape::of_schema();
        let check = |query: &str| {
            let document = async_graphql::parser::parse_query(query).unwrap();
            shape.check_merging(&document).map_err(|error| (error.message, error.locations))
        };
        let session = |id: &str| format!(r#"roomSession(id: "{id}")"#);
        let (one, two) =
            (session("0e1d2c3b-4a59-4687-a7b6-c5d4e3f2a1b0"), session("7a1b2c3d-9e8f-4a0b-8c1d-2e3f4a5b6c7d"));
        for fine in [
            format!("{{ s: {one} {{ id }} s: {one} {{ active }} }}"),
            format!("{{ {one} {{ a: id ... on RoomSession {{ a: id }} }} }}"),
            r#"{ node(id: "x") { ... on Room { a: id } ... on RoomSession { a: active } } }"#.to_owned(),
            format!("{{ s: {one} {{ ...F }} }} fragment F on RoomSession {{ a: id ...F2 }} fragment F2 on RoomSession {{ a: id }}"),
        ] {
            assert_eq!(check(&fine), Ok(()), "{fine}");
        }
        let conflict = |key: &str, why: &str| {
            format!("Fields \"{key}\" conflict because {why}. Use different aliases on the fields to fetch both if this was intentional.")
        };
        let (message, locations) = check(&format!("{{ s: {one} {{ a: id }} s: {one} {{ a: active }} }}")).unwrap_err();
        assert_eq!(message, conflict("a", r#""id" and "active" are different fields"#));
        assert_eq!(locations.len(), 2, "both fields are located");
        let (message, _) = check(&format!("{{ s: {one} {{ id }} s: {two} {{ id }} }}")).unwrap_err();
        assert_eq!(message, conflict("s", "they have differing arguments"));
        let (message, _) =
            check(&format!("{{ {one} {{ a: id ...F }} }} fragment F on RoomSession {{ a: active }}")).unwrap_err();
        assert_eq!(message, conflict("a", r#""id" and "active" are different fields"#));
        let (message, _) = check("{ a: __typename ... on Query { a: rooms { totalCount } } }").unwrap_err();
        assert_eq!(message, conflict("a", r#""__typename" and "rooms" are different fields"#));
    }

    #[test]
    fn stripping_requires_scopes_leaves_the_rest_of_the_sdl_as_it_was() {
        let mut sdl = "extend schema @link(\n\timport: [\"@key\", \"@requiresScopes\"]\n)\ntype Query {\n\trooms(first: Int): RoomConnection! @requiresScopes(scopes: [[\"video:read\"], [\"a\", \"b\"]])\n\tid: ID!\n}".to_owned();
        strip_requires_scopes(&mut sdl);
        let expected = "extend schema @link(\n\timport: [\"@key\"]\n)\ntype Query {\n\trooms(first: Int): RoomConnection!\n\tid: ID!\n}";
        assert_eq!(sdl, expected);
    }

    #[test]
    fn a_null_propagated_to_an_object_stays_whichever_sibling_error_comes_first() {
        let query = r#"{ s: roomSession(id: "x") { active participants { totalCount } } }"#;
        let document = async_graphql::parser::parse_query(query).unwrap();
        let error = |field: &str| {
            let mut error = ServerError::new("failed", None);
            error.path = vec![PathSegment::Field("s".into()), PathSegment::Field(field.into())];
            error
        };
        for order in [["active", "participants"], ["participants", "active"]] {
            // async-graphql drops failed fields, so an object whose fields all failed is null.
            let mut response = Response::new(Value::from_json(serde_json::json!({ "s": null })).unwrap());
            response.errors = order.iter().map(|field| error(field)).collect();
            Shape::of_schema().repair(&mut response, &document, None, None);
            // `participants` is non-null, so the session is null, not `{"active": null}`.
            assert_eq!(response.data.into_json().unwrap(), serde_json::json!({ "s": null }), "{order:?}");
        }
    }

    #[test]
    fn an_object_whose_fields_are_all_skipped_is_empty_not_null() {
        let query = "query($no: Boolean!) { s: roomSession(id: \"x\") { id @include(if: $no) } }";
        let mut document = async_graphql::parser::parse_query(query).unwrap();
        keep_empty_objects(&mut document);
        let operation = operation(&document, None).unwrap();
        let session = match &operation.selection_set.node.items[0].node {
            Selection::Field(field) => &field.node.selection_set.node,
            other => panic!("{other:?}"),
        };
        assert!(matches!(&session.items[0].node, Selection::Field(f) if f.node.alias.as_ref().unwrap().node == KEPT));
        // What async-graphql answers for it, once `id` is skipped.
        let json = serde_json::json!({ "s": { KEPT: "RoomSession" } });
        let mut response = Response::new(Value::from_json(json).unwrap());
        Shape::of_schema().repair(&mut response, &document, None, None);
        assert_eq!(response.data.into_json().unwrap().to_string(), r#"{"s":{}}"#);
    }

    /// The keys of every object of `value`, depth first, as `path: k1,k2`.
    fn key_orders(value: &Value, path: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                out.push(format!("{path}: {}", map.keys().map(|k| k.as_str()).collect::<Vec<_>>().join(",")));
                for (key, child) in map {
                    key_orders(child, &format!("{path}.{key}"), out);
                }
            }
            Value::List(items) => items.iter().for_each(|item| key_orders(item, &format!("{path}[]"), out)),
            _ => {}
        }
    }

    #[test]
    fn reordering_follows_the_selection_set_at_every_depth_and_puts_unknown_keys_last() {
        let document =
            async_graphql::parser::parse_query("{ b a: x { d c ...F } list { z { q p } y } } fragment F on T { e }")
                .unwrap();
        let operation = operation(&document, None).unwrap();
        // `json!` sorts each object's keys, so every selected object below starts out of order.
        let json = serde_json::json!({
            "a": { "extra": 1, "e": 2, "c": 3, "d": 4 },
            "list": [
                { "y": 1, "z": { "p": 1, "q": 2 } },
                { "z": { "q": 1, "p": 2 }, "y": 2 },
                { "unknown": 0, "y": 3 }
            ],
            "b": { "nested": { "k2": 1, "k1": 2 } }
        });
        let mut value = Value::from_json(json).unwrap();

        reorder(
            &mut value,
            &[&operation.selection_set.node],
            &document,
            &Conditions { variables: None, definitions: &[] },
        );

        let mut orders = Vec::new();
        key_orders(&value, "", &mut orders);
        assert_eq!(
            orders,
            [
                ": b,a,list",
                ".b: nested",
                // Not selected below `b`: left as it came (`json!` sorts keys).
                ".b.nested: k1,k2",
                ".a: d,c,e,extra",
                ".list[]: z,y",
                ".list[].z: q,p",
                ".list[]: z,y",
                ".list[].z: q,p",
                ".list[]: y,unknown",
            ]
        );
    }
}
