//! A long replay is bounded: a replay that more live events than `SUBSCRIBER_BUFFER` overlap
//! misses none of them, so it carries on live rather than ending as a slow consumer.

use std::time::Duration;

use serde_json::json;
use telnyx_rooms_graphql::sample_upstream::SAMPLE_API_KEY;

use super::{bearer, deliver_all, first_cursor, names, open, sse};
use crate::helpers::{ids, spawn_app_with};
use crate::live::live;

/// A Telnyx whose room lookups take 50 ms each.
async fn slow_rooms() -> wiremock::MockServer {
    use wiremock::matchers::{method, path};
    let server = wiremock::MockServer::start().await;
    let room = json!({ "data": {
        "id": ids::ROOM, "unique_name": "all-hands", "max_participants": 50, "record_type": "room",
        "created_at": "2026-11-30T09:46:20.954863Z", "updated_at": "2026-11-30T09:46:20.954863Z",
    }});
    wiremock::Mock::given(method("GET"))
        .and(path(format!("/rooms/{}", ids::ROOM)))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(room).set_delay(Duration::from_millis(50)))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_replay_overlapped_by_more_live_events_than_the_buffer_misses_none_and_carries_on_live() {
    let telnyx = slow_rooms().await;
    let app = spawn_app_with(&telnyx.uri(), Some(SAMPLE_API_KEY), |config| {
        live(config);
        config.subscriber_buffer = 4;
    })
    .await;
    let cursor = first_cursor(&app, "slow-0").await;
    let history = names("slow", 1..=20);
    deliver_all(&app, &history, ids::ROOM).await;
    let mut live = open(&app, ids::ROOM, None, None).await;

    // Each replayed event loads its room (50 ms), so the replay lasts over a second: twice the
    // buffer's worth of live events arrive meanwhile, and the live subscriber has each at once.
    let with_room = "subscription($room: ID!, $after: String) { roomEvents(roomId: $room, after: $after) { \
                     id cursor room { uniqueName } } }";
    let after = json!({ "room": ids::ROOM, "after": cursor });
    let mut replaying = sse(&app, &bearer(SAMPLE_API_KEY), with_room, after, None).await;
    let during = names("during", 1..=8);
    for id in &during {
        deliver_all(&app, std::slice::from_ref(id), ids::ROOM).await;
        assert_eq!(live.ids(1).await, [id.as_str()]);
    }

    let expected: Vec<String> = history.into_iter().chain(during).collect();
    assert_eq!(replaying.ids(expected.len()).await, expected, "the history, then what arrived during the replay");
    deliver_all(&app, &["after".to_owned()], ids::ROOM).await;
    assert_eq!(replaying.ids(1).await, ["after"], "then live, not SLOW_CONSUMER: it missed nothing");
}
