//! A validated document's operation, compiled into a [`Plan`], or `None` where a plan would
//! not answer exactly as async-graphql does (see the module docs of [`super`]).

use std::collections::HashSet;

use async_graphql::parser::types::{
    Directive, ExecutableDocument, Field, OperationType, Selection, SelectionSet, VariableDefinition,
};
use async_graphql::Positioned;
use async_graphql_value::Value as Syntax;

use super::{Arg, ConnectionField, Cost, EdgeField, Keyed, List, PageInfoField, ParticipantField, Plan, QueryField};
use super::{Needs, SessionField};
use crate::schema::spec;

/// The plan of `operation` in `document`, which async-graphql has validated in full.
pub fn compile(document: &ExecutableDocument, operation: Option<&str>) -> Option<Plan> {
    // async-graphql computes the complexity of every operation of a document with the
    // request's variables, so another operation's `first: $n` could refuse this one.
    if document.operations.iter().count() != 1 {
        return None;
    }
    let operation = spec::operation(document, operation)?;
    if operation.ty != OperationType::Query || !operation.directives.is_empty() {
        return None;
    }
    let compiler = Compiler { document, variables: &operation.variable_definitions };
    let root = compiler.fields(&[&operation.selection_set.node], "Query", |field, sets| {
        Some(match field.name.node.as_str() {
            "__typename" => QueryField::Typename,
            "roomSession" => QueryField::RoomSession {
                id: compiler.argument(field, "id")?,
                fields: compiler.fields(sets, "RoomSession", |field, sets| {
                    Some(match field.name.node.as_str() {
                        "__typename" => SessionField::Typename,
                        "id" => SessionField::Id,
                        "participants" => SessionField::Participants(Box::new(compiler.list(field, sets)?)),
                        _ => return None,
                    })
                })?,
            },
            "roomParticipants" => QueryField::RoomParticipants(Box::new(compiler.list(field, sets)?)),
            _ => return None,
        })
    })?;
    let cost = compiler.cost(&operation.selection_set.node);
    let cost = cost.varies().then_some(cost);
    Some(Plan { root, cost })
}

struct Compiler<'d> {
    document: &'d ExecutableDocument,
    variables: &'d [Positioned<VariableDefinition>],
}

/// The fields selected under one response key: the first occurrence's field (validation has
/// made every occurrence the same field with the same arguments) and every occurrence's
/// selection set, merged.
struct Collected<'d> {
    key: &'d str,
    field: &'d Field,
    sets: Vec<&'d SelectionSet>,
}

impl<'d> Compiler<'d> {
    /// The fields `sets` select on `type_name`, each compiled by `compile`.
    fn fields<T>(
        &self,
        sets: &[&'d SelectionSet],
        type_name: &str,
        mut compile: impl FnMut(&'d Field, &[&'d SelectionSet]) -> Option<T>,
    ) -> Option<Vec<Keyed<T>>> {
        let mut collected = Vec::new();
        let mut visited = HashSet::new();
        for set in sets {
            self.collect(set, type_name, &mut collected, &mut visited)?;
        }
        collected
            .into_iter()
            // What the reference needs to answer `{}` for an object without fields; a plan
            // writes `{}` anyway.
            .filter(|collected| collected.key != spec::KEPT)
            .map(|Collected { key, field, sets }| {
                Some(Keyed { member: format!("\"{key}\":").into(), field: compile(field, &sets)? })
            })
            .collect()
    }

