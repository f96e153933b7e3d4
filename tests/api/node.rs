//! Relay's Global Object Identification (`Node`, `node`, `nodes`) and missing federation
//! entities, against the sample upstream: right types, nulls for what does not exist, and
//! the upstream requests each costs.

use serde_json::{json, Value};

use crate::helpers::{error_codes, ids, sample_ids, spawn_sample, PARTICIPANTS_PAGE};

const UNKNOWN: &str = "00000000-0000-4000-8000-000000000000";

/// Relay's refetch query for a `@refetchable` fragment on `RoomSession` with `@connection`
/// on `participants`, as relay-compiler sends it.
const REFETCH: &str = r#"
query RoomSessionParticipantsRefetchQuery($count: Int, $cursor: String, $id: ID!) {
  node(id: $id) { __typename ...RoomSessionParticipants_session id }
}
fragment RoomSessionParticipants_session on RoomSession {
  participants(first: $count, after: $cursor) {
    edges { cursor node { id __typename } }
    pageInfo { endCursor hasNextPage }
  }
  id
}"#;

fn sorted(mut requests: Vec<String>) -> Vec<String> {
    requests.sort();
    requests
}

#[tokio::test]
async fn a_relay_refetch_through_node_costs_what_the_same_page_costs_through_room_session() {
    let (upstream, app) = spawn_sample().await;
    // The same page of the same session both ways, second page of three.
    let first = app.query(PARTICIPANTS_PAGE, json!({ "id": ids::MEDIUM_SESSION, "first": 3 })).await;
    let cursor = first["data"]["roomSession"]["participants"]["pageInfo"]["endCursor"].clone();
    upstream.log.clear();
    let direct = app.query(PARTICIPANTS_PAGE, json!({ "id": ids::MEDIUM_SESSION, "first": 3, "after": cursor })).await;
    let direct_requests = upstream.log.requests();
    upstream.log.clear();
    let body = app.query(REFETCH, json!({ "id": ids::MEDIUM_SESSION, "count": 3, "cursor": cursor })).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(upstream.log.requests(), direct_requests, "{body}");

    let node = &body["data"]["node"];
    assert_eq!(node["__typename"], "RoomSession");
    assert_eq!(node["id"], ids::MEDIUM_SESSION);
    let got: Vec<&Value> = node["participants"]["edges"].as_array().unwrap().iter().map(|e| &e["node"]["id"]).collect();
    let want: Vec<&Value> = direct["data"]["roomSession"]["participants"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"]["id"])
        .collect();
    assert_eq!(got, want);
    assert_eq!(got, sample_ids(&upstream, ids::MEDIUM_SESSION)[3..6].iter().collect::<Vec<_>>());
}

#[tokio::test]
async fn node_without_a_type_in_the_query_answers_each_id_with_its_own_type() {
    let (upstream, app) = spawn_sample().await;
    let query = "query($id: ID!) { node(id: $id) { __typename id } }";
    for (id, typename) in
        [(ids::ROOM, "Room"), (ids::MEDIUM_SESSION, "RoomSession"), (ids::PARTICIPANT, "RoomParticipant")]
    {
        upstream.log.clear();
        let body = app.query(query, json!({ "id": id })).await;
        assert_eq!(body, json!({ "data": { "node": { "__typename": typename, "id": id } } }));
        // One concurrent lookup per type, each cached for the fields that follow.
        let lookups = ["rooms", "room_sessions", "room_participants"].map(|path| format!("/v2/{path}/{id}"));
        assert_eq!(sorted(upstream.log.requests()), sorted(lookups.to_vec()));
    }
}

#[tokio::test]
async fn details_asked_through_node_cost_the_lookup_the_type_needs_and_nothing_more() {
    let (upstream, app) = spawn_sample().await;
    let query = "query($id: ID!) { node(id: $id) { ... on Room { uniqueName } } }";
    let body = app.query(query, json!({ "id": ids::ROOM })).await;
    assert_eq!(body, json!({ "data": { "node": { "uniqueName": "all-hands" } } }));
    assert_eq!(upstream.log.requests(), [format!("/v2/rooms/{}", ids::ROOM)]);

    // Two types named: only those two are looked up.
    upstream.log.clear();
    let query = "query($id: ID!) { node(id: $id) { ... on Room { uniqueName } ... on RoomSession { active } } }";
    let body = app.query(query, json!({ "id": ids::MEDIUM_SESSION })).await;
    assert_eq!(body, json!({ "data": { "node": { "active": false } } }));
    let lookups = [format!("/v2/rooms/{}", ids::MEDIUM_SESSION), format!("/v2/room_sessions/{}", ids::MEDIUM_SESSION)];
    assert_eq!(sorted(upstream.log.requests()), sorted(lookups.to_vec()));
}

#[tokio::test]
async fn unknown_ids_and_ids_of_another_type_are_null_without_errors() {
    let (_upstream, app) = spawn_sample().await;
    let queries = [
        "query($id: ID!) { node(id: $id) { __typename id } }",
        "query($id: ID!) { node(id: $id) { id ... on RoomSession { active } } }",
        "query($id: ID!) { node(id: $id) { __typename ... on RoomSession { participants(first: 2) { edges { node { id } } } } } }",
        "query($id: ID!) { node(id: $id) { ... on Room { sessions { totalCount } } } }",
        "query($id: ID!) { node(id: $id) { ... on RoomParticipant { id } } }",
    ];
    // The participant's id is not a room's, the room's not a session's, and so on.
    for (query, id) in queries.iter().zip([UNKNOWN, ids::ROOM, ids::ROOM, ids::MEDIUM_SESSION, ids::ROOM]) {
        let body = app.query(query, json!({ "id": id })).await;
        assert_eq!(body, json!({ "data": { "node": null } }), "{query} {id}");
    }
}

#[tokio::test]
async fn nodes_answers_in_order_with_nulls_for_unknown_ids() {
    let (_upstream, app) = spawn_sample().await;
    let query = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }";
    let body = app.query(query, json!({ "ids": [ids::PARTICIPANT, UNKNOWN, ids::ROOM] })).await;
    let expected = json!([
        { "__typename": "RoomParticipant", "id": ids::PARTICIPANT },
        null,
        { "__typename": "Room", "id": ids::ROOM },
    ]);
    assert_eq!(body, json!({ "data": { "nodes": expected } }));

    // A session page through `nodes`: a missing session is null, the other keeps its page.
    let query =
        "query($ids: [ID!]!) { nodes(ids: $ids) { ... on RoomSession { participants(first: 1) { totalCount } } } }";
    let body = app.query(query, json!({ "ids": [UNKNOWN, ids::MEDIUM_SESSION] })).await;
    let expected = json!([null, { "participants": { "totalCount": 53 } }]);
    assert_eq!(body, json!({ "data": { "nodes": expected } }));
}

