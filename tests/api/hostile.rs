//! Hostile documents and requests, each sent to the real binary, which must answer with a
//! clear error, send nothing upstream, and still answer `/health` afterwards: a stack
//! overflow aborts the whole process, so only a separate process can show it did not happen.

use serde_json::{json, Value};
use telnyx_rooms_graphql::sample_upstream::{SampleUpstream, SAMPLE_API_KEY};

use crate::helpers::{error_codes, ids};
use crate::process::Service;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// The binary in front of an in-process sample upstream (whose log shows what reached it).
struct Target {
    upstream: SampleUpstream,
    service: Service,
    http: reqwest::Client,
}

impl Target {
    async fn start(name: &str, env: &[(&str, &str)]) -> Self {
        let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
        let base_url = upstream.base_url();
        let mut env = env.to_vec();
        env.extend([("TELNYX_API_BASE_URL", base_url.as_str()), ("TELNYX_API_KEY", SAMPLE_API_KEY)]);
        let service = Service::start(name, &[], &env);
        service.until_healthy().await;
        Self { upstream, service, http: reqwest::Client::new() }
    }

    /// POSTs `body` as JSON, asking for `application/graphql-response+json`.
    async fn post(&self, body: &Value) -> (u16, Value) {
        let request = self.http.post(self.service.url("/graphql")).header("accept", GRAPHQL_RESPONSE).json(body);
        read(request.send().await.unwrap()).await
    }

    async fn query(&self, query: &str) -> (u16, Value) {
        self.post(&json!({ "query": query })).await
    }

