//! Builds the application from its configuration and serves it on a given listener.

use std::future::Future;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::http::{self, AppState, GraphiQl};
use crate::schema::{self, Limits};
use crate::telnyx::{Client, ClientConfig};

/// Builds the router for `config`.
pub fn build(config: &Config) -> Result<axum::Router, reqwest::Error> {
    let client = Client::new(&ClientConfig {
        base_url: config.telnyx_api_base_url.clone(),
        connect_timeout: config.upstream_connect_timeout(),
        timeout: config.upstream_timeout(),
        max_body_bytes: config.upstream_max_body_bytes,
    })?;
    let graphiql = if config.graphiql { GraphiQl::from_dir(&config.graphiql_assets_dir) } else { GraphiQl::Disabled };
    let schema = schema::build(Limits { max_first_last: config.max_first_last });
    Ok(http::router(AppState { schema, client, api_key: config.telnyx_api_key.clone(), graphiql }))
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}
