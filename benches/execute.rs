//! CPU per query on the in-process path, without network: one GraphQL execution of the
//! benchmark's scenario (a) — 20 participants, all fields — against an in-memory upstream
//! response. Tracks the facade's own cost between commits: `cargo bench --bench execute`.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::Request;
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use telnyx_rooms_graphql::sample_upstream::{ids, SampleData};
use telnyx_rooms_graphql::schema::{self, RequestLimits, RequestPolicy, SchemaOptions, Upstream};
use telnyx_rooms_graphql::telnyx::{
    Call, Client, ClientConfig, Credential, Outgoing, RawResponse, Transport, UpstreamError,
};

/// The same allocator as the binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Answers every GET with the same body, as the sample upstream would for scenario (a).
struct Canned(Vec<u8>);

#[async_trait::async_trait]
impl Transport for Canned {
    async fn send(&self, _request: Outgoing<'_>, _call: &Call) -> Result<RawResponse, UpstreamError> {
        Ok(RawResponse { status: 200, retry_after: None, body: Ok(self.0.clone()) })
    }
}

const QUERY: &str = r#"query Participants($id: ID!) {
  roomSession(id: $id) {
    participants(first: 20) {
      edges { cursor node { id sessionId context joinedAt updatedAt leftAt } }
      pageInfo { hasPreviousPage hasNextPage startCursor endCursor }
      totalCount
    }
  }
}"#;

fn scenario_a(c: &mut Criterion) {
    let data = SampleData::seeded();
    let participants: Vec<_> = data.participants.iter().filter(|p| p.session_id == ids::MEDIUM_SESSION).collect();
    let body = json!({
        "data": &participants[..20],
        "meta": { "page_number": 1, "page_size": 20, "total_pages": 3, "total_results": participants.len() },
    });
    let config = ClientConfig {
        base_url: "http://upstream.invalid/v2".parse().unwrap(),
        connect_timeout: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        max_body_bytes: 1 << 20,
        max_attempts: 1,
        retry_base: Duration::from_millis(10),
        max_in_flight: 64,
    };
    let client = Client::with_transport(&config, Arc::new(Canned(serde_json::to_vec(&body).unwrap())));
    let credential = Credential::from_api_key(&"KEYbench".into()).unwrap();
    let schema = schema::build(SchemaOptions::default());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    c.bench_function("execute scenario (a): 20 participants, all fields", |b| {
        b.to_async(&runtime).iter(|| async {
            let limits = RequestLimits {
                deadline: tokio::time::Instant::now() + Duration::from_secs(5),
                max_upstream_requests: 100,
                traceparent: None,
            };
            let upstream =
                Arc::new(Upstream::new(client.clone(), Ok(credential.clone()), Ok(credential.clone()), limits));
            let request = Request::new(QUERY)
                .variables(async_graphql::Variables::from_json(json!({ "id": ids::MEDIUM_SESSION })));
            let policy = RequestPolicy { mutations: true, federation_sdl: true, streams: false };
            let response = schema.execute(request.data(upstream), policy).await;
            assert!(response.errors.is_empty());
            response
        })
    });
}

criterion_group!(benches, scenario_a);
criterion_main!(benches);
