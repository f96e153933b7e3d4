//! Apollo's federated traces: `extensions.ftv1` for a request carrying
//! `apollo-federation-include-trace: ftv1`, decoded with the service's own prost types.

use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use prost::Message;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use telnyx_rooms_graphql::sample_upstream::SAMPLE_API_KEY;
use telnyx_rooms_graphql::telemetry::ftv1::{Node, NodeId, Trace, HEADER};

use telnyx_rooms_graphql::auth::trusted_documents::Mode;

use crate::helpers::{ids, spawn_sample, spawn_sample_with, TestApp};

/// POSTs `body`, asking for a trace when `traced`; the parsed body and how long it took.
async fn post(app: &TestApp, body: &Value, traced: bool) -> (Value, Duration) {
    let mut request = app.http.post(app.url()).json(body);
    if traced {
        request = request.header(HEADER, "ftv1");
    }
    let began = Instant::now();
    let response = request.send().await.unwrap();
    let body = response.json().await.unwrap();
    (body, began.elapsed())
}

/// The raw protobuf of a response's `extensions.ftv1`.
fn ftv1_bytes(response: &Value) -> Vec<u8> {
    let encoded = response["extensions"]["ftv1"].as_str().expect("extensions.ftv1 is a string");
    base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()
}

fn trace_of(response: &Value) -> Trace {
    Trace::decode(ftv1_bytes(response).as_slice()).unwrap()
}

/// A node and its subtree on one line: `name(field):Type<Parent>` for a field (the field's
/// own name only when aliased), `[i]` for a list item, `!` for each error it carries.
fn render(node: &Node) -> String {
    let mut out = match &node.id {
        Some(NodeId::ResponseName(name)) => name.clone(),
        Some(NodeId::Index(index)) => format!("[{index}]"),
        None => String::new(),
    };
    if !node.original_field_name.is_empty() {
        out += &format!("({})", node.original_field_name);
    }
    if !node.r#type.is_empty() {
        out += &format!(":{}<{}>", node.r#type, node.parent_type);
    }
    out += &"!".repeat(node.error.len());
    if !node.child.is_empty() {
        let children: Vec<String> = node.child.iter().map(render).collect();
        out += &format!(" {{ {} }}", children.join(" "));
    }
    out
}

fn root(trace: &Trace) -> &Node {
    trace.root.as_ref().expect("a trace has a root")
}

/// Every field starts and ends within the trace, and the fields below it begin once it has
/// ended (its resolver returned), as graphql-js resolves them.
fn assert_timings_in_order(node: &Node, not_before: u64, duration_ns: u64) {
    let timed = !node.r#type.is_empty();
    if timed {
        assert!(not_before <= node.start_time, "{} starts before its parent's value was there", render(node));
        assert!(node.start_time <= node.end_time, "{} ends before it starts", render(node));
        assert!(node.end_time <= duration_ns, "{} ends after the trace", render(node));
    }
    let not_before = if timed { node.end_time } else { not_before };
    for child in &node.child {
        assert_timings_in_order(child, not_before, duration_ns);
    }
}

const SESSION: &str = "query($id: ID!) { session: roomSession(id: $id) { id \
                       participants(first: 2) { totalCount nodes { id who: context } } } }";

#[tokio::test]
async fn a_request_without_the_header_gets_no_trace() {
    let (_upstream, app) = spawn_sample().await;

    let (body, _) = post(&app, &json!({ "query": SESSION, "variables": { "id": ids::MEDIUM_SESSION } }), false).await;

    assert!(body["data"]["session"]["id"].is_string());
    assert_eq!(body.get("extensions"), None);
}

