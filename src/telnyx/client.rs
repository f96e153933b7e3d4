//! The HTTP client for Telnyx: one pooled `reqwest::Client` for the whole process.

use std::sync::Arc;
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{ACCEPT, AUTHORIZATION, RETRY_AFTER};
use serde::de::DeserializeOwned;

use super::error::{parse_error_body, parse_retry_after};
use super::{wire, Credential, ItemEndpoint, ListEndpoint, UpstreamError};
use crate::pagination::Page;

/// Everything but RFC 3986's unreserved characters is escaped, so values such as
/// `a&b=c + d%` arrive intact whatever the upstream's query parser does with `+`.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// How to reach Telnyx.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// API base URL, e.g. `https://api.telnyx.com/v2`.
    pub base_url: url::Url,
    /// Bound on establishing a connection.
    pub connect_timeout: Duration,
    /// Bound on a whole request, body included.
    pub timeout: Duration,
    /// Bodies longer than this are refused while reading, so a runaway upstream can't exhaust memory.
    pub max_body_bytes: usize,
}

/// One page of a list, as returned upstream.
#[derive(Debug, Clone)]
pub struct ListPage<T> {
    /// The page's items, shared so that windows and per-item caches take them without copying.
    pub items: Vec<Arc<T>>,
    /// `meta.total_results`, if the upstream sent it.
    pub total: Option<u64>,
}

/// A Telnyx API client; cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    max_body_bytes: usize,
}

impl Client {
    /// Builds the client; fails only if the TLS backend cannot initialise.
    pub fn new(config: &ClientConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .user_agent(concat!("telnyx-rooms-graphql/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            base_url: config.base_url.as_str().trim_end_matches('/').to_owned(),
            max_body_bytes: config.max_body_bytes,
        })
    }

    /// Fetches one page of `endpoint`.
    pub async fn list<E: ListEndpoint>(
        &self,
        credential: &Credential,
        endpoint: &E,
        page: Page,
    ) -> Result<ListPage<E::Item>, UpstreamError> {
        let mut query = query_string(&endpoint.filter_params());
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&format!("page[size]={}&page[number]={}", page.size, page.number));
        let url = format!("{}{}?{query}", self.base_url, endpoint.path());
        let body: wire::ListBody<E::Item> = self.get_json(credential, E::ROUTE, url).await?;
        let items = body.data.unwrap_or_default().into_iter().map(Arc::new).collect();
        Ok(ListPage { items, total: body.meta.and_then(|m| m.total_results) })
    }

    /// Fetches one item; `None` when Telnyx answers 404 (or sends no `data`).
    pub async fn item<E: ItemEndpoint>(
        &self,
        credential: &Credential,
        endpoint: &E,
    ) -> Result<Option<E::Item>, UpstreamError> {
        let url = format!("{}{}", self.base_url, endpoint.path());
        match self.get_json::<wire::ItemBody<E::Item>>(credential, E::ROUTE, url).await {
            Ok(body) => Ok(body.data),
            Err(UpstreamError::Status { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        credential: &Credential,
        route: &'static str,
        url: String,
    ) -> Result<T, UpstreamError> {
        let mut response = self
            .http
            .get(url)
            .header(AUTHORIZATION, credential.header_value().clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
        let body = read_capped(&mut response, self.max_body_bytes).await;
        if !status.is_success() {
            tracing::debug!(route, status = status.as_u16(), "upstream answered with an error status");
            let errors = body.map(|b| parse_error_body(&b)).unwrap_or_default();
            return Err(UpstreamError::Status { status: status.as_u16(), retry_after, errors });
        }
        let body = body?;
        serde_json::from_slice(&body).map_err(|error| {
            tracing::debug!(route, %error, "upstream body did not parse");
            UpstreamError::InvalidBody
        })
    }
}

/// Reads the body chunk by chunk, giving up as soon as it exceeds `max` bytes.
async fn read_capped(response: &mut reqwest::Response, max: usize) -> Result<Vec<u8>, UpstreamError> {
    if response.content_length().is_some_and(|len| len > max as u64) {
        return Err(UpstreamError::InvalidBody);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > max {
            return Err(UpstreamError::InvalidBody);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn transport_error(error: reqwest::Error) -> UpstreamError {
    if error.is_timeout() {
        UpstreamError::Timeout
    } else if error.is_decode() || error.is_body() {
        UpstreamError::InvalidBody
    } else {
        UpstreamError::Unreachable
    }
}

/// `key=value&…` with values percent-encoded; keys are our own `filter[...]` names, which
/// Telnyx documents with literal brackets.
fn query_string(params: &[(String, String)]) -> String {
    let pairs: Vec<String> =
        params.iter().map(|(key, value)| format!("{key}={}", utf8_percent_encode(value, QUERY_VALUE))).collect();
    pairs.join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_percent_encoded_so_they_arrive_intact() {
        let params = [("filter[context]".to_owned(), "a&b=c + d% Zoë".to_owned())];
        assert_eq!(query_string(&params), "filter[context]=a%26b%3Dc%20%2B%20d%25%20Zo%C3%AB");
    }
}
