use std::collections::{BTreeSet, HashSet};

use axum::{
    body::{to_bytes, Body},
    http::{header, Method, StatusCode},
    Router,
};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;

use super::{
    data::{Listed, CONTEXTS},
    read::parse_date,
    *,
};

mod live;
mod writes;

fn app() -> (Router, Arc<SampleData>, RequestLog) {
    let (data, log) = (Arc::new(SampleData::seeded()), RequestLog::default());
    (router(data.clone(), log.clone()), data, log)
}

/// Sends `method uri` with `body` and the given `Authorization` header; returns the status and
/// the parsed body (null when there is none).
async fn request(
    app: &Router,
    method: Method,
    uri: &str,
    authorization: Option<&str>,
    body: Body,
) -> (StatusCode, Value) {
    let mut request = axum::http::Request::builder().method(method).uri(uri);
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let response = app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap() })
}

/// GETs `uri` with the given `Authorization` header and returns the status and parsed body.
async fn call(app: &Router, uri: &str, authorization: Option<&str>) -> (StatusCode, Value) {
    request(app, Method::GET, uri, authorization, Body::empty()).await
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    call(app, uri, Some(&format!("Bearer {SAMPLE_API_KEY}"))).await
}

/// Sends `method uri` with the sample key and `body`, e.g. `json!({..}).to_string()`.
async fn send(app: &Router, method: Method, uri: &str, body: impl Into<Body>) -> (StatusCode, Value) {
    request(app, method, uri, Some(&format!("Bearer {SAMPLE_API_KEY}")), body.into()).await
}

/// Ids over every page of the list at `uri` (which already has its `?`), checking `meta` at the end.
async fn all_ids(app: &Router, uri: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for number in 1.. {
        let (status, body) = get(app, &format!("{uri}&page[size]=100&page[number]={number}")).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        ids.extend(body["data"].as_array().unwrap().iter().map(|item| item["id"].as_str().unwrap().to_owned()));
        if number >= body["meta"]["total_pages"].as_u64().unwrap() {
            assert_eq!(body["meta"]["total_results"], ids.len(), "{uri}");
            return ids;
        }
    }
    unreachable!()
}

/// Asserts that the list at `uri` is exactly the (stored-order) `items` that `keep` keeps,
/// and that those are a proper, non-empty subset, so the filter did something.
async fn assert_selects<T: Listed>(app: &Router, uri: &str, items: &[T], keep: impl Fn(&T) -> bool) {
    let expected: Vec<String> = items.iter().filter(|item| keep(item)).map(|item| item.id().to_owned()).collect();
    assert!(!expected.is_empty() && expected.len() < items.len(), "{uri} selects {}", expected.len());
    assert_eq!(all_ids(app, uri).await, expected, "{uri}");
}

fn day(raw: &str) -> NaiveDate {
    parse_date(raw).unwrap()
}

fn envelope(code: &str, title: &str, detail: &str) -> Value {
    json!({ "errors": [{ "code": code, "title": title, "detail": detail }] })
}

#[test]
fn seeding_twice_gives_the_same_data() {
    assert_eq!(SampleData::seeded(), SampleData::seeded());
}

#[test]
fn well_known_ids_name_data_of_the_documented_shape() {
    let data = SampleData::seeded();
    let of = |session: &'static str| move |p: &&Participant| p.session_id == session;
    let counts = [ids::EMPTY_SESSION, ids::SINGLE_SESSION, ids::MEDIUM_SESSION, ids::LARGE_SESSION]
        .map(|session| data.participants.iter().filter(of(session)).count());
    assert_eq!(counts, [0, 1, 53, 613]);
    let active: Vec<_> = data.participants.iter().filter(of(ids::ACTIVE_SESSION)).collect();
    assert!(active.iter().any(|p| p.left_at.is_none()) && active.iter().any(|p| p.left_at.is_some()));
    assert!(data.sessions.iter().any(|s| s.id == ids::ACTIVE_SESSION && s.active && s.room_id == ids::ROOM));
    let in_room: Vec<_> = data.sessions.iter().filter(|s| s.room_id == ids::ROOM).map(|s| s.id.as_str()).collect();
    assert!(in_room.len() >= 3 && in_room.contains(&ids::LARGE_SESSION), "{in_room:?}");
    let single: Vec<_> = data.participants.iter().filter(of(ids::SINGLE_SESSION)).collect();
    assert_eq!(single[0].id, ids::PARTICIPANT);
    let large: Vec<_> = data.participants.iter().filter(of(ids::LARGE_SESSION)).collect();
    assert!(large.iter().map(|p| p.joined_at.date_naive()).collect::<BTreeSet<_>>().len() >= 3);
    let contexts: HashSet<_> = large.iter().map(|p| p.context.as_deref()).collect();
    assert_eq!(contexts, CONTEXTS.into_iter().collect());
}