#[tokio::test]
async fn the_trace_tree_is_the_selections_with_aliases_and_list_indices() {
    let (_upstream, app) = spawn_sample().await;

    let (body, _) = post(&app, &json!({ "query": SESSION, "variables": { "id": ids::MEDIUM_SESSION } }), true).await;

    assert_eq!(body["errors"], Value::Null);
    let item = "{ id:ID!<RoomParticipant> who(context):String<RoomParticipant> }";
    let expected = format!(
        " {{ session(roomSession):RoomSession<Query> {{ id:ID!<RoomSession> \
         participants:RoomParticipantConnection!<RoomSession> {{ totalCount:Int!<RoomParticipantConnection> \
         nodes:[RoomParticipant!]!<RoomParticipantConnection> {{ [0] {item} [1] {item} }} }} }} }}"
    );
    assert_eq!(render(root(&trace_of(&body))), expected);
}

#[tokio::test]
async fn fields_are_timed_in_resolution_order_within_the_request() {
    let (_upstream, app) = spawn_sample().await;
    let before = SystemTime::now();

    let (body, took) = post(&app, &json!({ "query": SESSION, "variables": { "id": ids::MEDIUM_SESSION } }), true).await;

    let after = SystemTime::now();
    let trace = trace_of(&body);
    assert!(trace.duration_ns > 0 && u128::from(trace.duration_ns) <= took.as_nanos());
    let seconds = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    let (start, end) = (trace.start_time.clone().unwrap(), trace.end_time.clone().unwrap());
    assert!(seconds(before) <= start.seconds && end.seconds <= seconds(after));
    let wall = (end.seconds - start.seconds) * 1_000_000_000 + i64::from(end.nanos - start.nanos);
    assert_eq!(wall, trace.duration_ns as i64);
    assert_timings_in_order(root(&trace), 0, trace.duration_ns);
    // The two fields waiting on Telnyx (the session's lookup, the participants' page) take time.
    let session = &root(&trace).child[0];
    let participants = &session.child[1];
    assert!(session.end_time > session.start_time && participants.end_time > participants.start_time);
}

#[tokio::test]
async fn an_error_sits_at_its_path_masked_and_without_the_argument_values() {
    let (_upstream, app) = spawn_sample().await;
    let query =
        "query($first: Int) { ok: rooms(first: 1) { totalCount } tooMany: rooms(first: $first) { totalCount } }";

    let (body, _) = post(&app, &json!({ "query": query, "variables": { "first": 987_654_321 } }), true).await;

    assert_eq!(body["errors"][0]["path"], json!(["tooMany"]), "{body}");
    let trace = trace_of(&body);
    let failed = root(&trace).child.iter().find(|n| n.id == Some(NodeId::ResponseName("tooMany".into()))).unwrap();
    assert_eq!(failed.error.len(), 1);
    let error = &failed.error[0];
    assert_eq!(error.message, "<masked>");
    assert_eq!(error.location.len(), 1);
    let json: Value = serde_json::from_str(&error.json).unwrap();
    assert_eq!(json["path"], json!(["tooMany"]));
    assert!(root(&trace).error.is_empty());
    let bytes = String::from_utf8_lossy(&ftv1_bytes(&body)).into_owned();
    assert!(!bytes.contains("987654321"), "the variable's value is not in the trace");
}

#[tokio::test]
async fn no_variable_value_or_credential_is_in_the_trace() {
    let (_upstream, app) = spawn_sample().await;
    let query = "query($id: ID!, $who: String) { roomSession(id: $id) { participants(first: 1, \
                 filter: { context: $who }) { totalCount } } }";
    let body = json!({ "query": query, "variables": { "id": ids::MEDIUM_SESSION, "who": "Bob-the-secret-context" } });

    let response = app
        .http
        .post(app.url())
        .header(HEADER, "ftv1")
        .header("authorization", format!("Bearer {SAMPLE_API_KEY}"))
        .json(&body)
        .send()
        .await
        .unwrap();

    let body: Value = response.json().await.unwrap();
    assert!(body["data"]["roomSession"]["participants"]["totalCount"].is_number(), "{body}");
    let bytes = String::from_utf8_lossy(&ftv1_bytes(&body)).into_owned();
    for secret in [ids::MEDIUM_SESSION, "Bob-the-secret-context", SAMPLE_API_KEY] {
        assert!(!bytes.contains(secret), "{secret} is in the trace");
    }
}

