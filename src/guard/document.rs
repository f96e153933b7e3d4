//! The pass over a parsed document: fragment cycles, sizes after fragment expansion, aliases,
//! root fields, directives per location, and arguments on `__typename`, which async-graphql's
//! validation skips (its directives are exposed to validation by `schema::spec`).
//!
//! Each selection set is walked once, by recursion bounded by the nesting the text scan
//! allowed. Fragment spreads are never followed during that walk: each fragment is priced
//! once, then the prices are combined in dependency order by an explicit stack, so a cycle is
//! found rather than followed, and a chain of fragments that doubles at every step costs one
//! addition per spread instead of an expansion.

use std::collections::HashMap;

use async_graphql::parser::types::{Directive, ExecutableDocument, OperationDefinition, Selection, SelectionSet};
use async_graphql::{Pos, Positioned};

use super::{DocumentLimits, Limit, Rejection};

/// Checks `document` against the limits and the rules async-graphql's validation would
/// otherwise meet too late (cycles) or not at all (arguments on `__typename`).
pub fn check(document: &ExecutableDocument, limits: &DocumentLimits) -> Result<(), Rejection> {
    let mut fragments = HashMap::with_capacity(document.fragments.len());
    for (name, fragment) in &document.fragments {
        let mut walk = Walk::new(limits);
        walk.directives(&fragment.node.directives)?;
        walk.selection_set(&fragment.node.selection_set.node, 0)?;
        fragments.insert(name.as_str(), walk.local);
    }
    let priced = price_fragments(&fragments, limits.max_recursion)?;
    // Validation reads every fragment definition, used or not, so all count here.
    let mut validation_cost = 0u64;
    for (name, price) in &priced {
        if price.chain >= limits.max_recursion as u64 {
            let what = "fragments spread fragments too deeply";
            let pos = document.fragments.get(*name).map(|f| f.pos);
            return Err(Rejection::too_large(Limit::Recursion, limits.max_recursion, what, pos));
        }
        validation_cost = validation_cost.saturating_add(fragments[name].fields).saturating_add(price.spread_cost);
    }
    let too_many_fields = |pos| {
        let what = "the document selects too many fields once its fragments are expanded";
        Rejection::too_large(Limit::ExpandedFields, limits.max_expanded_fields, what, pos)
    };
    if validation_cost > limits.max_expanded_fields as u64 {
        return Err(too_many_fields(None));
    }

    let mut expanded = 0u64;
    for (_, operation) in document.operations.iter() {
        let operation = &operation.node;
        let mut walk = Walk::new(limits);
        walk.directives(&operation.directives)?;
        for variable in &operation.variable_definitions {
            walk.directives(&variable.node.directives)?;
        }
        walk.selection_set(&operation.selection_set.node, 0)?;
        let total = walk.local.expand(&priced);
        expanded = expanded.saturating_add(total.fields);
        validation_cost = validation_cost.saturating_add(walk.local.fields).saturating_add(total.spread_cost);
        let pos = Some(operation.selection_set.pos);
        if expanded > limits.max_expanded_fields as u64 || validation_cost > limits.max_expanded_fields as u64 {
            return Err(too_many_fields(pos));
        }
        if total.aliases > limits.max_aliases as u64 {
            let what = "the operation has too many aliased fields";
            return Err(Rejection::too_large(Limit::Aliases, limits.max_aliases, what, pos));
        }
        if total.root_fields > limits.max_root_fields as u64 {
            let what = "the operation selects too many root fields";
            return Err(Rejection::too_large(Limit::RootFields, limits.max_root_fields, what, pos));
        }
    }
    Ok(())
}

/// The names of the fields at the root of `operation`, through fragments, each fragment read
/// once. For gates on fields such as `__schema` or `_service`; safe on any document.
pub fn root_fields<'a>(operation: &'a OperationDefinition, document: &'a ExecutableDocument) -> Vec<&'a str> {
    let mut names = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut pending = vec![&operation.selection_set.node];
    while let Some(set) = pending.pop() {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => names.push(field.node.name.node.as_str()),
                Selection::InlineFragment(inline) => pending.push(&inline.node.selection_set.node),
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if let Some(fragment) = document.fragments.get(name).filter(|_| seen.insert(name)) {
                        pending.push(&fragment.node.selection_set.node);
                    }
                }
            }
        }
    }
    names
}

/// What one selection set (an operation's or a fragment's) costs, before or after its
/// fragment spreads are counted in.
#[derive(Debug, Default, Clone)]
struct Price<'a> {
    fields: u64,
    aliases: u64,
    root_fields: u64,
    /// The longest chain of fragments spreading fragments, this one included.
    chain: u64,
    /// What validation's per-selection-set walks pay for the spreads inside: async-graphql
    /// checks each selection set's fields for conflicts by reading every fragment spread at
    /// its level down to their fields, so each spread costs its fragment's root fields.
    spread_cost: u64,
    /// Spreads inside, with whether each is at the root.
    spreads: Vec<(&'a str, bool, Pos)>,
}

