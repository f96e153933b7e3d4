//! Restores the selection set's field order in responses.
//!
//! The GraphQL spec ("Serialized Map Ordering") requires response maps to follow the order of
//! the selection set. async-graphql 7.2 resolves sibling fields concurrently and inserts each
//! result when it completes, so a slow field (one that goes upstream) lands after a fast one
//! selected later. This extension keeps the parsed document and, once execution is done,
//! reorders every response map by the order its fields were selected in (fragments included).

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Response, ServerResult, Value, Variables};
use indexmap::IndexMap;

/// The extension factory; install it on the schema.
pub struct FieldOrder;

impl ExtensionFactory for FieldOrder {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(FieldOrderExtension::default())
    }
}

#[derive(Default)]
struct FieldOrderExtension {
    document: Mutex<Option<ExecutableDocument>>,
}

#[async_trait::async_trait]
impl Extension for FieldOrderExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        *self.document.lock().expect("document lock") = Some(document.clone());
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        let document = self.document.lock().expect("document lock").take();
        if let Some(document) = document {
            let operation = match (&document.operations, operation_name) {
                (DocumentOperations::Single(op), _) => Some(op),
                (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
                (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
                _ => None,
            };
            if let Some(operation) = operation {
                reorder(&mut response.data, &[&operation.node.selection_set.node], &document);
            }
        }
        response
    }
}

/// Reorders `value` (the result of the merged `sets`) and everything below it.
fn reorder(value: &mut Value, sets: &[&SelectionSet], document: &ExecutableDocument) {
    match value {
        Value::List(items) => items.iter_mut().for_each(|item| reorder(item, sets, document)),
        Value::Object(map) => {
            let mut order: IndexMap<&str, Vec<&SelectionSet>> = IndexMap::new();
            for set in sets {
                collect(set, document, &mut order);
            }
            let mut unordered = std::mem::take(map);
            for (key, subsets) in order {
                if let Some((name, mut child)) = unordered.shift_remove_entry(key) {
                    reorder(&mut child, &subsets, document);
                    map.insert(name, child);
                }
            }
            map.extend(unordered);
        }
        _ => {}
    }
}

/// Response keys in selection order, each with the sub-selections merged under it.
fn collect<'a>(
    set: &'a SelectionSet,
    document: &'a ExecutableDocument,
    order: &mut IndexMap<&'a str, Vec<&'a SelectionSet>>,
) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                order.entry(field.node.response_key().node.as_str()).or_default().push(&field.node.selection_set.node);
            }
            Selection::InlineFragment(fragment) => collect(&fragment.node.selection_set.node, document, order),
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    collect(&fragment.node.selection_set.node, document, order);
                }
            }
        }
    }
}