#[tokio::test]
async fn ids_that_are_not_uuids_or_too_many_are_refused_before_anything_is_sent() {
    let (upstream, app) = spawn_sample().await;
    let body = app.query("{ node(id: \"../rooms\") { id } }", json!({})).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    let many: Vec<&str> = vec![ids::ROOM; 101];
    let body = app.query("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", json!({ "ids": many })).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("ids"), "{body}");
    assert_eq!(upstream.log.requests(), Vec::<String>::new());
}

const ENTITIES: &str = "query($r: [_Any!]!) { _entities(representations: $r) \
                        { ... on RoomParticipant { context } ... on RoomSession { participants(first: 1) { totalCount } } \
                          ... on Room { uniqueName } } }";

#[tokio::test]
async fn a_missing_entity_is_null_at_its_index_with_one_error_naming_it() {
    let (upstream, app) = spawn_sample().await;
    let other_unknown = "00000000-0000-4000-8000-000000000001";
    let representations = json!([
        { "__typename": "RoomParticipant", "id": ids::PARTICIPANT },
        { "__typename": "RoomParticipant", "id": UNKNOWN },
        { "__typename": "RoomSession", "id": other_unknown },
        { "__typename": "RoomSession", "id": ids::MEDIUM_SESSION },
        { "__typename": "Room", "id": UNKNOWN },
    ]);
    let body = app.query(ENTITIES, json!({ "r": representations })).await;
    let participant = upstream.data.participants.iter().find(|p| p.id == ids::PARTICIPANT).unwrap();
    let expected = json!([
        { "context": participant.context },
        null,
        null,
        { "participants": { "totalCount": 53 } },
        null,
    ]);
    assert_eq!(body["data"]["_entities"], expected, "{body}");
    let errors = body["errors"].as_array().unwrap();
    let paths: Vec<&Value> = errors.iter().map(|e| &e["path"]).collect();
    assert_eq!(paths, [&json!(["_entities", 1]), &json!(["_entities", 2]), &json!(["_entities", 4])], "{body}");
    assert_eq!(error_codes(&body), ["NOT_FOUND"; 3]);
    for (error, id) in errors.iter().zip([UNKNOWN, other_unknown, UNKNOWN]) {
        assert!(error["message"].as_str().unwrap().contains(id), "{error}");
    }
    // The session reference cost only its list's request, as before.
    let session_lists = upstream.log.requests().into_iter().filter(|r| r.starts_with("/v2/room_sessions/")).count();
    assert_eq!(session_lists, 2, "{:?}", upstream.log.requests());
}
