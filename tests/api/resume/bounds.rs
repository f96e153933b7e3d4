//! A long replay is bounded: 100,000 retained events are replayed a page at a time, in order
//! and once, while live subscribers keep getting their events; a subscriber that stops reading
//! holds one page, not the history, so what it has not read yet can be trimmed away under it;
//! and a replay that more live events than `SUBSCRIBER_BUFFER` overlap misses none of them, so
//! it carries on live rather than ending as a slow consumer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use telnyx_rooms_graphql::live::history::Position;
use telnyx_rooms_graphql::live::{Cursor, Event, Kind};
use telnyx_rooms_graphql::sample_upstream::{SampleUpstream, SAMPLE_API_KEY};
use uuid::Uuid;

use super::{
    assert_ascending, bearer, deliver_all, first_cursor, names, open, sse, with_redis, Got, Stream, SUBSCRIPTION,
};
use crate::helpers::{ids, spawn_app_with};
use crate::live::{live, Ws};
use crate::process::RedisServer;

/// Events in the history replayed.
const EVENTS: usize = 100_000;
/// The service's stream of events in Redis, and its epoch beside it (`src/live/hub.rs`).
const STREAM: &str = "telnyx-rooms-graphql:events";
const EPOCH: &str = "telnyx-rooms-graphql:events:epoch";
/// Events a subscriber may fall behind live ones (`SUBSCRIBER_BUFFER`), fewer than the live
/// events posted during the replay.
const BUFFER: usize = 16;

/// The room's events, each with its cursor 30 times over (as many aliases as a document may
/// have): frames of about 2 KB, so that 100,000 of them are far more than sockets hold.
fn big_frames() -> String {
    let cursors: Vec<String> = (1..=30).map(|i| format!("c{i}: cursor")).collect();
    format!(
        "subscription($room: ID!, $after: String) {{ roomEvents(roomId: $room, after: $after) {{ id cursor {} }} }}",
        cursors.join(" ")
    )
}

/// A participant joined the room's active session.
fn joined(id: String) -> Event {
    let uuid = |id: &str| Some(Uuid::parse_str(id).unwrap());
    Event {
        id,
        kind: Kind::ParticipantJoined,
        occurred_at: Some(chrono::Utc::now()),
        room_id: uuid(ids::ROOM),
        session_id: uuid(ids::ACTIVE_SESSION),
        participant_id: uuid("11111111-2222-4333-8444-555555555555"),
        context: Some("Alice".into()),
        duration_secs: None,
        reason: None,
    }
}

/// Writes a history as a replica's webhook route does (an epoch, then each event appended to
/// the stream), without the webhooks: each costs about 10 ms to verify in a debug build, so
/// 100,000 would take minutes. The cursor of the first event, and the ids of the rest.
async fn history(redis: &mut redis::aio::MultiplexedConnection, events: usize) -> (String, Vec<String>) {
    let epoch = "0123456789abcdef";
    redis::cmd("SET").arg(EPOCH).arg(epoch).query_async::<()>(redis).await.unwrap();
    let first = serde_json::to_string(&joined("bulk-0".into())).unwrap();
    let entry: String =
        redis::cmd("XADD").arg(STREAM).arg("*").arg("event").arg(first).query_async(redis).await.unwrap();
    let cursor = Cursor { epoch: epoch.into(), position: Position::parse(&entry).unwrap() }.encode();
    let ids: Vec<String> = (1..=events).map(|i| format!("bulk-{i}")).collect();
    for chunk in ids.chunks(5_000) {
        let mut pipe = redis::pipe();
        for id in chunk {
            let event = serde_json::to_string(&joined(id.clone())).unwrap();
            pipe.cmd("XADD").arg(STREAM).arg("*").arg("event").arg(event).ignore();
        }
        pipe.query_async::<()>(redis).await.unwrap();
    }
    (cursor, ids)
}

/// Reads `stream` until its end: the ids of the events it got, then the error it ended with.
async fn until_the_end(stream: &mut Stream) -> (Vec<String>, Option<String>) {
    let mut ids = Vec::new();
    loop {
        match stream.next().await {
            Got::Event { id, .. } => ids.push(id),
            Got::Error(code) => {
                assert_eq!(stream.next().await, Got::Complete, "one error, then the end");
                return (ids, Some(code));
            }
            Got::Complete => return (ids, None),
        }
    }
}

