//! The read graph around sessions: lookups, the lists of rooms, sessions and participants,
//! federation entities, and what each costs upstream (read from the sample upstream's log).

use std::time::Duration;

use chrono::NaiveDate;
use serde_json::{json, Value};
use telnyx_rooms_graphql::sample_upstream::SampleUpstream;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{error_codes, ids, sample_ids, spawn_app, spawn_sample, TestApp, PARTICIPANTS_PAGE};

/// A valid UUID that no seeded item has.
const UNKNOWN: &str = "00000000-0000-4000-8000-000000000000";

const RELAY_VARIABLES: &str = "$first: Int, $after: String, $last: Int, $before: String";
const RELAY_ARGUMENTS: &str = "filter: $filter, first: $first, after: $after, last: $last, before: $before";
const PAGE: &str =
    "edges { cursor node { id } } pageInfo { hasPreviousPage hasNextPage startCursor endCursor } totalCount";

const ENTITIES: &str = "query($representations: [_Any!]!) { _entities(representations: $representations) \
                        { ... on RoomParticipant { id context } ... on RoomSession { id } } }";

/// A connection under test: a query taking `$filter` and the four Relay arguments, and the
/// JSON pointer from the response to the connection.
struct List {
    query: String,
    pointer: String,
}

impl List {
    fn rooms() -> Self {
        Self::top("rooms", "RoomFilter")
    }

    fn room_sessions() -> Self {
        Self::top("roomSessions", "RoomSessionFilter")
    }

    fn room_participants() -> Self {
        Self::top("roomParticipants", "RoomParticipantsFilter")
    }

    /// `Room.sessions` of the room `$id`, reached through a federation reference, which costs
    /// no request, so that the log holds only the list's own requests.
    fn sessions_of_room() -> Self {
        let query = format!(
            "query($id: ID!, $filter: RoomSessionFilter, {RELAY_VARIABLES}) \
             {{ _entities(representations: [{{ __typename: \"Room\", id: $id }}]) \
             {{ ... on Room {{ sessions({RELAY_ARGUMENTS}) {{ {PAGE} }} }} }} }}"
        );
        Self { query, pointer: "/data/_entities/0/sessions".into() }
    }

    fn top(field: &str, filter: &str) -> Self {
        let query =
            format!("query($filter: {filter}, {RELAY_VARIABLES}) {{ {field}({RELAY_ARGUMENTS}) {{ {PAGE} }} }}");
        Self { query, pointer: format!("/data/{field}") }
    }

