//! Apollo's federated traces (ftv1): when a gateway asks with
//! `apollo-federation-include-trace: ftv1`, the response's `extensions.ftv1` is the base64 of
//! a protobuf `Trace` built as Apollo Server's inline trace plugin builds it, so Apollo Router
//! and Gateway show this subgraph's fields, with their timings and errors, in GraphOS.
//!
//! The HTTP layer marks a request that asked ([`Requested`]); the executor then gives it a
//! `Recorder` and runs it on a twin of the schema carrying the `Ftv1` extension, so the
//! requests that did not ask run on a schema without any extension and pay nothing.
//!
//! What a trace holds, and what it never does:
//! - the response tree of the fields resolved: response name (an alias where there is one,
//!   then the field's own name beside it), return and parent type, start and end in
//!   nanoseconds from the trace's start, and an index node for each list item on the way;
//! - each error at the node of its path (the root when it has none), with its locations, and
//!   its message masked as Apollo Server masks it by default: messages may quote argument
//!   values, and the gateway reports the trace to GraphOS. The client still gets the error.
//! - never variables, argument values, headers or tokens.
//!
//! Entities are the exception to the tree's shape: async-graphql resolves `_entities` without
//! each entity's index, so their fields hang under `_entities` itself, one node per resolution
//! (`is_unindexed_entity_field`); their errors keep the index the executor repairs.
//!
//! A field ends, as in graphql-js, when its own resolver returns, not its sub-selection:
//! async-graphql resolves an object's fields inside its parent's resolution, so a field with
//! traced fields below it ends when the first of them begins, which is as soon as its value is
//! there. `__typename` and introspection are not traced (Apollo Server does not trace them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo};
use async_graphql::{PathSegment, QueryPathNode, QueryPathSegment, Response, ServerError, ServerResult, Value};
use base64::Engine;
use http::{HeaderMap, HeaderName};
use prost::Message;

/// The header a gateway asks for a trace with.
pub const HEADER: HeaderName = HeaderName::from_static("apollo-federation-include-trace");

/// Whether the request asked for an ftv1 trace (Apollo Server answers exactly `ftv1`).
pub fn requested(headers: &HeaderMap) -> bool {
    headers.get(HEADER).is_some_and(|value| value == "ftv1")
}

/// Request data: this request asked for a trace. Put there by the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct Requested;

/// How Apollo Server masks an error's message in a trace (its default, `{ masked: true }`).
const MASKED: &str = "<masked>";

/// Who masked it, in the error's `extensions.maskedBy` (where Apollo Server names its plugin).
const MASKED_BY: &str = "telnyx-rooms-graphql";

/// Apollo's `Trace` (reports.proto), with the fields an inline trace carries; the field
/// numbers are the proto's.
#[derive(Clone, PartialEq, Message)]
pub struct Trace {
    /// Wall-clock time the request began.
    #[prost(message, optional, tag = "4")]
    pub start_time: Option<Timestamp>,
    /// Wall-clock time the trace ended.
    #[prost(message, optional, tag = "3")]
    pub end_time: Option<Timestamp>,
    /// The request's duration, from a monotonic clock.
    #[prost(uint64, tag = "11")]
    pub duration_ns: u64,
    /// The response tree: the root has the root fields as children, and the errors with no
    /// path.
    #[prost(message, optional, tag = "14")]
    pub root: Option<Node>,
}

/// `Trace.Node`: a resolved field, or an item of a list (`index`), or the root (neither).
#[derive(Clone, PartialEq, Message)]
pub struct Node {
    /// The response name (alias or field name) or the list index.
    #[prost(oneof = "NodeId", tags = "1, 2")]
    pub id: Option<NodeId>,
    /// The field's name, when it was aliased.
    #[prost(string, tag = "14")]
    pub original_field_name: String,
    /// The field's return type, e.g. `String!`.
    #[prost(string, tag = "3")]
    pub r#type: String,
    /// The type the field belongs to.
    #[prost(string, tag = "13")]
    pub parent_type: String,
    /// When its resolution began, in nanoseconds from the trace's start.
    #[prost(uint64, tag = "8")]
    pub start_time: u64,
    /// When its resolver returned (before its sub-selection), in nanoseconds from the start.
    #[prost(uint64, tag = "9")]
    pub end_time: u64,
    /// Errors whose path ends here.
    #[prost(message, repeated, tag = "11")]
    pub error: Vec<TraceError>,
    /// The fields of its selection, or the items of its list, in the order they began.
    #[prost(message, repeated, tag = "12")]
    pub child: Vec<Node>,
}

