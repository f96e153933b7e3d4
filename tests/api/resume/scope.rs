//! Room scope on replayed events: a token limited to some rooms (`telnyx_room_ids`) resumes
//! with its own rooms' events only, the history's other rooms' events left out as live
//! delivery leaves them out, and a room or session outside its rooms is refused before
//! anything is replayed.

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use telnyx_rooms_graphql::config::AuthMode;
use telnyx_rooms_graphql::sample_upstream::{SampleUpstream, SAMPLE_API_KEY};

use super::{bearer, sse, Got, Stream};
use crate::helpers::{ids, spawn_app_with, TestApp};
use crate::live::{deliver, joined, live, Ws};

const ISSUER: &str = "https://idp.resume.test/";
const AUDIENCE: &str = "telnyx-rooms";
const KID: &str = "resume";

const ROOM_EVENTS: &str =
    "subscription($id: ID!, $after: String) { roomEvents(roomId: $id, after: $after) { id cursor } }";
const SESSION_EVENTS: &str =
    "subscription($id: ID!, $after: String) { roomSessionEvents(sessionId: $id, after: $after) { id cursor } }";

/// An identity provider: an Ed25519 key (a fixed seed, not a secret of anyone's) and its JWKS
/// served on loopback.
struct Idp {
    url: url::Url,
    key: EncodingKey,
}

impl Idp {
    async fn start() -> Self {
        use ed25519_dalek::pkcs8::{EncodePrivateKey, KeypairBytes};
        // PKCS#8 v1 (no public key inside): the form jsonwebtoken reads a JWK's public half from.
        let pem = KeypairBytes { secret_key: [7; 32], public_key: None }
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .unwrap();
        let key = EncodingKey::from_ed_pem(pem.as_bytes()).unwrap();
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::EdDSA).unwrap();
        jwk.common.key_id = Some(KID.into());
        let keys = serde_json::to_value(JwkSet { keys: vec![jwk] }).unwrap();
        let router = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let keys = keys.clone();
                async move { axum::Json(keys) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap()).parse().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { url, key }
    }

    /// An `Authorization` value for a token that reads (`video:read`) `rooms` only.
    fn scoped_to(&self, rooms: &[&str]) -> String {
        let expires = chrono::Utc::now().timestamp() + 300;
        let claims = json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": "resumer", "exp": expires, "scope": "video:read",
            "telnyx_room_ids": rooms,
        });
        let header = Header { kid: Some(KID.into()), ..Header::new(Algorithm::EdDSA) };
        bearer(&jsonwebtoken::encode(&header, &claims, &self.key).unwrap())
    }
}

/// The service in `jwt` mode taking webhooks, with a history after [`Scoped::cursor`] that
/// interleaves three sessions: [`ids::ACTIVE_SESSION`] and [`ids::LARGE_SESSION`] of the
/// "all-hands" room ([`ids::ROOM`], the token's), and [`ids::MEDIUM_SESSION`] of another.
struct Scoped {
    _upstream: SampleUpstream,
    idp: Idp,
    app: TestApp,
    /// A token scoped to the "all-hands" room.
    token: String,
    /// The room of [`ids::MEDIUM_SESSION`].
    other_room: String,
    /// The cursor of the event just before the history.
    cursor: String,
}

/// A participant joined `session` of `room`.
fn joined_in(id: &str, room: &str, session: &str) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&joined(id, room)).unwrap();
    body["data"]["payload"]["session_id"] = json!(session);
    body.to_string().into_bytes()
}

impl Scoped {
    async fn with_history() -> Self {
        let idp = Idp::start().await;
        let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
        let jwks = idp.url.clone();
        let app = spawn_app_with(&upstream.base_url(), Some(SAMPLE_API_KEY), move |config| {
            config.auth_mode = AuthMode::Jwt;
            config.jwt_jwks_url = Some(jwks);
            config.jwt_issuer = Some(ISSUER.into());
            config.jwt_audience = Some(AUDIENCE.into());
            live(config);
        })
        .await;
        let other_room = upstream.data.sessions.iter().find(|s| s.id == ids::MEDIUM_SESSION).unwrap().room_id.clone();
        let token = idp.scoped_to(&[ids::ROOM]);

        let mut first = sse(&app, &token, ROOM_EVENTS, json!({ "id": ids::ROOM }), None).await;
        Ws::settle().await;
        assert_eq!(deliver(&app, &joined_in("mine-0", ids::ROOM, ids::ACTIVE_SESSION)).await, 200);
        let cursor = first.cursor_of("mine-0").await;
        for i in 1..=4 {
            for (id, room, session) in [
                (format!("mine-{i}"), ids::ROOM, ids::ACTIVE_SESSION),
                (format!("theirs-{i}"), other_room.as_str(), ids::MEDIUM_SESSION),
                (format!("sibling-{i}"), ids::ROOM, ids::LARGE_SESSION),
            ] {
                assert_eq!(deliver(&app, &joined_in(&id, room, session)).await, 200, "{id}");
            }
        }
        Self { _upstream: upstream, idp, app, token, other_room, cursor }
    }