#[test]
fn every_room_has_at_most_one_active_session_and_points_at_it() {
    let data = SampleData::seeded();
    assert_eq!((data.rooms.len(), data.sessions.len()), (4, 14));
    for room in &data.rooms {
        let sessions: Vec<_> = data.sessions.iter().filter(|s| s.room_id == room.id).collect();
        let active: Vec<_> = sessions.iter().filter(|s| s.active).map(|s| s.id.clone()).collect();
        assert!((2..=6).contains(&sessions.len()) && active.len() <= 1, "{}", room.unique_name);
        assert_eq!(room.active_session_id, active.first().cloned());
        assert!(sessions.iter().all(|s| s.active == s.ended_at.is_none()));
        assert!(sessions.iter().all(|s| s.created_at >= room.created_at));
    }
}

#[test]
fn seeded_timestamps_are_consistent_microsecond_precise_and_in_list_order() {
    let data = SampleData::seeded();
    let precise =
        |t: &DateTime<Utc>| t.timestamp_subsec_nanos().is_multiple_of(1000) && t.timestamp_subsec_micros() != 0;
    for p in &data.participants {
        let session = data.sessions.iter().find(|s| s.id == p.session_id).unwrap();
        assert!(p.updated_at >= p.joined_at && p.left_at.is_none_or(|left| left >= p.joined_at));
        assert!(session.created_at <= p.joined_at);
        assert!(session.ended_at.is_none_or(|end| p.left_at.is_some_and(|left| left <= end)));
        assert!([p.joined_at, p.updated_at].iter().chain(&p.left_at).all(precise));
    }
    for s in &data.sessions {
        assert!(s.created_at <= s.updated_at && [s.created_at, s.updated_at].iter().chain(&s.ended_at).all(precise));
    }
    assert!(data.rooms.iter().all(|r| r.created_at <= r.updated_at && precise(&r.created_at)));
    assert!(data.participants.windows(2).all(|w| w[0].order() < w[1].order()));
    assert!(data.sessions.windows(2).all(|w| w[0].order() < w[1].order()));
    assert!(data.rooms.windows(2).all(|w| w[0].order() < w[1].order()));
}

#[test]
fn seeded_ids_are_distinct_lowercase_version_4_uuids() {
    let data = SampleData::seeded();
    let rooms = data.rooms.iter().map(Room::id);
    let all: Vec<&str> = rooms
        .chain(data.sessions.iter().map(Session::id))
        .chain(data.participants.iter().map(Participant::id))
        .collect();
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), all.len());
    for id in all {
        let uuid = Uuid::parse_str(id).unwrap();
        assert_eq!((uuid.get_version_num(), uuid.get_variant()), (4, uuid::Variant::RFC4122), "{id}");
        assert_eq!(uuid.hyphenated().to_string(), id);
    }
}

#[test]
fn items_serialize_as_telnyx_wire_json_with_six_fractional_digits() {
    let data = SampleData::seeded();
    let session = data.sessions.iter().find(|s| s.id == ids::ACTIVE_SESSION).unwrap();
    let json = serde_json::to_value(session).unwrap();
    let created = json["created_at"].as_str().unwrap();
    assert_eq!(created, session.created_at.to_rfc3339_opts(SecondsFormat::Micros, true));
    assert_eq!((created.len(), &created[19..20], &created[26..]), (27, ".", "Z"));
    assert_eq!((&json["ended_at"], &json["record_type"]), (&Value::Null, &json!("room_session")));
    assert!(json.get("participants").is_none());
    assert_eq!(&serde_json::from_value::<Session>(json).unwrap(), session);
}

