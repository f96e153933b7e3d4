//! `AUTH_MODE=jwt`: end-user tokens minted here with keys generated here (in Rust), a
//! JWKS served from this test on loopback, and every way a token can be refused.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use telnyx_rooms_graphql::config::AuthMode;
use telnyx_rooms_graphql::sample_upstream::{SampleUpstream, SAMPLE_API_KEY};

use crate::helpers::{error_codes, ids, spawn_app_with, TestApp};

const ISSUER: &str = "https://idp.test/";
const AUDIENCE: &str = "telnyx-rooms";

/// The keys generated so far in this run, by algorithm.
type Pems = Mutex<Vec<(Algorithm, &'static [u8])>>;

/// A private key in PKCS#8 PEM, generated once per run, in Rust (no `openssl` needed).
fn pem(algorithm: Algorithm) -> &'static [u8] {
    use p256::elliptic_curve::Generate;
    use p256::pkcs8::{EncodePrivateKey, LineEnding};
    static KEYS: OnceLock<Pems> = OnceLock::new();
    let keys = KEYS.get_or_init(Default::default);
    let mut keys = keys.lock().unwrap();
    if let Some((_, pem)) = keys.iter().find(|(a, _)| *a == algorithm) {
        return pem;
    }
    let mut rng = getrandom::rand_core::UnwrapErr(getrandom::SysRng);
    let pem = match algorithm {
        Algorithm::RS256 => rsa::PrivateKey::new(&mut rng, 2048).unwrap().to_pkcs8_pem(LineEnding::LF),
        Algorithm::ES256 => p256::SecretKey::generate_from_rng(&mut rng).to_pkcs8_pem(LineEnding::LF),
        // PKCS#8 v1 (no public key inside), as `openssl genpkey` writes it: the form
        // jsonwebtoken reads a JWK's public half from.
        Algorithm::EdDSA => {
            let secret_key = ed25519_dalek::SigningKey::generate(&mut rng).to_bytes();
            ed25519_dalek::pkcs8::KeypairBytes { secret_key, public_key: None }.to_pkcs8_pem(LineEnding::LF)
        }
        other => panic!("no key for {other:?}"),
    };
    let pem: &'static [u8] = Box::leak(pem.unwrap().as_bytes().to_vec().into_boxed_slice());
    keys.push((algorithm, pem));
    pem
}

fn encoding_key(algorithm: Algorithm) -> EncodingKey {
    match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(pem(algorithm)),
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem(algorithm)),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem(algorithm)),
        other => panic!("no key for {other:?}"),
    }
    .unwrap()
}

/// The public JWK of this run's key for `algorithm`, published under `kid`.
fn jwk(algorithm: Algorithm, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(&encoding_key(algorithm), algorithm).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn claims() -> Value {
    json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "exp": now() + 300, "scope": "video:read" })
}

fn mint(algorithm: Algorithm, kid: &str, claims: &Value) -> String {
    let header = Header { kid: Some(kid.to_owned()), ..Header::new(algorithm) };
    jsonwebtoken::encode(&header, claims, &encoding_key(algorithm)).unwrap()
}

