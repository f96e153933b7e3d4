//! Compiled plans (src/schema/plan/) against async-graphql, the reference executor.
//!
//! A service that caches documents runs a known query's compiled plan; one that caches nothing
//! (`APQ_CACHE_SIZE=0`) never has a plan and runs everything on async-graphql. Differential:
//! each generated request is sent to the caching service twice (the first compiles the
//! document's plan and, once async-graphql has validated the request in full, runs it; the
//! second runs the plan as a known document's) and to the other, and each answer's status
//! and bytes must be the same. Two generators:
//! - documents from a grammar over what plans cover (aliases, repeated keys, inline fragments,
//!   fragment spreads, `@skip`/`@include`, literal and variable arguments, right and wrong) and
//!   a little they don't, against the sample upstream;
//! - upstream bodies (missing and null fields, strings that need escaping, bad timestamps,
//!   missing totals, error statuses) under fixed documents, against a mock upstream.
//!
//! `cargo test` runs 256 cases of each; `.ci/run` 2,000; a longer run by hand is the same with
//! a larger `PROPTEST_CASES`. Each divergence found becomes a fixed case in `REGRESSIONS`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{ids, spawn_app_with, TestApp};
use telnyx_rooms_graphql::sample_upstream::{SampleUpstream, SAMPLE_API_KEY};

