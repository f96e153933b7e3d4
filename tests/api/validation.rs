//! Validated once: a cached document whose operation passed async-graphql's full validation is
//! run without it again when its variable values cannot change the outcome (see
//! `Validated` in src/schema/documents.rs). Differential: for generated variable values, right
//! and wrong (wrong types, null, out-of-range numbers, lists for scalars, missing), a service
//! that caches documents must answer byte for byte what one that caches nothing (and so
//! validates every request in full) answers. That the skipping happens at all is held by the
//! instruction budget (`bench/instructions.py`). `cargo test` runs 256 cases, `.ci/run` 3,000;
//! a longer run by hand is the same with a larger `PROPTEST_CASES`.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

use crate::helpers::{ids, spawn_app_with, TestApp};
use telnyx_rooms_graphql::sample_upstream::{SampleUpstream, SAMPLE_API_KEY};

/// Documents whose variables cover what validation reads: built-in scalars in argument and
/// directive positions, a list, a variable inside an input-object literal, an input-object
/// variable, and a document of two operations chosen by name.
const DOCUMENTS: [(&str, Option<&str>); 5] = [
    (
        "query Q($id: ID!, $first: Int, $after: String, $with: Boolean!) { roomSession(id: $id) { \
         participants(first: $first, after: $after) { totalCount edges @include(if: $with) { cursor node { id } } } } }",
        None,
    ),
    ("query N($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }", None),
    (
        "query F($id: ID!, $context: String, $filter: RoomParticipantFilter) { roomSession(id: $id) { \
         a: participants(first: 2, filter: { context: $context }) { totalCount } \
         b: participants(first: 2, filter: $filter) { totalCount } } }",
        None,
    ),
    (
        "query One($id: ID!) { roomSession(id: $id) { id } } query Two($first: Int) { rooms(first: $first) { totalCount } }",
        Some("One"),
    ),
    (
        "query One($id: ID!) { roomSession(id: $id) { id } } query Two($first: Int) { rooms(first: $first) { totalCount } }",
        Some("Two"),
    ),
];

/// Values for each variable name the documents use; the last choice of each leaves it out.
fn choices(name: &str) -> Vec<Option<Value>> {
    let values = match name {
        "id" => vec![
            json!(ids::MEDIUM_SESSION),
            json!(ids::SINGLE_SESSION),
            json!("not-a-uuid"),
            json!(7),
            json!(null),
            json!([ids::MEDIUM_SESSION]),
            json!({ "a": 1 }),
            json!(1.5),
        ],
        "first" => vec![
            json!(0),
            json!(3),
            json!(20),
            json!(-1),
            json!(2147483648_i64),
            json!(1.5),
            json!(1e3),
            json!("5"),
            json!(null),
            json!([5]),
        ],
        "after" => vec![json!(""), json!("abc"), json!(5), json!(null), json!(true)],
        "with" => vec![json!(true), json!(false), json!("true"), json!(1), json!(null)],
        "ids" => vec![
            json!([]),
            json!([ids::MEDIUM_SESSION]),
            json!([ids::SINGLE_SESSION, "x"]),
            json!([ids::MEDIUM_SESSION, null]),
            json!(ids::MEDIUM_SESSION),
            json!(null),
            json!([1]),
        ],
        "context" => vec![json!("Alice"), json!(""), json!(5), json!(null)],
        "filter" => vec![
            json!({ "context": "Alice" }),
            json!({ "context": 5 }),
            json!({ "unknown": 1 }),
            json!(null),
            json!("x"),
        ],
        other => panic!("no values for ${other}"),
    };
    values.into_iter().map(Some).chain([None]).collect()
}

const NAMES: [&str; 7] = ["id", "first", "after", "with", "ids", "context", "filter"];

/// One request: a document (and operation), and a pick for every variable name (each
/// document reads the ones it declares; the others are sent and ignored).
fn request() -> impl Strategy<Value = (usize, Vec<usize>)> {
    (0..DOCUMENTS.len(), prop::collection::vec(0usize..64, NAMES.len()))
}

fn body(document: usize, picks: &[usize]) -> Value {
    let (query, operation) = DOCUMENTS[document];
    let mut variables = serde_json::Map::new();
    for (name, pick) in NAMES.iter().zip(picks) {
        let choices = choices(name);
        if let Some(value) = &choices[pick % choices.len()] {
            variables.insert((*name).to_owned(), value.clone());
        }
    }
    json!({ "query": query, "operationName": operation, "variables": variables })
}

async fn answer(app: &TestApp, body: &Value) -> (u16, String) {
    let response = app.http.post(app.url()).json(body).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[test]
fn a_document_validated_once_answers_as_one_validated_every_time() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (_upstream, cached, uncached) = runtime.block_on(async {
        let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
        let base = upstream.base_url();
        let cached = spawn_app_with(&base, Some(SAMPLE_API_KEY), |_| {}).await;
        let uncached = spawn_app_with(&base, Some(SAMPLE_API_KEY), |config| config.apq_cache_size = 0).await;
        // Each document and operation passes the full validation once, so that from then on
        // the caching service may skip it.
        for document in 0..DOCUMENTS.len() {
            // The first value of each variable, and no `after` (no cursor is valid here).
            let (status, text) = answer(&cached, &body(document, &[0, 0, 5, 0, 0, 0, 0])).await;
            assert_eq!(status, 200, "{text}");
            assert!(!text.contains("\"errors\""), "{text}");
        }
        (upstream, cached, uncached)
    });
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    runner
        .run(&request(), |(document, picks)| {
            let body = body(document, &picks);
            let (skipping, full) =
                runtime.block_on(async { (answer(&cached, &body).await, answer(&uncached, &body).await) });
            prop_assert_eq!(&skipping, &full, "{}", body);
            Ok(())
        })
        .unwrap();
}
