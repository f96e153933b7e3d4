//! The nine write operations, driven through the router as the facade would drive them.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{SubsecRound, TimeDelta};

use super::*;
use crate::sample_upstream::{store::Store, token::Kind};

const UNKNOWN: &str = "00000000-0000-4000-8000-000000000000";

/// A router over a fresh store, with the store at hand for what only it can do.
fn fresh() -> (Router, Arc<Store>) {
    let store = Arc::new(Store::new(Arc::new(SampleData::seeded())));
    (routes(store.clone(), RequestLog::default()), store)
}

async fn post(app: &Router, uri: &str, body: Value) -> (StatusCode, Value) {
    send(app, Method::POST, uri, body.to_string()).await
}

async fn patch(app: &Router, uri: &str, body: Value) -> (StatusCode, Value) {
    send(app, Method::PATCH, uri, body.to_string()).await
}

fn room_uri(id: &str) -> String {
    format!("/v2/rooms/{id}")
}

fn action_uri(session: &str, action: &str) -> String {
    format!("/v2/room_sessions/{session}/actions/{action}")
}

fn ok() -> (StatusCode, Value) {
    (StatusCode::OK, json!({ "data": { "result": "ok" } }))
}

/// The participants of `session` as served, in list order.
async fn participants(app: &Router, session: &str) -> Vec<Value> {
    let (_, body) = get(app, &format!("/v2/room_sessions/{session}/participants?page[size]=250")).await;
    body["data"].as_array().unwrap().clone()
}

fn ids_of(participants: &[Value]) -> Vec<String> {
    participants.iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect()
}