/// A JWKS endpoint on loopback whose key set can be swapped, counting its fetches.
struct Idp {
    url: String,
    keys: Arc<Mutex<JwkSet>>,
    fetches: Arc<AtomicUsize>,
    /// While set, the endpoint answers 500.
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl Idp {
    async fn start(keys: Vec<Jwk>) -> Self {
        let keys = Arc::new(Mutex::new(JwkSet { keys }));
        let fetches = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (served, counted, failing) = (keys.clone(), fetches.clone(), down.clone());
        let router = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let (served, counted, failing) = (served.clone(), counted.clone(), failing.clone());
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    if failing.load(Ordering::SeqCst) {
                        return Err(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
                    }
                    Ok(axum::Json(serde_json::to_value(&*served.lock().unwrap()).unwrap()))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { url, keys, fetches, down }
    }
}

/// The service in `jwt` mode in front of the sample upstream, with the sample's key as the
/// server key (so a query that works proves the server key, not the JWT, went upstream).
async fn spawn_jwt(idp: &Idp) -> (SampleUpstream, TestApp) {
    spawn_jwt_refreshing(idp, 300).await
}

/// As [`spawn_jwt`], with keys considered stale after `refresh_secs`.
async fn spawn_jwt_refreshing(idp: &Idp, refresh_secs: u64) -> (SampleUpstream, TestApp) {
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let url = idp.url.parse().unwrap();
    let app = spawn_app_with(&upstream.base_url(), Some(SAMPLE_API_KEY), |c| {
        c.auth_mode = AuthMode::Jwt;
        c.jwt_jwks_url = Some(url);
        c.jwt_issuer = Some(ISSUER.into());
        c.jwt_audience = Some(AUDIENCE.into());
        c.jwt_leeway_secs = 5;
        c.jwt_jwks_min_refetch_secs = 3600;
        c.jwt_jwks_refresh_secs = refresh_secs;
    })
    .await;
    (upstream, app)
}

async fn ask(app: &TestApp, authorization: Option<&str>) -> (u16, Option<String>, Value) {
    let query = "query($id: ID!) { roomSession(id: $id) { participants(first: 1) { totalCount } } }";
    let response = app.post(query, json!({ "id": ids::MEDIUM_SESSION }), authorization).await;
    let status = response.status().as_u16();
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    (status, challenge, response.json().await.unwrap())
}

#[tokio::test]
async fn a_valid_token_of_each_accepted_algorithm_is_served_with_the_server_key() {
    let idp =
        Idp::start(vec![jwk(Algorithm::RS256, "rsa"), jwk(Algorithm::ES256, "ec"), jwk(Algorithm::EdDSA, "ed")]).await;
    let (upstream, app) = spawn_jwt(&idp).await;
    for (algorithm, kid) in [(Algorithm::RS256, "rsa"), (Algorithm::ES256, "ec"), (Algorithm::EdDSA, "ed")] {
        let token = mint(algorithm, kid, &claims());
        let (status, _, body) = ask(&app, Some(&format!("Bearer {token}"))).await;
        assert_eq!(status, 200, "{algorithm:?}: {body}");
        assert_eq!(body["data"]["roomSession"]["participants"]["totalCount"], 53, "{algorithm:?}: {body}");
    }
    assert_eq!(upstream.log.count(), 3);
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1, "the key set is cached");
}

#[tokio::test]
async fn no_token_is_401_with_a_bearer_challenge_and_nothing_sent_upstream() {
    let idp = Idp::start(vec![jwk(Algorithm::ES256, "ec")]).await;
    let (upstream, app) = spawn_jwt(&idp).await;
    for authorization in [None, Some(format!("Bearer {SAMPLE_API_KEY}")), Some("Basic dXNlcjpwYXNz".to_owned())] {
        let (status, challenge, body) = ask(&app, authorization.as_deref()).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
        assert!(challenge.unwrap().starts_with("Bearer"));
        assert!(!body.to_string().contains(SAMPLE_API_KEY), "{body}");
    }
    assert_eq!(upstream.log.count(), 0);
}

#[tokio::test]
async fn every_bad_token_is_refused_saying_which_check_failed_without_echoing_it() {
    let idp = Idp::start(vec![jwk(Algorithm::RS256, "rsa"), jwk(Algorithm::EdDSA, "ed")]).await;
    let (upstream, app) = spawn_jwt(&idp).await;
    let with = |changes: Value| {
        let mut claims = claims();
        for (key, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(key);
            } else {
                claims[key] = value.clone();
            }
        }
        mint(Algorithm::RS256, "rsa", &claims)
    };
    let b64 = |value: Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
    };
    let valid = mint(Algorithm::RS256, "rsa", &claims());
    let (head, rest) = valid.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let mut escalated = claims();
    escalated["sub"] = json!("admin");
    let tampered = format!("{head}.{}.{signature}", b64(escalated));
    // The public key used as an HMAC secret: the classic algorithm confusion.
    let confused = {
        let public = jwk(Algorithm::RS256, "rsa");
        let secret = serde_json::to_vec(&public).unwrap();
        let header = Header { kid: Some("rsa".into()), ..Header::new(Algorithm::HS256) };
        jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&secret).unwrap()).unwrap()
    };
    let unsigned = format!("{}.{}.", b64(json!({ "alg": "none", "typ": "JWT", "kid": "rsa" })), b64(claims()));
    let cases = [
        (with(json!({ "exp": now() - 3600 })), "expired"),
        (with(json!({ "nbf": now() + 3600 })), "not valid yet"),
        (with(json!({ "iss": "https://evil.test/" })), "issuer"),
        (with(json!({ "aud": "someone-else" })), "audience"),
        (with(json!({ "exp": null })), "`exp`"),
        (with(json!({ "sub": null })), "`sub`"),
        (tampered, "signature"),
        (confused, "algorithm HS256 is not accepted"),
        (unsigned, "algorithm none is not accepted"),
        (mint(Algorithm::EdDSA, "nobody", &claims()), "kid"),
        (mint(Algorithm::EdDSA, "rsa", &claims()), "does not match its key"),
        ("not.a.jwt".to_owned(), "malformed"),
    ];
    for (token, reason) in cases {
        let (status, challenge, body) = ask(&app, Some(&format!("Bearer {token}"))).await;
        assert_eq!(status, 401, "{reason}: {body}");
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{reason}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(reason), "{reason}: {message}");
        assert!(challenge.unwrap().contains("error=\"invalid_token\""));
        assert!(!body.to_string().contains(&token), "the token is echoed: {body}");
    }
    assert_eq!(upstream.log.count(), 0);
}