/// `Trace.Node`'s `id`.
#[derive(Clone, PartialEq, Eq, prost::Oneof)]
pub enum NodeId {
    /// A field's response name.
    #[prost(string, tag = "1")]
    ResponseName(String),
    /// A list item's index.
    #[prost(uint32, tag = "2")]
    Index(u32),
}

/// `Trace.Error`.
#[derive(Clone, PartialEq, Message)]
pub struct TraceError {
    /// The message (masked).
    #[prost(string, tag = "1")]
    pub message: String,
    /// Where in the document.
    #[prost(message, repeated, tag = "2")]
    pub location: Vec<Location>,
    /// The error as JSON (message, locations, path, extensions), as Apollo Server sends it.
    #[prost(string, tag = "4")]
    pub json: String,
}

/// `Trace.Location`: 1-based line and column.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct Location {
    /// Line.
    #[prost(uint32, tag = "1")]
    pub line: u32,
    /// Column.
    #[prost(uint32, tag = "2")]
    pub column: u32,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        let since = time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        Self { seconds: since.as_secs() as i64, nanos: since.subsec_nanos() as i32 }
    }
}

/// One step of a response path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Name(String),
    Index(u32),
}

impl From<&PathSegment> for Key {
    fn from(segment: &PathSegment) -> Self {
        match segment {
            PathSegment::Field(name) => Key::Name(name.clone()),
            PathSegment::Index(index) => Key::Index(*index as u32),
        }
    }
}

/// One request's trace, while it runs: the extension records into it (through the request's
/// data), the executor turns it into `extensions.ftv1` at the end.
pub(crate) struct Recorder {
    started: Instant,
    started_at: SystemTime,
    tree: Mutex<Tree>,
}

impl Recorder {
    /// A recorder for `request` if it asked for a trace, put into its data for the extension;
    /// `None` (and nothing done) otherwise.
    pub(crate) fn for_request(request: &mut async_graphql::Request) -> Option<Arc<Self>> {
        if !request.data.contains_key(&std::any::TypeId::of::<Requested>()) {
            return None;
        }
        let recorder =
            Arc::new(Self { started: Instant::now(), started_at: SystemTime::now(), tree: Mutex::new(Tree::new()) });
        request.data.insert(recorder.clone());
        Some(recorder)
    }

