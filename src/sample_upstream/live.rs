//! The demo's live room: an opt-in driver that keeps the "all-hands" room ([`ids::ROOM`])
//! changing as a real one does, and tells the service so through Telnyx-signed webhooks.
//!
//! Every tick a participant joins or leaves the room's active session. The store changes
//! exactly as Telnyx's state would, so the REST lists agree with the events; then the matching
//! event is posted, signed with the demo key pair as Telnyx signs (webhook API v2), and retried
//! like Telnyx retries. A session ended meanwhile (the `end` action) is reported and replaced
//! by a new one, so the demo stays live. Only `--demo` starts the driver, and tests that ask:
//! everything else serves the seeded data as it is.

use std::{ops::RangeInclusive, sync::Arc, time::Duration};

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{json, Value};
use tokio::{
    sync::oneshot,
    task::JoinHandle,
    time::{Instant, MissedTickBehavior},
};
use url::Url;

use super::{
    data::{Lcg, Participant, SampleData, Session, CONTEXTS},
    ids,
    store::Store,
    write::now,
    SampleUpstream,
};
use crate::live::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// Seed of the demo's Ed25519 key pair. A demo key, not a secret: anyone can read it here and
/// sign webhooks with it, so only a demo service may trust its public key ([`demo_public_key`]),
/// never one in front of a real Telnyx account.
const DEMO_SEED: [u8; 32] = *b"telnyx-rooms-graphql demo key!!!";

/// How many participants the driven session keeps present: it never empties (a subscriber
/// always has someone to see leave) and never crowds.
const PRESENT: RangeInclusive<usize> = 1..=8;

/// Deliveries of one event before the driver gives up on it, as Telnyx retries a webhook that
/// was not answered 2xx.
const ATTEMPTS: u32 = 3;

/// How long one delivery waits for the service's answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Telnyx documents no values for `left_reason` and `ended_reason`: these say what happened.
const LEFT_REASON: &str = "leave";
const ENDED_REASON: &str = "end_action";

/// The demo's webhook public key, base64 of its 32 bytes as `TELNYX_PUBLIC_KEY` takes it.
/// Public on purpose, as is its private half (see [`DEMO_SEED`]): for `--demo` only.
pub fn demo_public_key() -> String {
    let key = SigningKey::from_bytes(&DEMO_SEED).verifying_key();
    base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
}

/// The subscription `--demo` suggests: everything the live room does, from each event's own
/// data (no upstream request per event). One line, to paste into GraphiQL.
pub fn live_room_subscription() -> String {
    format!(
        "subscription {{ roomEvents(roomId: \"{}\") {{ __typename id occurredAt \
         ... on ParticipantJoined {{ participant {{ id context joinedAt }} }} \
         ... on ParticipantLeft {{ participant {{ id leftAt }} leftReason durationSecs }} \
         ... on RoomSessionStarted {{ session {{ id }} }} \
         ... on RoomSessionEnded {{ session {{ id }} endedReason }} }} }}",
        ids::ROOM
    )
}

/// A running live room driver. Dropping it, or [`LiveRoom::stop`], stops it once the change in
/// progress is delivered.
#[derive(Debug)]
pub struct LiveRoom {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl LiveRoom {
    /// Stops the driver and waits for the change in progress and its webhooks, so that the
    /// store then agrees with every event delivered.
    pub async fn stop(self) {
        drop(self.stop);
        // It only ends by returning: there is no panic to pass on.
        let _ = self.task.await;
    }
}

impl SampleUpstream {
    /// Starts the live room on the current runtime: every `every` (which must not be zero) a
    /// participant joins or leaves, and the event is posted to `webhook_url`, the service's
    /// `POST /webhooks/telnyx`. Deliveries that fail are retried `every` apart, then logged
    /// and given up, so a service that is down never stops the room.
    pub fn start_live_room(&self, webhook_url: Url, every: Duration) -> LiveRoom {
        let (stop, stopped) = oneshot::channel();
        let driver = Driver {
            store: self.store.clone(),
            live: Live::default(),
            http: reqwest::Client::new(),
            url: webhook_url,
            key: SigningKey::from_bytes(&DEMO_SEED),
            every,
        };
        LiveRoom { stop, task: tokio::spawn(driver.run(stopped)) }
    }
}

/// One event to post: what happened, when, and the payload that tells of it.
pub(super) struct Hook {
    pub(super) event_type: &'static str,
    pub(super) occurred_at: DateTime<Utc>,
    pub(super) payload: Value,
}

/// The driver's state between changes.
pub(super) struct Live {
    rng: Lcg,
    /// The session the last change was made in, to notice that it was ended since.
    session: Option<String>,
}

impl Default for Live {
    /// The same walk every run (a fixed seed), as far as the upstream's other writes allow.
    fn default() -> Self {
        Self { rng: Lcg(0x11fe_600d), session: None }
    }
}

impl Live {
    /// One change of the live room at `now`, with ids from `new_id`: the events that tell of
    /// it, in order; `None` once the room has been deleted.
    pub(super) fn step(
        &mut self,
        data: &mut SampleData,
        mut new_id: impl FnMut() -> String,
        now: DateTime<Utc>,
    ) -> Option<Vec<Hook>> {
        let room = data.rooms.iter().position(|room| room.id == ids::ROOM)?;
        let mut hooks = Vec::new();
        let ended = self.session.take().and_then(|id| data.sessions.iter().find(|s| s.id == id && !s.active));
        if let Some(session) = ended {
            let ended_at = session.ended_at.unwrap_or(now);
            hooks.push(Hook {
                event_type: "video.room.session.ended",
                occurred_at: ended_at,
                payload: json!({
                    "session_id": session.id, "room_id": session.room_id,
                    "duration_secs": (ended_at - session.created_at).num_seconds(), "ended_reason": ENDED_REASON,
                }),
            });
        }
        let session_id = match data.rooms[room].active_session_id.clone() {
            Some(id) => id,
            None => {
                let (id, room_id) = (new_id(), data.rooms[room].id.clone());
                hooks.push(Hook {
                    event_type: "video.room.session.started",
                    occurred_at: now,
                    payload: json!({ "session_id": id, "room_id": room_id }),
                });
                data.sessions.push(Session {
                    id: id.clone(),
                    room_id,
                    active: true,
                    created_at: now,
                    updated_at: now,
                    ended_at: None,
                    record_type: "room_session".into(),
                    participants: None,
                });
                data.rooms[room].active_session_id = Some(id.clone());
                id
            }
        };
        self.session = Some(session_id.clone());
        hooks.push(self.join_or_leave(data, &session_id, new_id, now));
        if let Some(session) = data.sessions.iter_mut().find(|s| s.id == session_id) {
            session.updated_at = now;
        }
        Some(hooks)
    }