#[tokio::test]
async fn requests_without_the_exact_bearer_key_get_the_401_envelope() {
    let (app, _, _) = app();
    let expected = envelope("10009", "Authentication failed", "The API key provided is invalid or missing.");
    let wrong = [format!("bearer {SAMPLE_API_KEY}"), format!("Bearer {SAMPLE_API_KEY}x"), SAMPLE_API_KEY.into()];
    for authorization in wrong.iter().map(|value| Some(value.as_str())).chain([None, Some("Bearer ")]) {
        assert_eq!(call(&app, "/v2/rooms", authorization).await, (StatusCode::UNAUTHORIZED, expected.clone()));
    }
}

#[tokio::test]
async fn out_of_range_page_parameters_are_rejected_naming_the_parameter() {
    let (app, _, _) = app();
    let (status, body) = get(&app, "/v2/rooms?page[size]=251").await;
    let source = json!({ "parameter": "page[size]" });
    let detail = "page[size] must be between 1 and 250";
    let expected =
        json!({ "errors": [{ "code": "10015", "title": "Invalid parameter", "detail": detail, "source": source }] });
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, expected));
    let size = ["page[size]=0", "page[size]=-1", "page%5Bsize%5D=abc", "page[size]=", "page[size]=2.5"];
    let number = ["page[number]=0", "page[number]=-1", "page[number]=abc", "page[number]=99999999999999999999"];
    for (query, parameter) in size.map(|q| (q, "page[size]")).into_iter().chain(number.map(|q| (q, "page[number]"))) {
        let (status, body) = get(&app, &format!("/v2/room_participants?{query}")).await;
        assert_eq!((status, &body["errors"][0]["source"]["parameter"]), (StatusCode::BAD_REQUEST, &json!(parameter)));
    }
}

#[tokio::test]
async fn a_page_past_the_end_is_empty_with_the_right_meta() {
    let (app, _, _) = app();
    let uri = format!("/v2/room_sessions/{}/participants?page[size]=20&page[number]=4", ids::MEDIUM_SESSION);
    let meta = json!({ "page_number": 4, "page_size": 20, "total_pages": 3, "total_results": 53 });
    assert_eq!(get(&app, &uri).await, (StatusCode::OK, json!({ "data": [], "meta": meta })));
    let uri = format!("/v2/room_sessions/{}/participants", ids::EMPTY_SESSION);
    let meta = json!({ "page_number": 1, "page_size": 20, "total_pages": 0, "total_results": 0 });
    assert_eq!(get(&app, &uri).await, (StatusCode::OK, json!({ "data": [], "meta": meta })));
}

#[tokio::test]
async fn pages_default_to_twenty_and_concatenate_to_the_whole_list_in_order() {
    let (app, data, _) = app();
    let (_, body) = get(&app, &format!("/v2/room_sessions/{}/participants", ids::LARGE_SESSION)).await;
    let meta = json!({ "page_number": 1, "page_size": 20, "total_pages": 31, "total_results": 613 });
    assert_eq!((&body["meta"], body["data"].as_array().unwrap().len()), (&meta, 20));
    let expected: Vec<_> = data.participants.iter().filter(|p| p.session_id == ids::LARGE_SESSION).collect();
    assert_eq!(body["data"][19], serde_json::to_value(expected[19]).unwrap());
    let all = all_ids(&app, &format!("/v2/room_sessions/{}/participants?", ids::LARGE_SESSION)).await;
    assert_eq!(all, expected.iter().map(|p| p.id.clone()).collect::<Vec<_>>());
}

