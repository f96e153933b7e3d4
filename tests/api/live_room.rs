//! The demo's live room end to end: the sample upstream changes a room and posts webhooks
//! signed with the demo key to the real service, whose subscribers hear what the sample's REST
//! lists then show; and a service that is down or refusing never stops the room.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use telnyx_rooms_graphql::config::Config;
use telnyx_rooms_graphql::live::signature::{verify, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use telnyx_rooms_graphql::live::PublicKey;
use telnyx_rooms_graphql::sample_upstream::{self, SampleUpstream, SAMPLE_API_KEY};
use url::Url;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{config, ids, serve_on, spawn_app_with};
use crate::live::Ws;
use crate::process::free_addr;

const SESSION: &str = ids::ACTIVE_SESSION;

/// The service trusts the demo key, as `--demo` makes it.
fn demo_key(config: &mut Config) {
    config.telnyx_public_key = Some(sample_upstream::demo_public_key());
}

fn webhooks_at(addr: std::net::SocketAddr) -> Url {
    format!("http://{addr}/webhooks/telnyx").parse().unwrap()
}

/// The participants of `SESSION` as the sample lists them at `path_and_query`, by id.
async fn listed(upstream: &SampleUpstream, path_and_query: &str) -> BTreeMap<String, Value> {
    let url = format!("{}{path_and_query}", upstream.base_url());
    let response = reqwest::Client::new().get(url).bearer_auth(SAMPLE_API_KEY).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    let items = body["data"].as_array().unwrap();
    items.iter().map(|p| (p["id"].as_str().unwrap().to_owned(), p.clone())).collect()
}

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap_or_else(|| panic!("a timestamp: {value}")).parse().unwrap()
}

/// The next event of the subscription `live`.
async fn next_event(ws: &mut Ws) -> Value {
    let next = ws.next().await;
    assert_eq!((next["type"].as_str(), next["id"].as_str()), (Some("next"), Some("live")), "{next}");
    assert!(next["payload"].get("errors").is_none(), "{next}");
    next["payload"]["data"]["roomEvents"].clone()
}

/// Who is in `SESSION` after `events`, starting from the seeded data.
fn replay(upstream: &SampleUpstream, events: &[Value]) -> BTreeSet<String> {
    let seeded = upstream.data.participants.iter().filter(|p| p.session_id == SESSION && p.left_at.is_none());
    let mut present: BTreeSet<String> = seeded.map(|p| p.id.clone()).collect();
    for event in events {
        let id = event["participant"]["id"].as_str().unwrap().to_owned();
        match event["__typename"].as_str() {
            Some("ParticipantJoined") => assert!(present.insert(id), "{event}"),
            Some("ParticipantLeft") => assert!(present.remove(&id), "{event}"),
            _ => panic!("only joins and leaves while the session lasts: {event}"),
        }
    }
    present
}

#[tokio::test]
async fn the_subscription_the_demo_prints_hears_the_live_room_and_the_sample_s_lists_agree() {
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let app = spawn_app_with(&upstream.base_url(), Some(SAMPLE_API_KEY), demo_key).await;
    let mut ws = Ws::init(&app, json!({})).await;
    ws.subscribe("live", &sample_upstream::live_room_subscription()).await;
    Ws::settle().await;
    let live = upstream.start_live_room(webhooks_at(app.addr), Duration::from_millis(50));

    let mut events = Vec::new();
    let heard = |events: &[Value], kind: &str| events.iter().any(|e| e["__typename"] == kind);
    while !(heard(&events, "ParticipantJoined") && heard(&events, "ParticipantLeft")) {
        events.push(next_event(&mut ws).await);
    }
    // Stopped, the room holds still and agrees with every event delivered; hear the rest.
    live.stop().await;
    let by_session = listed(&upstream, &format!("/room_sessions/{SESSION}/participants?page[size]=250")).await;
    let by_filter = listed(&upstream, &format!("/room_participants?filter[session_id]={SESSION}&page[size]=250")).await;
    assert_eq!(by_session, by_filter);
    let still_in: BTreeSet<String> =
        by_session.iter().filter(|(_, p)| p["left_at"].is_null()).map(|(id, _)| id.clone()).collect();
    while replay(&upstream, &events) != still_in {
        events.push(next_event(&mut ws).await);
    }

    for event in &events {
        let participant = &event["participant"];
        let stored = &by_session[participant["id"].as_str().unwrap()];
        if event["__typename"] == "ParticipantJoined" {
            assert_eq!(time(&participant["joinedAt"]), time(&stored["joined_at"]), "{event}");
            assert_eq!(time(&event["occurredAt"]), time(&stored["joined_at"]), "{event}");
            assert_eq!(participant["context"], stored["context"], "{event}");
        } else {
            assert_eq!(time(&participant["leftAt"]), time(&stored["left_at"]), "{event}");
            assert_eq!(event["leftReason"], "leave", "{event}");
            let stayed = (time(&stored["left_at"]) - time(&stored["joined_at"])).num_seconds();
            assert_eq!(event["durationSecs"], stayed, "{event}");
        }
    }
    let distinct: BTreeSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(distinct.len(), events.len(), "every event has its own id");
}

