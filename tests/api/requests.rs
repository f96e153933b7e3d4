//! Exactly which upstream requests a query causes, read from the sample upstream's log.

use serde_json::json;

use crate::helpers::{error_codes, ids, spawn_sample, PARTICIPANTS_PAGE};

fn participants_path(session: &str, query: &str) -> String {
    format!("/v2/room_sessions/{session}/participants?{query}")
}

#[tokio::test]
async fn the_session_alone_costs_no_upstream_request() {
    let (upstream, app) = spawn_sample().await;
    let body = app.query("query($id: ID!) { roomSession(id: $id) { id } }", json!({ "id": ids::MEDIUM_SESSION })).await;
    assert_eq!(body["data"]["roomSession"]["id"], ids::MEDIUM_SESSION);
    assert_eq!(upstream.log.count(), 0);
}

#[tokio::test]
async fn an_aligned_window_is_one_request_for_exactly_that_page() {
    let (upstream, app) = spawn_sample().await;
    let head = app.query(PARTICIPANTS_PAGE, json!({ "id": ids::LARGE_SESSION, "first": 20 })).await;
    upstream.log.clear();
    let cursor = &head["data"]["roomSession"]["participants"]["pageInfo"]["endCursor"];
    app.query(PARTICIPANTS_PAGE, json!({ "id": ids::LARGE_SESSION, "first": 20, "after": cursor })).await;
    assert_eq!(upstream.log.requests(), [participants_path(ids::LARGE_SESSION, "page[size]=20&page[number]=2")]);
}

#[tokio::test]
async fn an_unaligned_window_inside_one_page_is_one_request_for_the_smallest_such_page() {
    let (upstream, app) = spawn_sample().await;
    let head = app.query(PARTICIPANTS_PAGE, json!({ "id": ids::LARGE_SESSION, "first": 5 })).await;
    upstream.log.clear();
    let cursor = &head["data"]["roomSession"]["participants"]["pageInfo"]["endCursor"];
    // Offsets 5..25 fit in page 1 of size 25.
    app.query(PARTICIPANTS_PAGE, json!({ "id": ids::LARGE_SESSION, "first": 20, "after": cursor })).await;
    assert_eq!(upstream.log.requests(), [participants_path(ids::LARGE_SESSION, "page[size]=25&page[number]=1")]);
}

#[tokio::test]
async fn total_count_alone_and_first_zero_cost_one_single_item_page() {
    let (upstream, app) = spawn_sample().await;
    let body = app
        .query(
            "query($id: ID!) { roomSession(id: $id) { participants { totalCount } } }",
            json!({ "id": ids::LARGE_SESSION }),
        )
        .await;
    assert_eq!(body["data"]["roomSession"]["participants"]["totalCount"], 613);
    assert_eq!(upstream.log.requests(), [participants_path(ids::LARGE_SESSION, "page[size]=1&page[number]=1")]);

    upstream.log.clear();
    let body = app.query(PARTICIPANTS_PAGE, json!({ "id": ids::LARGE_SESSION, "first": 0 })).await;
    assert_eq!(body["data"]["roomSession"]["participants"]["totalCount"], 613);
    assert_eq!(upstream.log.requests(), [participants_path(ids::LARGE_SESSION, "page[size]=1&page[number]=1")]);
}

#[tokio::test]
async fn last_without_before_counts_first_then_fetches_one_page() {
    let (upstream, app) = spawn_sample().await;
    app.query(PARTICIPANTS_PAGE, json!({ "id": ids::LARGE_SESSION, "last": 13 })).await;
    // 613 items: the last 13 are offsets 600..613; the smallest aligned page holding them
    // is page 41 of size 15 (offsets 600..615).
    assert_eq!(
        upstream.log.requests(),
        [
            participants_path(ids::LARGE_SESSION, "page[size]=1&page[number]=1"),
            participants_path(ids::LARGE_SESSION, "page[size]=15&page[number]=41"),
        ]
    );
}

#[tokio::test]
async fn identical_aliases_go_upstream_once() {
    let (upstream, app) = spawn_sample().await;
    let query = r#"query($id: ID!) {
        a: roomSession(id: $id) { participants(first: 5) { nodes { id } } }
        b: roomSession(id: $id) { participants(first: 5) { nodes { context } totalCount } }
    }"#;
    let body = app.query(query, json!({ "id": ids::MEDIUM_SESSION })).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(upstream.log.requests(), [participants_path(ids::MEDIUM_SESSION, "page[size]=5&page[number]=1")]);
}