    fn elapsed_ns(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn tree(&self) -> std::sync::MutexGuard<'_, Tree> {
        self.tree.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A field began resolving: its node, with its types and start.
    fn field_started(&self, info: &ResolveInfo<'_>) -> usize {
        let path = path_of(info.path_node);
        let start_time = self.elapsed_ns();
        let mut tree = self.tree();
        let at = if is_unindexed_entity_field(&path) { tree.add(&path) } else { tree.ensure(&path) };
        let node = &mut tree.nodes[at].node;
        node.r#type = info.return_type.to_owned();
        node.parent_type = info.parent_type.to_owned();
        node.start_time = start_time;
        if info.alias.is_some_and(|alias| alias != info.name) {
            node.original_field_name = info.name.to_owned();
        }
        at
    }

    fn field_ended(&self, at: usize) {
        let end_time = self.elapsed_ns();
        self.tree().nodes[at].node.end_time = end_time;
    }

    /// Ends the trace: adds `response`'s errors at their paths and puts the encoded trace in
    /// `extensions.ftv1`.
    pub(crate) fn attach(&self, response: &mut Response) {
        let duration_ns = self.elapsed_ns();
        let mut tree = std::mem::replace(&mut *self.tree(), Tree::new());
        for error in &response.errors {
            let path: Vec<Key> = error.path.iter().map(Key::from).collect();
            let at = tree.ensure(&path);
            tree.nodes[at].node.error.push(masked(error));
        }
        let trace = Trace {
            start_time: Some(self.started_at.into()),
            end_time: Some((self.started_at + std::time::Duration::from_nanos(duration_ns)).into()),
            duration_ns,
            root: Some(tree.into_root()),
        };
        let encoded = base64::engine::general_purpose::STANDARD.encode(trace.encode_to_vec());
        response.extensions.insert("ftv1".to_owned(), Value::String(encoded));
    }
}

/// The error as a trace carries it: where it is, not what it says.
fn masked(error: &ServerError) -> TraceError {
    let location: Vec<Location> =
        error.locations.iter().map(|pos| Location { line: pos.line as u32, column: pos.column as u32 }).collect();
    let mut json = serde_json::json!({ "message": MASKED });
    if !location.is_empty() {
        json["locations"] =
            location.iter().map(|l| serde_json::json!({ "line": l.line, "column": l.column })).collect();
    }
    if !error.path.is_empty() {
        json["path"] = serde_json::to_value(&error.path).unwrap_or_default();
    }
    json["extensions"] = serde_json::json!({ "maskedBy": MASKED_BY });
    TraceError { message: MASKED.to_owned(), location, json: json.to_string() }
}

/// Whether `path` is a field of an entity of `_entities` (or below one), which async-graphql
/// resolves without the entity's list index: every entity's field would have the same path,
/// so each resolution gets a node of its own (its sub-fields go to the latest one), which
/// keeps the count and timing of every resolution, if not which entity it was.
fn is_unindexed_entity_field(path: &[Key]) -> bool {
    matches!(path, [Key::Name(root), Key::Name(_), ..] if root == "_entities")
}

/// The response path of a field being resolved, from the root.
fn path_of(node: &QueryPathNode<'_>) -> Vec<Key> {
    let mut path = Vec::new();
    let mut at = Some(node);
    while let Some(node) = at {
        path.push(match node.segment {
            QueryPathSegment::Name(name) => Key::Name(name.to_owned()),
            QueryPathSegment::Index(index) => Key::Index(index as u32),
        });
        at = node.parent;
    }
    path.reverse();
    path
}

/// The nodes so far, as an arena: node 0 is the root, children are indices in the order their
/// nodes were created.
struct Tree {
    nodes: Vec<Slot>,
    by_path: HashMap<Vec<Key>, usize>,
}

struct Slot {
    node: Node,
    children: Vec<usize>,
}

impl Tree {
    fn new() -> Self {
        let root = Slot { node: Node::default(), children: Vec::new() };
        Self { nodes: vec![root], by_path: HashMap::from([(Vec::new(), 0)]) }
    }

    /// The node at `path`, created (with its missing ancestors) if need be.
    fn ensure(&mut self, path: &[Key]) -> usize {
        if let Some(&at) = self.by_path.get(path) {
            return at;
        }
        let (last, parent_path) = path.split_last().expect("the root is always there");
        let parent = self.ensure(parent_path);
        let id = match last {
            Key::Name(name) => NodeId::ResponseName(name.clone()),
            Key::Index(index) => NodeId::Index(*index),
        };
        let at = self.nodes.len();
        self.nodes.push(Slot { node: Node { id: Some(id), ..Node::default() }, children: Vec::new() });
        self.nodes[parent].children.push(at);
        self.by_path.insert(path.to_vec(), at);
        at
    }

    /// A new node at `path`, even if there is one: it is now the one found there.
    fn add(&mut self, path: &[Key]) -> usize {
        self.by_path.remove(path);
        self.ensure(path)
    }

    /// The tree as nodes; each field ends at the latest when the first field below it began
    /// (see the module's docs).
    fn into_root(mut self) -> Node {
        /// The node at `at`, and when the first field in its subtree (itself included) began.
        fn take(nodes: &mut [Slot], at: usize) -> (Node, Option<u64>) {
            let children = std::mem::take(&mut nodes[at].children);
            let mut node = std::mem::take(&mut nodes[at].node);
            let mut first_below = None::<u64>;
            for child in children {
                let (child, first) = take(nodes, child);
                first_below = first_below.into_iter().chain(first).min();
                node.child.push(child);
            }
            if node.r#type.is_empty() {
                return (node, first_below);
            }
            if let Some(first) = first_below {
                node.end_time = node.end_time.min(first);
            }
            let start = node.start_time;
            (node, Some(start))
        }
        take(&mut self.nodes, 0).0
    }
}

