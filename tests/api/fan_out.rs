//! Fan-out at room sizes: identical subscriptions (same document, variables and audience) share
//! one resolution and one frame per event; different credentials never share anything.

use serde_json::json;
use telnyx_rooms_graphql::sample_upstream::{SampleUpstream, SAMPLE_API_KEY};

use crate::helpers::{ids, TestApp};
use crate::live::{deliver, joined, live_public_key, spawn_live, Ws};
use crate::process::Service;

fn room_events(fields: &str) -> String {
    format!("subscription {{ roomEvents(roomId: \"{}\") {{ {fields} }} }}", ids::ROOM)
}

/// A metric's value in Prometheus text, 0 if absent.
fn metric(text: &str, name: &str) -> f64 {
    let line = text.lines().find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '));
    line.and_then(|line| line.rsplit(' ').next()).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

#[tokio::test]
async fn identical_subscriptions_share_one_source_and_another_document_gets_its_own() {
    // A process of its own, so its metrics are only this test's.
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let base = upstream.base_url();
    let env = [
        ("TELNYX_API_BASE_URL", base.as_str()),
        ("TELNYX_API_KEY", SAMPLE_API_KEY),
        ("TELNYX_PUBLIC_KEY", &live_public_key()),
    ];
    let service = Service::start("fan-out", &[], &env);
    service.until_healthy().await;
    let app = TestApp { addr: service.addr, http: reqwest::Client::new() };

    let mut identical = Vec::new();
    for _ in 0..3 {
        let mut ws = Ws::init(&app, json!({})).await;
        ws.subscribe("1", &room_events("id")).await;
        identical.push(ws);
    }
    let mut other = Ws::init(&app, json!({})).await;
    other.subscribe("1", &room_events("id occurredAt")).await;
    Ws::settle().await;

    assert_eq!(deliver(&app, &joined("fan-1", ids::ROOM)).await, 200);
    for ws in identical.iter_mut().chain([&mut other]) {
        assert_eq!(ws.next().await["payload"]["data"]["roomEvents"]["id"], "fan-1");
    }
    // A frame's delivery time is recorded once its write returns, which may be just after the
    // client has read it: wait for the fourth.
    let metrics = service.metrics_until(|metrics| metric(metrics, "live_delivery_seconds_count") >= 4.0).await;
    assert_eq!(metric(&metrics, "live_shared_sources"), 2.0, "{metrics}");
    assert_eq!(metric(&metrics, "live_shared_subscriptions_total{outcome=\"started\"}"), 2.0, "{metrics}");
    assert_eq!(metric(&metrics, "live_shared_subscriptions_total{outcome=\"attached\"}"), 2.0, "{metrics}");
    // Each frame's delivery time, in a histogram (it adds up across replicas) with a bucket at
    // the 50 ms goal: four frames.
    assert_eq!(metric(&metrics, "live_delivery_seconds_count"), 4.0, "{metrics}");
    assert_eq!(metric(&metrics, "live_delivery_seconds_bucket{le=\"+Inf\"}"), 4.0, "{metrics}");
    assert!(metrics.contains("live_delivery_seconds_bucket{le=\"0.05\"}"), "{metrics}");

    // The source outlives any one subscriber and stops with the last.
    drop(identical.remove(0));
    assert_eq!(deliver(&app, &joined("fan-2", ids::ROOM)).await, 200);
    for ws in &mut identical {
        assert_eq!(ws.next().await["payload"]["data"]["roomEvents"]["id"], "fan-2");
    }
    drop((identical, other));
    let metrics = service.metrics_until(|metrics| metric(metrics, "live_shared_sources") == 0.0).await;
    assert_eq!(metric(&metrics, "live_shared_sources"), 0.0, "every source stopped with its last subscriber");
}

#[tokio::test]
async fn a_subscriber_with_another_credential_never_joins_a_running_subscription() {
    let (_upstream, app) = spawn_live(|_| {}).await;
    let document = room_events("id");
    let mut allowed = Ws::init(&app, json!({})).await;
    allowed.subscribe("1", &document).await;
    Ws::settle().await;

    // The same document with a key Telnyx refuses: it must be checked for itself, not handed
    // the running subscription's events.
    let mut refused = Ws::init(&app, json!({ "Authorization": "Bearer KEYnot-the-sample-key" })).await;
    refused.subscribe("1", &document).await;
    let answer = refused.next().await;
    assert_eq!(answer["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{answer}");
    assert_eq!(refused.next().await, json!({ "type": "complete", "id": "1" }));

    assert_eq!(deliver(&app, &joined("only-allowed", ids::ROOM)).await, 200);
    assert_eq!(allowed.next().await["payload"]["data"]["roomEvents"]["id"], "only-allowed");
}