#[tokio::test]
async fn a_key_rotated_in_after_start_is_fetched_once_and_forged_kids_do_not_hammer_the_idp() {
    // Arrange: the service has fetched the first key set.
    let idp = Idp::start(vec![jwk(Algorithm::ES256, "old")]).await;
    let (_upstream, app) = spawn_jwt(&idp).await;
    let (status, _, _) = ask(&app, Some(&format!("Bearer {}", mint(Algorithm::ES256, "old", &claims())))).await;
    assert_eq!(status, 200);

    // Act: the provider rotates to a new kid; then forged kids arrive.
    *idp.keys.lock().unwrap() = JwkSet { keys: vec![jwk(Algorithm::EdDSA, "new")] };
    let (rotated, _, body) = ask(&app, Some(&format!("Bearer {}", mint(Algorithm::EdDSA, "new", &claims())))).await;
    let mut forged = Vec::new();
    for i in 0..20 {
        forged.push(
            ask(&app, Some(&format!("Bearer {}", mint(Algorithm::EdDSA, &format!("forged-{i}"), &claims())))).await.0,
        );
    }

    // Assert: one fetch for the rotation, none for the forgeries (refetches are rate-limited).
    assert_eq!(rotated, 200, "{body}");
    assert!(forged.iter().all(|status| *status == 401));
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn scopes_come_from_scope_or_scp() {
    let idp = Idp::start(vec![jwk(Algorithm::ES256, "ec")]).await;
    let verifier = telnyx_rooms_graphql::auth::jwt::Verifier::new(
        telnyx_rooms_graphql::auth::jwks::KeySet::new(telnyx_rooms_graphql::auth::jwks::KeySetConfig {
            url: idp.url.parse().unwrap(),
            refresh: std::time::Duration::from_secs(60),
            min_refetch: std::time::Duration::from_secs(60),
            timeout: std::time::Duration::from_secs(5),
        })
        .unwrap(),
        telnyx_rooms_graphql::auth::jwt::Expectations {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            leeway_secs: 0,
            rooms_claim: "telnyx_room_ids".into(),
        },
    );
    let mut spaced = claims();
    spaced["scope"] = json!("video:read video:write");
    let mut listed = claims();
    listed.as_object_mut().unwrap().remove("scope");
    listed["scp"] = json!(["video:read"]);
    let caller = verifier.verify(&mint(Algorithm::ES256, "ec", &spaced)).await.unwrap();
    assert_eq!(
        (caller.subject.as_str(), caller.scopes),
        ("user-1", vec!["video:read".to_owned(), "video:write".to_owned()])
    );
    let caller = verifier.verify(&mint(Algorithm::ES256, "ec", &listed)).await.unwrap();
    assert_eq!(caller.scopes, ["video:read"]);
}

#[tokio::test]
async fn without_video_read_fields_that_need_telnyx_are_forbidden_and_the_rest_resolve() {
    let idp = Idp::start(vec![jwk(Algorithm::ES256, "ec")]).await;
    let (upstream, app) = spawn_jwt(&idp).await;
    let mut unscoped = claims();
    unscoped["scope"] = json!("profile video:write");
    let token = format!("Bearer {}", mint(Algorithm::ES256, "ec", &unscoped));
    let query = "query($id: ID!) { roomSession(id: $id) { id active room { id } } }";

    let body: Value = app.post(query, json!({ "id": ids::MEDIUM_SESSION }), Some(&token)).await.json().await.unwrap();
    let rooms: Value = app.post("{ rooms { totalCount } }", json!({}), Some(&token)).await.json().await.unwrap();

    assert_eq!(body["data"]["roomSession"]["id"], ids::MEDIUM_SESSION, "{body}");
    assert_eq!(body["data"]["roomSession"]["active"], Value::Null, "{body}");
    assert_eq!(rooms["data"], Value::Null, "{rooms}");
    let errors = [body["errors"].as_array().unwrap().clone(), rooms["errors"].as_array().unwrap().clone()].concat();
    let mut forbidden: Vec<String> =
        errors.iter().map(|e| format!("{} {} {}", e["extensions"]["code"], e["path"], e["message"])).collect();
    forbidden.sort();
    assert_eq!(
        forbidden,
        [
            r#""FORBIDDEN" ["roomSession","active"] "missing scope `video:read`""#,
            r#""FORBIDDEN" ["roomSession","room"] "missing scope `video:read`""#,
            r#""FORBIDDEN" ["rooms"] "missing scope `video:read`""#,
        ]
    );
    assert_eq!(upstream.log.count(), 0);
}

#[tokio::test]
async fn in_jwt_mode_the_federation_sdl_declares_the_scope_on_every_field_that_reaches_telnyx() {
    let idp = Idp::start(vec![jwk(Algorithm::ES256, "ec")]).await;
    let (_upstream, app) = spawn_jwt(&idp).await;
    let token = format!("Bearer {}", mint(Algorithm::ES256, "ec", &claims()));
    let body: Value = app.post("{ _service { sdl } }", json!({}), Some(&token)).await.json().await.unwrap();
    let sdl = body["data"]["_service"]["sdl"].as_str().unwrap();
    let scoped = |line: &str| line.contains(r#"@requiresScopes(scopes: [["video:read"]])"#);
    let lines: Vec<&str> = sdl.lines().map(str::trim).collect();
    for field in ["uniqueName: String", "active: Boolean", "context: String", "leftAt: DateTime"] {
        assert!(lines.iter().any(|l| l.starts_with(field) && scoped(l)), "{field} is not scoped");
    }
    assert!(lines.iter().filter(|l| l.starts_with("id: ID!")).all(|l| !scoped(l)), "ids need no scope");
    assert!(lines.iter().any(|l| l.starts_with("): RoomConnection!") && scoped(l)), "rooms is not scoped");
}

#[tokio::test]
async fn a_mutation_over_get_is_405_before_any_token_is_looked_at() {
    let idp = Idp::start(vec![jwk(Algorithm::ES256, "ec")]).await;
    let (upstream, app) = spawn_jwt(&idp).await;
    let mutation = format!("mutation {{ deleteRoom(input: {{ id: \"{}\" }}) {{ clientMutationId }} }}", ids::ROOM);
    let response = app.http.get(app.url()).query(&[("query", &mutation)]).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(upstream.log.count(), 0);
}

#[tokio::test]
async fn print_schema_in_jwt_mode_prints_the_federation_sdl_that_mode_serves_scopes_included() {
    let idp = Idp::start(vec![jwk(Algorithm::ES256, "ec")]).await;
    let (_upstream, app) = spawn_jwt(&idp).await;
    let token = format!("Bearer {}", mint(Algorithm::ES256, "ec", &claims()));
    let body: Value = app.post("{ _service { sdl } }", json!({}), Some(&token)).await.json().await.unwrap();
    let served = body["data"]["_service"]["sdl"].as_str().unwrap();

    let print = |env: &[(&str, &str)]| {
        let output = std::process::Command::new(crate::process::BINARY)
            .arg("--print-schema")
            .env_clear()
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let printed = print(&[("AUTH_MODE", "jwt")]);
    assert!(printed.contains("@requiresScopes"), "{printed}");
    assert!(printed == served, "`AUTH_MODE=jwt --print-schema` differs from the SDL jwt mode serves");
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert!(print(&[]) == committed, "without AUTH_MODE, --print-schema prints schema.graphql");
}

#[tokio::test]
async fn in_passthrough_mode_the_federation_sdl_declares_no_scopes_since_telnyx_decides() {
    let (_upstream, app) = crate::helpers::spawn_sample().await;
    let body = app.query("{ a: _service { sdl } b: _service { s: sdl } }", json!({})).await;
    for sdl in [&body["data"]["a"]["sdl"], &body["data"]["b"]["s"]] {
        let sdl = sdl.as_str().unwrap();
        assert!(sdl.contains("type RoomSession") && !sdl.contains("requiresScopes"), "{sdl}");
    }
}

#[tokio::test]
async fn neither_the_token_nor_the_server_key_reaches_logs_errors_or_metrics() {
    // Arrange: the real binary at RUST_LOG=trace in jwt mode, in front of the sample upstream.
    const SERVER_KEY: &str = SAMPLE_API_KEY;
    let idp = Idp::start(vec![jwk(Algorithm::ES256, "ec")]).await;
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let base_url = upstream.base_url();
    let env = [
        ("RUST_LOG", "trace"),
        ("LOG_FORMAT", "json"),
        ("AUTH_MODE", "jwt"),
        ("JWT_JWKS_URL", idp.url.as_str()),
        ("JWT_ISSUER", ISSUER),
        ("JWT_AUDIENCE", AUDIENCE),
        ("TELNYX_API_KEY", SERVER_KEY),
        ("TELNYX_API_BASE_URL", base_url.as_str()),
    ];
    let service = crate::process::Service::start("jwt-logs", &[], &env);
    service.until_healthy().await;
    let good = mint(Algorithm::ES256, "ec", &claims());
    let mut expired = claims();
    expired["exp"] = json!(now() - 3600);
    let bad = mint(Algorithm::ES256, "ec", &expired);
    let http = reqwest::Client::new();
    let query = json!({ "query": "query($id: ID!) { roomSession(id: $id) { active } }", "variables": { "id": ids::MEDIUM_SESSION } });

    // Act
    let mut bodies = Vec::new();
    for token in [&good, &bad] {
        let response = http.post(service.url("/graphql")).bearer_auth(token).json(&query).send().await.unwrap();
        bodies.push(response.text().await.unwrap());
    }
    let metrics = http.get(service.url("/metrics")).send().await.unwrap().text().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (stdout, stderr) = service.output();

    // Assert: the good token was served, the expired one refused, and no secret leaked.
    assert!(bodies[0].contains("\"active\""), "{}", bodies[0]);
    assert!(bodies[1].contains("UNAUTHENTICATED"), "{}", bodies[1]);
    assert!(stdout.lines().count() > 3, "trace logging produced output");
    let signature = |token: &str| token.rsplit('.').next().unwrap().to_owned();
    for secret in [good.clone(), bad.clone(), signature(&good), signature(&bad), SERVER_KEY.to_owned()] {
        for (what, text) in
            [("stdout", &stdout), ("stderr", &stderr), ("metrics", &metrics), ("bodies", &bodies.concat())]
        {
            assert!(!text.contains(&secret), "a secret reached {what}");
        }
    }
}

/// A token limited to the "all-hands" room ([`ids::ROOM`]), and ids on both sides of it.
struct Scoped {
    token: String,
    other_room: String,
    inside_participant: String,
    outside_participant: String,
}

fn scoped(upstream: &SampleUpstream) -> Scoped {
    let mut claims = claims();
    claims["telnyx_room_ids"] = json!([ids::ROOM]);
    let session_of = |id: &str| upstream.data.sessions.iter().find(|s| s.id == id).unwrap().room_id.clone();
    let participant_in =
        |session: &str| upstream.data.participants.iter().find(|p| p.session_id == session).unwrap().id.clone();
    Scoped {
        token: format!("Bearer {}", mint(Algorithm::ES256, "ec", &claims)),
        other_room: session_of(ids::MEDIUM_SESSION),
        inside_participant: participant_in(ids::ACTIVE_SESSION),
        outside_participant: participant_in(ids::MEDIUM_SESSION),
    }
}

async fn as_scoped(app: &TestApp, scoped: &Scoped, query: &str, variables: Value) -> Value {
    app.post(query, variables, Some(&scoped.token)).await.json().await.unwrap()
}

#[tokio::test]
async fn a_room_scoped_token_sees_its_rooms_by_id_and_nothing_else_exists() {
    let idp = Idp::start(vec![jwk(Algorithm::ES256, "ec")]).await;
    let (upstream, app) = spawn_jwt(&idp).await;
    let s = scoped(&upstream);
    let query = "query($room: ID!, $other: ID!, $inside: ID!, $outside: ID!) {
        mine: room(id: $room) { id uniqueName }
        other: room(id: $other) { id uniqueName }
        inside: roomParticipant(id: $inside) { id }
        outside: roomParticipant(id: $outside) { id }
    }";
    let variables = json!({ "room": ids::ROOM, "other": s.other_room, "inside": s.inside_participant, "outside": s.outside_participant });

    let body = as_scoped(&app, &s, query, variables).await;

    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["mine"]["id"], ids::ROOM);
    assert_eq!(body["data"]["other"], Value::Null, "as if it did not exist");
    assert_eq!(body["data"]["inside"]["id"], s.inside_participant.as_str());
    assert_eq!(body["data"]["outside"], Value::Null, "as if it did not exist");
}

#[tokio::test]
async fn a_session_outside_the_rooms_is_not_found_and_costs_one_session_lookup() {
    let idp = Idp::start(vec![jwk(Algorithm::ES256, "ec")]).await;
    let (upstream, app) = spawn_jwt(&idp).await;
    let s = scoped(&upstream);
    let query = "query($id: ID!) { roomSession(id: $id) { id active participants(first: 1) { totalCount } } }";

    let inside = as_scoped(&app, &s, query, json!({ "id": ids::ACTIVE_SESSION })).await;
    let requests_inside = upstream.log.count();
    let outside = as_scoped(
        &app,
        &s,
        "query($id: ID!) { roomSession(id: $id) { id active } }",
        json!({ "id": ids::MEDIUM_SESSION }),
    )
    .await;
    let listed = as_scoped(&app, &s, query, json!({ "id": ids::MEDIUM_SESSION })).await;

    assert!(inside.get("errors").is_none(), "{inside}");
    assert_eq!(inside["data"]["roomSession"]["active"], true);
    assert_eq!(requests_inside, 2, "one session lookup, shared, and one participants page");
    assert_eq!(outside["data"]["roomSession"]["id"], ids::MEDIUM_SESSION);
    assert_eq!(outside["data"]["roomSession"]["active"], Value::Null);
    assert_eq!(error_codes(&outside), ["NOT_FOUND"]);
    assert_eq!(listed["data"]["roomSession"], Value::Null, "{listed}");
    assert!(error_codes(&listed).iter().all(|c| c == "NOT_FOUND"), "{listed}");
    assert_eq!(upstream.log.count(), requests_inside + 2, "no participants of another room were listed");
}

#[tokio::test]
async fn a_known_document_is_narrowed_to_the_rooms_as_the_first_time_it_ran() {
    let idp = Idp::start(vec![jwk(Algorithm::ES256, "ec")]).await;
    let (upstream, app) = spawn_jwt(&idp).await;
    let s = scoped(&upstream);
    // A document compiled plans answer once it is known: the room scope still applies.
    let query = "query($id: ID!) { roomSession(id: $id) { id participants(first: 1) { totalCount } } }";

    let inside = as_scoped(&app, &s, query, json!({ "id": ids::ACTIVE_SESSION })).await;
    let again = as_scoped(&app, &s, query, json!({ "id": ids::ACTIVE_SESSION })).await;
    let before = upstream.log.count();
    let outside = as_scoped(&app, &s, query, json!({ "id": ids::MEDIUM_SESSION })).await;

    assert!(inside.get("errors").is_none(), "{inside}");
    assert_eq!(again, inside);
    assert_eq!(outside["data"]["roomSession"], Value::Null, "{outside}");
    assert!(error_codes(&outside).iter().all(|c| c == "NOT_FOUND"), "{outside}");
    assert_eq!(upstream.log.count(), before + 1, "its session looked up, no participants of another room listed");
}

#[tokio::test]
async fn lists_are_narrowed_to_the_tokens_rooms() {
    let idp = Idp::start(vec![jwk(Algorithm::ES256, "ec")]).await;
    let (upstream, app) = spawn_jwt(&idp).await;
    let s = scoped(&upstream);

    let rooms = as_scoped(&app, &s, "{ rooms { totalCount nodes { id } pageInfo { hasNextPage } } }", json!({})).await;
    let named = as_scoped(&app, &s, "{ rooms(filter: { uniqueName: \"nope\" }) { totalCount } }", json!({})).await;
    let sessions = |filter: Value| {
        let app = &app;
        let s = &s;
        async move {
            let query = "query($f: RoomSessionFilter) { roomSessions(filter: $f) { totalCount } }";
            as_scoped(app, s, query, json!({ "f": filter })).await
        }
    };
    let participants = |filter: Value| {
        let app = &app;
        let s = &s;
        async move {
            let query = "query($f: RoomParticipantsFilter) { roomParticipants(filter: $f) { totalCount } }";
            as_scoped(app, s, query, json!({ "f": filter })).await
        }
    };
    let nested = as_scoped(
        &app,
        &s,
        "query($room: ID!) { room(id: $room) { sessions(first: 2) { nodes { id participants(first: 1) { totalCount } } } } }",
        json!({ "room": ids::ROOM }),
    )
    .await;

    assert_eq!(
        rooms["data"]["rooms"],
        json!({ "totalCount": 1, "nodes": [{ "id": ids::ROOM }], "pageInfo": { "hasNextPage": false } })
    );
    assert_eq!(named["data"]["rooms"]["totalCount"], 0, "the filter still applies");
    for (body, filter) in [
        (sessions(json!(null)).await, "filter.roomId"),
        (sessions(json!({ "roomId": s.other_room })).await, "filter.roomId"),
        (participants(json!(null)).await, "filter.sessionId"),
        (participants(json!({ "sessionId": ids::MEDIUM_SESSION })).await, "filter.sessionId"),
    ] {
        assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains(filter), "{body}");
    }
    assert_eq!(sessions(json!({ "roomId": ids::ROOM })).await["data"]["roomSessions"]["totalCount"], 4);
    assert_eq!(
        participants(json!({ "sessionId": ids::ACTIVE_SESSION })).await["data"]["roomParticipants"]["totalCount"],
        9
    );
    assert!(nested.get("errors").is_none(), "{nested}");
}