impl<'a> Price<'a> {
    /// This price with every spread's (already expanded) price added.
    fn expand(&self, priced: &HashMap<&'a str, Price<'a>>) -> Price<'a> {
        let mut total = Price { spreads: Vec::new(), ..self.clone() };
        for (name, at_root, _) in &self.spreads {
            // An unknown fragment is async-graphql's validation error to report.
            let Some(inner) = priced.get(name) else { continue };
            total.fields = total.fields.saturating_add(inner.fields);
            total.aliases = total.aliases.saturating_add(inner.aliases);
            total.chain = total.chain.max(inner.chain.saturating_add(1));
            total.spread_cost = total.spread_cost.saturating_add(inner.root_fields);
            if *at_root {
                total.root_fields = total.root_fields.saturating_add(inner.root_fields);
            }
        }
        total
    }
}

/// Expands every fragment's price in dependency order (a depth-first search on an explicit
/// stack), refusing a cycle when the search meets a fragment still on the stack, and a stack
/// deeper than `max_chain` (which also keeps the cycle check's scan of the stack short).
fn price_fragments<'a>(
    local: &HashMap<&'a str, Price<'a>>,
    max_chain: usize,
) -> Result<HashMap<&'a str, Price<'a>>, Rejection> {
    let mut priced: HashMap<&'a str, Price<'a>> = HashMap::with_capacity(local.len());
    let mut roots: Vec<&&str> = local.keys().collect();
    roots.sort(); // the same document always names the same cycle
    for &root in roots {
        if priced.contains_key(root) {
            continue;
        }
        // Each entry: a fragment being expanded and the index of its next spread.
        let mut stack: Vec<(&'a str, usize)> = vec![(root, 0)];
        while let Some((name, next)) = stack.last_mut() {
            let Some(&(child, _, pos)) = local[*name].spreads.get(*next) else {
                let name = *name;
                priced.insert(name, local[name].expand(&priced));
                stack.pop();
                continue;
            };
            *next += 1;
            if let Some(start) = stack.iter().position(|(n, _)| *n == child) {
                let via: Vec<&str> = stack[start..].iter().map(|(n, _)| *n).collect();
                let via = via.join("\" → \"");
                let message = format!("Cannot spread fragment \"{child}\" within itself (\"{via}\" → \"{child}\").");
                return Err(Rejection::invalid(message, pos));
            }
            if local.contains_key(child) && !priced.contains_key(child) {
                if stack.len() >= max_chain {
                    let what = "fragments spread fragments too deeply";
                    return Err(Rejection::too_large(Limit::Recursion, max_chain, what, Some(pos)));
                }
                stack.push((child, 0));
            }
        }
    }
    Ok(priced)
}

/// One walk over one selection set and everything nested in it, except fragment spreads.
struct Walk<'a, 'l> {
    limits: &'l DocumentLimits,
    local: Price<'a>,
}

impl<'a, 'l> Walk<'a, 'l> {
    fn new(limits: &'l DocumentLimits) -> Self {
        Self { limits, local: Price::default() }
    }

    fn selection_set(&mut self, set: &'a SelectionSet, depth: usize) -> Result<(), Rejection> {
        for selection in &set.items {
            self.directives(selection.node.directives())?;
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    self.local.fields += 1;
                    self.local.aliases += u64::from(field.alias.is_some());
                    self.local.root_fields += u64::from(depth == 0);
                    if field.name.node == "__typename" {
                        self.typename(field)?;
                    }
                    self.selection_set(&field.selection_set.node, depth + 1)?;
                }
                Selection::InlineFragment(inline) => self.selection_set(&inline.node.selection_set.node, depth)?,
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    self.local.spreads.push((name, depth == 0, spread.pos));
                }
            }
        }
        Ok(())
    }

    fn directives(&self, directives: &[Positioned<Directive>]) -> Result<(), Rejection> {
        match directives.get(self.limits.max_directives) {
            Some(extra) => {
                let what = "too many directives at one location";
                Err(Rejection::too_large(Limit::Directives, self.limits.max_directives, what, Some(extra.pos)))
            }
            None => Ok(()),
        }
    }

    /// `__typename` takes no arguments.
    fn typename(&self, field: &'a async_graphql::parser::types::Field) -> Result<(), Rejection> {
        match field.arguments.first() {
            Some((name, _)) => {
                let message = format!("Unknown argument \"{}\" on field \"__typename\".", name.node);
                Err(Rejection::invalid(message, name.pos))
            }
            None => Ok(()),
        }
    }
}

