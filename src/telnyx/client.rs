//! The HTTP client for Telnyx: one pooled `reqwest::Client` for the whole process.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::HeaderValue;
use tokio::sync::Semaphore;
use tokio::time::{timeout_at, Instant};
use tracing::Instrument;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::de::DeserializeOwned;

use super::error::{parse_error_body, parse_retry_after};
use super::transport::{HttpTransport, Outgoing, Transport};
use super::{wire, Action, Credential, ItemEndpoint, ListEndpoint, UpstreamError};
use crate::pagination::Page;
use crate::telemetry::spans;

/// Everything but RFC 3986's unreserved characters is escaped, so values such as
/// `a&b=c + d%` arrive intact whatever the upstream's query parser does with `+`.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// How to reach Telnyx, and how hard to try.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// API base URL, e.g. `https://api.telnyx.com/v2`.
    pub base_url: url::Url,
    /// Bound on establishing a connection.
    pub connect_timeout: Duration,
    /// Bound on one attempt, body included.
    pub timeout: Duration,
    /// Bodies longer than this are refused while reading, so a runaway upstream can't exhaust memory.
    pub max_body_bytes: usize,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// First retry delay before jitter; it doubles with each retry.
    pub retry_base: Duration,
    /// Upstream requests in flight at once across the process.
    pub max_in_flight: usize,
}

/// Who is calling and until when: one per GraphQL request.
#[derive(Debug, Clone)]
pub struct Call {
    /// The credential to send.
    pub credential: Credential,
    /// All upstream work for this call, retries and queueing included, ends by then.
    pub deadline: Instant,
    /// W3C `traceparent` to send, so upstream logs join the caller's trace.
    pub traceparent: Option<HeaderValue>,
}

/// One page of a list, as returned upstream.
#[derive(Debug, Clone)]
pub struct ListPage<T> {
    /// The page's items, shared so that windows and per-item caches take them without copying.
    pub items: Vec<Arc<T>>,
    /// `meta.total_results`, if the upstream sent it.
    pub total: Option<u64>,
}

/// A bound on the rate of requests to Telnyx per credential, kept outside this module (for
/// the whole deployment, or for this process): it answers how long a request with
/// `credential` must wait before it may be sent, if at all.
#[async_trait::async_trait]
pub trait Throttle: Send + Sync {
    /// `None` if a request may go now (and counts it), else the wait.
    async fn wait_time(&self, credential: &Credential) -> Option<Duration>;
}

/// A Telnyx API client; cheap to clone: one reference count (each request clones it).
#[derive(Clone)]
pub struct Client(Arc<Shared>);

/// What every clone of a [`Client`] shares.
#[derive(Clone)]
struct Shared {
    transport: Arc<dyn Transport>,
    throttle: Option<Arc<dyn Throttle>>,
    /// Parsed once: a request's URL is this with its path and query set, half the cost of
    /// parsing the joined string whole (host and all) for every request.
    base_url: url::Url,
    /// The base URL's path without a trailing `/`, which each endpoint's path extends.
    base_path: String,
    backoff: ExponentialBuilder,
    /// Bound on one attempt, body included ([`ClientConfig::timeout`]). Kept here rather than
    /// given to `reqwest`, so an attempt runs under one timer, this or the call's deadline,
    /// whichever comes first, not under both.
    attempt_timeout: Duration,
    /// Tokio's semaphore queues waiters in FIFO order, so a burst is served fairly.
    in_flight: Arc<Semaphore>,
    /// The API's host, for the upstream spans.
    host: String,
    /// Whether requests carry a `traceparent`.
    send_traceparent: bool,
}

impl Client {
    /// Builds the client over HTTP; fails only if the TLS backend cannot initialise.
    pub fn new(config: &ClientConfig) -> Result<Self, reqwest::Error> {
        let transport = HttpTransport::new(config.connect_timeout, config.max_body_bytes)?;
        Ok(Self::with_transport(config, Arc::new(transport)))
    }