#[tokio::test]
async fn federation_references_obey_the_room_scope() {
    let idp = Idp::start(vec![jwk(Algorithm::ES256, "ec")]).await;
    let (upstream, app) = spawn_jwt(&idp).await;
    let s = scoped(&upstream);
    let query = "query($r: [_Any!]!) { _entities(representations: $r) {
        ... on Room { uniqueName } ... on RoomSession { active } ... on RoomParticipant { context } } }";
    // One representation per request: which index an entity error belongs to is issue 11's.
    let outside = [
        json!({ "__typename": "Room", "id": s.other_room }),
        json!({ "__typename": "RoomSession", "id": ids::MEDIUM_SESSION }),
        json!({ "__typename": "RoomParticipant", "id": s.outside_participant }),
    ];
    let inside = [
        (json!({ "__typename": "Room", "id": ids::ROOM }), json!({ "uniqueName": "all-hands" })),
        (json!({ "__typename": "RoomSession", "id": ids::ACTIVE_SESSION }), json!({ "active": true })),
        (json!({ "__typename": "RoomParticipant", "id": s.inside_participant }), json!({ "context": null })),
    ];

    for representation in outside {
        let body = as_scoped(&app, &s, query, json!({ "r": [representation] })).await;
        assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");
    }
    for (representation, expected) in inside {
        let body = as_scoped(&app, &s, query, json!({ "r": [representation] })).await;
        assert!(body.get("errors").is_none(), "{body}");
        let entity = &body["data"]["_entities"][0];
        let (key, value) = expected.as_object().unwrap().iter().next().unwrap();
        if value.is_null() {
            assert!(entity.get(key).is_some(), "{body}");
        } else {
            assert_eq!(&entity[key], value, "{body}");
        }
    }
}