    /// The connection of a response that must have no errors.
    async fn page(&self, app: &TestApp, variables: Value) -> Value {
        let body = app.query(&self.query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body.pointer(&self.pointer).unwrap_or_else(|| panic!("no {} in {body}", self.pointer)).clone()
    }

    /// Every id, walking forward `size` at a time with `first`/`after`; checks `totalCount`.
    async fn walk_forward(&self, app: &TestApp, variables: &Value, size: usize, total: usize) -> Vec<String> {
        let (mut seen, mut after) = (Vec::new(), Value::Null);
        loop {
            let connection = self.page(app, with(variables, json!({ "first": size, "after": after }))).await;
            assert_eq!(connection["totalCount"], total, "{connection}");
            seen.extend(node_ids(&connection));
            if connection["pageInfo"]["hasNextPage"] == false {
                return seen;
            }
            after = connection["pageInfo"]["endCursor"].clone();
        }
    }

    /// Every id, walking backward `size` at a time with `last`/`before`; checks `totalCount`.
    async fn walk_backward(&self, app: &TestApp, variables: &Value, size: usize, total: usize) -> Vec<String> {
        let (mut seen, mut before) = (Vec::new(), Value::Null);
        loop {
            let connection = self.page(app, with(variables, json!({ "last": size, "before": before }))).await;
            assert_eq!(connection["totalCount"], total, "{connection}");
            seen.splice(0..0, node_ids(&connection));
            if connection["pageInfo"]["hasPreviousPage"] == false {
                return seen;
            }
            before = connection["pageInfo"]["startCursor"].clone();
        }
    }
}

/// Each new list, with variables selecting all or part of it, and the ids upstream holds for
/// those variables, in upstream order.
fn every_list(upstream: &SampleUpstream) -> Vec<(List, Value, Vec<String>)> {
    let data = &upstream.data;
    let sessions = |keep: &dyn Fn(&str, bool) -> bool| {
        data.sessions.iter().filter(|s| keep(&s.room_id, s.active)).map(|s| s.id.clone()).collect()
    };
    vec![
        (List::rooms(), json!({}), data.rooms.iter().map(|r| r.id.clone()).collect()),
        (List::rooms(), json!({ "filter": { "uniqueName": "standup" } }), vec![data.rooms[0].id.clone()]),
        (List::room_sessions(), json!({}), sessions(&|_, _| true)),
        (List::room_sessions(), json!({ "filter": { "roomId": ids::ROOM } }), sessions(&|room, _| room == ids::ROOM)),
        (List::room_sessions(), json!({ "filter": { "active": false } }), sessions(&|_, active| !active)),
        (List::room_participants(), json!({}), data.participants.iter().map(|p| p.id.clone()).collect()),
        (
            List::room_participants(),
            json!({ "filter": { "sessionId": ids::MEDIUM_SESSION } }),
            sample_ids(upstream, ids::MEDIUM_SESSION),
        ),
        (List::sessions_of_room(), json!({ "id": ids::ROOM }), sessions(&|room, _| room == ids::ROOM)),
        (
            List::sessions_of_room(),
            json!({ "id": ids::ROOM, "filter": { "active": false } }),
            sessions(&|room, active| room == ids::ROOM && !active),
        ),
    ]
}

/// Page sizes that split the list unevenly, take it whole, and stay within the request budget.
fn page_sizes(len: usize) -> Vec<usize> {
    if len > 100 {
        vec![99, 250]
    } else {
        vec![1, 4, 50]
    }
}

/// `base` with the fields of `extra` added or replaced.
fn with(base: &Value, extra: Value) -> Value {
    let mut merged = base.clone();
    for (key, value) in extra.as_object().unwrap() {
        merged[key] = value.clone();
    }
    merged
}

fn node_ids(connection: &Value) -> Vec<String> {
    connection["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_owned()).collect()
}

fn participants_path(session: &str, query: &str) -> String {
    format!("/v2/room_sessions/{session}/participants?{query}")
}

/// The requests sorted, for fields that go upstream concurrently.
fn sorted(mut requests: Vec<String>) -> Vec<String> {
    requests.sort();
    requests
}

fn day(raw: &str) -> NaiveDate {
    raw.parse().unwrap()
}

#[tokio::test]
async fn a_room_by_id_has_the_upstream_rooms_details_for_one_request() {
    let (upstream, app) = spawn_sample().await;
    let query = "query($id: ID!) { room(id: $id) { id uniqueName maxParticipants enableRecording webhookEventUrl \
                 webhookEventFailoverUrl webhookTimeoutSecs createdAt updatedAt activeSession { id } } }";
    let body = app.query(query, json!({ "id": ids::ROOM })).await;
    let room = serde_json::to_value(upstream.data.rooms.iter().find(|r| r.id == ids::ROOM).unwrap()).unwrap();
    let expected = json!({
        "id": ids::ROOM, "uniqueName": "all-hands", "maxParticipants": 1000, "enableRecording": true,
        "webhookEventUrl": room["webhook_event_url"], "webhookEventFailoverUrl": room["webhook_event_failover_url"],
        "webhookTimeoutSecs": 25, "createdAt": room["created_at"], "updatedAt": room["updated_at"],
        "activeSession": { "id": ids::ACTIVE_SESSION },
    });
    assert_eq!(body, json!({ "data": { "room": expected } }));
    assert_eq!(upstream.log.requests(), [format!("/v2/rooms/{}", ids::ROOM)]);
}

#[tokio::test]
async fn a_participant_by_id_has_its_details_and_session_for_one_request() {
    let (upstream, app) = spawn_sample().await;
    let query = "query($id: ID!) { roomParticipant(id: $id) { id sessionId context joinedAt leftAt session { id } } }";
    let body = app.query(query, json!({ "id": ids::PARTICIPANT })).await;
    let participant = upstream.data.participants.iter().find(|p| p.id == ids::PARTICIPANT).unwrap();
    let wire = serde_json::to_value(participant).unwrap();
    let expected = json!({
        "id": ids::PARTICIPANT, "sessionId": ids::SINGLE_SESSION, "context": participant.context,
        "joinedAt": wire["joined_at"], "leftAt": wire["left_at"], "session": { "id": ids::SINGLE_SESSION },
    });
    assert_eq!(body, json!({ "data": { "roomParticipant": expected } }));
    assert_eq!(upstream.log.requests(), [format!("/v2/room_participants/{}", ids::PARTICIPANT)]);
}

#[tokio::test]
async fn unknown_rooms_and_participants_are_null_without_errors_for_one_request_each() {
    let (upstream, app) = spawn_sample().await;
    for (field, path) in [("room", "rooms"), ("roomParticipant", "room_participants")] {
        upstream.log.clear();
        let body =
            app.query(&format!("query($id: ID!) {{ {field}(id: $id) {{ id }} }}"), json!({ "id": UNKNOWN })).await;
        assert_eq!(body, json!({ "data": { field: null } }));
        assert_eq!(upstream.log.requests(), [format!("/v2/{path}/{UNKNOWN}")]);
    }
}

#[tokio::test]
async fn an_unknown_session_is_not_found_once_a_field_needs_its_details() {
    let (_upstream, app) = spawn_sample().await;
    let body = app.query("query($id: ID!) { roomSession(id: $id) { id active } }", json!({ "id": UNKNOWN })).await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["roomSession", "active"]));
    assert_eq!(body["data"]["roomSession"]["id"], UNKNOWN);
}