/// Posts live events about the room, `live-{n}` for each of `numbers`, each read by `live`
/// before the next is posted.
async fn post_live(
    app: &crate::helpers::TestApp,
    live: &mut Stream,
    numbers: std::ops::RangeInclusive<usize>,
) -> Vec<String> {
    let mut posted = Vec::new();
    for n in numbers {
        let id = format!("live-{n}");
        deliver_all(app, std::slice::from_ref(&id), ids::ROOM).await;
        assert_eq!(live.ids(1).await, [id.as_str()], "the live subscriber gets each live event");
        posted.push(id);
    }
    posted
}

#[tokio::test]
#[ignore = "needs redis-server"]
async fn through_a_real_redis_server_a_replay_of_100_000_events_is_paged_and_never_holds_back_live_subscribers() {
    let redis = RedisServer::start().await;
    let mut connection = redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let (cursor, bulk) = history(&mut connection, EVENTS).await;
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    // Retention above the history (so nothing is trimmed until the test trims it), and a
    // buffer below the live events posted during a replay.
    let app = with_redis(&redis, &upstream, |config| {
        config.live_retention_events = (EVENTS + 1_000) as u64;
        config.subscriber_buffer = BUFFER;
    })
    .await;
    let authorization = bearer(SAMPLE_API_KEY);
    let after = json!({ "room": ids::ROOM, "after": cursor });
    let mut live = sse(&app, &authorization, SUBSCRIPTION, json!({ "room": ids::ROOM }), None).await;
    let mut stuck = sse(&app, &authorization, &big_frames(), after.clone(), None).await;
    Ws::settle().await;

    // A replay stops being read after its first event, far from its end (its frames are more
    // than sockets hold); the live subscriber gets each live event meanwhile.
    assert_eq!(stuck.ids(1).await, ["bulk-1"]);
    let mut posted = post_live(&app, &mut live, 1..=BUFFER + 4).await;

    // Another replay is read as fast as it comes while live events keep coming, more of them
    // than the buffer: the live subscriber has each before that replay is over.
    let mut replaying = sse(&app, &authorization, SUBSCRIPTION, after, None).await;
    let done = Arc::new(AtomicBool::new(false));
    let expected_count = EVENTS + 2 * (BUFFER + 4);
    let reading = {
        let done = done.clone();
        tokio::spawn(async move {
            let events = replaying.events(expected_count).await;
            done.store(true, Ordering::SeqCst);
            (replaying, events)
        })
    };
    posted.extend(post_live(&app, &mut live, BUFFER + 5..=2 * (BUFFER + 4)).await);
    assert!(!done.load(Ordering::SeqCst), "the live subscriber had its events before the replay ended");
    let (mut replaying, events) = reading.await.unwrap();
    let (replayed, cursors): (Vec<_>, Vec<_>) = events.into_iter().unzip();
    let expected: Vec<&String> = bulk.iter().chain(&posted).collect();
    let first_difference = replayed.iter().zip(&expected).position(|(got, wanted)| got != *wanted);
    assert_eq!(first_difference, None, "every event after the cursor, in order, once");
    assert_ascending(&cursors);
    // It read the history up to the newest event, the live ones included, so it missed
    // nothing: however many live events went by during its replay, it carries on live.
    deliver_all(&app, &["after-replay".to_owned()], ids::ROOM).await;
    assert_eq!(replaying.ids(1).await, ["after-replay"]);

    // The stuck replay holds a page, not the history: once the retention has moved past
    // everything it has not read, it gets what its socket held, then EVENTS_EXPIRED, never
    // all 100,000.
    redis::cmd("XTRIM").arg(STREAM).arg("MAXLEN").arg(1).query_async::<()>(&mut connection).await.unwrap();
    let (got, end) = until_the_end(&mut stuck).await;
    assert_eq!(end.as_deref(), Some("EVENTS_EXPIRED"), "after {} events", got.len());
    assert!(1 + got.len() < EVENTS, "it never held the whole replay: it got {}", 1 + got.len());
    assert_eq!(got, bulk[1..=got.len()], "what it got was in order, after the one it read");
}

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
