//! The HTTP exchange itself, behind a trait so benchmarks can replace the network.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};

use super::{Call, UpstreamError};

/// One request to send.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// `GET` for reads; `POST`, `PATCH` or `DELETE` for actions.
    pub method: &'a http::Method,
    /// The full URL.
    pub url: &'a url::Url,
    /// A JSON body, if any.
    pub body: Option<&'a [u8]>,
    /// The W3C `traceparent` to send, if any.
    pub traceparent: Option<&'a http::HeaderValue>,
}

/// What one request returned, before any interpretation.
#[derive(Debug)]
pub struct RawResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The `Retry-After` header, verbatim.
    pub retry_after: Option<String>,
    /// The body, or why it could not be read in full.
    pub body: Result<Vec<u8>, UpstreamError>,
}

/// Sends one request with the call's credential and trace context.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Performs the request; errors are transport failures (no response at all), telling a
    /// request that never left ([`UpstreamError::Unreachable`]) from one that may have been
    /// received ([`UpstreamError::Interrupted`], [`UpstreamError::Timeout`]).
    async fn send(&self, request: Outgoing<'_>, call: &Call) -> Result<RawResponse, UpstreamError>;
}

/// The real transport: one pooled `reqwest` client (rustls) for the process.
pub struct HttpTransport {
    http: reqwest::Client,
    max_body_bytes: usize,
}

impl HttpTransport {
    /// Builds the pooled client; fails only if the TLS backend cannot initialise.
    /// Each attempt's own bound is the caller's ([`super::Client`]), not `reqwest`'s.
    pub fn new(connect_timeout: Duration, max_body_bytes: usize) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .user_agent(concat!("telnyx-rooms-graphql/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, max_body_bytes })
    }
}

#[async_trait::async_trait]
impl Transport for HttpTransport {
    async fn send(&self, outgoing: Outgoing<'_>, call: &Call) -> Result<RawResponse, UpstreamError> {
        let mut request = self
            .http
            .request(outgoing.method.clone(), outgoing.url.clone())
            .header(AUTHORIZATION, call.credential.header_value().clone())
            .header(ACCEPT, "application/json");
        if let Some(body) = outgoing.body {
            request = request.header(CONTENT_TYPE, "application/json").body(body.to_vec());
        }
        if let Some(traceparent) = outgoing.traceparent {
            request = request.header(crate::telemetry::spans::TRACEPARENT, traceparent.clone());
        }
        let mut response = request.send().await.map_err(transport_error)?;
        let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(RawResponse {
            status: response.status().as_u16(),
            retry_after,
            body: read_capped(&mut response, self.max_body_bytes).await,
        })
    }
}

/// Reads the body chunk by chunk, giving up as soon as it exceeds `max` bytes.
async fn read_capped(response: &mut reqwest::Response, max: usize) -> Result<Vec<u8>, UpstreamError> {
    if response.content_length().is_some_and(|len| len > max as u64) {
        return Err(UpstreamError::InvalidBody);
    }
    let mut body = Vec::with_capacity(response.content_length().map_or(0, |len| len as usize));
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > max {
            return Err(UpstreamError::InvalidBody);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A connection that could not be made (even by a connect timeout) means nothing was sent;
/// any later failure may come after Telnyx received the request.
fn transport_error(error: reqwest::Error) -> UpstreamError {
    if error.is_connect() {
        UpstreamError::Unreachable
    } else if error.is_timeout() {
        UpstreamError::Timeout
    } else if error.is_decode() || error.is_body() {
        UpstreamError::InvalidBody
    } else {
        UpstreamError::Interrupted
    }
}