#[tokio::test]
async fn a_delivery_that_is_refused_is_retried_under_the_same_id_and_signed_afresh() {
    let hooks = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503)).up_to_n_times(1).mount(&hooks).await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&hooks).await;
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let url: Url = format!("{}/webhooks/telnyx", hooks.uri()).parse().unwrap();
    let live = upstream.start_live_room(url.clone(), Duration::from_millis(50));
    let deadline = Instant::now() + Duration::from_secs(10);
    while hooks.received_requests().await.unwrap().len() < 3 {
        assert!(Instant::now() < deadline, "three deliveries within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    live.stop().await;

    let key = PublicKey::from_base64(&sample_upstream::demo_public_key()).unwrap();
    let requests = hooks.received_requests().await.unwrap();
    for request in &requests {
        let header = |name: &str| request.headers.get(name).map(|v| v.as_bytes());
        let (signature, timestamp) = (header(SIGNATURE_HEADER), header(TIMESTAMP_HEADER));
        let checked = verify(&key, signature, timestamp, &request.body, Utc::now().timestamp(), 300);
        assert_eq!(checked, Ok(()), "signed with the demo key");
        assert_eq!(request.url.path(), "/webhooks/telnyx");
    }
    let bodies: Vec<Value> = requests.iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    let attempts: Vec<&Value> = bodies.iter().map(|b| &b["meta"]["attempt"]).collect();
    assert_eq!(attempts[..3], [&json!(1), &json!(2), &json!(1)]);
    assert_eq!(bodies[0]["data"], bodies[1]["data"], "the retry is the same event");
    assert_ne!(bodies[0]["data"]["id"], bodies[2]["data"]["id"], "the next event is another");
    assert_eq!(bodies[0]["meta"]["delivered_to"], url.as_str());
    assert_eq!(bodies[0]["data"]["record_type"], "event");
}

#[tokio::test]
async fn while_the_service_is_down_the_room_goes_on_at_its_pace_and_events_flow_once_it_is_up() {
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let addr = free_addr();
    let (every, started) = (Duration::from_millis(20), Utc::now());
    let _live = upstream.start_live_room(webhooks_at(addr), every);
    let timer = Instant::now();
    for _ in 0..30 {
        tokio::time::sleep(every).await;
        let data = upstream.snapshot();
        let present = data.participants.iter().filter(|p| p.session_id == SESSION && p.left_at.is_none()).count();
        assert!((1..=8).contains(&present), "{present} present");
    }
    // Each change is one join or one leave, from `started` on: some, but never more than the
    // pace allows (nothing spins on the refused connections).
    let data = upstream.snapshot();
    let joins = data.participants.iter().filter(|p| p.joined_at >= started).count();
    let leaves = data.participants.iter().filter(|p| p.left_at.is_some_and(|t| t >= started)).count();
    let most = (timer.elapsed().as_millis() / every.as_millis()) as usize + 1;
    assert!((1..=most).contains(&(joins + leaves)), "{joins} joins and {leaves} leaves in {:?}", timer.elapsed());

    // The service comes up where the webhooks go: the room's events reach a subscriber.
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let app = serve_on(listener, &config(&upstream.base_url(), Some(SAMPLE_API_KEY), demo_key));
    let mut ws = Ws::init(&app, json!({})).await;
    ws.subscribe("live", &sample_upstream::live_room_subscription()).await;
    let event = next_event(&mut ws).await;
    assert!(["ParticipantJoined", "ParticipantLeft"].contains(&event["__typename"].as_str().unwrap()), "{event}");
}