#[tokio::test]
async fn participant_filters_select_exactly_the_matching_participants() {
    let (app, data, _) = app();
    let (ps, large) = (&data.participants, format!("/v2/room_sessions/{}/participants?", ids::LARGE_SESSION));
    let in_large = |p: &Participant| p.session_id == ids::LARGE_SESSION;
    let joined = |p: &Participant| p.joined_at.date_naive();
    let eq = format!("{large}filter[date_joined_at][eq]=2024-03-10");
    assert_selects(&app, &eq, ps, |p| in_large(p) && joined(p) == day("2024-03-10")).await;
    let gte = format!("{large}filter[date_joined_at][gte]=2024-03-11");
    assert_selects(&app, &gte, ps, |p| in_large(p) && joined(p) >= day("2024-03-11")).await;
    let range = format!("{large}filter[date_joined_at][gte]=2024-03-10&filter[date_joined_at][lte]=2024-03-11");
    let within = |p: &Participant| (day("2024-03-10")..=day("2024-03-11")).contains(&joined(p));
    assert_selects(&app, &range, ps, |p| in_large(p) && within(p)).await;
    let updated = format!("{large}filter[date_updated_at][eq]=2024-03-11&filter[context]=Alice");
    let alice = |p: &Participant| p.context.as_deref() == Some("Alice");
    assert_selects(&app, &updated, ps, |p| in_large(p) && p.updated_at.date_naive() == day("2024-03-11") && alice(p))
        .await;
    let left = format!("{large}filter[date_left_at][lte]=2024-03-10");
    assert_selects(&app, &left, ps, |p| in_large(p) && p.left_at.is_some_and(|t| t.date_naive() <= day("2024-03-10")))
        .await;
    // Still-present participants have no left_at, so no left_at filter can match them.
    let left = format!(
        "/v2/room_participants?filter[session_id]={}&filter[date_left_at][gte]=2024-01-01",
        ids::ACTIVE_SESSION
    );
    assert_selects(&app, &left, ps, |p| p.session_id == ids::ACTIVE_SESSION && p.left_at.is_some()).await;
    let session = format!("/v2/room_participants?filter[session_id]={}&unknown=ignored", ids::MEDIUM_SESSION);
    assert_selects(&app, &session, ps, |p| p.session_id == ids::MEDIUM_SESSION).await;
}

#[tokio::test]
async fn context_filters_decode_percent_and_plus_encoding_and_match_exactly() {
    let (app, data, _) = app();
    let cases = [
        ("filter[context]=a%26b%3Dc%20%2B%20d%25", "a&b=c + d%"),
        ("filter%5Bcontext%5D=a%26b%3Dc+%2B+d%25", "a&b=c + d%"),
        ("filter[context]=Zo%C3%AB+%F0%9F%8E%A5", "Zoë 🎥"),
        ("filter[context]=Bob", "Bob"),
    ];
    for (query, context) in cases {
        let uri = format!("/v2/room_participants?{query}");
        assert_selects(&app, &uri, &data.participants, |p| p.context.as_deref() == Some(context)).await;
    }
    let (_, body) = get(&app, "/v2/room_participants?filter[context]=bob").await;
    assert_eq!(body["meta"]["total_results"], 0);
}

#[tokio::test]
async fn session_and_room_filters_select_exactly_the_matching_items() {
    let (app, data, _) = app();
    let (sessions, rooms) = (&data.sessions, &data.rooms);
    let of_room = format!("/v2/room_sessions?filter[room_id]={}", ids::ROOM);
    assert_selects(&app, &of_room, sessions, |s| s.room_id == ids::ROOM).await;
    assert_selects(&app, "/v2/room_sessions?filter[active]=true", sessions, |s| s.active).await;
    let ended = "/v2/room_sessions?filter[date_ended_at][gte]=2024-03-01&filter[active]=false";
    assert_selects(&app, ended, sessions, |s| s.ended_at.is_some()).await;
    let created = "/v2/room_sessions?filter[date_created_at][eq]=2024-03-06";
    assert_selects(&app, created, sessions, |s| s.created_at.date_naive() == day("2024-03-06")).await;
    let updated = format!("/v2/rooms/{}/sessions?filter[date_updated_at][lte]=2024-03-12", ids::ROOM);
    let early = |s: &Session| s.room_id == ids::ROOM && s.updated_at.date_naive() <= day("2024-03-12");
    assert_selects(&app, &updated, sessions, early).await;
    assert_selects(&app, "/v2/rooms?filter[unique_name]=Zo%C3%AB%27s+room", rooms, |r| r.unique_name == "Zoë's room")
        .await;
    let created = "/v2/rooms?filter[date_created_at][eq]=2024-03-04";
    assert_selects(&app, created, rooms, |r| r.created_at.date_naive() == day("2024-03-04")).await;
}

