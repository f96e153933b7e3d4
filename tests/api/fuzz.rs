//! Grammar-aware fuzzing of the whole request path: HTTP, limits, parsing, validation,
//! execution against the sample upstream, repairs, serialisation.
//!
//! Documents come from a generator that knows GraphQL's grammar and this schema's names, and
//! leans on what has broken services before: deep nesting of selections, lists and objects;
//! fragments that spread each other in cycles and in doubling chains; many aliases and
//! directives, repeated or unknown; unicode and broken strings; deep variables. Everything runs
//! on one thread with a 2 MiB stack (tokio's worker size; this debug build's frames are larger
//! than the release build's), so an unbounded recursion aborts this test binary: a failure
//! with "has overflowed its stack", never a hang.
//!
//! `cargo test --test api fuzz_` runs 256 cases; CI runs more (`PROPTEST_CASES`), and longer
//! runs by hand are the same command with a larger number.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use http::Request;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use telnyx_rooms_graphql::sample_upstream::{SampleUpstream, SAMPLE_API_KEY};
use tower::ServiceExt;

const STACK: usize = 2 * 1024 * 1024;

/// Names the schema has, names it does not, and names that are not names at all.
fn name() -> BoxedStrategy<String> {
    prop_oneof![
        30 => prop::sample::select(vec![
            "rooms", "room", "roomSession", "roomSessions", "roomParticipants", "roomParticipant", "participants",
            "sessions", "activeSession", "nodes", "edges", "node", "cursor", "id", "totalCount", "pageInfo",
            "hasNextPage", "endCursor", "uniqueName", "joinedAt", "session", "__typename", "__schema", "__type",
            "types", "name", "_service", "sdl", "_entities",
        ])
        .prop_map(str::to_owned),
        6 => "[a-z_][a-zA-Z0-9_]{0,6}",
        1 => prop::sample::select(vec!["é", "名前", "a\u{0}b", "1abc", "🙂", "\u{feff}x"]).prop_map(str::to_owned),
    ]
    .boxed()
}

/// A string token, well-formed or not.
fn string_value() -> BoxedStrategy<String> {
    prop_oneof![
        10 => "\"[a-zA-Z0-9 é名{}\\[\\]()#]{0,12}\"",
        5 => Just("\"7b61621f-5fe4-4aad-ab11-9fd19e272e73\"".to_owned()),
        3 => Just("\"\"\"block {[( \\\"\"\" \"\"\"".to_owned()),
        3 => Just("\"\\u00e9\\n\\\"\"".to_owned()),
        1 => Just("\"unterminated".to_owned()),
        1 => Just("\"\"\"unterminated block".to_owned()),
        1 => Just("\"bad \\q escape\"".to_owned()),
    ]
    .boxed()
}

/// A nesting depth: shallow, around where parsers' stacks give out, or far beyond.
fn deep() -> BoxedStrategy<usize> {
    prop_oneof![1usize..100, 100usize..1_000, 1_000usize..6_000].boxed()
}

/// A value literal: scalars, variables, lists and objects nested by the generator, and
/// sometimes thousands of brackets deep by repetition.
fn value() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        Just("1.5e300".to_owned()),
        Just("99999999999999999999999".to_owned()),
        string_value(),
        prop::sample::select(vec!["true", "false", "null", "ASC", "$v", "$f", "$undefined"]).prop_map(str::to_owned),
    ];
    let nested = leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(", "))),
            prop::collection::vec((name(), inner), 0..4).prop_map(|fields| {
                let fields: Vec<String> = fields.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", fields.join(", "))
            }),
        ]
    });
    prop_oneof![
        6 => nested,
        1 => (deep(), prop::bool::ANY).prop_map(|(depth, list)| {
            let (open, close) = if list { ("[", "]") } else { ("{a: ", "}") };
            format!("{}1{}", open.repeat(depth), close.repeat(depth))
        }),
    ]
    .boxed()
}