    /// The process is still running and healthy, and nothing reached the upstream.
    async fn assert_survived_without_upstream_calls(&mut self) {
        assert!(self.service.child.try_wait().unwrap().is_none(), "the service exited: {:?}", self.service.output());
        let health = self.http.get(self.service.url("/health")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        assert_eq!(self.upstream.log.count(), 0, "something was sent upstream");
    }
}

async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn message(body: &Value) -> String {
    body["errors"][0]["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_fragment_cycle_is_a_validation_error_with_introspection_on_or_off() {
    for introspection in ["false", "true"] {
        let mut target = Target::start("cycle", &[("INTROSPECTION", introspection)]).await;
        for query in [
            "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
            "query { ...A } fragment A on Query { ...A }",
            "query { rooms { nodes { ...R } } } fragment R on Room { sessions { nodes { room { ...R } } } }",
        ] {
            let (status, body) = target.query(query).await;
            assert_eq!((status, error_codes(&body)), (400, vec!["GRAPHQL_VALIDATION_FAILED".to_owned()]), "{body}");
            assert!(message(&body).contains("within itself"), "{body}");
        }
        target.assert_survived_without_upstream_calls().await;
    }
}

#[tokio::test]
async fn deeply_nested_values_and_selections_are_refused_before_parsing() {
    let mut target = Target::start("nesting", &[]).await;
    let depth = 5_000;
    for query in [
        format!("{{ rooms(filter: {{ uniqueName: {}1{} }}) {{ totalCount }} }}", "[".repeat(depth), "]".repeat(depth)),
        format!("{{ rooms(filter: {}{}) {{ totalCount }} }}", "{ a: ".repeat(depth), "}".repeat(depth)),
        format!("{}{}", "{ rooms { nodes ".repeat(depth), "}".repeat(2 * depth)),
        // Unbalanced: the parser would recurse just the same before noticing.
        format!("{{ rooms(filter: {{ uniqueName: {}", "[".repeat(depth)),
    ] {
        let (status, body) = target.query(&query).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error_codes(&body), ["GRAPHQL_PARSE_FAILED"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["limit"], "MAX_RECURSION", "{body}");
        assert!(message(&body).contains("MAX_RECURSION"), "{body}");
        assert!(body.get("data").is_none(), "{body}");
    }
    target.assert_survived_without_upstream_calls().await;
}

#[tokio::test]
async fn deeply_nested_variables_are_refused_as_a_bad_request() {
    let mut target = Target::start("variables", &[]).await;
    let query = "query($f: RoomFilter) { rooms(filter: $f) { totalCount } }";
    // Written as text: a `Value` this deep would overflow this test's own stack when dropped.
    let variables = format!(r#"{{ "f": {{ "uniqueName": {}1{} }} }}"#, "[".repeat(5_000), "]".repeat(5_000));
    let body = format!(r#"{{ "query": {}, "variables": {variables} }}"#, json!(query));
    let request = target.http.post(target.service.url("/graphql")).header("content-type", "application/json");
    // serde_json's own recursion limit refuses it while reading the body.
    let (status, body) = read(request.body(body).send().await.unwrap()).await;
    assert_eq!((status, error_codes(&body)), (400, vec!["BAD_REQUEST".to_owned()]), "{body}");
    target.assert_survived_without_upstream_calls().await;
}

#[tokio::test]
async fn a_fragment_fan_out_chain_is_refused_before_validation() {
    let mut target = Target::start("fanout", &[]).await;
    let mut query = String::from("query { ...F0 }");
    for i in 0..40 {
        query.push_str(&format!(" fragment F{i} on Query {{ ...F{next} ...F{next} }}", next = i + 1));
    }
    query.push_str(" fragment F40 on Query { __typename }");
    let (status, body) = target.query(&query).await;
    assert_eq!((status, error_codes(&body)), (400, vec!["QUERY_TOO_EXPENSIVE".to_owned()]), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["limit"], "MAX_EXPANDED_FIELDS", "{body}");
    target.assert_survived_without_upstream_calls().await;
}

#[tokio::test]
async fn a_document_over_the_token_limit_is_refused_and_names_it() {
    let mut target = Target::start("tokens", &[("MAX_TOKENS", "1000")]).await;
    let query = format!("{{ {} }}", "__typename ".repeat(1_000));
    let (status, body) = target.query(&query).await;
    assert_eq!((status, error_codes(&body)), (400, vec!["GRAPHQL_PARSE_FAILED".to_owned()]), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["limit"], "MAX_TOKENS", "{body}");
    target.assert_survived_without_upstream_calls().await;
}

#[tokio::test]
async fn repeated_unknown_directives_answer_one_small_error() {
    let mut target = Target::start("directives", &[]).await;
    let query = format!("{{ __typename {} }}", "@a".repeat(120_000));
    let response =
        target.http.post(target.service.url("/graphql")).json(&json!({ "query": query })).send().await.unwrap();
    let text = response.text().await.unwrap();
    assert!(text.len() < 1_000, "{} bytes", text.len());
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error_codes(&body), ["GRAPHQL_PARSE_FAILED"], "{body}");
    target.assert_survived_without_upstream_calls().await;
}

#[tokio::test]
async fn errors_are_capped_at_one_hundred_and_one_more_that_says_so() {
    let mut target = Target::start("errors", &[("MAX_ROOT_FIELDS", "1000")]).await;
    let fields: Vec<String> = (0..300).map(|i| format!("unknown{i}")).collect();
    let (status, body) = target.query(&format!("{{ {} }}", fields.join(" "))).await;
    assert_eq!(status, 400);
    let codes = error_codes(&body);
    assert_eq!(codes.len(), 101, "{body}");
    assert!(codes[..100].iter().all(|c| c == "GRAPHQL_VALIDATION_FAILED"), "{codes:?}");
    assert_eq!(codes[100], "TOO_MANY_ERRORS");
    target.assert_survived_without_upstream_calls().await;
}

#[tokio::test]
async fn aliases_root_fields_and_directives_per_location_are_bounded() {
    let mut target = Target::start("amounts", &[("MAX_ALIASES", "3"), ("MAX_ROOT_FIELDS", "4")]).await;
    let cases = [
        ("{ a: __typename b: __typename c: __typename d: __typename }", "MAX_ALIASES"),
        ("{ ...F ...F } fragment F on Query { a: __typename b: __typename }", "MAX_ALIASES"),
        ("{ __typename __typename __typename __typename __typename }", "MAX_ROOT_FIELDS"),
        (
            "{ __typename @skip(if: false) @skip(if: false) @skip(if: false) @skip(if: false) @skip(if: false) @skip(if: false) @skip(if: false) @skip(if: false) @skip(if: false) @skip(if: false) @skip(if: false) }",
            "MAX_DIRECTIVES",
        ),
    ];
    for (query, limit) in cases {
        let (status, body) = target.query(query).await;
        assert_eq!((status, error_codes(&body)), (400, vec!["QUERY_TOO_EXPENSIVE".to_owned()]), "{body}");
        assert_eq!(body["errors"][0]["extensions"]["limit"], limit, "{body}");
    }
    let (status, body) = target.query("{ a: __typename b: __typename c: __typename __typename }").await;
    assert_eq!(
        (status, &body),
        (200, &json!({ "data": { "a": "Query", "b": "Query", "c": "Query", "__typename": "Query" } }))
    );
    target.assert_survived_without_upstream_calls().await;
}

#[tokio::test]
async fn directives_on_typename_are_validated_like_any_other() {
    let mut target = Target::start("typename", &[]).await;
    // The same codes as the same mistakes on any other field.
    for (query, code) in [
        ("{ __typename @unknown }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ __typename @include(if: true) @include(if: true) }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ __typename @skip }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ __typename(arg: 1) }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ __typename @skip(if: \"yes\") }", "BAD_USER_INPUT"),
    ] {
        let (status, body) = target.query(query).await;
        assert_eq!((status, error_codes(&body)), (400, vec![code.to_owned()]), "{query}: {body}");
    }
    let (_, body) = target.query("{ a: __typename @skip(if: true) b: __typename @include(if: true) }").await;
    assert_eq!(body, json!({ "data": { "b": "Query" } }));
    // A variable used only there is used, as the spec says (async-graphql called it unused).
    let query = "query($v: Boolean!) { a: __typename @skip(if: $v) b: __typename }";
    for (v, expected) in [(true, json!({ "b": "Query" })), (false, json!({ "a": "Query", "b": "Query" }))] {
        let (_, body) = target.post(&json!({ "query": query, "variables": { "v": v } })).await;
        assert_eq!(body, json!({ "data": expected }));
    }
    target.assert_survived_without_upstream_calls().await;
}

#[tokio::test]
async fn with_introspection_off_errors_suggest_no_names_and_the_sdl_stays_private() {
    let mut target =
        Target::start("private", &[("INTROSPECTION", "false"), ("FEDERATION_SDL_TOKEN", "gateway-token")]).await;

    let (_, typo) = target.query("{ rom(id: \"x\") { id } rooms { nodes { uniqueNam } } }").await;
    let (_, sdl) = target.query("{ _service { sdl } }").await;
    let (_, hidden) = target.query("query { ...F } fragment F on Query { _service { sdl } }").await;
    let (_, schema) = target.query("{ __schema { types { name } } }").await;
    let wrong_token = target
        .http
        .post(target.service.url("/graphql"))
        .header("x-federation-sdl-token", "guess")
        .json(&json!({ "query": "{ _service { sdl } }" }));
    let (_, wrong_token) = read(wrong_token.send().await.unwrap()).await;
    let gateway = target
        .http
        .post(target.service.url("/graphql"))
        .header("x-federation-sdl-token", "gateway-token")
        .json(&json!({ "query": "{ _service { sdl } }" }));
    let (_, gateway) = read(gateway.send().await.unwrap()).await;

    assert!(!typo.to_string().contains("Did you mean"), "{typo}");
    assert!(!typo.to_string().contains("\"room\""), "{typo}");
    assert_eq!(error_codes(&typo).len(), 2, "{typo}");
    for refused in [&sdl, &hidden, &wrong_token, &schema] {
        assert_eq!(error_codes(refused), ["GRAPHQL_VALIDATION_FAILED"], "{refused}");
        assert!(!refused.to_string().contains("RoomSession"), "{refused}");
    }
    assert!(gateway["data"]["_service"]["sdl"].as_str().unwrap().contains("type RoomSession"), "{gateway}");
    target.assert_survived_without_upstream_calls().await;
}

#[tokio::test]
async fn federation_sdl_true_serves_the_sdl_with_introspection_off() {
    let mut target = Target::start("sdl", &[("INTROSPECTION", "false"), ("FEDERATION_SDL", "true")]).await;
    let (_, body) = target.query("{ _service { sdl } }").await;
    assert!(body["data"]["_service"]["sdl"].as_str().unwrap().contains("type RoomSession"), "{body}");
    let (_, body) = target.query("{ __schema { queryType { name } } }").await;
    assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"], "{body}");
    target.assert_survived_without_upstream_calls().await;
}

#[tokio::test]
async fn a_cors_simple_request_without_authorization_never_runs() {
    let mut target = Target::start("csrf", &[]).await;
    let url = target.service.url("/graphql");
    let query =
        format!("{{ roomSession(id: \"{}\") {{ participants(first: 1) {{ totalCount }} }} }}", ids::MEDIUM_SESSION);
    let body = json!({ "query": query }).to_string();

    let get = target.http.get(&url).header("origin", "https://evil.example").query(&[("query", &query)]);
    let (get_status, get_body) = read(get.send().await.unwrap()).await;
    let mut posts = Vec::new();
    for content_type in
        [Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("multipart/form-data; boundary=x"), None]
    {
        let mut post = target.http.post(&url).header("origin", "https://evil.example").body(body.clone());
        if let Some(content_type) = content_type {
            post = post.header("content-type", content_type);
        }
        posts.push(read(post.send().await.unwrap()).await);
    }

    assert_eq!(get_status, 400, "{get_body}");
    assert_eq!(error_codes(&get_body), ["BAD_REQUEST"]);
    assert!(message(&get_body).contains("apollo-require-preflight"), "{get_body}");
    for (status, body) in posts {
        assert_eq!((status, error_codes(&body)), (400, vec!["BAD_REQUEST".to_owned()]), "{body}");
        assert!(message(&body).contains("cross-site request forgery"), "{body}");
    }
    target.assert_survived_without_upstream_calls().await;
}

#[tokio::test]
async fn a_get_with_a_preflight_header_or_authorization_runs() {
    let target = Target::start("preflight", &[]).await;
    let url = target.service.url("/graphql");
    let query =
        format!("{{ roomSession(id: \"{}\") {{ participants(first: 1) {{ totalCount }} }} }}", ids::MEDIUM_SESSION);
    let expected = json!({ "data": { "roomSession": { "participants": { "totalCount": 53 } } } });
    for (name, value) in [
        ("apollo-require-preflight", "true".to_owned()),
        ("x-apollo-operation-name", "Q".to_owned()),
        ("graphql-preflight", "1".to_owned()),
        ("authorization", format!("Bearer {SAMPLE_API_KEY}")),
    ] {
        let get = target.http.get(&url).header(name, value).query(&[("query", &query)]);
        let (status, body) = read(get.send().await.unwrap()).await;
        assert_eq!((status, &body), (200, &expected), "{name}");
    }
}

#[tokio::test]
async fn a_mutation_over_get_is_method_not_allowed_whatever_its_headers() {
    let mut target = Target::start("get-mutation", &[]).await;
    let get = target
        .http
        .get(target.service.url("/graphql"))
        .header("apollo-require-preflight", "true")
        .header("authorization", format!("Bearer {SAMPLE_API_KEY}"))
        .query(&[("query", "mutation { anything }")]);
    let response = get.send().await.unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    let (status, body) = read(response).await;
    assert_eq!((status, error_codes(&body)), (405, vec!["METHOD_NOT_ALLOWED".to_owned()]), "{body}");
    target.assert_survived_without_upstream_calls().await;
}

#[tokio::test]
async fn an_over_long_filter_string_is_refused_without_asking_upstream() {
    let mut target = Target::start("filter", &[]).await;
    let long = "x".repeat(100 * 1024);
    let cases = [
        ("query($v: String) { rooms(filter: { uniqueName: $v }) { totalCount } }", "filter.uniqueName"),
        ("query($v: String) { roomParticipants(filter: { context: $v }) { totalCount } }", "filter.context"),
        (
            "query($v: String) { roomSession(id: \"7b61621f-5fe4-4aad-ab11-9fd19e272e73\") { participants(filter: { context: $v }) { totalCount } } }",
            "filter.context",
        ),
    ];
    for (query, argument) in cases {
        let (_, body) = target.post(&json!({ "query": query, "variables": { "v": long } })).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
        assert!(message(&body).contains(argument), "{body}");
        assert!(message(&body).len() < 200, "the value is not echoed: {body}");
    }
    target.assert_survived_without_upstream_calls().await;
    let (_, body) = target.query("{ rooms(filter: { uniqueName: \"no such room\" }) { totalCount } }").await;
    assert_eq!(body, json!({ "data": { "rooms": { "totalCount": 0 } } }));
}