#[tokio::test]
async fn invalid_filter_values_are_rejected_naming_the_parameter() {
    let (app, _, _) = app();
    let cases = [
        ("/v2/room_participants?filter[date_joined_at][eq]=2024-3-10", "filter[date_joined_at][eq]"),
        ("/v2/room_participants?filter[date_left_at][gte]=yesterday", "filter[date_left_at][gte]"),
        ("/v2/room_participants?filter[date_updated_at][lte]=2024-02-30", "filter[date_updated_at][lte]"),
        ("/v2/room_sessions?filter[active]=yes", "filter[active]"),
        ("/v2/room_sessions?include_participants=1", "include_participants"),
        ("/v2/rooms?filter[date_created_at][eq]=20240304", "filter[date_created_at][eq]"),
    ];
    for (uri, parameter) in cases {
        let (status, body) = get(&app, uri).await;
        assert_eq!((status, &body["errors"][0]["code"]), (StatusCode::BAD_REQUEST, &json!("10015")), "{uri}");
        assert_eq!(body["errors"][0]["source"]["parameter"], parameter, "{uri}");
    }
}

#[tokio::test]
async fn unknown_ids_are_404_and_malformed_ids_are_400() {
    let (app, _, _) = app();
    let unknown = "00000000-0000-4000-8000-000000000000";
    let cases = [
        (format!("/v2/room_sessions/{unknown}/participants"), "Room session not found."),
        (format!("/v2/room_sessions/{unknown}"), "Room session not found."),
        (format!("/v2/rooms/{unknown}/sessions"), "Room not found."),
        (format!("/v2/rooms/{unknown}"), "Room not found."),
        (format!("/v2/room_participants/{unknown}"), "Room participant not found."),
    ];
    for (uri, detail) in cases {
        assert_eq!(get(&app, &uri).await, (StatusCode::NOT_FOUND, envelope("10005", "Resource not found", detail)));
    }
    for uri in ["/v2/room_sessions/not-a-uuid/participants", "/v2/rooms/123", "/v2/room_participants/x"] {
        let (status, body) = get(&app, uri).await;
        assert_eq!((status, &body["errors"][0]["code"]), (StatusCode::BAD_REQUEST, &json!("10015")), "{uri}");
    }
    let (status, body) = get(&app, &format!("/v2/room_sessions/{}", ids::MEDIUM_SESSION.to_uppercase())).await;
    assert_eq!((status, &body["data"]["id"]), (StatusCode::OK, &json!(ids::MEDIUM_SESSION)));
}

#[tokio::test]
async fn children_are_embedded_only_when_asked_for() {
    let (app, data, _) = app();
    let (_, body) = get(&app, &format!("/v2/room_sessions/{}", ids::SINGLE_SESSION)).await;
    assert!(body["data"].get("participants").is_none());
    let (_, body) = get(&app, &format!("/v2/room_sessions/{}?include_participants=true", ids::SINGLE_SESSION)).await;
    let participant = data.participants.iter().find(|p| p.id == ids::PARTICIPANT).unwrap();
    assert_eq!(body["data"]["participants"], json!([participant]));
    let (_, body) = get(&app, &format!("/v2/room_participants/{}", ids::PARTICIPANT)).await;
    assert_eq!(body, json!({ "data": participant }));
    let (_, body) = get(&app, &format!("/v2/rooms/{}?include_sessions=true", ids::ROOM)).await;
    let embedded = body["data"]["sessions"].as_array().unwrap();
    let expected: Vec<_> = data.sessions.iter().filter(|s| s.room_id == ids::ROOM).map(|s| json!(s.id)).collect();
    assert_eq!(embedded.iter().map(|s| s["id"].clone()).collect::<Vec<_>>(), expected);
    assert!(embedded.iter().all(|s| s.get("participants").is_none()));
    let (_, body) = get(&app, "/v2/room_sessions?include_participants=true&page[size]=250").await;
    let embedded: usize =
        body["data"].as_array().unwrap().iter().map(|s| s["participants"].as_array().unwrap().len()).sum();
    assert_eq!(embedded, data.participants.len());
}