    /// `document` for `id` after the history's cursor, as `authorization`.
    async fn resume(&self, authorization: &str, document: &str, id: &str) -> Stream {
        sse(&self.app, authorization, document, json!({ "id": id, "after": self.cursor }), None).await
    }
}

fn names(prefix: &str) -> Vec<String> {
    (1..=4).map(|i| format!("{prefix}-{i}")).collect()
}

/// Outside its rooms a room or session does not exist for a room-scoped token
/// (docs/security.md, "Room-scoped tokens"): `NOT_FOUND`, never a hint that it is there.
async fn assert_refused_before_any_replay(mut stream: Stream, what: &str) {
    assert_eq!(stream.next().await, Got::Error("NOT_FOUND".into()), "{what}: refused first, nothing replayed");
    assert_eq!(stream.next().await, Got::Complete, "{what}: and nothing after");
}

#[tokio::test]
async fn a_room_scoped_token_resumes_its_room_without_other_rooms_events_and_another_room_is_refused() {
    let scoped = Scoped::with_history().await;

    let mut mine = scoped.resume(&scoped.token, ROOM_EVENTS, ids::ROOM).await;
    let both_sessions: Vec<String> = (1..=4).flat_map(|i| [format!("mine-{i}"), format!("sibling-{i}")]).collect();
    assert_eq!(mine.ids(8).await, both_sessions, "its room's sessions, in order; no other room's");
    assert_eq!(deliver(&scoped.app, &joined_in("theirs-live", &scoped.other_room, ids::MEDIUM_SESSION)).await, 200);
    assert_eq!(deliver(&scoped.app, &joined_in("mine-live", ids::ROOM, ids::ACTIVE_SESSION)).await, 200);
    assert_eq!(mine.ids(1).await, ["mine-live"], "then live, its room only");

    let theirs = scoped.resume(&scoped.token, ROOM_EVENTS, &scoped.other_room).await;
    assert_refused_before_any_replay(theirs, "another room").await;
    // The history does hold that room's events: a token scoped to it gets them.
    let theirs_token = scoped.idp.scoped_to(&[&scoped.other_room]);
    let mut allowed = scoped.resume(&theirs_token, ROOM_EVENTS, &scoped.other_room).await;
    assert_eq!(allowed.ids(4).await, names("theirs"));
}

#[tokio::test]
async fn a_room_scoped_token_resumes_its_rooms_sessions_only_and_another_room_s_session_is_refused() {
    let scoped = Scoped::with_history().await;

    let mut active = scoped.resume(&scoped.token, SESSION_EVENTS, ids::ACTIVE_SESSION).await;
    assert_eq!(active.ids(4).await, names("mine"), "that session's events only");
    let mut large = scoped.resume(&scoped.token, SESSION_EVENTS, ids::LARGE_SESSION).await;
    assert_eq!(large.ids(4).await, names("sibling"));
    assert_eq!(deliver(&scoped.app, &joined_in("theirs-live", &scoped.other_room, ids::MEDIUM_SESSION)).await, 200);
    assert_eq!(deliver(&scoped.app, &joined_in("mine-live", ids::ROOM, ids::ACTIVE_SESSION)).await, 200);
    assert_eq!(active.ids(1).await, ["mine-live"], "then live, that session only");

    let theirs = scoped.resume(&scoped.token, SESSION_EVENTS, ids::MEDIUM_SESSION).await;
    assert_refused_before_any_replay(theirs, "another room's session").await;
    let theirs_token = scoped.idp.scoped_to(&[&scoped.other_room]);
    let mut allowed = scoped.resume(&theirs_token, SESSION_EVENTS, ids::MEDIUM_SESSION).await;
    assert_eq!(allowed.ids(4).await, names("theirs"));
}
