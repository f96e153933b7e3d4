//! HTTP routes: `/graphql` (POST, GET and GraphiQL) and `/health`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse};
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use secrecy::SecretString;
use tower_http::services::ServeDir;

use crate::schema::{AppSchema, Upstream};
use crate::telnyx::{Client, Credential};

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The executable schema.
    pub schema: AppSchema,
    /// The pooled upstream client.
    pub client: Client,
    /// The configured fallback key, used when a request carries no `Authorization` header.
    pub api_key: Option<SecretString>,
    /// What browsers get on `GET /graphql`.
    pub graphiql: GraphiQl,
}

/// How GraphiQL is served.
#[derive(Clone)]
pub enum GraphiQl {
    /// Not at all (e.g. in production).
    Disabled,
    /// Our page, with assets installed from npm and served by this service (works offline).
    Local {
        /// The page.
        page: Arc<str>,
        /// `node_modules` of the assets package, served under `/graphiql/assets/`.
        assets: PathBuf,
    },
    /// async-graphql's page, which loads its assets from a CDN.
    Cdn,
}

impl GraphiQl {
    /// Local assets if `dir` has the page and installed packages, else the CDN page.
    pub fn from_dir(dir: &Path) -> Self {
        let assets = dir.join("node_modules");
        match std::fs::read_to_string(dir.join("index.html")) {
            Ok(page) if assets.is_dir() => Self::Local { page: page.into(), assets },
            _ => {
                tracing::info!(dir = %dir.display(), "GraphiQL assets not installed; the GraphiQL page will load them from a CDN");
                Self::Cdn
            }
        }
    }
}

/// The service's routes.
pub fn router(state: AppState) -> Router {
    let router =
        Router::new().route("/graphql", get(graphql_get).post(graphql)).route("/health", get(|| async { "ok" }));
    let router = match &state.graphiql {
        GraphiQl::Local { assets, .. } => router.nest_service("/graphiql/assets", ServeDir::new(assets)),
        _ => router,
    };
    router.with_state(state)
}

async fn graphql(State(state): State<AppState>, headers: HeaderMap, request: GraphQLBatchRequest) -> GraphQLResponse {
    let upstream = Arc::new(Upstream::new(state.client.clone(), credential(&headers, state.api_key.as_ref())));
    let request = request.into_inner().data(upstream);
    state.schema.execute_batch(request).await.into()
}

/// `GET /graphql`: GraphiQL for a browser navigating here, else a query in the URL.
async fn graphql_get(State(state): State<AppState>, request: Request) -> Response {
    let headers = request.headers().clone();
    let has_query = request.uri().query().is_some_and(|q| q.split('&').any(|p| p.starts_with("query=")));
    if !has_query && accepts_html(&headers) {
        match &state.graphiql {
            GraphiQl::Local { page, .. } => return Html(page.to_string()).into_response(),
            GraphiQl::Cdn => {
                let page = GraphiQLSource::build().endpoint("/graphql").title("telnyx-rooms-graphql").finish();
                return Html(page).into_response();
            }
            GraphiQl::Disabled => {}
        }
    }
    match GraphQLBatchRequest::from_request(request, &state).await {
        Ok(batch) => graphql(State(state), headers, batch).await.into_response(),
        Err(rejection) => rejection.into_response(),
    }
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
}

/// The client's own `Authorization` header, else the configured key.
fn credential(headers: &HeaderMap, api_key: Option<&SecretString>) -> Option<Credential> {
    match headers.get(header::AUTHORIZATION) {
        Some(value) => Some(Credential::from_header(value)),
        None => api_key.and_then(Credential::from_api_key),
    }
}