fn directives() -> BoxedStrategy<String> {
    let directive = prop_oneof![
        Just("@include(if: true)".to_owned()),
        Just("@skip(if: $v)".to_owned()),
        Just("@skip".to_owned()),
        Just("@include(if: \"no\")".to_owned()),
        name().prop_map(|n| format!("@{n}")),
        (name(), value()).prop_map(|(n, v)| format!("@{n}(x: {v})")),
    ];
    prop_oneof![
        6 => Just(String::new()),
        3 => prop::collection::vec(directive.clone(), 1..4).prop_map(|d| d.join(" ")),
        1 => (directive, 0usize..200).prop_map(|(d, n)| format!("{d} ").repeat(n)),
    ]
    .boxed()
}

fn arguments() -> BoxedStrategy<String> {
    prop_oneof![
        3 => Just(String::new()),
        2 => prop::collection::vec((name(), value()), 1..4).prop_map(|args| {
            let args: Vec<String> = args.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
            format!("({})", args.join(", "))
        }),
        1 => prop::sample::select(vec![
            "(first: 2)", "(last: 3, before: \"x\")", "(id: \"7b61621f-5fe4-4aad-ab11-9fd19e272e73\")",
            "(first: -1)", "(first: 2147483648)", "(filter: { uniqueName: $v })",
        ])
        .prop_map(str::to_owned),
    ]
    .boxed()
}

/// A selection set: fields with aliases, arguments, directives and sub-selections, spreads of
/// fragments `F0`–`F5`, inline fragments.
fn selection_set() -> impl Strategy<Value = String> {
    let field = (prop::option::of(name()), name(), arguments(), directives()).prop_map(|(alias, name, args, dirs)| {
        format!("{}{name}{args} {dirs}", alias.map(|a| format!("{a}: ")).unwrap_or_default())
    });
    let spread = (0u8..6, directives()).prop_map(|(k, d)| format!("...F{k} {d}"));
    let leaf = prop_oneof![4 => field.clone(), 1 => spread];
    leaf.prop_recursive(5, 48, 6, move |inner| {
        let set = prop::collection::vec(inner, 1..6).prop_map(|items| format!("{{ {} }}", items.join(" ")));
        prop_oneof![
            3 => (field.clone(), set.clone()).prop_map(|(f, s)| format!("{f} {s}")),
            1 => (prop::sample::select(vec!["", "on Query", "on Room", "on Nope"]), directives(), set)
                .prop_map(|(on, d, s)| format!("... {on} {d} {s}")),
        ]
    })
    .prop_map(|item| format!("{{ {item} }}"))
}

/// A whole document: operations, fragments (which may spread each other in any pattern,
/// cycles included), and sometimes a long generated chain or nesting by repetition.
fn document() -> impl Strategy<Value = String> {
    let operation = (
        prop::sample::select(vec![
            "",
            "query",
            "query Q",
            "mutation",
            "subscription S",
            "query Q($v: Boolean!, $f: RoomFilter)",
        ]),
        selection_set(),
    )
        .prop_map(|(head, set)| format!("{head} {set}"));
    let fragment = (0u8..6, prop::sample::select(vec!["Query", "Room", "RoomSession", "Nope"]), selection_set())
        .prop_map(|(k, on, set)| format!("fragment F{k} on {on} {set}"));
    let chain = (prop_oneof![3 => 1usize..40, 1 => 40usize..200], 1usize..4).prop_map(|(length, fan_out)| {
        let mut text = String::from("query C { ...C0 }");
        for i in 0..length {
            text.push_str(&format!(" fragment C{i} on Query {{ {} }}", format!("...C{} ", i + 1).repeat(fan_out)));
        }
        text.push_str(&format!(" fragment C{length} on Query {{ __typename }}"));
        text
    });
    let deep_selection = (1usize..3_000)
        .prop_map(|depth| format!("{}__typename{}", "{ rooms { nodes ".repeat(depth), " } }".repeat(depth)));
    prop_oneof![
        8 => (prop::collection::vec(operation, 1..3), prop::collection::vec(fragment, 0..6))
            .prop_map(|(ops, frags)| format!("{} {}", ops.join(" "), frags.join(" "))),
        1 => chain,
        1 => deep_selection,
    ]
}