#[tokio::test]
async fn a_sessions_details_and_room_are_the_upstream_ones() {
    let (upstream, app) = spawn_sample().await;
    let query =
        "query($id: ID!) { roomSession(id: $id) { roomId active createdAt updatedAt endedAt room { uniqueName } } }";
    let body = app.query(query, json!({ "id": ids::LARGE_SESSION })).await;
    let session = upstream.data.sessions.iter().find(|s| s.id == ids::LARGE_SESSION).unwrap();
    let wire = serde_json::to_value(session).unwrap();
    let expected = json!({
        "roomId": ids::ROOM, "active": false, "createdAt": wire["created_at"], "updatedAt": wire["updated_at"],
        "endedAt": wire["ended_at"], "room": { "uniqueName": "all-hands" },
    });
    assert_eq!(body, json!({ "data": { "roomSession": expected } }));
    let expected = [format!("/v2/room_sessions/{}", ids::LARGE_SESSION), format!("/v2/rooms/{}", ids::ROOM)];
    assert_eq!(upstream.log.requests(), expected);
}

#[tokio::test]
async fn a_sessions_details_cost_one_request_however_many_participants_point_at_it() {
    let (upstream, app) = spawn_sample().await;
    let participants_only = "query($id: ID!) { roomSession(id: $id) { participants(first: 20) { nodes { id } } } }";
    app.query(participants_only, json!({ "id": ids::MEDIUM_SESSION })).await;
    let page = participants_path(ids::MEDIUM_SESSION, "page[size]=20&page[number]=1");
    assert_eq!(upstream.log.requests(), std::slice::from_ref(&page));

    upstream.log.clear();
    let query = "query($id: ID!) { roomSession(id: $id) { active participants(first: 20) \
                 { nodes { session { active createdAt } } } } }";
    let body = app.query(query, json!({ "id": ids::MEDIUM_SESSION })).await;
    let nodes = body["data"]["roomSession"]["participants"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 20, "{body}");
    assert!(nodes.iter().all(|n| n["session"]["active"] == false), "{body}");
    let session = format!("/v2/room_sessions/{}", ids::MEDIUM_SESSION);
    assert_eq!(sorted(upstream.log.requests()), sorted(vec![page, session]));
}

