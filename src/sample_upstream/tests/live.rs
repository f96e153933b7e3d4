//! The live room's changes, step by step and without a network: within bounds, told exactly
//! as the store then serves them, and a session ended under it replaced by a new one.

use chrono::TimeDelta;

use super::*;
use crate::sample_upstream::{data::uuid_from, live::Live, store::Store};

fn present<'d>(data: &'d SampleData, session: &str) -> Vec<&'d Participant> {
    data.participants.iter().filter(|p| p.session_id == session && p.left_at.is_none()).collect()
}

#[test]
fn the_live_session_keeps_one_to_eight_present_and_every_change_is_told_as_stored() {
    let mut data = SampleData::seeded();
    let (mut live, mut serial) = (Live::default(), 1 << 40);
    let start = DateTime::UNIX_EPOCH + TimeDelta::days(20_000);
    let mut counts = BTreeSet::new();
    for step in 0..400 {
        let now = start + TimeDelta::seconds(step);
        let before = present(&data, ids::ACTIVE_SESSION).len();
        let new_id = || {
            serial += 1;
            uuid_from(serial)
        };
        let hooks = live.step(&mut data, new_id, now).unwrap();
        let after = present(&data, ids::ACTIVE_SESSION).len();
        assert!((1..=8).contains(&after), "step {step}: {after} present");
        counts.insert(after);

        let [hook] = &hooks[..] else { panic!("step {step}: one event per change") };
        let (payload, id) = (&hook.payload, hook.payload["participant_id"].as_str().unwrap());
        let participant = data.participants.iter().find(|p| p.id == id).unwrap();
        assert_eq!(hook.occurred_at, now);
        assert_eq!(
            (payload["session_id"].as_str(), payload["room_id"].as_str()),
            (Some(ids::ACTIVE_SESSION), Some(ids::ROOM))
        );
        assert_eq!(payload["context"], json!(participant.context));
        match hook.event_type {
            "video.room.participant.joined" => {
                assert_eq!(after, before + 1);
                assert_eq!((participant.joined_at, participant.updated_at, participant.left_at), (now, now, None));
            }
            "video.room.participant.left" => {
                assert_eq!(after + 1, before);
                assert_eq!((participant.left_at, participant.updated_at), (Some(now), now));
                assert_eq!(payload["duration_secs"], (now - participant.joined_at).num_seconds());
                assert_eq!(payload["left_reason"], "leave");
            }
            other => panic!("step {step}: {other}"),
        }
        let session = data.sessions.iter().find(|s| s.id == ids::ACTIVE_SESSION).unwrap();
        assert_eq!(session.updated_at, now);
    }
    assert_eq!((counts.first(), counts.last()), (Some(&1), Some(&8)), "both bounds reached: {counts:?}");
}

#[tokio::test]
async fn a_session_ended_under_the_live_room_is_told_and_replaced_by_a_new_one() {
    let store = Arc::new(Store::new(Arc::new(SampleData::seeded())));
    let app = routes(store.clone(), RequestLog::default());
    let mut live = Live::default();
    let mut step = || store.write(|data| live.step(data, || store.next_id(), Utc::now())).unwrap();
    step();
    let end = format!("/v2/room_sessions/{}/actions/end", ids::ACTIVE_SESSION);
    assert_eq!(send(&app, Method::POST, &end, "").await.0, StatusCode::OK);

    let hooks = step();
    let types: Vec<_> = hooks.iter().map(|h| h.event_type).collect();
    assert_eq!(types, ["video.room.session.ended", "video.room.session.started", "video.room.participant.joined"]);
    let (_, ended) = get(&app, &format!("/v2/room_sessions/{}", ids::ACTIVE_SESSION)).await;
    let ended_at: DateTime<Utc> = ended["data"]["ended_at"].as_str().unwrap().parse().unwrap();
    let created_at: DateTime<Utc> = ended["data"]["created_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(hooks[0].occurred_at, ended_at);
    assert_eq!(
        hooks[0].payload,
        json!({ "session_id": ids::ACTIVE_SESSION, "room_id": ids::ROOM,
                "duration_secs": (ended_at - created_at).num_seconds(), "ended_reason": "end_action" })
    );
    // The new session is the room's active one, with the newcomer in it.
    let new = hooks[1].payload["session_id"].as_str().unwrap();
    assert_eq!(hooks[1].payload["room_id"], ids::ROOM);
    let (_, room) = get(&app, &format!("/v2/rooms/{}", ids::ROOM)).await;
    assert_eq!(room["data"]["active_session_id"], new);
    let (_, session) = get(&app, &format!("/v2/room_sessions/{new}")).await;
    assert_eq!((session["data"]["active"].as_bool(), session["data"]["ended_at"].is_null()), (Some(true), true));
    let (_, listed) = get(&app, &format!("/v2/room_sessions/{new}/participants")).await;
    assert_eq!(listed["data"][0]["id"], hooks[2].payload["participant_id"]);
    assert_eq!((listed["meta"]["total_results"].as_u64(), listed["data"][0]["left_at"].is_null()), (Some(1), true));

    // Once the room is deleted there is nothing left to keep live.
    assert_eq!(send(&app, Method::DELETE, &format!("/v2/rooms/{}", ids::ROOM), "").await.0, StatusCode::NO_CONTENT);
    assert!(store.write(|data| live.step(data, || store.next_id(), Utc::now())).is_none());
}