    /// Someone joins `session_id` under an id from `new_id`, or one of those present leaves:
    /// at random, but keeping the number present within [`PRESENT`].
    fn join_or_leave(
        &mut self,
        data: &mut SampleData,
        session_id: &str,
        new_id: impl FnOnce() -> String,
        now: DateTime<Utc>,
    ) -> Hook {
        let present: Vec<usize> = (0..data.participants.len())
            .filter(|&i| data.participants[i].session_id == session_id && data.participants[i].left_at.is_none())
            .collect();
        let join = present.len() <= *PRESENT.start() || (present.len() < *PRESENT.end() && self.rng.below(2) == 0);
        if join {
            let new_id = new_id();
            let context = CONTEXTS[self.rng.below(CONTEXTS.len() as i64) as usize].map(str::to_owned);
            let payload =
                json!({ "session_id": session_id, "participant_id": new_id, "context": context, "room_id": ids::ROOM });
            data.participants.push(Participant {
                id: new_id,
                session_id: session_id.to_owned(),
                context,
                joined_at: now,
                updated_at: now,
                left_at: None,
                record_type: "room_participant".into(),
            });
            return Hook { event_type: "video.room.participant.joined", occurred_at: now, payload };
        }
        let leaving = &mut data.participants[present[self.rng.below(present.len() as i64) as usize]];
        (leaving.left_at, leaving.updated_at) = (Some(now), now);
        let payload = json!({
            "session_id": session_id, "room_id": ids::ROOM, "participant_id": leaving.id, "context": leaving.context,
            "duration_secs": (now - leaving.joined_at).num_seconds(), "left_reason": LEFT_REASON,
        });
        Hook { event_type: "video.room.participant.left", occurred_at: now, payload }
    }
}

/// The background task: changes the store, then posts what changed.
struct Driver {
    store: Arc<Store>,
    live: Live,
    http: reqwest::Client,
    url: Url,
    key: SigningKey,
    every: Duration,
}

impl Driver {
    async fn run(mut self, mut stopped: oneshot::Receiver<()>) {
        let mut ticks = tokio::time::interval_at(Instant::now() + self.every, self.every);
        // A slow delivery delays the next change instead of bunching the missed ones up.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = &mut stopped => return,
                _ = ticks.tick() => {}
            }
            let (live, store) = (&mut self.live, &self.store);
            let Some(hooks) = store.write(|data| live.step(data, || store.next_id(), now())) else {
                tracing::warn!(room = ids::ROOM, "the live room was deleted: it stops changing");
                return;
            };
            for hook in &hooks {
                self.deliver(hook).await;
            }
        }
    }

    /// Posts `hook` as Telnyx does: one envelope id for every attempt (so the service
    /// deduplicates retries), each attempt numbered and signed afresh.
    async fn deliver(&self, hook: &Hook) {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut failure = String::new();
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                tokio::time::sleep(self.every).await;
            }
            let body = json!({
                "data": {
                    "record_type": "event", "event_type": hook.event_type, "id": id,
                    "occurred_at": hook.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
                    "payload": hook.payload,
                },
                "meta": { "attempt": attempt, "delivered_to": self.url.as_str() },
            })
            .to_string();
            let timestamp = Utc::now().timestamp().to_string();
            let signature = self.key.sign(&[timestamp.as_bytes(), b"|", body.as_bytes()].concat());
            let sent = self
                .http
                .post(self.url.clone())
                .timeout(TIMEOUT)
                .header(SIGNATURE_HEADER, base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()))
                .header(TIMESTAMP_HEADER, timestamp)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await;
            failure = match sent {
                Ok(response) if response.status().is_success() => return,
                Ok(response) => format!("answered {}", response.status()),
                Err(error) => error.to_string(),
            };
            tracing::debug!(event_type = hook.event_type, attempt, %failure, "a live room webhook was not taken");
        }
        tracing::warn!(
            event_type = hook.event_type, url = %self.url, %failure,
            "gave up on a live room webhook after {ATTEMPTS} attempts; the room goes on"
        );
    }
}