/// The session's own lookup is still in flight when its participants arrive; they must wait
/// for it rather than send the same request again.
#[tokio::test]
async fn a_session_still_loading_is_not_requested_again_for_its_participants() {
    let server = MockServer::start().await;
    let (session, room) = ("7b61621f-5fe4-4aad-ab11-9fd19e272e73", "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d");
    let body = json!({ "data": { "id": session, "room_id": room, "active": false } });
    let slow = ResponseTemplate::new(200).set_body_json(body).set_delay(Duration::from_millis(300));
    let participants: Vec<Value> = (1..=3)
        .map(|n| json!({ "id": format!("{n}a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"), "session_id": session }))
        .collect();
    let list =
        ResponseTemplate::new(200).set_body_json(json!({ "data": participants, "meta": { "total_results": 3 } }));
    Mock::given(method("GET")).and(path(format!("/room_sessions/{session}"))).respond_with(slow).mount(&server).await;
    let list_path = format!("/room_sessions/{session}/participants");
    Mock::given(method("GET")).and(path(list_path)).respond_with(list).mount(&server).await;
    let app = spawn_app(&server.uri(), Some("KEY_TEST")).await;

    let query =
        "query($id: ID!) { roomSession(id: $id) { active participants(first: 3) { nodes { session { active } } } } }";
    let body = app.query(query, json!({ "id": session })).await;

    assert!(body.get("errors").is_none(), "{body}");
    let requests = server.received_requests().await.unwrap();
    let lookups = requests.iter().filter(|r| r.url.path() == format!("/room_sessions/{session}")).count();
    assert_eq!(lookups, 1, "{:?}", requests.iter().map(|r| r.url.to_string()).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_participants_session_id_alone_costs_nothing() {
    let (upstream, app) = spawn_sample().await;
    let query = "query($id: ID!) { roomSession(id: $id) { participants(first: 5) { nodes { session { id } } } } }";
    let body = app.query(query, json!({ "id": ids::MEDIUM_SESSION })).await;
    assert_eq!(body["data"]["roomSession"]["participants"]["nodes"][4]["session"]["id"], ids::MEDIUM_SESSION);
    assert_eq!(upstream.log.requests(), [participants_path(ids::MEDIUM_SESSION, "page[size]=5&page[number]=1")]);
}

#[tokio::test]
async fn listed_sessions_are_not_loaded_again_for_their_participants() {
    let (upstream, app) = spawn_sample().await;
    let query =
        "{ roomSessions(first: 50) { nodes { active participants(first: 5) { nodes { session { active } } } } } }";
    let body = app.query(query, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    let requests = upstream.log.requests();
    assert_eq!(requests[0], "/v2/room_sessions?page[size]=50&page[number]=1");
    let pages = upstream.data.sessions.iter().map(|s| participants_path(&s.id, "page[size]=5&page[number]=1"));
    assert_eq!(sorted(requests[1..].to_vec()), sorted(pages.collect()));
    assert_eq!(requests.len(), 1 + 14);
}

#[tokio::test]
async fn walking_room_to_sessions_to_participants_and_back_costs_one_request_per_list() {
    let (upstream, app) = spawn_sample().await;
    let query = "query($id: ID!) { room(id: $id) { uniqueName sessions(first: 10) { nodes { id participants(first: 3) \
                 { nodes { id session { id active } } } } } } }";
    let body = app.query(query, json!({ "id": ids::ROOM })).await;
    let sessions: Vec<&str> =
        upstream.data.sessions.iter().filter(|s| s.room_id == ids::ROOM).map(|s| s.id.as_str()).collect();
    assert_eq!(body["data"]["room"]["sessions"]["nodes"].as_array().unwrap().len(), sessions.len(), "{body}");
    let requests = upstream.log.requests();
    let room = format!("/v2/rooms/{}", ids::ROOM);
    assert_eq!(requests[..2], [room.clone(), format!("{room}/sessions?page[size]=10&page[number]=1")]);
    let pages = sessions.iter().map(|s| participants_path(s, "page[size]=3&page[number]=1"));
    assert_eq!(sorted(requests[2..].to_vec()), sorted(pages.collect()));
}

#[tokio::test]
async fn listed_sessions_rooms_and_listed_rooms_active_sessions_cost_one_request_per_distinct_item() {
    let (upstream, app) = spawn_sample().await;
    app.query("{ roomSessions(first: 50) { nodes { room { uniqueName } } } }", json!({})).await;
    let requests = upstream.log.requests();
    assert_eq!(requests[0], "/v2/room_sessions?page[size]=50&page[number]=1");
    let rooms = upstream.data.rooms.iter().map(|r| format!("/v2/rooms/{}", r.id));
    assert_eq!(sorted(requests[1..].to_vec()), sorted(rooms.collect()));

    upstream.log.clear();
    app.query("{ rooms(first: 10) { nodes { activeSession { active } } } }", json!({})).await;
    let requests = upstream.log.requests();
    assert_eq!(requests[0], "/v2/rooms?page[size]=10&page[number]=1");
    let active = upstream.data.rooms.iter().filter_map(|r| r.active_session_id.as_ref());
    assert_eq!(sorted(requests[1..].to_vec()), sorted(active.map(|id| format!("/v2/room_sessions/{id}")).collect()));
}

#[tokio::test]
async fn repeated_participant_lookups_in_one_request_go_upstream_once() {
    let (upstream, app) = spawn_sample().await;
    let query = "query($id: ID!) { a: roomParticipant(id: $id) { id } b: roomParticipant(id: $id) { context } }";
    let body = app.query(query, json!({ "id": ids::PARTICIPANT })).await;
    assert_eq!(body["data"]["a"]["id"], ids::PARTICIPANT, "{body}");
    assert_eq!(upstream.log.requests(), [format!("/v2/room_participants/{}", ids::PARTICIPANT)]);
}

#[tokio::test]
async fn walking_forward_through_every_new_list_reproduces_the_upstream_list() {
    let (upstream, app) = spawn_sample().await;
    for (list, variables, expected) in every_list(&upstream) {
        assert!(!expected.is_empty(), "{variables}");
        for size in page_sizes(expected.len()) {
            let seen = list.walk_forward(&app, &variables, size, expected.len()).await;
            assert_eq!(seen, expected, "{} {variables} by {size}", list.pointer);
        }
    }
}

#[tokio::test]
async fn walking_backward_through_every_new_list_reproduces_the_upstream_list() {
    let (upstream, app) = spawn_sample().await;
    for (list, variables, expected) in every_list(&upstream) {
        for size in page_sizes(expected.len()) {
            let seen = list.walk_backward(&app, &variables, size, expected.len()).await;
            assert_eq!(seen, expected, "{} {variables} by {size}", list.pointer);
        }
    }
}

#[tokio::test]
async fn list_filters_are_sent_exactly_and_select_what_upstream_selects() {
    let (upstream, app) = spawn_sample().await;
    let data = &upstream.data;
    let room_filter = json!({ "dateCreatedAt": { "gte": "2024-03-05" }, "uniqueName": "Zoë's room" });
    let session_filter = json!({ "dateCreatedAt": { "gte": "2024-03-10" }, "dateEndedAt": { "lte": "2024-03-20" } });
    let cases = [
        (
            List::rooms(),
            json!({ "filter": room_filter }),
            "/v2/rooms?filter[date_created_at][gte]=2024-03-05&filter[unique_name]=Zo%C3%AB%27s%20room".to_owned(),
            vec![data.rooms.iter().find(|r| r.unique_name == "Zoë's room").unwrap().id.clone()],
        ),
        (
            List::room_sessions(),
            json!({ "filter": { "roomId": ids::ROOM, "active": true } }),
            format!("/v2/room_sessions?filter[room_id]={}&filter[active]=true", ids::ROOM),
            vec![ids::ACTIVE_SESSION.to_owned()],
        ),
        (
            List::room_sessions(),
            json!({ "filter": session_filter }),
            "/v2/room_sessions?filter[date_created_at][gte]=2024-03-10&filter[date_ended_at][lte]=2024-03-20"
                .to_owned(),
            data.sessions
                .iter()
                .filter(|s| s.created_at.date_naive() >= day("2024-03-10"))
                .filter(|s| s.ended_at.is_some_and(|t| t.date_naive() <= day("2024-03-20")))
                .map(|s| s.id.clone())
                .collect(),
        ),
        (
            List::room_participants(),
            json!({ "filter": { "sessionId": ids::MEDIUM_SESSION, "context": "Zoë 🎥" } }),
            format!(
                "/v2/room_participants?filter[session_id]={}&filter[context]=Zo%C3%AB%20%F0%9F%8E%A5",
                ids::MEDIUM_SESSION
            ),
            data.participants
                .iter()
                .filter(|p| p.session_id == ids::MEDIUM_SESSION && p.context.as_deref() == Some("Zoë 🎥"))
                .map(|p| p.id.clone())
                .collect(),
        ),
        (
            List::sessions_of_room(),
            json!({ "id": ids::ROOM, "filter": { "active": false, "dateUpdatedAt": { "lte": "2024-03-31" } } }),
            format!("/v2/rooms/{}/sessions?filter[date_updated_at][lte]=2024-03-31&filter[active]=false", ids::ROOM),
            data.sessions.iter().filter(|s| s.room_id == ids::ROOM && !s.active).map(|s| s.id.clone()).collect(),
        ),
    ];
    for (list, variables, request, expected) in cases {
        upstream.log.clear();
        let connection = list.page(&app, with(&variables, json!({ "first": 50 }))).await;
        assert_eq!(upstream.log.requests(), [format!("{request}&page[size]=50&page[number]=1")]);
        assert!(!expected.is_empty() && expected.len() < 50, "{variables} selects {}", expected.len());
        assert_eq!(node_ids(&connection), expected, "{variables}");
        assert_eq!(connection["totalCount"], expected.len(), "{variables}");
    }
}

#[tokio::test]
async fn invalid_list_arguments_are_rejected_without_an_upstream_request() {
    let (upstream, app) = spawn_sample().await;
    let cases = [
        (List::room_participants(), json!({ "filter": { "sessionId": "not-a-uuid" } }), "filter.sessionId"),
        (List::room_sessions(), json!({ "filter": { "roomId": "../../rooms" } }), "filter.roomId"),
        (List::sessions_of_room(), json!({ "id": ids::ROOM, "filter": { "roomId": ids::ROOM } }), "filter.roomId"),
        (List::rooms(), json!({ "filter": { "dateCreatedAt": { "eq": "2024-02-30" } } }), "dateCreatedAt"),
        (List::room_sessions(), json!({ "filter": { "dateEndedAt": { "gte": "yesterday" } } }), "dateEndedAt"),
        (List::rooms(), json!({ "first": -1 }), "first"),
        (List::room_sessions(), json!({ "first": -1 }), "first"),
        (List::room_participants(), json!({ "first": -1 }), "first"),
        (List::sessions_of_room(), json!({ "id": ids::ROOM, "first": -1 }), "first"),
        (List::rooms(), json!({ "last": 1001 }), "last"),
    ];
    for (list, variables, argument) in cases {
        let body = app.query(&list.query, variables.clone()).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{variables}: {body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains(argument), "{variables}: {body}");
    }
    assert_eq!(upstream.log.requests(), Vec::<String>::new());
}

#[tokio::test]
async fn a_cursor_from_another_list_or_filter_is_rejected_without_an_upstream_request() {
    let (upstream, app) = spawn_sample().await;
    let end_cursor = |connection: Value| connection["pageInfo"]["endCursor"].clone();
    let rooms = end_cursor(List::rooms().page(&app, json!({ "first": 2 })).await);
    let sessions = end_cursor(List::room_sessions().page(&app, json!({ "first": 2 })).await);
    let of_room = end_cursor(List::sessions_of_room().page(&app, json!({ "id": ids::ROOM, "first": 2 })).await);
    let medium = json!({ "first": 2, "filter": { "sessionId": ids::MEDIUM_SESSION } });
    let participants = end_cursor(List::room_participants().page(&app, medium).await);
    upstream.log.clear();

    let other_room = &upstream.data.rooms[0].id;
    let cases = [
        (List::room_sessions(), json!({}), &rooms),
        (List::room_sessions(), json!({ "filter": { "active": false } }), &sessions),
        (List::room_sessions(), json!({ "filter": { "roomId": ids::ROOM } }), &of_room),
        (List::sessions_of_room(), json!({ "id": other_room }), &of_room),
        (List::sessions_of_room(), json!({ "id": ids::ROOM }), &sessions),
        (List::room_participants(), json!({}), &participants),
        (List::rooms(), json!({}), &participants),
    ];
    for (list, variables, cursor) in cases {
        for argument in ["after", "before"] {
            let body = app.query(&list.query, with(&variables, json!({ "first": 2, argument: cursor }))).await;
            assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{variables} {argument}: {body}");
            assert!(body["errors"][0]["message"].as_str().unwrap().contains(argument), "{body}");
        }
    }
    let session_participants = json!({ "id": ids::MEDIUM_SESSION, "first": 2, "after": participants });
    let body = app.query(PARTICIPANTS_PAGE, session_participants).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert_eq!(upstream.log.requests(), Vec::<String>::new());
}

#[tokio::test]
async fn entities_resolve_known_references_and_null_only_an_unknown_participant() {
    let (upstream, app) = spawn_sample().await;
    let representations = json!([
        { "__typename": "RoomParticipant", "id": ids::PARTICIPANT },
        { "__typename": "RoomParticipant", "id": UNKNOWN },
        { "__typename": "RoomSession", "id": ids::MEDIUM_SESSION },
    ]);
    let body = app.query(ENTITIES, json!({ "representations": representations })).await;

    let participant = upstream.data.participants.iter().find(|p| p.id == ids::PARTICIPANT).unwrap();
    let entities = &body["data"]["_entities"];
    assert_eq!(entities[0], json!({ "id": ids::PARTICIPANT, "context": participant.context }), "{body}");
    assert_eq!(entities[1], Value::Null, "{body}");
    assert_eq!(entities[2], json!({ "id": ids::MEDIUM_SESSION }), "{body}");
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains(UNKNOWN), "{body}");
    let participants = [ids::PARTICIPANT, UNKNOWN].map(|id| format!("/v2/room_participants/{id}"));
    assert_eq!(sorted(upstream.log.requests()), sorted(participants.to_vec()));
}

#[tokio::test]
async fn two_references_to_one_participant_cost_one_request_and_a_session_reference_none() {
    let (upstream, app) = spawn_sample().await;
    let reference = json!({ "__typename": "RoomParticipant", "id": ids::PARTICIPANT });
    let session = json!({ "__typename": "RoomSession", "id": ids::MEDIUM_SESSION });
    let body = app.query(ENTITIES, json!({ "representations": [reference, session, reference] })).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["_entities"][0], body["data"]["_entities"][2]);
    assert_eq!(upstream.log.requests(), [format!("/v2/room_participants/{}", ids::PARTICIPANT)]);
}

/// A gateway maps a subgraph's `_entities` errors back to its own query by their index.
#[tokio::test]
async fn an_entitys_error_path_names_its_representation() {
    let (_upstream, app) = spawn_sample().await;
    let representations = json!([
        { "__typename": "RoomParticipant", "id": ids::PARTICIPANT },
        { "__typename": "RoomParticipant", "id": UNKNOWN },
    ]);
    let body = app.query(ENTITIES, json!({ "representations": representations })).await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["_entities", 1]), "{body}");
    assert_eq!(body["data"]["_entities"][1], Value::Null, "{body}");
}

/// The GraphQL spec handles a field error "as though the field returned null": the key stays.
#[tokio::test]
async fn a_field_that_fails_is_present_as_null() {
    let (_upstream, app) = spawn_sample().await;
    let body = app.query("query($id: ID!) { roomSession(id: $id) { id active } }", json!({ "id": UNKNOWN })).await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");
    assert_eq!(body["data"], json!({ "roomSession": { "id": UNKNOWN, "active": null } }));
}