/// The operations of a document in a stable order (for tests).
#[cfg(test)]
fn operations(document: &ExecutableDocument) -> Vec<&OperationDefinition> {
    use async_graphql::parser::types::DocumentOperations;
    match &document.operations {
        DocumentOperations::Single(op) => vec![&op.node],
        DocumentOperations::Multiple(ops) => ops.values().map(|op| &op.node).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, limits: DocumentLimits) -> Result<(), Rejection> {
        check(&async_graphql::parser::parse_query(text).unwrap(), &limits)
    }

    fn exceeded(text: &str, limits: DocumentLimits) -> Option<Limit> {
        match run(text, limits) {
            Err(Rejection::TooLarge { exceeded, .. }) => Some(exceeded),
            Ok(()) => None,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    fn invalid(text: &str) -> String {
        match run(text, DocumentLimits::default()) {
            Err(Rejection::Invalid { message, .. }) => message,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_fragment_cycle_is_refused_and_named() {
        let message = invalid("query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }");
        assert_eq!(message, "Cannot spread fragment \"A\" within itself (\"A\" → \"B\" → \"A\").");
        let message = invalid("query { ...A } fragment A on Query { room { ...A } }");
        assert_eq!(message, "Cannot spread fragment \"A\" within itself (\"A\" → \"A\").");
    }

    #[test]
    fn an_unused_cycle_is_refused_too() {
        invalid("query { a } fragment A on Query { ...B } fragment B on Query { ...A }");
    }

    #[test]
    fn a_fan_out_chain_is_priced_without_expanding_it() {
        // 40 fragments that each spread the next twice: 2^40 fields once expanded.
        let mut text = String::from("query { ...F0 }");
        for i in 0..40 {
            text.push_str(&format!(" fragment F{i} on Query {{ ...F{} ...F{} }}", i + 1, i + 1));
        }
        text.push_str(" fragment F40 on Query { a }");
        let started = std::time::Instant::now();
        assert_eq!(exceeded(&text, DocumentLimits::default()), Some(Limit::ExpandedFields));
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
    }

    #[test]
    fn a_long_chain_of_fragments_is_too_deep_even_unused() {
        let mut text = String::from("query { a }");
        for i in 0..64 {
            text.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i + 1));
        }
        text.push_str(" fragment F64 on Query { a }");
        assert_eq!(exceeded(&text, DocumentLimits::default()), Some(Limit::Recursion));
        let shorter = text.replace("...F63", "b");
        assert_eq!(exceeded(&shorter, DocumentLimits::default()), None);
    }

    #[test]
    fn many_unused_fragments_spreading_one_wide_fragment_count_as_validation_reads_them() {
        // Validation reads B's 100 fields once for every fragment that spreads it.
        let mut text = String::from("query { a } fragment B on Query {");
        text.push_str(&" b".repeat(100));
        text.push_str(" }");
        for i in 0..60 {
            text.push_str(&format!(" fragment A{i} on Query {{ ...B }}"));
        }
        let limits = |max| DocumentLimits { max_expanded_fields: max, ..DocumentLimits::default() };
        // 1 (the operation) + 100 (B) + 60 × 100 (the spreads).
        assert_eq!(exceeded(&text, limits(6_101)), None);
        assert_eq!(exceeded(&text, limits(6_100)), Some(Limit::ExpandedFields));
    }

    #[test]
    fn expanded_fields_count_every_spread_of_a_fragment() {
        // 2 + 2 × 3 once expanded; validation reads 2 + 3 + 2 × 1 (each spread's root field).
        let text = "{ a { ...F } b { ...F } } fragment F on T { x { y { z } } }";
        let limits = |max| DocumentLimits { max_expanded_fields: max, ..DocumentLimits::default() };
        assert_eq!(exceeded(text, limits(8)), None);
        assert_eq!(exceeded(text, limits(7)), Some(Limit::ExpandedFields));
    }

    #[test]
    fn aliases_and_root_fields_count_through_fragments() {
        let text = "{ x: a ...F } fragment F on Query { y: b c { z: d } }";
        let aliases = |max| DocumentLimits { max_aliases: max, ..DocumentLimits::default() };
        assert_eq!(exceeded(text, aliases(3)), None);
        assert_eq!(exceeded(text, aliases(2)), Some(Limit::Aliases));
        let roots = |max| DocumentLimits { max_root_fields: max, ..DocumentLimits::default() };
        assert_eq!(exceeded(text, roots(3)), None);
        assert_eq!(exceeded(text, roots(2)), Some(Limit::RootFields));
    }

    #[test]
    fn directives_are_bounded_at_every_location() {
        let limits = DocumentLimits { max_directives: 2, ..DocumentLimits::default() };
        for text in [
            "query @a @b @c { x }",
            "query($v: Int @a @b @c) { x }",
            "{ x @a @b @c }",
            "{ ... @a @b @c { x } }",
            "{ ...F @a @b @c } fragment F on Query { x }",
            "{ ...F } fragment F on Query @a @b @c { x }",
        ] {
            assert_eq!(exceeded(text, limits), Some(Limit::Directives), "{text}");
        }
        assert_eq!(exceeded("{ x @a @b }", limits), None);
    }

    #[test]
    fn typename_takes_no_arguments() {
        assert_eq!(invalid("{ __typename(x: 1) }"), "Unknown argument \"x\" on field \"__typename\".");
    }

    #[test]
    fn root_fields_follow_fragments_once_and_survive_cycles() {
        let document = async_graphql::parser::parse_query(
            "{ a ... on Query { b } ...F } fragment F on Query { c ...G ...F } fragment G on Query { __schema { x } }",
        )
        .unwrap();
        let mut names = root_fields(operations(&document)[0], &document);
        names.sort_unstable();
        assert_eq!(names, ["__schema", "a", "b", "c"]);
    }
}