#[tokio::test]
async fn every_filter_is_sent_exactly_and_only_when_given() {
    let (upstream, app) = spawn_sample().await;
    let filter = json!({
        "dateJoinedAt": { "eq": "2024-03-01", "gte": "2024-02-01", "lte": "2024-04-01" },
        "dateUpdatedAt": { "gte": "2024-02-02" },
        "dateLeftAt": { "lte": "2024-05-05" },
        "context": "a&b=c + d% Zoë 🎥",
    });
    app.query(PARTICIPANTS_PAGE, json!({ "id": ids::LARGE_SESSION, "first": 10, "filter": filter })).await;
    let expected = "filter[date_joined_at][eq]=2024-03-01&filter[date_joined_at][gte]=2024-02-01\
        &filter[date_joined_at][lte]=2024-04-01&filter[date_updated_at][gte]=2024-02-02\
        &filter[date_left_at][lte]=2024-05-05\
        &filter[context]=a%26b%3Dc%20%2B%20d%25%20Zo%C3%AB%20%F0%9F%8E%A5&page[size]=10&page[number]=1";
    assert_eq!(upstream.log.requests(), [participants_path(ids::LARGE_SESSION, expected)]);
}

#[tokio::test]
async fn a_context_with_reserved_characters_matches_upstream_intact() {
    let (upstream, app) = spawn_sample().await;
    for context in ["a&b=c + d%", "Zoë 🎥", "Alice"] {
        let expected: Vec<&str> = upstream
            .data
            .participants
            .iter()
            .filter(|p| p.session_id == ids::LARGE_SESSION && p.context.as_deref() == Some(context))
            .map(|p| p.id.as_str())
            .collect();
        assert!(!expected.is_empty(), "the sample data should have {context:?}");
        let body = app
            .query(
                PARTICIPANTS_PAGE,
                json!({ "id": ids::LARGE_SESSION, "first": 1000, "filter": { "context": context } }),
            )
            .await;
        let connection = &body["data"]["roomSession"]["participants"];
        let ids: Vec<&str> =
            connection["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap()).collect();
        assert_eq!(ids, expected, "{context}");
        assert_eq!(connection["totalCount"], expected.len());
    }
}

#[tokio::test]
async fn date_filters_select_by_calendar_date() {
    let (upstream, app) = spawn_sample().await;
    let first_day = upstream
        .data
        .participants
        .iter()
        .filter(|p| p.session_id == ids::LARGE_SESSION)
        .map(|p| p.joined_at.date_naive())
        .min()
        .unwrap();
    let expected = upstream
        .data
        .participants
        .iter()
        .filter(|p| p.session_id == ids::LARGE_SESSION && p.joined_at.date_naive() == first_day)
        .count();
    let filter = json!({ "dateJoinedAt": { "eq": first_day.to_string() } });
    let body = app.query(PARTICIPANTS_PAGE, json!({ "id": ids::LARGE_SESSION, "first": 0, "filter": filter })).await;
    assert_eq!(body["data"]["roomSession"]["participants"]["totalCount"], expected);
    assert!(expected > 0 && expected < 613);
}

#[tokio::test]
async fn invalid_ids_and_dates_are_rejected_without_an_upstream_request() {
    let (upstream, app) = spawn_sample().await;
    for id in ["../../rooms", "not-a-uuid", "7a1b2c3d9e8f4a0b8c1d2e3f4a5b6c7d", ""] {
        let body = app.query(PARTICIPANTS_PAGE, json!({ "id": id })).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{id}: {body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("id"));
        assert_eq!(body["data"]["roomSession"], json!(null));
    }
    for date in ["2024-13-01", "2024-02-30", "yesterday", "2024-3-1"] {
        let filter = json!({ "dateLeftAt": { "gte": date } });
        let body = app.query(PARTICIPANTS_PAGE, json!({ "id": ids::LARGE_SESSION, "filter": filter })).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{date}: {body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("filter.dateLeftAt.gte"), "{body}");
    }
    let literal = format!(
        r#"{{ roomSession(id: "{}") {{ participants(filter: {{ dateJoinedAt: {{ eq: "2024-02-31" }} }}) {{ totalCount }} }} }}"#,
        ids::LARGE_SESSION
    );
    let body = app.query(&literal, json!({})).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert_eq!(upstream.log.count(), 0);
}