    /// Builds the client over any transport (benchmarks use an in-memory one).
    pub fn with_transport(config: &ClientConfig, transport: Arc<dyn Transport>) -> Self {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(config.retry_base)
            .with_max_delay(Duration::from_secs(10))
            .with_max_times(config.max_attempts.saturating_sub(1) as usize);
        Self(Arc::new(Shared {
            transport,
            throttle: None,
            base_url: config.base_url.clone(),
            base_path: config.base_url.path().trim_end_matches('/').to_owned(),
            backoff,
            attempt_timeout: config.timeout,
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            host: config.base_url.host_str().unwrap_or_default().to_owned(),
            send_traceparent: true,
        }))
    }

    /// The same client, sending a W3C `traceparent` upstream or not (it does by default).
    pub fn sending_traceparent(mut self, send: bool) -> Self {
        Arc::make_mut(&mut self.0).send_traceparent = send;
        self
    }

    /// The same client, sending only as fast as `throttle` allows.
    pub fn with_throttle(mut self, throttle: Arc<dyn Throttle>) -> Self {
        Arc::make_mut(&mut self.0).throttle = Some(throttle);
        self
    }

    /// Waits until the throttle lets a request with the call's credential go, if that is
    /// before the deadline; otherwise fails at once (`Throttled`), sending nothing.
    async fn throttled(&self, call: &Call) -> Result<(), UpstreamError> {
        let Some(throttle) = &self.0.throttle else { return Ok(()) };
        while let Some(wait) = throttle.wait_time(&call.credential).await {
            if Instant::now() + wait >= call.deadline {
                return Err(UpstreamError::Throttled { retry_after: wait.as_secs_f64().ceil() as u64 });
            }
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Fetches one page of `endpoint`.
    pub async fn list<E: ListEndpoint>(
        &self,
        call: &Call,
        endpoint: &E,
        page: Page,
    ) -> Result<ListPage<E::Item>, UpstreamError> {
        let mut query = query_string(&endpoint.filter_params());
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&format!("page[size]={}&page[number]={}", page.size, page.number));
        let url = self.url(&endpoint.path(), Some(&query));
        let body: wire::ListBody<E::Item> = self.get_json(call, E::ROUTE, &url).await?;
        let items = body.data.unwrap_or_default().into_iter().map(Arc::new).collect();
        Ok(ListPage { items, total: body.meta.and_then(|m| m.total_results) })
    }

    /// Fetches one item; `None` when Telnyx answers 404 (or sends no `data`).
    pub async fn item<E: ItemEndpoint>(&self, call: &Call, endpoint: &E) -> Result<Option<E::Item>, UpstreamError> {
        let url = self.url(&endpoint.path(), None);
        match self.get_json::<wire::ItemBody<E::Item>>(call, E::ROUTE, &url).await {
            Ok(body) => Ok(body.data),
            Err(UpstreamError::Status { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Sends `action` (a write). It is sent again only when Telnyx certainly did not act on
    /// it ([`UpstreamError::safe_to_resend`]): a write is never applied twice by a retry. A
    /// 204 (or an empty body) is `None`.
    pub async fn act<T: DeserializeOwned>(&self, call: &Call, action: &Action) -> Result<Option<T>, UpstreamError> {
        let url = self.url(&action.path, None);
        let body = action.body.as_ref().map(|b| serde_json::to_vec(b).expect("JSON values serialise"));
        let outgoing = Outgoing { method: &action.method, url: &url, body: body.as_deref(), traceparent: None };
        let response: Option<wire::ItemBody<T>> =
            self.retrying(call, action.route, outgoing, UpstreamError::safe_to_resend).await?;
        Ok(response.and_then(|body| body.data))
    }

    /// `path` (and `query`) under the base URL.
    fn url(&self, path: &str, query: Option<&str>) -> url::Url {
        let mut url = self.0.base_url.clone();
        url.set_path(&[self.0.base_path.as_str(), path].concat());
        url.set_query(query);
        url
    }

    /// GETs `url`, retrying transient failures.
    async fn get_json<T: DeserializeOwned>(
        &self,
        call: &Call,
        route: &'static str,
        url: &url::Url,
    ) -> Result<T, UpstreamError> {
        let outgoing = Outgoing { method: &http::Method::GET, url, body: None, traceparent: None };
        self.retrying(call, route, outgoing, UpstreamError::is_transient).await?.ok_or(UpstreamError::InvalidBody)
    }

    /// Sends `outgoing`, retrying failures that `retry` accepts with exponential backoff and
    /// full jitter, or after `Retry-After`, for as long as the call's deadline allows. With
    /// traces on, each attempt is a client span; a failed attempt's span stays open until the
    /// retry is decided, so it carries the `retry` event.
    async fn retrying<T: DeserializeOwned>(
        &self,
        call: &Call,
        route: &'static str,
        outgoing: Outgoing<'_>,
        retry: fn(&UpstreamError) -> bool,
    ) -> Result<Option<T>, UpstreamError> {
        let attempts = std::sync::atomic::AtomicU32::new(0);
        let failed = std::sync::Mutex::new(tracing::Span::none());
        let result = (|| {
            let resends = attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let left = call.deadline.saturating_duration_since(Instant::now()).as_millis() as u64;
            let span = spans::client(outgoing.method.as_str(), route, &self.0.host, resends, left);
            spans::adopt(&span, call.traceparent.as_ref());
            *failed.lock().expect("never poisoned") = span.clone();
            self.attempt(call, route, outgoing, span)
        })
        .retry(self.0.backoff)
        .sleep(tokio::time::sleep)
        .when(retry)
        .adjust(|error, backoff| retry_delay(error, backoff, call.deadline))
        .notify(|error, delay| {
            metrics::counter!("upstream_retries_total", "endpoint" => route).increment(1);
            tracing::debug!(route, %error, ?delay, "retrying upstream request");
            let span = std::mem::replace(&mut *failed.lock().expect("never poisoned"), tracing::Span::none());
            spans::retry_event(&span, delay);
        })
        .await;
        drop(failed);
        result
    }

    /// One attempt in its client `span`: wait for an in-flight slot, send, read and parse,
    /// all within the deadline.
    async fn attempt<T: DeserializeOwned>(
        &self,
        call: &Call,
        route: &'static str,
        mut outgoing: Outgoing<'_>,
        span: tracing::Span,
    ) -> Result<Option<T>, UpstreamError> {
        let traceparent = match spans::traceparent(&span) {
            _ if !self.0.send_traceparent => None,
            Some(own) => Some(own),
            None => call.traceparent.clone(),
        };
        outgoing.traceparent = traceparent.as_ref();
        let result = self.attempt_in_span(call, route, outgoing).instrument(span.clone()).await;
        let (status, error) = match &result {
            Ok(_) => (Some(200), None),
            Err(UpstreamError::Status { status, .. }) => (Some(*status), Some(status.to_string())),
            Err(error) => (None, Some(status_label(error))),
        };
        spans::client_outcome(&span, status, error.as_deref());
        result
    }

    async fn attempt_in_span<T: DeserializeOwned>(
        &self,
        call: &Call,
        route: &'static str,
        outgoing: Outgoing<'_>,
    ) -> Result<Option<T>, UpstreamError> {
        self.throttled(call).await?;
        let _permit = timeout_at(call.deadline, self.0.in_flight.acquire())
            .await
            .map_err(|_| UpstreamError::Timeout)?
            .expect("the semaphore is never closed");
        let gauge = crate::telemetry::upstream_in_flight();
        gauge.increment(1.0);
        // One clock read serves the attempt's bound and its duration.
        let started = Instant::now();
        let ends = call.deadline.min(started + self.0.attempt_timeout);
        let result = timeout_at(ends, self.send(call, outgoing)).await.unwrap_or(Err(UpstreamError::Timeout));
        gauge.decrement(1.0);
        let status = match &result {
            Ok(_) => Cow::Borrowed("200"),
            Err(error) => Cow::Owned(status_label(error)),
        };
        crate::telemetry::record_upstream(route, &status, started.elapsed());
        if let Err(error) = &result {
            tracing::debug!(route, %error, "upstream request failed");
        }
        result
    }

    /// Sends once; a success with an empty body (a 204) is `None`.
    async fn send<T: DeserializeOwned>(&self, call: &Call, outgoing: Outgoing<'_>) -> Result<Option<T>, UpstreamError> {
        let response = self.0.transport.send(outgoing, call).await?;
        if !(200..300).contains(&response.status) {
            let retry_after = response.retry_after.as_deref().and_then(|v| parse_retry_after(v, chrono::Utc::now()));
            let errors = response.body.map(|b| parse_error_body(&b)).unwrap_or_default();
            return Err(UpstreamError::Status { status: response.status, retry_after, errors });
        }
        let body = response.body?;
        if body.is_empty() {
            return Ok(None);
        }
        // The body is checked as UTF-8 once, whole: read from bytes, serde_json checks each
        // string it meets on its own, a tenth of reading a page of participants.
        let text = std::str::from_utf8(&body).map_err(|_| UpstreamError::InvalidBody)?;
        serde_json::from_str(text).map(Some).map_err(|_| UpstreamError::InvalidBody)
    }
}

/// An attempt's outcome as a metrics label (and a span's `error.type`).
fn status_label(error: &UpstreamError) -> String {
    match error {
        UpstreamError::Status { status, .. } => status.to_string(),
        UpstreamError::Timeout => "timeout".to_owned(),
        UpstreamError::Unreachable => "unreachable".to_owned(),
        UpstreamError::Interrupted => "interrupted".to_owned(),
        UpstreamError::InvalidBody => "invalid_body".to_owned(),
        UpstreamError::Throttled { .. } => "throttled".to_owned(),
    }
}

/// The wait before the next attempt: `Retry-After` when given, else a random share of the
/// backoff ("full jitter", so clients retrying together spread out); `None` stops retrying
/// when attempts are used up or the wait would end past the deadline — failing fast then
/// beats sleeping into a timeout.
fn retry_delay(error: &UpstreamError, backoff: Option<Duration>, deadline: Instant) -> Option<Duration> {
    let backoff = backoff?;
    let wait = match error {
        UpstreamError::Status { retry_after: Some(seconds), .. } => Duration::from_secs(*seconds),
        _ => backoff.mul_f64(rand::random::<f64>()),
    };
    (Instant::now() + wait < deadline).then_some(wait)
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

    /// Each URL is the parsed base with its path extended and its query set, exactly what
    /// parsing the joined string gave (the bytes sent upstream are checked against Telnyx's
    /// OpenAPI elsewhere).
    #[test]
    fn urls_extend_the_base_path_with_or_without_its_trailing_slash() {
        let query = "filter[context]=a%26b&page[size]=20&page[number]=1";
        for base in ["https://api.telnyx.com/v2", "https://api.telnyx.com/v2/", "http://127.0.0.1:8080"] {
            let config = ClientConfig {
                base_url: base.parse().unwrap(),
                connect_timeout: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
                max_body_bytes: 1,
                max_attempts: 1,
                retry_base: Duration::from_millis(1),
                max_in_flight: 1,
            };
            let client = Client::new(&config).unwrap();
            let joined =
                format!("{}/rooms/7a1b2c3d-9e8f-4a0b-8c1d-2e3f4a5b6c7d/participants", base.trim_end_matches('/'));
            let url = client.url("/rooms/7a1b2c3d-9e8f-4a0b-8c1d-2e3f4a5b6c7d/participants", Some(query));
            assert_eq!(url.as_str(), format!("{joined}?{query}"));
            assert_eq!(url, url::Url::parse(&format!("{joined}?{query}")).unwrap());
            assert_eq!(client.url("/rooms", None).as_str(), format!("{}/rooms", base.trim_end_matches('/')));
        }
    }
}