#[tokio::test]
async fn the_request_log_records_raw_paths_and_queries_in_order_even_when_rejected() {
    let (app, _, log) = app();
    get(&app, "/v2/rooms").await;
    get(&app, "/v2/room_participants?filter%5Bcontext%5D=a%26b+c&page[size]=5").await;
    call(&app, "/v2/rooms?x=1", None).await;
    let expected = ["/v2/rooms", "/v2/room_participants?filter%5Bcontext%5D=a%26b+c&page[size]=5", "/v2/rooms?x=1"];
    assert_eq!((log.requests(), log.count()), (expected.map(String::from).to_vec(), 3));
    log.clear();
    assert_eq!(log.count(), 0);
}

#[tokio::test]
async fn the_request_log_records_the_method_and_body_of_writes() {
    let (app, _, log) = app();
    get(&app, "/v2/rooms?page[size]=1").await;
    send(&app, Method::POST, "/v2/rooms?x=1", r#"{"unique_name": "a", "max_participants": 2}"#).await;
    send(&app, Method::DELETE, "/v2/rooms/x", Body::empty()).await;
    send(&app, Method::PATCH, "/v2/rooms/x", "not json").await;
    assert_eq!(log.requests(), ["/v2/rooms?page[size]=1", "/v2/rooms?x=1", "/v2/rooms/x", "/v2/rooms/x"]);
    let writes = [
        (Method::POST, "/v2/rooms?x=1".to_owned(), Some(json!({ "unique_name": "a", "max_participants": 2 }))),
        (Method::DELETE, "/v2/rooms/x".to_owned(), None),
        (Method::PATCH, "/v2/rooms/x".to_owned(), None),
    ];
    assert_eq!(log.writes(), writes);
    let recorded = log.recorded();
    assert_eq!((&recorded[0].method, recorded[0].body.is_empty()), (&Method::GET, true));
    assert_eq!(&recorded[3].body[..], b"not json");
}

#[tokio::test]
async fn a_body_over_the_limit_is_answered_413_and_recorded_without_it() {
    let (app, _, log) = app();
    let (status, body) = send(&app, Method::POST, "/v2/rooms", vec![b' '; RequestLog::MAX_BODY + 1]).await;
    assert_eq!((status, &body["errors"][0]["code"]), (StatusCode::PAYLOAD_TOO_LARGE, &json!("10015")));
    assert_eq!(log.writes(), [(Method::POST, "/v2/rooms".to_owned(), None)]);
}

#[tokio::test]
async fn a_spawned_upstream_serves_json_over_tcp_at_its_base_url() {
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let path = format!("/room_sessions/{}/participants?page[size]=1", ids::SINGLE_SESSION);
    let request = reqwest::Client::new().get(format!("{}{path}", upstream.base_url()));
    let response = request.bearer_auth(SAMPLE_API_KEY).send().await.unwrap();
    assert_eq!(
        (response.status(), response.headers()["content-type"].as_bytes()),
        (StatusCode::OK, &b"application/json"[..])
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"][0]["id"], ids::PARTICIPANT);
    assert_eq!(upstream.log.requests(), [format!("/v2{path}")]);
}

#[test]
fn fault_specs_parse_and_reject_nonsense() {
    assert_eq!("503:20,429:50,slow:100".parse(), Ok(Faults { unavailable: 20, rate_limited: 50, slow: 100 }));
    assert_eq!("".parse(), Ok(Faults::default()));
    assert!("500:3".parse::<Faults>().is_err());
    assert!("503".parse::<Faults>().is_err());
}

#[tokio::test]
async fn every_nth_request_fails_as_configured() {
    let faults = Faults { unavailable: 2, ..Default::default() };
    let upstream = SampleUpstream::spawn_with_faults(([127, 0, 0, 1], 0).into(), faults).await.unwrap();
    let url = format!("{}/rooms", upstream.base_url());
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = client.get(&url).bearer_auth(SAMPLE_API_KEY).send().await.unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 503, 200, 503]);
}