#[tokio::test]
async fn each_entity_field_resolution_has_its_node_under_entities() {
    let (_upstream, app) = spawn_sample().await;
    let query = "query($representations: [_Any!]!) { _entities(representations: $representations) \
                 { ... on RoomSession { id active } } }";
    let representations = json!([
        { "__typename": "RoomSession", "id": ids::MEDIUM_SESSION },
        { "__typename": "RoomSession", "id": ids::SINGLE_SESSION },
    ]);

    let (body, _) =
        post(&app, &json!({ "query": query, "variables": { "representations": representations } }), true).await;

    assert_eq!(body["errors"], Value::Null, "{body}");
    // async-graphql resolves entities without their list index, so their fields sit directly
    // under `_entities`, one node per resolution.
    let fields = "id:ID!<RoomSession> active:Boolean<RoomSession>";
    let expected = format!(" {{ _entities:[_Entity]!<Query> {{ {fields} {fields} }} }}");
    assert_eq!(render(root(&trace_of(&body))), expected);
}

#[tokio::test]
async fn a_document_that_does_not_parse_has_its_error_on_the_root() {
    let (_upstream, app) = spawn_sample().await;

    let (body, _) = post(&app, &json!({ "query": "{ rooms { " }), true).await;

    let trace = trace_of(&body);
    assert_eq!(root(&trace).error.len(), 1);
    assert!(root(&trace).child.is_empty());
}

#[tokio::test]
async fn each_request_of_a_batch_gets_its_own_trace() {
    let (_upstream, app) = spawn_sample().await;
    let batch = json!([
        { "query": "{ a: rooms(first: 1) { totalCount } }" },
        { "query": "{ b: roomSessions(first: 1) { totalCount } }" },
    ]);

    let (body, _) = post(&app, &batch, true).await;

    let names: Vec<String> = body.as_array().unwrap().iter().map(|r| render(root(&trace_of(r)))).collect();
    assert_eq!(
        names,
        [
            " { a(rooms):RoomConnection!<Query> { totalCount:Int!<RoomConnection> } }",
            " { b(roomSessions):RoomSessionConnection!<Query> { totalCount:Int!<RoomSessionConnection> } }",
        ]
    );
}

#[tokio::test]
async fn a_persisted_query_sent_by_its_hash_is_traced_too() {
    let (_upstream, app) = spawn_sample().await;
    let query = "{ rooms(first: 1) { totalCount } }";
    let hash = format!("{:x}", Sha256::digest(query.as_bytes()));
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    post(&app, &json!({ "query": query, "extensions": extensions }), false).await;

    let (body, _) = post(&app, &json!({ "extensions": extensions }), true).await;

    assert!(body["data"]["rooms"]["totalCount"].is_number(), "{body}");
    assert_eq!(render(root(&trace_of(&body))), " { rooms:RoomConnection!<Query> { totalCount:Int!<RoomConnection> } }");
}

#[tokio::test]
async fn a_trusted_document_named_by_its_id_is_traced_too() {
    let document = "query Count { rooms(first: 1) { totalCount } }";
    let id = format!("{:x}", Sha256::digest(document.as_bytes()));
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ftv1-{}.json", std::process::id()));
    let manifest = serde_json::Map::from_iter([(id.clone(), Value::from(document))]);
    std::fs::write(&path, Value::Object(manifest).to_string()).unwrap();
    let (_upstream, app) = spawn_sample_with(move |c| {
        c.trusted_documents = Some(path);
        c.trusted_documents_mode = Mode::Enforce;
    })
    .await;

    let (body, _) = post(&app, &json!({ "documentId": id }), true).await;

    assert!(body["data"]["rooms"]["totalCount"].is_number(), "{body}");
    assert_eq!(render(root(&trace_of(&body))), " { rooms:RoomConnection!<Query> { totalCount:Int!<RoomConnection> } }");
}