/// Documents that once diverged, run before the generated ones: (query, variables).
const REGRESSIONS: &[(&str, &str)] = &[
    // async-graphql answered an object whose fields were all skipped as `null`; the spec, and
    // a plan, as `{}` (src/schema/spec.rs: `keep_empty_objects`).
    (r#"{ ... @skip(if: true) { room(id: "3f2a9c1e-8b7d-4c6a-9e5f-2d1b0a9c8e7f") { id } } }"#, "{}"),
    (r#"{ roomSession(id: "5d3e7f19-0c2b-4a48-b6e5-7f9a1c3e5d72") { id @skip(if: true) } }"#, "{}"),
    // The response's order is the order of the fields collected, so a skipped first
    // occurrence does not place its key.
    ("{ roomParticipants { __typename @include(if: false) edges { __typename } ... { __typename } } }", "{}"),
    (
        "query Q($no: Boolean!) { roomParticipants { __typename @include(if: $no) totalCount __typename } }",
        r#"{"no": false}"#,
    ),
    // A selection kept from being empty, merged after one that was not.
    ("{ roomParticipants { pageInfo { __typename } pageInfo { __typename @skip(if: true) } } }", "{}"),
    // Fields under one response key that async-graphql let through: its answer was whichever
    // completed last (now refused, as the spec's field merging says).
    (
        r#"query Q($id: ID!) { ... on Query { roomSession(id: $id) { b: active totalCount: __typename } } roomSession(id: "0e1d2c3b-4a59-4687-a7b6-c5d4e3f2a1b0") { totalCount: active } }"#,
        r#"{"id": "7A1B2C3D-9E8F-4A0B-8C1D-2E3F4A5B6C7D"}"#,
    ),
    // Two failed fields of one session, one non-null: the null it propagated to the session
    // was undone when the other error was repaired second.
    (
        r#"query Q($cond: Boolean!) { s: roomSession(id: "00000000-0000-4000-8000-000000000000") { active participants { edges { cursor @skip(if: $cond) } totalCount } } }"#,
        r#"{"cond": true}"#,
    ),
];

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
}

async fn answer(app: &TestApp, body: &Value) -> (u16, String) {
    let response = app.http.post(app.url()).json(body).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The caching service's answers to `first`, the first time it sees its document, and then to
/// `body` (each by the plan, where one compiles: the first after async-graphql has validated
/// the request), and the reference's answers to the same, each normalised by [`normalised`].
async fn both(planned: &TestApp, reference: &TestApp, first: &Value, body: &Value) -> (Vec<Answer>, Vec<Answer>) {
    let planned_first = normalised(answer(planned, first).await);
    let planned_then = normalised(answer(planned, body).await);
    let reference_first = normalised(answer(reference, first).await);
    (vec![planned_first, planned_then], vec![reference_first, normalised(answer(reference, body).await)])
}

/// A status, the response's bytes up to its errors, and its errors in a fixed order.
type Answer = (u16, String, Vec<String>);

/// The order of `errors` is the only freedom the spec leaves a response (and async-graphql
/// records them as fields complete, so it varies from run to run): everything before them is
/// compared byte for byte, they are compared as a set. An escaped string cannot hold
/// `"errors":[`, and the plan never writes errors, so the first one starts them.
fn normalised((status, text): (u16, String)) -> Answer {
    let Some(at) = text.find(r#""errors":["#) else { return (status, text, Vec::new()) };
    let (head, tail) = text.split_at(at);
    let errors: Value = serde_json::from_str(&tail[r#""errors":"#.len()..tail.len() - 1]).unwrap();
    let mut errors: Vec<String> = errors.as_array().unwrap().iter().map(Value::to_string).collect();
    errors.sort();
    (status, head.to_owned(), errors)
}

/// `graphql_compiled_plans_total{outcome}` as `/metrics` shows it now (counters are
/// process-wide, so only their growth says anything).
async fn plans_counted(app: &TestApp, outcome: &str) -> u64 {
    let text = app.http.get(format!("http://{}/metrics", app.addr)).send().await.unwrap().text().await.unwrap();
    let label = format!(r#"graphql_compiled_plans_total{{outcome="{outcome}"}} "#);
    text.lines().find_map(|line| line.strip_prefix(&label)).map_or(0, |n| n.trim().parse().unwrap())
}

/// Builds one request from a tape of choices: what the grammar picks at each step.
struct Builder<'a> {
    tape: &'a [u32],
    at: usize,
    /// Cursors of the lists the documents page through, valid and not.
    cursors: &'a [String],
    variables: BTreeMap<&'static str, (&'static str, Value)>,
    fragment: bool,
}

impl Builder<'_> {
    fn pick(&mut self, n: usize) -> usize {
        let choice = self.tape.get(self.at).copied().unwrap_or(0) as usize % n;
        self.at += 1;
        choice
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.pick(100) < percent
    }

    fn one<T: Clone>(&mut self, choices: &[T]) -> T {
        choices[self.pick(choices.len())].clone()
    }

    /// A variable of `ty` with a value picked from `values`, used as `$name`.
    fn variable(&mut self, name: &'static str, ty: &'static str, values: &[Value]) -> String {
        let value = self.one(values);
        self.variables.entry(name).or_insert((ty, value));
        format!("${name}")
    }

    /// 1 to `max` fields of one selection set, each from `field`, some aliased, some under a
    /// directive, some inside an inline fragment on `type_name`.
    fn selection(&mut self, type_name: &str, max: usize, field: impl Fn(&mut Self) -> String) -> String {
        let count = 1 + self.pick(max);
        let mut items = Vec::new();
        for _ in 0..count {
            let mut item = field(self);
            if self.chance(25) {
                let alias = self.one(&["a", "b", "id", "totalCount"]);
                item = format!("{alias}: {item}");
            }
            if self.chance(15) {
                let directive = self.directive();
                // After the field's name and arguments, before its selection set.
                item = match item.find(" {") {
                    Some(at) => format!("{}{directive}{}", &item[..at], &item[at..]),
                    None => format!("{item}{directive}"),
                };
            }
            if self.chance(10) {
                let condition = self.one(&[String::new(), format!(" on {type_name}")]);
                let directive = if self.chance(50) { self.directive() } else { String::new() };
                item = format!("...{condition}{directive} {{ {item} }}");
            }
            items.push(item);
        }
        format!("{{ {} }}", items.join(" "))
    }

    fn directive(&mut self) -> String {
        let name = self.one(&["skip", "include"]);
        let condition = match self.pick(3) {
            0 => "true".to_owned(),
            1 => "false".to_owned(),
            _ => self.variable("cond", "Boolean!", &[json!(true), json!(false)]),
        };
        format!(" @{name}(if: {condition})")
    }

    fn root(&mut self) -> String {
        self.selection("Query", 3, |b| match b.pick(8) {
            0 => "__typename".to_owned(),
            1..=4 => {
                let id = b.id();
                let session = b.selection("RoomSession", 3, |b| match b.pick(6) {
                    0 => "__typename".to_owned(),
                    1 => "id".to_owned(),
                    2 => "active".to_owned(), // not planned: the document runs on async-graphql
                    _ => b.connection("participants", false),
                });
                format!("roomSession(id: {id}) {session}")
            }
            5 | 6 => b.connection("roomParticipants", true),
            _ => format!(r#"room(id: "{}") {{ id }}"#, ids::ROOM), // not planned
        })
    }

    fn id(&mut self) -> String {
        let values = [
            json!(ids::MEDIUM_SESSION),
            json!(ids::SINGLE_SESSION),
            json!(ids::EMPTY_SESSION),
            json!(ids::LARGE_SESSION.to_uppercase()),
            json!("00000000-0000-4000-8000-000000000000"),
            json!("not-a-uuid"),
        ];
        if self.chance(30) {
            return self.variable("id", "ID!", &values);
        }
        self.one(&values).to_string()
    }

    fn connection(&mut self, name: &str, across_sessions: bool) -> String {
        let mut arguments = Vec::new();
        // Variables decide the complexity async-graphql limits (50,000 by default): up to
        // 10,000 counts, more counts nothing and is refused by the resolver instead.
        let counts = [json!(0), json!(3), json!(25), json!(1000), json!(-1), json!(5000), json!(20000), json!(null)];
        if self.chance(60) {
            let first = match self.chance(35) {
                true => self.variable("first", "Int", &counts),
                false => self.one(&[0, 1, 3, 25, 260, -1, 2000]).to_string(),
            };
            arguments.push(format!("first: {first}"));
        }
        if self.chance(25) {
            let last = match self.chance(35) {
                true => self.variable("last", "Int", &counts),
                false => self.one(&[1, 2, 30]).to_string(),
            };
            arguments.push(format!("last: {last}"));
        }
        for name in ["after", "before"] {
            if self.chance(15) {
                let cursor = self.one(self.cursors);
                let value = if self.chance(40) {
                    let values = [json!(cursor), json!("bad"), json!(null)];
                    self.variable(if name == "after" { "after" } else { "before" }, "String", &values)
                } else {
                    json!(cursor).to_string()
                };
                arguments.push(format!("{name}: {value}"));
            }
        }
        if self.chance(25) {
            let long = "x".repeat(300);
            let mut filters = vec![
                r#"{ context: "Alice" }"#.to_owned(),
                r#"{ dateJoinedAt: { gte: "2024-03-09" } }"#.to_owned(),
                format!(r#"{{ context: "{long}" }}"#),
            ];
            if across_sessions {
                filters.push(format!(r#"{{ sessionId: "{}" }}"#, ids::MEDIUM_SESSION));
            }
            arguments.push(format!("filter: {}", self.one(&filters)));
        }
        let arguments = if arguments.is_empty() { String::new() } else { format!("({})", arguments.join(", ")) };
        let selection = self.selection("RoomParticipantConnection", 4, |b| match b.pick(5) {
            0 => "__typename".to_owned(),
            1 => "totalCount".to_owned(),
            2 => {
                let fields = ["__typename", "hasPreviousPage", "hasNextPage", "startCursor", "endCursor"];
                let info = b.selection("PageInfo", 4, |b| b.one(&fields).to_owned());
                format!("pageInfo {info}")
            }
            3 => {
                let edge = b.selection("RoomParticipantEdge", 3, |b| match b.pick(3) {
                    0 => "__typename".to_owned(),
                    1 => "cursor".to_owned(),
                    _ => format!("node {}", b.participant()),
                });
                format!("edges {edge}")
            }
            _ => format!("nodes {}", b.participant()),
        });
        format!("{name}{arguments} {selection}")
    }

    fn participant(&mut self) -> String {
        let fields = ["__typename", "id", "sessionId", "context", "joinedAt", "updatedAt", "leftAt"];
        self.selection("RoomParticipant", 4, |b| match b.pick(10) {
            0 => {
                b.fragment = true;
                "...P".to_owned()
            }
            1 if b.chance(30) => "session { id }".to_owned(), // not planned
            _ => b.one(&fields).to_owned(),
        })
    }

    /// The request, and the same document with `first` and `last` variables of 1: a plan is
    /// compiled from a request that passed validation, and may then meet values that would
    /// not have.
    fn request(mut self) -> (Value, Value) {
        let root = self.root();
        // Valid but for the validation (a variable never used, or declared with the wrong
        // type): a plan compiles from it, and must not run.
        match self.pick(20) {
            0 => {
                self.variables.insert("unused", ("Int", json!(1)));
            }
            1 => {
                if let Some((ty, _)) = self.variables.get_mut("first") {
                    *ty = "Boolean";
                }
            }
            _ => {}
        }
        let declarations: Vec<String> = self.variables.iter().map(|(name, (ty, _))| format!("${name}: {ty}")).collect();
        let header =
            if declarations.is_empty() { String::new() } else { format!("query Q({})", declarations.join(", ")) };
        let fragment = if self.fragment { " fragment P on RoomParticipant { context __typename leftAt }" } else { "" };
        let variables: serde_json::Map<String, Value> =
            self.variables.into_iter().map(|(name, (_, value))| (name.to_owned(), value)).collect();
        let mut small = variables.clone();
        for name in ["first", "last"] {
            if let Some(value) = small.get_mut(name) {
                *value = json!(1);
            }
        }
        let query = format!("{header} {root}{fragment}");
        (json!({ "query": query, "variables": small }), json!({ "query": query, "variables": variables }))
    }
}

#[test]
fn generated_documents_answer_as_async_graphql_answers_them() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (_upstream, planned, reference, cursors) = runtime.block_on(async {
        let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
        let base = upstream.base_url();
        // A complexity limit that generated `first`/`last` variables cross often.
        let planned = spawn_app_with(&base, Some(SAMPLE_API_KEY), |config| config.max_complexity = 2000).await;
        let reference = spawn_app_with(&base, Some(SAMPLE_API_KEY), |config| {
            config.max_complexity = 2000;
            config.apq_cache_size = 0;
        })
        .await;
        let end_cursor = |query: String| {
            let (planned, query) = (&planned, query);
            async move {
                let (_, text) = answer(planned, &json!({ "query": query })).await;
                let body: Value = serde_json::from_str(&text).unwrap();
                let info =
                    body.pointer("/data/list/pageInfo/endCursor").or(body.pointer("/data/s/list/pageInfo/endCursor"));
                info.and_then(Value::as_str).unwrap().to_owned()
            }
        };
        let in_session = format!(
            r#"{{ s: roomSession(id: "{}") {{ list: participants(first: 2) {{ pageInfo {{ endCursor }} }} }} }}"#,
            ids::MEDIUM_SESSION
        );
        let across = "{ list: roomParticipants(first: 4) { pageInfo { endCursor } } }".to_owned();
        let cursors = vec![end_cursor(in_session).await, end_cursor(across).await, "bad".to_owned()];
        (upstream, planned, reference, cursors)
    });

    runtime.block_on(async {
        // A covered document, the second time, is answered by its plan.
        let body = json!({ "query": format!(r#"{{ roomSession(id: "{}") {{ id participants {{ totalCount }} }} }}"#, ids::MEDIUM_SESSION) });
        let before = plans_counted(&planned, "answered").await;
        let (plan, full) = both(&planned, &reference, &body, &body).await;
        assert_eq!(plan, full);
        assert!(plans_counted(&planned, "answered").await > before, "the plan did not answer");
        for (query, variables) in REGRESSIONS {
            let body = json!({ "query": query, "variables": serde_json::from_str::<Value>(variables).unwrap() });
            let (plan, full) = both(&planned, &reference, &body, &body).await;
            assert_eq!(plan, full, "{body}");
        }
    });

    let answered_before = runtime.block_on(plans_counted(&planned, "answered"));
    let mut runner = TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() });
    runner
        .run(&prop::collection::vec(any::<u32>(), 40..160), |tape| {
            let builder =
                Builder { tape: &tape, at: 0, cursors: &cursors, variables: BTreeMap::new(), fragment: false };
            let (small, body) = builder.request();
            let (plan, full) = runtime.block_on(both(&planned, &reference, &small, &body));
            prop_assert_eq!(&plan, &full, "{}", body);
            Ok(())
        })
        .unwrap();
    // The generator reaches the plans, not only the fallbacks.
    let answered = runtime.block_on(plans_counted(&planned, "answered")) - answered_before;
    assert!(answered >= u64::from(cases()) / 8, "plans answered {answered} of {} cases", cases());
}

/// One participant as upstream might send it: any field missing or null, strings that need
/// escaping, timestamps right and wrong.
fn participant() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        Just(Value::Null),
        Just(json!("Alice")),
        Just(json!("quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7}")),
        Just(json!("émoji 🎥 and \u{2028} separator")),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    let time = prop_oneof![
        Just(Value::Null),
        Just(json!("2024-03-09T08:02:07.951514Z")),
        Just(json!("2024-03-09T10:02:07+02:00")),
        Just(json!("2024-03-09T08:02:07Z")),
        Just(json!("yesterday")),
    ];
    let id = prop_oneof![
        Just(Value::Null),
        Just(json!("78a3c7d8-2460-409b-8e59-09ed2a360a15")),
        Just(json!("not-a-uuid")),
        Just(json!(7)),
    ];
    let session = prop_oneof![Just(Value::Null), Just(json!(ids::MEDIUM_SESSION)), Just(json!("elsewhere"))];
    (id, session, text, time.clone(), time.clone(), time, prop::collection::vec(any::<bool>(), 6)).prop_map(
        |(id, session, context, joined, updated, left, present)| {
            let mut item = serde_json::Map::new();
            let fields = [
                ("id", id),
                ("session_id", session),
                ("context", context),
                ("joined_at", joined),
                ("updated_at", updated),
                ("left_at", left),
            ];
            for ((name, value), present) in fields.into_iter().zip(present) {
                if present {
                    item.insert(name.to_owned(), value);
                }
            }
            Value::Object(item)
        },
    )
}

/// A list page as upstream might answer: its items, a total (or none), and a status.
fn page() -> impl Strategy<Value = (u16, Value)> {
    let total = prop_oneof![Just(None), (0u64..12).prop_map(Some)];
    let status = prop_oneof![8 => Just(200u16), 1 => Just(404u16), 1 => Just(403u16)];
    (status, prop::collection::vec(participant(), 0..5), total).prop_map(|(status, items, total)| {
        let meta = total.map_or(json!({}), |total| json!({ "total_results": total, "page_number": 1 }));
        let body = if status == 200 {
            json!({ "data": items, "meta": meta })
        } else {
            json!({ "errors": [{ "code": "10005", "title": "Resource not found", "detail": "not here" }] })
        };
        (status, body)
    })
}

/// Fixed documents over every planned field; the upstream's answers are what varies.
const DOCUMENTS: [&str; 3] = [
    "{ roomSession(id: \"5d3e7f19-0c2b-4a48-b6e5-7f9a1c3e5d72\") { __typename id participants(first: 3) { \
     totalCount pageInfo { hasPreviousPage hasNextPage startCursor endCursor } \
     edges { cursor node { __typename id sessionId context joinedAt updatedAt leftAt } } } } }",
    "{ roomParticipants(last: 2) { nodes { id sessionId context leftAt } totalCount } }",
    "{ a: roomParticipants(first: 1) { nodes { id } } roomSession(id: \"5d3e7f19-0c2b-4a48-b6e5-7f9a1c3e5d72\") { \
     participants(first: 4) { edges { node { sessionId context } } } } }",
];

#[test]
fn upstream_answers_of_every_shape_are_written_as_async_graphql_writes_them() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (server, planned, reference) = runtime.block_on(async {
        let server = MockServer::start().await;
        let fast = |config: &mut telnyx_rooms_graphql::config::Config| {
            config.upstream_retry_base_ms = 10;
            config.upstream_timeout_ms = 500;
        };
        let planned = spawn_app_with(&server.uri(), Some("KEY_TEST"), fast).await;
        let reference = spawn_app_with(&server.uri(), Some("KEY_TEST"), |config| {
            fast(config);
            config.apq_cache_size = 0;
        })
        .await;
        (server, planned, reference)
    });
    let answered_before = runtime.block_on(plans_counted(&planned, "answered"));
    let mut runner = TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() });
    runner
        .run(&(0..DOCUMENTS.len(), page()), |(document, (status, body))| {
            let request = json!({ "query": DOCUMENTS[document] });
            let (plan, full) = runtime.block_on(async {
                server.reset().await;
                Mock::given(method("GET"))
                    .and(path_regex("participants$"))
                    .respond_with(ResponseTemplate::new(status).set_body_json(&body))
                    .mount(&server)
                    .await;
                both(&planned, &reference, &request, &request).await
            });
            prop_assert_eq!(&plan, &full, "{} with {} {}", request, status, body);
            Ok(())
        })
        .unwrap();
    let answered = runtime.block_on(plans_counted(&planned, "answered")) - answered_before;
    assert!(answered >= u64::from(cases()) / 8, "plans answered {answered} of {} cases", cases());
}
