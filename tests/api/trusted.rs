//! Trusted documents: manifests in both formats, the three ways to name a document, and both
//! modes.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use telnyx_rooms_graphql::auth::trusted_documents::Mode;

use crate::helpers::{error_codes, ids, spawn_sample_with, TestApp};

const DOCUMENT: &str = "query Count($id: ID!) { roomSession(id: $id) { participants { totalCount } } }";
const ANSWER: &str = r#"{"data":{"roomSession":{"participants":{"totalCount":53}}}}"#;

fn hash(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// The sample service with `manifest` written to a file and loaded in `mode`.
async fn spawn_with(manifest: Value, mode: Mode) -> (telnyx_rooms_graphql::sample_upstream::SampleUpstream, TestApp) {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("manifest-{}-{}.json", std::process::id(), rand_suffix()));
    std::fs::write(&path, manifest.to_string()).unwrap();
    spawn_sample_with(move |c| {
        c.trusted_documents = Some(path);
        c.trusted_documents_mode = mode;
    })
    .await
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn apollo_manifest() -> Value {
    json!({
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [{ "id": hash(DOCUMENT), "name": "Count", "type": "query", "body": DOCUMENT }],
    })
}

async fn post(app: &TestApp, body: Value) -> (u16, Value) {
    let response = app
        .http
        .post(app.url())
        .header("accept", "application/graphql-response+json")
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_trusted_document_runs_by_document_id_doc_id_or_apq_hash_without_its_text() {
    let variables = json!({ "id": ids::MEDIUM_SESSION });
    let answer: Value = serde_json::from_str(ANSWER).unwrap();
    for manifest in [apollo_manifest(), json!({ "relay-md5-id": DOCUMENT })] {
        let (_upstream, app) = spawn_with(manifest.clone(), Mode::Enforce).await;
        let relay = manifest.get("relay-md5-id").is_some();
        let id = if relay { "relay-md5-id".to_owned() } else { hash(DOCUMENT) };
        let mut bodies = vec![
            json!({ "documentId": format!("sha256:{}", hash(DOCUMENT)), "variables": variables }),
            json!({ "doc_id": id, "variables": variables }),
            json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash(DOCUMENT) } }, "variables": variables }),
        ];
        if !relay {
            bodies.push(json!({ "documentId": id, "variables": variables }));
        }
        for body in bodies {
            assert_eq!(post(&app, body.clone()).await, (200, answer.clone()), "{body}");
        }
        let get = app
            .http
            .get(app.url())
            .header("apollo-require-preflight", "1")
            .query(&[("doc_id", id.as_str()), ("variables", &variables.to_string())]);
        assert_eq!(get.send().await.unwrap().json::<Value>().await.unwrap(), answer);
    }
}

#[tokio::test]
async fn enforce_refuses_other_documents_and_apq_registration() {
    let (upstream, app) = spawn_with(apollo_manifest(), Mode::Enforce).await;
    let other = "{ rooms { totalCount } }";
    let cases = [
        json!({ "query": other }),
        json!({ "query": other, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash(other) } } }),
        json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash(other) } } }),
    ];
    for body in cases {
        let (status, answer) = post(&app, body.clone()).await;
        assert_eq!((status, error_codes(&answer)), (400, vec!["PERSISTED_QUERY_NOT_IN_LIST".to_owned()]), "{body}");
    }
    let (status, answer) = post(&app, json!({ "documentId": "nope" })).await;
    assert_eq!((status, error_codes(&answer)), (400, vec!["PERSISTED_QUERY_NOT_FOUND".to_owned()]));
    // The trusted document's own text is, of course, trusted.
    let (status, _) = post(&app, json!({ "query": DOCUMENT, "variables": { "id": ids::MEDIUM_SESSION } })).await;
    assert_eq!(status, 200);
    assert_eq!(upstream.log.count(), 1);
}

#[tokio::test]
async fn allow_runs_other_documents_and_counts_them() {
    let (_upstream, app) = spawn_with(apollo_manifest(), Mode::Allow).await;
    let (status, answer) = post(&app, json!({ "query": "{ untrusted: __typename }" })).await;
    assert_eq!((status, answer), (200, json!({ "data": { "untrusted": "Query" } })));
    let (status, _) = post(
        &app,
        json!({ "documentId": format!("sha256:{}", hash(DOCUMENT)), "variables": { "id": ids::MEDIUM_SESSION } }),
    )
    .await;
    assert_eq!(status, 200);
    let metrics = app.http.get(format!("http://{}/metrics", app.addr)).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("graphql_untrusted_documents_total{outcome=\"allowed\"}")),
        "{metrics}"
    );
}

#[tokio::test]
async fn without_a_manifest_a_document_id_is_a_bad_request() {
    let (_upstream, app) = crate::helpers::spawn_sample().await;
    let (status, answer) = post(&app, json!({ "documentId": "abc" })).await;
    assert_eq!((status, error_codes(&answer)), (400, vec!["BAD_REQUEST".to_owned()]));
}