    /// The spec's CollectFields for one object type, with conditions known in advance.
    fn collect(
        &self,
        set: &'d SelectionSet,
        type_name: &str,
        collected: &mut Vec<Collected<'d>>,
        visited: &mut HashSet<&'d str>,
    ) -> Option<()> {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    if !included(&field.directives)? {
                        continue;
                    }
                    let key = field.alias.as_ref().unwrap_or(&field.name).node.as_str();
                    match collected.iter_mut().find(|c| c.key == key) {
                        Some(existing) => existing.sets.push(&field.selection_set.node),
                        None => collected.push(Collected { key, field, sets: vec![&field.selection_set.node] }),
                    }
                }
                Selection::InlineFragment(inline) => {
                    let inline = &inline.node;
                    let applies = inline.type_condition.as_ref().is_none_or(|c| c.node.on.node == type_name);
                    if !applies {
                        // A condition on an interface would need the schema to tell: not planned.
                        return None;
                    }
                    if !included(&inline.directives)? {
                        continue;
                    }
                    self.collect(&inline.selection_set.node, type_name, collected, visited)?;
                }
                Selection::FragmentSpread(spread) => {
                    let spread = &spread.node;
                    if !included(&spread.directives)? || !visited.insert(spread.fragment_name.node.as_str()) {
                        continue;
                    }
                    let fragment = &self.document.fragments.get(&spread.fragment_name.node)?.node;
                    if fragment.type_condition.node.on.node != type_name || !fragment.directives.is_empty() {
                        return None;
                    }
                    self.collect(&fragment.selection_set.node, type_name, collected, visited)?;
                }
            }
        }
        Some(())
    }

    /// Argument `name` of `field`; `None` (not planned) for a variable inside a list or input
    /// object, whose absence the plan would have to mirror field by field.
    fn argument(&self, field: &Field, name: &str) -> Option<Arg> {
        let Some((_, value)) = field.arguments.iter().find(|(n, _)| n.node == name) else { return Some(Arg::Absent) };
        match &value.node {
            Syntax::Variable(variable) => {
                let definition = self.variables.iter().find(|d| d.node.name.node == *variable)?;
                let default = definition.node.default_value.as_ref().map(|d| d.node.clone());
                Some(Arg::Variable(variable.clone(), default))
            }
            value => value.clone().into_const().map(Arg::Literal),
        }
    }

    /// async-graphql's complexity of `set` as its validation computes it: every field counted
    /// wherever it occurs, whatever its directives, fragments spread in place; a field 1 plus
    /// its selection, a connection what [`crate::schema::connection::complexity`] says of its
    /// `first`, `last` and selection. A compiled plan's fields have no other complexity
    /// functions, and the plan's other fields are named after them only on those types.
    fn cost(&self, set: &'d SelectionSet) -> Cost {
        let parts = set.items.iter().map(|selection| match &selection.node {
            Selection::Field(field) => {
                let field = &field.node;
                let child = self.cost(&field.selection_set.node);
                match field.name.node.as_str() {
                    "participants" | "roomParticipants" => {
                        let arg = |name| self.argument(field, name).unwrap_or(Arg::Absent);
                        Cost::Connection { first: arg("first"), last: arg("last"), child: Box::new(child) }
                    }
                    _ => Cost::Sum(vec![Cost::Fixed(1), child]),
                }
            }
            Selection::InlineFragment(inline) => self.cost(&inline.node.selection_set.node),
            Selection::FragmentSpread(spread) => match self.document.fragments.get(&spread.node.fragment_name.node) {
                Some(fragment) => self.cost(&fragment.node.selection_set.node),
                None => Cost::Fixed(0),
            },
        });
        Cost::Sum(parts.collect())
    }

    /// A participant connection field: its arguments and selection.
    fn list(&self, field: &'d Field, sets: &[&'d SelectionSet]) -> Option<List> {
        let (first, last) = (self.argument(field, "first")?, self.argument(field, "last")?);
        let (after, before) = (self.argument(field, "after")?, self.argument(field, "before")?);
        let filter = self.argument(field, "filter")?;
        let mut needs = Needs { items: false, total: false };
        let fields = self.fields(sets, "RoomParticipantConnection", |field, sets| {
            Some(match field.name.node.as_str() {
                "__typename" => ConnectionField::Typename,
                "totalCount" => {
                    needs.total = true;
                    ConnectionField::TotalCount
                }
                "pageInfo" => {
                    needs.total = true;
                    ConnectionField::PageInfo(self.fields(sets, "PageInfo", |field, _| {
                        Some(match field.name.node.as_str() {
                            "__typename" => PageInfoField::Typename,
                            "hasPreviousPage" => PageInfoField::HasPreviousPage,
                            "hasNextPage" => PageInfoField::HasNextPage,
                            "startCursor" => PageInfoField::StartCursor,
                            "endCursor" => PageInfoField::EndCursor,
                            _ => return None,
                        })
                    })?)
                }
                "edges" => {
                    needs.items = true;
                    ConnectionField::Edges(self.fields(sets, "RoomParticipantEdge", |field, sets| {
                        Some(match field.name.node.as_str() {
                            "__typename" => EdgeField::Typename,
                            "cursor" => EdgeField::Cursor,
                            "node" => EdgeField::Node(self.participant(sets)?),
                            _ => return None,
                        })
                    })?)
                }
                "nodes" => {
                    needs.items = true;
                    ConnectionField::Nodes(self.participant(sets)?)
                }
                _ => return None,
            })
        })?;
        Some(List { filter, first, after, last, before, needs, fields })
    }

    fn participant(&self, sets: &[&'d SelectionSet]) -> Option<Vec<Keyed<ParticipantField>>> {
        self.fields(sets, "RoomParticipant", |field, _| {
            Some(match field.name.node.as_str() {
                "__typename" => ParticipantField::Typename,
                "id" => ParticipantField::Id,
                "sessionId" => ParticipantField::SessionId,
                "context" => ParticipantField::Context,
                "joinedAt" => ParticipantField::JoinedAt,
                "updatedAt" => ParticipantField::UpdatedAt,
                "leftAt" => ParticipantField::LeftAt,
                _ => return None,
            })
        })
    }
}

/// Whether `directives` keep their selection: `Some` only for literal `@skip`/`@include`.
fn included(directives: &[Positioned<Directive>]) -> Option<bool> {
    let mut included = true;
    for directive in directives {
        let directive = &directive.node;
        let condition = match directive.get_argument("if").map(|value| &value.node) {
            Some(Syntax::Boolean(condition)) => *condition,
            _ => return None,
        };
        match directive.name.node.as_str() {
            "skip" => included &= !condition,
            "include" => included &= condition,
            _ => return None,
        }
    }
    Some(included)
}
