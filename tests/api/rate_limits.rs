//! Rate limits: per caller and on Telnyx, in one process and shared by two through a real
//! `redis-server`.

use serde_json::{json, Value};
use telnyx_rooms_graphql::config::Config;
use telnyx_rooms_graphql::sample_upstream::{SampleUpstream, SAMPLE_API_KEY};

use crate::helpers::{error_codes, ids, spawn_app_with, TestApp};
use crate::process::{free_addr, RedisServer};

const QUERY: &str = "query($id: ID!) { roomSession(id: $id) { participants(first: 1) { totalCount } } }";

async fn ask(app: &TestApp, authorization: Option<&str>) -> (u16, Option<String>, Value) {
    let response = app.post(QUERY, json!({ "id": ids::MEDIUM_SESSION }), authorization).await;
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, response.json().await.unwrap())
}

async fn spawn(upstream: &SampleUpstream, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with(&upstream.base_url(), Some(SAMPLE_API_KEY), tweak).await
}

fn rate(text: &str) -> Option<telnyx_rooms_graphql::auth::rate_limit::Rate> {
    Some(text.parse().unwrap())
}

#[tokio::test]
async fn a_caller_over_its_limit_gets_429_with_retry_after_and_nothing_goes_upstream() {
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let app = spawn(&upstream, |c| c.caller_rate_limit = rate("2/min")).await;
    let key = format!("Bearer {SAMPLE_API_KEY}");

    let first = ask(&app, Some(&key)).await;
    let second = ask(&app, Some(&key)).await;
    let (status, retry_after, body) = ask(&app, Some(&key)).await;
    let anonymous = ask(&app, None).await;

    assert_eq!((first.0, second.0), (200, 200));
    assert_eq!(status, 429, "{body}");
    assert_eq!(error_codes(&body), ["RATE_LIMITED"]);
    let seconds: u64 = retry_after.unwrap().parse().unwrap();
    assert!((25..=30).contains(&seconds), "{seconds}");
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], seconds);
    assert_eq!(anonymous.0, 200, "another caller (by address) has its own allowance");
    assert_eq!(upstream.log.count(), 3);
}

#[tokio::test]
async fn the_upstream_limit_fails_fast_when_the_wait_does_not_fit_the_deadline() {
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let app = spawn(&upstream, |c| c.upstream_rate_limit = rate("1/min")).await;

    let (first, _, _) = ask(&app, None).await;
    let (status, _, body) = ask(&app, None).await;

    assert_eq!(first, 200);
    assert_eq!(status, 200, "a field error, not an HTTP one: {body}");
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body}");
    let retry_after = body["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap();
    assert!((55..=60).contains(&retry_after), "{retry_after}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("UPSTREAM_RATE_LIMIT"), "{body}");
    assert_eq!(upstream.log.count(), 1);
}

#[tokio::test]
#[ignore = "needs redis-server"]
async fn two_instances_share_the_caller_and_upstream_limits_through_a_real_redis_server() {
    // Arrange: two instances against one real Redis.
    let redis = RedisServer::start().await;
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let url = redis.url();
    let shared = |c: &mut Config| {
        c.redis_url = Some(url.clone().into());
        c.caller_rate_limit = rate("2/min");
        c.upstream_rate_limit = rate("3/min");
    };
    let (a, b) = (spawn(&upstream, shared).await, spawn(&upstream, shared).await);
    let key = format!("Bearer {SAMPLE_API_KEY}");

    // Act: the same caller twice on A, then on B; then another caller on B and A.
    let on_a = [ask(&a, Some(&key)).await.0, ask(&a, Some(&key)).await.0];
    let (on_b, retry_after, _) = ask(&b, Some(&key)).await;
    let (other_on_b, _, _) = ask(&b, None).await;
    let (other_on_a, _, other_body) = ask(&a, None).await;

    // Assert: the caller's third request is refused on B; the deployment's third Telnyx
    // request is the last the shared upstream limit allows, so the fourth fails.
    assert_eq!(on_a, [200, 200]);
    assert_eq!(on_b, 429);
    assert!(retry_after.is_some());
    assert_eq!(other_on_b, 200);
    assert_eq!(other_on_a, 200);
    assert_eq!(error_codes(&other_body), ["RATE_LIMITED"], "{other_body}");
    assert_eq!(upstream.log.count(), 3);
}

#[tokio::test]
async fn without_redis_the_limits_count_in_the_process_and_the_service_stays_ready() {
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let nowhere = format!("redis://{}", free_addr());
    let app = spawn(&upstream, |c| {
        c.redis_url = Some(nowhere.into());
        c.caller_rate_limit = rate("2/min");
    })
    .await;

    let statuses = [ask(&app, None).await.0, ask(&app, None).await.0, ask(&app, None).await.0];
    let ready = app.http.get(format!("http://{}/ready", app.addr)).send().await.unwrap().status();
    let metrics = app.http.get(format!("http://{}/metrics", app.addr)).send().await.unwrap().text().await.unwrap();

    assert_eq!(statuses, [200, 200, 429]);
    assert_eq!(ready, 200);
    assert!(metrics.contains("rate_limit_store_up"), "{metrics}");
}
