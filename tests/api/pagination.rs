//! Relay pagination end to end against the sample upstream.

use serde_json::{json, Value};

use crate::helpers::{error_codes, ids, sample_ids, spawn_sample, TestApp, PARTICIPANTS_PAGE};

async fn page(app: &TestApp, variables: Value) -> Value {
    let body = app.query(PARTICIPANTS_PAGE, variables).await;
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"]["roomSession"]["participants"].clone()
}

fn node_ids(connection: &Value) -> Vec<String> {
    connection["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn walking_forward_with_after_reproduces_the_upstream_list_for_several_page_sizes() {
    let (upstream, app) = spawn_sample().await;
    let expected = sample_ids(&upstream, ids::LARGE_SESSION);
    for size in [7, 50, 250, 1000] {
        let (mut seen, mut after) = (Vec::new(), Value::Null);
        loop {
            let connection = page(&app, json!({ "id": ids::LARGE_SESSION, "first": size, "after": after })).await;
            seen.extend(node_ids(&connection));
            assert_eq!(connection["totalCount"], expected.len());
            if !connection["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                break;
            }
            after = connection["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(seen, expected, "page size {size}");
    }
}

#[tokio::test]
async fn walking_backward_with_before_reproduces_the_upstream_list() {
    let (upstream, app) = spawn_sample().await;
    let expected = sample_ids(&upstream, ids::MEDIUM_SESSION);
    for size in [1, 10, 53] {
        let (mut seen, mut before) = (Vec::new(), Value::Null);
        loop {
            let connection = page(&app, json!({ "id": ids::MEDIUM_SESSION, "last": size, "before": before })).await;
            seen.splice(0..0, node_ids(&connection));
            if !connection["pageInfo"]["hasPreviousPage"].as_bool().unwrap() {
                break;
            }
            before = connection["pageInfo"]["startCursor"].clone();
        }
        assert_eq!(seen, expected, "page size {size}");
    }
}

#[tokio::test]
async fn page_info_is_exact_at_both_ends_and_in_the_middle() {
    let (upstream, app) = spawn_sample().await;
    let all = sample_ids(&upstream, ids::MEDIUM_SESSION);

    let first = page(&app, json!({ "id": ids::MEDIUM_SESSION, "first": 10 })).await;
    assert_eq!(first["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);

    let middle =
        page(&app, json!({ "id": ids::MEDIUM_SESSION, "first": 10, "after": first["pageInfo"]["endCursor"] })).await;
    assert_eq!(node_ids(&middle), all[10..20]);
    assert_eq!(middle["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(middle["pageInfo"]["hasNextPage"], true);

    let last = page(&app, json!({ "id": ids::MEDIUM_SESSION, "last": 3 })).await;
    assert_eq!(node_ids(&last), all[all.len() - 3..]);
    assert_eq!(last["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(last["pageInfo"]["hasNextPage"], false);

    let exact_end = page(&app, json!({ "id": ids::MEDIUM_SESSION, "first": all.len() })).await;
    assert_eq!(exact_end["pageInfo"]["hasNextPage"], false, "no phantom next page when the list ends exactly");
}

#[tokio::test]
async fn first_and_last_together_apply_first_then_last() {
    let (upstream, app) = spawn_sample().await;
    let all = sample_ids(&upstream, ids::MEDIUM_SESSION);
    let connection = page(&app, json!({ "id": ids::MEDIUM_SESSION, "first": 10, "last": 3 })).await;
    assert_eq!(node_ids(&connection), all[7..10]);
    assert_eq!(connection["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(connection["pageInfo"]["hasNextPage"], true);
}

#[tokio::test]
async fn after_and_before_together_bound_the_window() {
    let (upstream, app) = spawn_sample().await;
    let all = sample_ids(&upstream, ids::MEDIUM_SESSION);
    let head = page(&app, json!({ "id": ids::MEDIUM_SESSION, "first": 30 })).await;
    let edges = head["edges"].as_array().unwrap();
    let (after, before) = (&edges[4]["cursor"], &edges[20]["cursor"]);
    let between =
        page(&app, json!({ "id": ids::MEDIUM_SESSION, "after": after, "before": before, "first": 100 })).await;
    assert_eq!(node_ids(&between), all[5..20]);
    let tail = page(&app, json!({ "id": ids::MEDIUM_SESSION, "after": after, "before": before, "last": 4 })).await;
    assert_eq!(node_ids(&tail), all[16..20]);
}

#[tokio::test]
async fn without_first_or_last_a_page_has_twenty_items() {
    let (_upstream, app) = spawn_sample().await;
    let connection = page(&app, json!({ "id": ids::LARGE_SESSION })).await;
    assert_eq!(node_ids(&connection).len(), 20);
}

#[tokio::test]
async fn an_empty_session_has_an_empty_connection() {
    let (_upstream, app) = spawn_sample().await;
    let connection = page(&app, json!({ "id": ids::EMPTY_SESSION, "first": 5 })).await;
    assert_eq!(connection["edges"], json!([]));
    assert_eq!(connection["totalCount"], 0);
    assert_eq!(
        connection["pageInfo"],
        json!({ "hasPreviousPage": false, "hasNextPage": false, "startCursor": null, "endCursor": null })
    );
}

#[tokio::test]
async fn first_one_thousand_fans_out_and_returns_the_whole_large_session() {
    let (upstream, app) = spawn_sample().await;
    let expected = sample_ids(&upstream, ids::LARGE_SESSION);
    let connection = page(&app, json!({ "id": ids::LARGE_SESSION, "first": 1000 })).await;
    assert_eq!(node_ids(&connection), expected);
    assert!(upstream.log.requests().iter().all(|r| r.contains("page[size]=250")), "{:?}", upstream.log.requests());
}

#[tokio::test]
async fn a_cursor_from_another_session_or_filter_is_rejected_without_an_upstream_request() {
    let (upstream, app) = spawn_sample().await;
    let other = page(&app, json!({ "id": ids::LARGE_SESSION, "first": 2 })).await;
    let filtered = page(&app, json!({ "id": ids::MEDIUM_SESSION, "first": 2, "filter": { "context": "Alice" } })).await;
    upstream.log.clear();
    for cursor in [&other["pageInfo"]["endCursor"], &filtered["pageInfo"]["endCursor"]] {
        for argument in ["after", "before"] {
            let body =
                app.query(PARTICIPANTS_PAGE, json!({ "id": ids::MEDIUM_SESSION, "first": 2, argument: cursor })).await;
            assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
            let message = body["errors"][0]["message"].as_str().unwrap();
            assert!(message.contains(argument) && message.contains("different connection"), "{message}");
        }
    }
    assert_eq!(upstream.log.count(), 0);
}

#[tokio::test]
async fn bad_pagination_arguments_are_rejected_without_an_upstream_request() {
    let (upstream, app) = spawn_sample().await;
    let cases = [
        (json!({ "first": -1 }), "first"),
        (json!({ "first": 1001 }), "first"),
        (json!({ "last": -5 }), "last"),
        (json!({ "last": 100000 }), "last"),
        (json!({ "after": "not-a-cursor" }), "after"),
        (json!({ "before": "djE6MDAwMDowOjA" }), "before"),
    ];
    for (arguments, name) in cases {
        let mut variables = arguments.clone();
        variables["id"] = json!(ids::MEDIUM_SESSION);
        let body = app.query(PARTICIPANTS_PAGE, variables).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{arguments}: {body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains(name), "{body}");
        assert_eq!(body["errors"][0]["path"], json!(["roomSession", "participants"]));
    }
    assert_eq!(upstream.log.count(), 0);
}

#[tokio::test]
async fn zero_and_the_maximum_are_accepted() {
    let (_upstream, app) = spawn_sample().await;
    let none = page(&app, json!({ "id": ids::MEDIUM_SESSION, "first": 0 })).await;
    assert_eq!(none["edges"], json!([]));
    assert_eq!(none["pageInfo"]["hasNextPage"], true);
    let all = page(&app, json!({ "id": ids::MEDIUM_SESSION, "last": 1000 })).await;
    assert_eq!(node_ids(&all).len(), 53);
}

#[tokio::test]
async fn page_info_alone_has_the_same_cursors_as_with_edges_and_costs_one_small_request() {
    let (upstream, app) = spawn_sample().await;
    let with_edges = page(&app, json!({ "id": ids::LARGE_SESSION, "first": 5 })).await;
    upstream.log.clear();
    let query = "query($id: ID!) { roomSession(id: $id) { participants(first: 5) { pageInfo { startCursor endCursor hasNextPage hasPreviousPage } } } }";
    let alone = app.query(query, json!({ "id": ids::LARGE_SESSION })).await;
    assert_eq!(alone["data"]["roomSession"]["participants"]["pageInfo"], with_edges["pageInfo"]);
    assert_eq!(upstream.log.count(), 1);
    assert!(upstream.log.requests()[0].ends_with("page[size]=1&page[number]=1"));
}