/// A JWT's claims, checking that it is three base64url parts.
fn claims(token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    assert!(parts.iter().all(|part| URL_SAFE_NO_PAD.decode(part).is_ok()), "{token}");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

/// Asserts that `expires_at` is a whole-second UTC time `ttl` seconds after the token's `iat`,
/// and that the token's `exp` says the same.
fn assert_expiry(claims: &Value, expires_at: &Value, ttl: i64) {
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert_eq!(exp - iat, ttl, "{claims}");
    let expected = DateTime::from_timestamp(exp, 0).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    assert_eq!(expires_at, &json!(expected));
    assert!((iat - Utc::now().timestamp()).abs() <= 5, "iat {iat} is not now");
}

#[tokio::test]
async fn a_created_room_reads_back_and_joins_the_list() {
    let (app, _, _) = app();
    let settings = json!({
        "unique_name": "retro", "max_participants": 50, "enable_recording": true,
        "webhook_event_url": "https://hooks.example.com/retro", "webhook_event_failover_url": "https://b.example.com",
        "webhook_timeout_secs": 0,
    });
    let before = Utc::now();
    let (status, body) = post(&app, "/v2/rooms", settings.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let room = &body["data"];
    for (field, value) in settings.as_object().unwrap() {
        assert_eq!(&room[field], value, "{field}");
    }
    assert_eq!((&room["active_session_id"], &room["record_type"]), (&Value::Null, &json!("room")));
    assert!(room.get("sessions").is_none());
    let created = serde_json::from_value::<Room>(room.clone()).unwrap();
    assert!(created.created_at >= before.trunc_subsecs(6) && created.created_at <= Utc::now());
    assert_eq!(created.updated_at, created.created_at);
    let id = created.id.clone();
    assert_eq!(Uuid::parse_str(&id).unwrap().hyphenated().to_string(), id);

    assert_eq!(get(&app, &room_uri(&id)).await, (StatusCode::OK, json!({ "data": room })));
    let mut all = all_ids(&app, "/v2/rooms?").await;
    assert_eq!((all.len(), all.pop()), (5, Some(id.clone())), "the newest room comes last");
    let (_, named) = get(&app, "/v2/rooms?filter[unique_name]=retro").await;
    assert_eq!(named["data"][0]["id"], id);

    // The same writes give the same ids in every run.
    let (other, _) = fresh();
    assert_eq!(post(&other, "/v2/rooms", json!({})).await.1["data"]["id"], id);
}

#[tokio::test]
async fn a_room_created_without_settings_gets_the_spec_defaults() {
    let (app, _, _) = app();
    let (status, body) = post(&app, "/v2/rooms", json!({ "ignored": 1 })).await;
    let room = &body["data"];
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        [&room["max_participants"], &room["enable_recording"], &room["webhook_timeout_secs"]],
        [&json!(10), &json!(false), &Value::Null]
    );
    assert_eq!([&room["webhook_event_url"], &room["webhook_event_failover_url"]], [&json!(""), &json!("")]);
    assert_eq!(room["unique_name"], room["id"], "no name given: the id stands in");
    let (_, second) = post(&app, "/v2/rooms", json!({})).await;
    assert_ne!(second["data"]["id"], room["id"]);
}

#[tokio::test]
async fn an_update_changes_only_the_fields_sent_and_null_unsets_the_timeout() {
    let (app, data, _) = app();
    let seeded = serde_json::to_value(data.rooms.iter().find(|r| r.id == ids::ROOM).unwrap()).unwrap();
    assert_eq!(seeded["webhook_timeout_secs"], 25);

    let (status, body) = patch(&app, &room_uri(ids::ROOM), json!({ "max_participants": 20 })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut expected = seeded.clone();
    expected["max_participants"] = json!(20);
    expected["updated_at"] = body["data"]["updated_at"].clone();
    assert_eq!(body["data"], expected);
    assert!(body["data"]["updated_at"].as_str() > seeded["updated_at"].as_str());

    let changes = json!({ "webhook_timeout_secs": null, "webhook_event_failover_url": "", "unique_name": "all-hands" });
    let (_, body) = patch(&app, &room_uri(&ids::ROOM.to_uppercase()), changes).await;
    expected["webhook_timeout_secs"] = Value::Null;
    expected["webhook_event_failover_url"] = json!("");
    expected["updated_at"] = body["data"]["updated_at"].clone();
    assert_eq!(body["data"], expected, "its own name is not taken");
    assert_eq!(get(&app, &room_uri(ids::ROOM)).await.1["data"], expected);

    let (_, body) = patch(&app, &room_uri(ids::ROOM), json!({})).await;
    assert_eq!(body["data"]["max_participants"], 20, "an empty update changes no setting");
}

#[tokio::test]
async fn a_deleted_room_is_gone_with_its_sessions_and_participants() {
    let (app, data, _) = app();
    assert_eq!(
        send(&app, Method::DELETE, &room_uri(ids::ROOM), Body::empty()).await,
        (StatusCode::NO_CONTENT, Value::Null)
    );
    let gone = envelope("10005", "Resource not found", "Room not found.");
    assert_eq!(get(&app, &room_uri(ids::ROOM)).await, (StatusCode::NOT_FOUND, gone.clone()));
    assert_eq!(send(&app, Method::DELETE, &room_uri(ids::ROOM), Body::empty()).await, (StatusCode::NOT_FOUND, gone));
    let rooms = all_ids(&app, "/v2/rooms?").await;
    assert_eq!(rooms, data.rooms.iter().filter(|r| r.id != ids::ROOM).map(|r| r.id.clone()).collect::<Vec<_>>());
    let (status, _) = get(&app, &format!("/v2/room_sessions/{}", ids::LARGE_SESSION)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, sessions) = get(&app, &format!("/v2/room_sessions?filter[room_id]={}", ids::ROOM)).await;
    assert_eq!(sessions["meta"]["total_results"], 0);
    let (_, participants) = get(&app, "/v2/room_participants?page[size]=1").await;
    let others = data.sessions.iter().filter(|s| s.room_id != ids::ROOM).map(|s| s.id.as_str()).collect::<Vec<_>>();
    let kept = data.participants.iter().filter(|p| others.contains(&p.session_id.as_str())).count();
    assert_eq!(participants["meta"]["total_results"], kept);
}

#[tokio::test]
async fn join_tokens_are_jwts_expiring_when_asked_and_by_default() {
    let (app, _) = fresh();
    let uri = format!("{}/actions/generate_join_client_token", room_uri(ids::ROOM));
    let (status, body) = post(&app, &uri, json!({ "token_ttl_secs": 10, "refresh_token_ttl_secs": 86_400 })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let data = body["data"].as_object().unwrap();
    let keys: BTreeSet<_> = data.keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["refresh_token", "refresh_token_expires_at", "token", "token_expires_at"]));
    let (access, refresh) = (claims(data["token"].as_str().unwrap()), claims(data["refresh_token"].as_str().unwrap()));
    assert_expiry(&access, &data["token_expires_at"], 10);
    assert_expiry(&refresh, &data["refresh_token_expires_at"], 86_400);
    assert_eq!((&access["typ"], &refresh["typ"]), (&json!("access"), &json!("refresh")));
    let grant = json!([{ "actions": ["join"], "resources": [format!("telnyx:video:rooms:{}", ids::ROOM)] }]);
    assert_eq!((&access["grants"], &refresh["grants"]), (&grant, &grant));
    assert_ne!(access["jti"], refresh["jti"]);

    let (_, body) = post(&app, &uri, json!({})).await;
    assert_expiry(&claims(body["data"]["token"].as_str().unwrap()), &body["data"]["token_expires_at"], 600);
    let refresh = claims(body["data"]["refresh_token"].as_str().unwrap());
    assert_expiry(&refresh, &body["data"]["refresh_token_expires_at"], 3600);
}

#[tokio::test]
async fn a_refresh_needs_a_live_refresh_token_this_upstream_issued_for_the_room() {
    let (app, store) = fresh();
    let generate = format!("{}/actions/generate_join_client_token", room_uri(ids::ROOM));
    let (_, issued) = post(&app, &generate, json!({})).await;
    let (token, refresh_token) = (&issued["data"]["token"], &issued["data"]["refresh_token"]);
    let refresh = format!("{}/actions/refresh_client_token", room_uri(ids::ROOM));

    let (status, body) = post(&app, &refresh, json!({ "refresh_token": refresh_token, "token_ttl_secs": 3600 })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let keys: BTreeSet<_> = body["data"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["token", "token_expires_at"]));
    let access = claims(body["data"]["token"].as_str().unwrap());
    assert_expiry(&access, &body["data"]["token_expires_at"], 3600);
    assert_eq!(access["typ"], "access");
    let (_, body) = post(&app, &refresh, json!({ "refresh_token": refresh_token })).await;
    assert_expiry(&claims(body["data"]["token"].as_str().unwrap()), &body["data"]["token_expires_at"], 600);

    let other_room = &store.snapshot().rooms[0].id;
    let (_, elsewhere) = post(&fresh().0, &generate, json!({})).await;
    let expired = store.signer.issue(Kind::Refresh, ids::ROOM, "jti".into(), Utc::now() - TimeDelta::hours(2), 60);
    let refused = [
        (refresh.clone(), token.clone()),
        (refresh.clone(), json!("not.a.jwt")),
        (refresh.clone(), elsewhere["data"]["refresh_token"].clone()),
        (refresh.clone(), json!(expired.token)),
        (format!("{}/actions/refresh_client_token", room_uri(other_room)), refresh_token.clone()),
    ];
    let forbidden =
        envelope("10010", "Authorization failed", "The refresh token is invalid, expired, or not for this room.");
    for (uri, refresh_token) in refused {
        let answer = post(&app, &uri, json!({ "refresh_token": refresh_token })).await;
        assert_eq!(answer, (StatusCode::FORBIDDEN, forbidden.clone()), "{refresh_token}");
    }
}

#[tokio::test]
async fn ending_a_session_kicks_everyone_still_in_and_frees_the_room() {
    let (app, _, _) = app();
    let before = participants(&app, ids::ACTIVE_SESSION).await;
    assert_eq!(post(&app, &action_uri(ids::ACTIVE_SESSION, "end"), Value::Null).await, ok());
    let (_, session) = get(&app, &format!("/v2/room_sessions/{}", ids::ACTIVE_SESSION)).await;
    let ended_at = &session["data"]["ended_at"];
    assert!(ended_at.is_string());
    assert_eq!((&session["data"]["active"], &session["data"]["updated_at"]), (&json!(false), ended_at));
    let after = participants(&app, ids::ACTIVE_SESSION).await;
    for (was, is) in before.iter().zip(&after) {
        let left = if was["left_at"].is_null() { ended_at } else { &was["left_at"] };
        assert_eq!((&is["left_at"], &is["id"]), (left, &was["id"]));
    }
    assert_eq!(after.iter().filter(|p| &p["left_at"] == ended_at).count(), 3);
    let (_, room) = get(&app, &room_uri(ids::ROOM)).await;
    assert_eq!(room["data"]["active_session_id"], Value::Null);
    let (_, active) = get(&app, "/v2/room_sessions?filter[active]=true").await;
    assert!(!ids_of(active["data"].as_array().unwrap()).contains(&ids::ACTIVE_SESSION.to_owned()));

    let ended = envelope("10015", "Bad Request", "Room session has already ended.");
    for action in ["end", "kick", "mute", "unmute"] {
        let answer = post(&app, &action_uri(ids::ACTIVE_SESSION, action), json!({ "participants": "all" })).await;
        assert_eq!(answer, (StatusCode::UNPROCESSABLE_ENTITY, ended.clone()), "{action}");
    }
}

#[tokio::test]
async fn a_kick_sets_left_at_on_the_picked_participants_still_in_and_the_lists_agree() {
    let (app, _, _) = app();
    let before = participants(&app, ids::ACTIVE_SESSION).await;
    let still_in = ids_of(&before.iter().filter(|p| p["left_at"].is_null()).cloned().collect::<Vec<_>>());
    let gone = before.iter().find(|p| !p["left_at"].is_null()).unwrap();
    assert_eq!(still_in.len(), 3);

    let kick = json!({ "participants": "all", "exclude": [still_in[0].to_uppercase()] });
    assert_eq!(post(&app, &action_uri(ids::ACTIVE_SESSION, "kick"), kick).await, ok());
    let after = participants(&app, ids::ACTIVE_SESSION).await;
    let kicked: Vec<&Value> =
        after.iter().filter(|p| still_in[1..].contains(&p["id"].as_str().unwrap().to_owned())).collect();
    let left_at = &kicked[0]["left_at"];
    assert!(left_at.is_string());
    assert!(kicked.iter().all(|p| (&p["left_at"], &p["updated_at"]) == (left_at, left_at)));
    assert_eq!(after.iter().find(|p| p["id"] == still_in[0]).unwrap()["left_at"], Value::Null);
    assert_eq!(after.iter().find(|p| p["id"] == gone["id"]).unwrap(), gone, "who had left stays as they were");
    let (_, session) = get(&app, &format!("/v2/room_sessions/{}", ids::ACTIVE_SESSION)).await;
    assert_eq!((&session["data"]["updated_at"], &session["data"]["active"]), (left_at, &json!(true)));
    let date = &left_at.as_str().unwrap()[..10];
    let uri =
        format!("/v2/room_participants?filter[session_id]={}&filter[date_left_at][eq]={date}", ids::ACTIVE_SESSION);
    let mut listed = ids_of(get(&app, &uri).await.1["data"].as_array().unwrap());
    listed.sort();
    let mut expected = still_in[1..].to_vec();
    expected.sort();
    assert_eq!(listed, expected);

    let kick = json!({ "participants": [still_in[0], gone["id"]] });
    assert_eq!(post(&app, &action_uri(ids::ACTIVE_SESSION, "kick"), kick).await, ok());
    let last = participants(&app, ids::ACTIVE_SESSION).await;
    assert!(last.iter().all(|p| p["left_at"].is_string()));
    assert_eq!(last.iter().find(|p| p["id"] == gone["id"]).unwrap(), gone);
}

#[tokio::test]
async fn mute_and_unmute_answer_ok_and_change_nothing() {
    let (app, _, _) = app();
    let before = participants(&app, ids::ACTIVE_SESSION).await;
    let one = &before[0]["id"];
    for action in ["mute", "unmute"] {
        for targets in [json!({ "participants": "all" }), json!({ "participants": [one], "exclude": [one] })] {
            assert_eq!(post(&app, &action_uri(ids::ACTIVE_SESSION, action), targets).await, ok(), "{action}");
        }
    }
    assert_eq!(participants(&app, ids::ACTIVE_SESSION).await, before);
}

#[tokio::test]
async fn invalid_bodies_are_422_pointing_at_the_field_and_change_nothing() {
    let (app, data, _) = app();
    let generate = format!("{}/actions/generate_join_client_token", room_uri(ids::ROOM));
    let refresh = format!("{}/actions/refresh_client_token", room_uri(ids::ROOM));
    let (kick, mute) = (action_uri(ids::ACTIVE_SESSION, "kick"), action_uri(ids::ACTIVE_SESSION, "mute"));
    let room = room_uri(ids::ROOM);
    // (body, pointer, code) per method and path.
    let rooms: &[(&str, &str, &str)] = &[
        ("not json", "", "10023"),
        ("[]", "", "10023"),
        ("", "", "10023"),
        (r#"{"max_participants": 1}"#, "/max_participants", "10015"),
        (r#"{"max_participants": 51}"#, "/max_participants", "10015"),
        (r#"{"max_participants": 10.5}"#, "/max_participants", "10015"),
        (r#"{"max_participants": "10"}"#, "/max_participants", "10015"),
        (r#"{"enable_recording": "yes"}"#, "/enable_recording", "10015"),
        (r#"{"webhook_event_url": "example.com"}"#, "/webhook_event_url", "10015"),
        (r#"{"webhook_timeout_secs": 31}"#, "/webhook_timeout_secs", "10015"),
        (r#"{"webhook_timeout_secs": -1}"#, "/webhook_timeout_secs", "10015"),
        (r#"{"unique_name": 5}"#, "/unique_name", "10015"),
        (r#"{"unique_name": "standup"}"#, "/unique_name", "10015"),
    ];
    let room_changes: &[(&str, &str, &str)] = &[
        ("null", "", "10023"),
        (r#"{"max_participants": null}"#, "/max_participants", "10015"),
        (r#"{"webhook_event_failover_url": null}"#, "/webhook_event_failover_url", "10015"),
        (r#"{"unique_name": "standup"}"#, "/unique_name", "10015"),
        (r#"{"unique_name": null}"#, "/unique_name", "10015"),
    ];
    let generate_bodies: &[(&str, &str, &str)] = &[
        ("", "", "10023"),
        (r#"{"token_ttl_secs": 9}"#, "/token_ttl_secs", "10015"),
        (r#"{"token_ttl_secs": 3601}"#, "/token_ttl_secs", "10015"),
        (r#"{"refresh_token_ttl_secs": 59}"#, "/refresh_token_ttl_secs", "10015"),
        (r#"{"refresh_token_ttl_secs": 86401}"#, "/refresh_token_ttl_secs", "10015"),
    ];
    let refresh_bodies: &[(&str, &str, &str)] = &[
        ("{}", "/refresh_token", "10004"),
        (r#"{"refresh_token": 1}"#, "/refresh_token", "10015"),
        (r#"{"refresh_token": "x", "token_ttl_secs": 0}"#, "/token_ttl_secs", "10015"),
    ];
    let targets: &[(&str, &str, &str)] = &[
        ("{}", "/participants", "10004"),
        (r#"{"participants": "some"}"#, "/participants", "10015"),
        (r#"{"participants": ["x"]}"#, "/participants/0", "10015"),
        (r#"{"participants": "all", "exclude": ["9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", 7]}"#, "/exclude/1", "10015"),
        (r#"{"participants": "all", "exclude": "x"}"#, "/exclude", "10015"),
    ];
    let cases = [
        (Method::POST, "/v2/rooms", rooms),
        (Method::PATCH, &room, room_changes),
        (Method::POST, &generate, generate_bodies),
        (Method::POST, &refresh, refresh_bodies),
        (Method::POST, &kick, targets),
        (Method::POST, &mute, targets),
    ];
    for (method, uri, bodies) in cases {
        for &(body, pointer, code) in bodies {
            let (status, answer) = send(&app, method.clone(), uri, body).await;
            let error = &answer["errors"][0];
            let expected = (StatusCode::UNPROCESSABLE_ENTITY, &json!(code));
            assert_eq!((status, &error["code"]), expected, "{method} {uri} {body}");
            assert_eq!(error["source"], json!({ "pointer": pointer }), "{method} {uri} {body}");
        }
    }
    let (_, answer) = post(&app, "/v2/rooms", json!({ "max_participants": 1 })).await;
    let detail = "max_participants must be an integer from 2 to 50.";
    let source = json!({ "pointer": "/max_participants" });
    let error = json!({ "code": "10015", "title": "Invalid parameter", "detail": detail, "source": source });
    assert_eq!(answer, json!({ "errors": [error] }));
    assert_eq!(all_ids(&app, "/v2/rooms?").await.len(), data.rooms.len());
    let seeded_room = data.rooms.iter().find(|r| r.id == ids::ROOM).unwrap();
    assert_eq!(get(&app, &room).await.1["data"], json!(seeded_room));
    let seeded = data.participants.iter().filter(|p| p.session_id == ids::ACTIVE_SESSION);
    assert_eq!(participants(&app, ids::ACTIVE_SESSION).await, seeded.map(|p| json!(p)).collect::<Vec<_>>());
}

#[tokio::test]
async fn unknown_ids_are_404_and_malformed_ids_400() {
    let (app, _, _) = app();
    let targets = json!({ "participants": "all" });
    let room = envelope("10005", "Resource not found", "Room not found.");
    let session = envelope("10005", "Resource not found", "Room session not found.");
    let cases = [
        (Method::PATCH, room_uri(UNKNOWN), json!({}), &room),
        (Method::DELETE, room_uri(UNKNOWN), json!({}), &room),
        (Method::POST, format!("{}/actions/generate_join_client_token", room_uri(UNKNOWN)), json!({}), &room),
        (
            Method::POST,
            format!("{}/actions/refresh_client_token", room_uri(UNKNOWN)),
            json!({ "refresh_token": "x" }),
            &room,
        ),
        (Method::POST, action_uri(UNKNOWN, "end"), json!({}), &session),
        (Method::POST, action_uri(UNKNOWN, "kick"), targets.clone(), &session),
        (Method::POST, action_uri(UNKNOWN, "mute"), targets.clone(), &session),
        (Method::POST, action_uri(UNKNOWN, "unmute"), targets.clone(), &session),
    ];
    for (method, uri, body, expected) in cases {
        let answer = send(&app, method.clone(), &uri, body.to_string()).await;
        assert_eq!(answer, (StatusCode::NOT_FOUND, expected.clone()), "{method} {uri}");
        let malformed = uri.replace(UNKNOWN, "123");
        let (status, answer) = send(&app, method.clone(), &malformed, body.to_string()).await;
        assert_eq!((status, &answer["errors"][0]["code"]), (StatusCode::BAD_REQUEST, &json!("10015")), "{malformed}");
    }
    let participant = envelope("10005", "Resource not found", "Room participant not found.");
    let seeded_elsewhere = json!({ "participants": [ids::PARTICIPANT] });
    for action in ["kick", "mute", "unmute"] {
        let answer = post(&app, &action_uri(ids::ACTIVE_SESSION, action), seeded_elsewhere.clone()).await;
        assert_eq!(answer, (StatusCode::NOT_FOUND, participant.clone()), "{action}");
    }
    assert!(participants(&app, ids::ACTIVE_SESSION).await.iter().any(|p| p["left_at"].is_null()));
}

#[tokio::test]
async fn only_the_writes_the_spec_leaves_open_work_without_the_api_key() {
    let (app, _, _) = app();
    let anonymous = |method: Method, uri: String, body: Value| {
        let app = app.clone();
        async move { request(&app, method, &uri, None, Body::from(body.to_string())).await.0 }
    };
    let generate = format!("{}/actions/generate_join_client_token", room_uri(ids::ROOM));
    for (method, uri) in [
        (Method::POST, "/v2/rooms".to_owned()),
        (Method::PATCH, room_uri(ids::ROOM)),
        (Method::DELETE, room_uri(ids::ROOM)),
        (Method::POST, generate),
    ] {
        assert_eq!(anonymous(method.clone(), uri.clone(), json!({})).await, StatusCode::UNAUTHORIZED, "{method} {uri}");
    }
    let refresh = format!("{}/actions/refresh_client_token", room_uri(ids::ROOM));
    assert_eq!(anonymous(Method::POST, refresh, json!({ "refresh_token": "x" })).await, StatusCode::FORBIDDEN);
    for action in ["mute", "unmute", "kick", "end"] {
        let uri = action_uri(ids::ACTIVE_SESSION, action);
        assert_eq!(anonymous(Method::POST, uri, json!({ "participants": "all" })).await, StatusCode::OK, "{action}");
    }
}

#[tokio::test]
async fn a_read_snapshot_is_not_changed_by_a_later_write() {
    let (app, store) = fresh();
    let before = store.snapshot();
    post(&app, "/v2/rooms", json!({ "unique_name": "later" })).await;
    assert_eq!((before.rooms.len(), store.snapshot().rooms.len()), (4, 5));
}

#[tokio::test]
async fn a_spawned_upstream_serves_its_writes_and_fails_them_as_configured() {
    let faults = Faults { unavailable: 2, ..Default::default() };
    let upstream = SampleUpstream::spawn_with_faults(([127, 0, 0, 1], 0).into(), faults).await.unwrap();
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for name in ["one", "two", "three"] {
        let request = client.post(format!("{}/rooms", upstream.base_url())).bearer_auth(SAMPLE_API_KEY);
        statuses.push(request.json(&json!({ "unique_name": name })).send().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [201, 503, 201]);
    let names: Vec<_> = upstream.snapshot().rooms.iter().skip(4).map(|r| r.unique_name.clone()).collect();
    assert_eq!((names, upstream.data.rooms.len()), (vec!["one".to_owned(), "three".to_owned()], 4));
    let writes = upstream.log.writes();
    assert_eq!(writes.len(), 2, "the fault hit before the log: {writes:?}");
    assert_eq!(writes[1], (Method::POST, "/v2/rooms".to_owned(), Some(json!({ "unique_name": "three" }))));
}