/// Variables as JSON text: ordinary ones, or nesting deeper than any parser should follow.
fn variables() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("{}".to_owned()),
        2 => Just(r#"{"v": true, "f": {"uniqueName": "x"}}"#.to_owned()),
        1 => deep().prop_map(|depth| format!(r#"{{"f": {{"uniqueName": {}1{}}}}}"#, "[".repeat(depth), "]".repeat(depth))),
        1 => "[a-z\"{}\\[\\]:,0-9]{0,20}",
    ]
}

#[derive(Debug, Clone)]
enum Method {
    Post,
    Get,
}

fn request() -> impl Strategy<Value = (Method, String, String)> {
    (prop_oneof![4 => Just(Method::Post), 1 => Just(Method::Get)], document(), variables())
}

async fn send(router: &axum::Router, (method, document, variables): &(Method, String, String)) -> (u16, String) {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("query", document)
        .append_pair("variables", variables)
        .finish();
    // A URI longer than the `http` crate can hold goes as a POST instead (a real server
    // refuses such a GET before it reaches us).
    let request = match method {
        Method::Get if query.len() < 60_000 => {
            Request::get(format!("/graphql?{query}")).header("apollo-require-preflight", "1").body(Body::empty())
        }
        _ => {
            let body =
                format!(r#"{{"query": {}, "variables": {variables}}}"#, serde_json::to_string(document).unwrap());
            Request::post("/graphql").header("content-type", "application/json").body(Body::from(body))
        }
    };
    let response = router.clone().oneshot(request.unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// Every answer is a GraphQL response (or a plain HTTP refusal) whose errors all carry a code,
/// and never more than the cap.
fn check_answer(status: u16, body: &str) -> Result<(), TestCaseError> {
    prop_assert!(matches!(status, 200 | 400 | 405 | 413 | 415), "status {status}: {body}");
    let Ok(body) = serde_json::from_str::<Value>(body) else {
        prop_assert!(status == 413, "not JSON with status {status}: {body}");
        return Ok(());
    };
    let errors = body.get("errors").and_then(Value::as_array).cloned().unwrap_or_default();
    prop_assert!(errors.len() <= 101, "{} errors", errors.len());
    for error in &errors {
        prop_assert!(error["extensions"]["code"].is_string(), "an error without a code: {error}");
    }
    prop_assert!(body.get("data").is_some() || !errors.is_empty(), "neither data nor errors: {body}");
    Ok(())
}

/// How long one case may take before the watchdog aborts the run: synchronous CPU work (a
/// validation that expands fragments exponentially, say) cannot be interrupted by a timeout
/// on the thread doing it, so a separate thread watches.
const STALL: Duration = Duration::from_secs(30);

/// Aborts the process, naming the case, if one case runs longer than [`STALL`]; stops
/// watching once the returned handle is dropped (the run is over, while other tests go on).
fn watchdog() -> Arc<Mutex<(Instant, String)>> {
    let current = Arc::new(Mutex::new((Instant::now(), String::new())));
    let watched = Arc::downgrade(&current);
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        let Some(watched) = watched.upgrade() else { return };
        let (started, case) = &*watched.lock().unwrap();
        if started.elapsed() > STALL {
            let shown: String = case.chars().take(2_000).collect();
            eprintln!("a request stalled the request path for over {STALL:?}: {shown}");
            std::process::abort();
        }
    });
    current
}

#[test]
fn fuzz_no_request_crashes_or_stalls_the_request_path() {
    let current = watchdog();
    let worker = std::thread::Builder::new().stack_size(STACK).spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_stack_size(STACK) // the blocking pool's threads, where large documents parse
            .build()
            .unwrap();
        let (_upstream, router) = runtime.block_on(async {
            let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
            let config = crate::helpers::config(&upstream.base_url(), Some(SAMPLE_API_KEY), |c| {
                c.max_upstream_requests = 4;
                c.introspection = false;
            });
            let router = telnyx_rooms_graphql::app::build(&config).unwrap().into_router();
            (upstream, router)
        });
        let mut runner = TestRunner::new(Config { failure_persistence: None, ..Config::default() });
        runner
            .run(&request(), |case| {
                *current.lock().unwrap() = (Instant::now(), format!("{case:?}"));
                let (status, body) = runtime.block_on(async {
                    tokio::time::timeout(Duration::from_secs(20), send(&router, &case)).await.expect("answered in time")
                });
                check_answer(status, &body)
            })
            .map_err(|failure| failure.to_string())
    });
    worker.unwrap().join().expect("the worker thread panicked").unwrap();
}