/// The extension that times each field of a request carrying a [`Recorder`]; installed only
/// on the executor's traced twin of the schema.
pub(crate) struct Ftv1;

impl ExtensionFactory for Ftv1 {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Ftv1)
    }
}

#[async_trait::async_trait]
impl Extension for Ftv1 {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        // A list item is an index node, made when its first field is; it has no timings.
        let item = matches!(info.path_node.segment, QueryPathSegment::Index(_));
        let recorder = ctx.data_opt::<Arc<Recorder>>().filter(|_| !item && !info.is_for_introspection);
        let Some(recorder) = recorder else { return next.run(ctx, info).await };
        let at = recorder.field_started(&info);
        let result = next.run(ctx, info).await;
        recorder.field_ended(at);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(name: &str) -> Key {
        Key::Name(name.to_owned())
    }

    #[test]
    fn a_node_deep_in_a_list_brings_its_index_and_ancestors_in_the_order_they_were_made() {
        let mut tree = Tree::new();
        tree.ensure(&[name("a"), Key::Index(1), name("b")]);
        tree.ensure(&[name("a"), Key::Index(0), name("b")]);
        tree.ensure(&[name("c")]);

        let root = tree.into_root();

        let ids = |node: &Node| node.child.iter().map(|c| c.id.clone().unwrap()).collect::<Vec<_>>();
        assert_eq!(ids(&root), [NodeId::ResponseName("a".into()), NodeId::ResponseName("c".into())]);
        assert_eq!(ids(&root.child[0]), [NodeId::Index(1), NodeId::Index(0)]);
        assert_eq!(ids(&root.child[0].child[0]), [NodeId::ResponseName("b".into())]);
    }

    #[test]
    fn a_field_ends_when_the_first_field_below_it_begins() {
        let mut tree = Tree::new();
        let timed = |tree: &mut Tree, path: &[Key], (start_time, end_time): (u64, u64)| {
            let at = tree.ensure(path);
            let node = &mut tree.nodes[at].node;
            (node.r#type, node.start_time, node.end_time) = ("T".into(), start_time, end_time);
        };
        timed(&mut tree, &[name("list")], (10, 100));
        timed(&mut tree, &[name("list"), Key::Index(1), name("x")], (50, 60));
        timed(&mut tree, &[name("list"), Key::Index(0), name("x")], (40, 90));
        timed(&mut tree, &[name("leaf")], (20, 30));

        let root = tree.into_root();

        let times = |node: &Node| (node.start_time, node.end_time);
        assert_eq!(times(&root.child[0]), (10, 40));
        assert_eq!(times(&root.child[0].child[0].child[0]), (50, 60));
        assert_eq!(times(&root.child[1]), (20, 30));
    }

    #[test]
    fn an_error_is_masked_but_keeps_its_locations_and_path() {
        let mut error = ServerError::new("room 5d3e… not found", Some(async_graphql::Pos { line: 2, column: 5 }));
        error.path = vec![PathSegment::Field("rooms".into()), PathSegment::Index(3)];

        let traced = masked(&error);

        assert_eq!(traced.message, "<masked>");
        assert_eq!(traced.location, [Location { line: 2, column: 5 }]);
        let json: serde_json::Value = serde_json::from_str(&traced.json).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "message": "<masked>",
                "locations": [{ "line": 2, "column": 5 }],
                "path": ["rooms", 3],
                "extensions": { "maskedBy": MASKED_BY },
            })
        );
    }

    #[test]
    fn only_the_exact_value_ftv1_asks() {
        let headers = |value: &'static str| HeaderMap::from_iter([(HEADER, value.parse().unwrap())]);
        assert!(requested(&headers("ftv1")));
        assert!(!requested(&headers("ftv2")));
        assert!(!requested(&HeaderMap::new()));
    }
}