#[tokio::test]
async fn a_room_claim_that_is_not_a_list_of_room_ids_is_refused() {
    let idp = Idp::start(vec![jwk(Algorithm::ES256, "ec")]).await;
    let (_upstream, app) = spawn_jwt(&idp).await;
    for rooms in [json!("3f2a9c1e-8b7d-4c6a-9e5f-2d1b0a9c8e7f"), json!(["not-a-uuid"]), json!([1])] {
        let mut claims = claims();
        claims["telnyx_room_ids"] = rooms;
        let (status, _, body) = ask(&app, Some(&format!("Bearer {}", mint(Algorithm::ES256, "ec", &claims)))).await;
        assert_eq!(status, 401, "{body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("room claim"), "{body}");
    }
}

#[tokio::test]
async fn with_the_identity_provider_down_known_keys_keep_working_and_it_is_not_hammered() {
    // Arrange: one provider that is down from the start, one that fails after serving once.
    let never = Idp::start(vec![jwk(Algorithm::ES256, "ec")]).await;
    never.down.store(true, Ordering::SeqCst);
    let (_u1, cold) = spawn_jwt(&never).await;
    let later = Idp::start(vec![jwk(Algorithm::ES256, "ec")]).await;
    let (_u2, warm) = spawn_jwt_refreshing(&later, 1).await;
    let token = format!("Bearer {}", mint(Algorithm::ES256, "ec", &claims()));
    assert_eq!(ask(&warm, Some(&token)).await.0, 200);
    later.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await; // the keys are now stale

    // Act
    let mut cold_statuses = Vec::new();
    for _ in 0..10 {
        cold_statuses.push(ask(&cold, Some(&token)).await);
    }
    let warm_status = ask(&warm, Some(&token)).await.0;

    // Assert: no keys ever is 503, the provider asked once (not ten times); stale keys whose
    // refresh failed keep serving.
    for (status, _, body) in &cold_statuses {
        assert_eq!(*status, 503, "{body}");
        assert_eq!(error_codes(body), ["SERVICE_UNAVAILABLE"]);
    }
    assert_eq!(never.fetches.load(Ordering::SeqCst), 1);
    assert_eq!(warm_status, 200);
    assert_eq!(later.fetches.load(Ordering::SeqCst), 2, "the refresh was tried");
}

#[tokio::test]
async fn without_a_token_nothing_else_is_looked_at_not_even_a_document_id() {
    let idp = Idp::start(vec![jwk(Algorithm::ES256, "ec")]).await;
    let (_upstream, app) = spawn_jwt(&idp).await;
    let response = app.http.post(app.url()).json(&json!({ "documentId": "unknown" })).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
}

#[tokio::test]
async fn mutations_need_video_write_and_nothing_is_sent_without_it() {
    let idp = Idp::start(vec![jwk(Algorithm::ES256, "ec")]).await;
    let (upstream, app) = spawn_jwt(&idp).await;
    let reader = format!("Bearer {}", mint(Algorithm::ES256, "ec", &claims()));
    let query = format!(
        "mutation {{ endRoomSession(input: {{ sessionId: \"{}\" }}) {{ clientMutationId }} }}",
        ids::ACTIVE_SESSION
    );
    let body: Value = app.post(&query, json!({}), Some(&reader)).await.json().await.unwrap();
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    assert_eq!(body["errors"][0]["message"], "missing scope `video:write`");
    assert_eq!(upstream.log.count(), 0);
}

#[tokio::test]
async fn a_room_scoped_token_acts_only_on_its_rooms_and_their_sessions() {
    let idp = Idp::start(vec![jwk(Algorithm::ES256, "ec")]).await;
    let (upstream, app) = spawn_jwt(&idp).await;
    let mut claims = claims();
    claims["scope"] = json!("video:read video:write");
    claims["telnyx_room_ids"] = json!([ids::ROOM]);
    let token = format!("Bearer {}", mint(Algorithm::ES256, "ec", &claims));
    let other_room = upstream.data.sessions.iter().find(|s| s.id == ids::MEDIUM_SESSION).unwrap().room_id.clone();
    let cases = [
        ("createRoom(input: {})".to_owned(), "FORBIDDEN"),
        (format!("updateRoom(input: {{ id: \"{other_room}\", maxParticipants: 5 }})"), "NOT_FOUND"),
        (format!("deleteRoom(input: {{ id: \"{other_room}\" }})"), "NOT_FOUND"),
        (format!("createRoomClientToken(input: {{ roomId: \"{other_room}\" }})"), "NOT_FOUND"),
        (format!("kickParticipants(input: {{ sessionId: \"{}\", all: true }})", ids::MEDIUM_SESSION), "NOT_FOUND"),
    ];
    for (field, code) in cases {
        upstream.log.clear();
        let body: Value = app
            .post(&format!("mutation {{ {field} {{ clientMutationId }} }}"), json!({}), Some(&token))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(error_codes(&body), [code], "{field}: {body}");
        // At most the lookup that tells a session's room; never the write.
        let sent = upstream.log.requests();
        assert!(sent.iter().all(|r| r.starts_with("/v2/room_sessions/")) && sent.len() <= 1, "{field}: {sent:?}");
    }
}

#[tokio::test]
async fn subscriptions_check_the_token_at_connection_init_and_end_when_it_expires() {
    use crate::live::{deliver, joined, live, Ws};
    let idp = Idp::start(vec![jwk(Algorithm::ES256, "ec")]).await;
    let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let url = idp.url.parse().unwrap();
    let app = spawn_app_with(&upstream.base_url(), Some(SAMPLE_API_KEY), |c| {
        c.auth_mode = AuthMode::Jwt;
        c.jwt_jwks_url = Some(url);
        c.jwt_issuer = Some(ISSUER.into());
        c.jwt_audience = Some(AUDIENCE.into());
        live(c);
    })
    .await;
    let bearer =
        |claims: &Value| json!({ "Authorization": format!("Bearer {}", mint(Algorithm::ES256, "ec", claims)) });
    let refused = |payload: Value| {
        let app = &app;
        async move {
            let mut ws = Ws::connect(app).await;
            ws.send(json!({ "type": "connection_init", "payload": payload })).await;
            ws.next().await
        }
    };

    // No token, an expired one, one without video:read: closed 4403, saying why.
    let closed = refused(json!({})).await;
    assert_eq!(closed["close"], 4403, "{closed}");
    assert!(closed["reason"].as_str().unwrap().contains("no bearer token"), "{closed}");
    let mut expired = claims();
    expired["exp"] = json!(now() - 3600);
    assert!(refused(bearer(&expired)).await["reason"].as_str().unwrap().contains("expired"));
    let mut writer = claims();
    writer["scope"] = json!("video:write");
    assert!(refused(bearer(&writer)).await["reason"].as_str().unwrap().contains("video:read"));

    // A room-scoped token hears its room, and another room does not exist for it.
    let mut scoped = claims();
    scoped["telnyx_room_ids"] = json!([ids::ROOM]);
    let other_room = upstream.data.sessions.iter().find(|s| s.id == ids::MEDIUM_SESSION).unwrap().room_id.clone();
    let mut ws = Ws::init(&app, bearer(&scoped)).await;
    ws.subscribe("other", &format!("subscription {{ roomEvents(roomId: \"{other_room}\") {{ id }} }}")).await;
    let failed = ws.next().await;
    assert_eq!(failed["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND", "{failed}");
    assert_eq!(ws.next().await, json!({ "type": "complete", "id": "other" }));
    ws.subscribe("mine", &format!("subscription {{ roomEvents(roomId: \"{}\") {{ id }} }}", ids::ROOM)).await;
    Ws::settle().await;
    assert_eq!(deliver(&app, &joined("ev-scoped", ids::ROOM)).await, 200);
    assert_eq!(ws.next().await["payload"]["data"]["roomEvents"]["id"], "ev-scoped");

    // A token that expires in two seconds: the connection closes then.
    let mut brief = claims();
    brief["exp"] = json!(now() + 2);
    let mut ws = Ws::init(&app, bearer(&brief)).await;
    let started = std::time::Instant::now();
    let closed = ws.next().await;
    assert_eq!(closed["close"], 4403, "{closed}");
    assert!(closed["reason"].as_str().unwrap().contains("expired"), "{closed}");
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
}
