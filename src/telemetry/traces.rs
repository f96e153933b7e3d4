//! OpenTelemetry traces, exported over OTLP (HTTP/protobuf) and configured only by the
//! standard `OTEL_*` variables. Without an endpoint nothing is built: no layer, no exporter,
//! no span, and upstream requests carry the `traceparent` they always did.
//!
//! Export runs on the SDK's batch thread behind a bounded queue, so a collector that is down,
//! slow or refusing costs at most the queue's memory: spans that do not fit are dropped. Both
//! kinds of loss, a full queue and a failed export, are counted in `otel_spans_dropped_total`.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_http::{Bytes, HttpClient, HttpError};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, Span, SpanData, SpanProcessor,
};
use opentelemetry_sdk::Resource;
use secrecy::{ExposeSecret, SecretString};

/// Spans per export request at most.
const MAX_BATCH: usize = 512;
/// Bound on one export request, the collector's answer included.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The standard OpenTelemetry variables this service reads (and their flags).
#[derive(Debug, Clone, clap::Args)]
pub struct TraceConfig {
    /// OTLP/HTTP collector base URL, e.g. `http://collector:4318` (`/v1/traces` is appended).
    /// Traces are off, at no cost, unless this or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    pub otel_exporter_otlp_endpoint: Option<url::Url>,

    /// OTLP/HTTP URL for traces, used as given; wins over OTEL_EXPORTER_OTLP_ENDPOINT.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", value_name = "URL")]
    pub otel_exporter_otlp_traces_endpoint: Option<url::Url>,

    /// OTLP transport; only `http/protobuf` is built in (gRPC would add tonic to the binary).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_PROTOCOL", default_value = "http/protobuf", value_parser = ["http/protobuf"])]
    pub otel_exporter_otlp_protocol: String,

    /// Headers sent with each export, e.g. `authorization=Bearer%20abc,x-team=rooms`
    /// (values percent-decoded); never logged.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_HEADERS", hide_env_values = true, value_parser = Headers::parse)]
    pub otel_exporter_otlp_headers: Option<Headers>,

    /// `service.name` of every span.
    #[arg(long, env = "OTEL_SERVICE_NAME", default_value = env!("CARGO_PKG_NAME"))]
    pub otel_service_name: String,

    /// More resource attributes, e.g. `deployment.environment.name=prod,service.namespace=video`.
    #[arg(long, env = "OTEL_RESOURCE_ATTRIBUTES", value_parser = parse_attributes)]
    pub otel_resource_attributes: Option<Attributes>,

    /// Which traces are recorded: `parentbased_always_on` follows the caller's sampling
    /// decision and records every trace it starts; `parentbased_traceidratio` records
    /// OTEL_TRACES_SAMPLER_ARG of those; also `always_on`, `always_off`, `traceidratio`,
    /// `parentbased_always_off`.
    #[arg(long, env = "OTEL_TRACES_SAMPLER", value_enum, default_value_t = SamplerName::ParentbasedAlwaysOn)]
    pub otel_traces_sampler: SamplerName,

    /// The ratio of the `*traceidratio` samplers, 0 to 1.
    #[arg(long, env = "OTEL_TRACES_SAMPLER_ARG", default_value_t = 1.0)]
    pub otel_traces_sampler_arg: f64,

    /// Add `extensions.traceId` to every GraphQL error of a traced request, so a user's report
    /// of an error leads to its trace. Off by default: it tells callers the trace ids.
    #[arg(long, env = "ERRORS_INCLUDE_TRACE_ID", default_value_t = false, action = clap::ArgAction::Set)]
    pub errors_include_trace_id: bool,

    /// Spans held for export at most, those being sent included; more are dropped and counted.
    #[arg(long, env = "OTEL_BSP_MAX_QUEUE_SIZE", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(1..))]
    pub otel_bsp_max_queue_size: u32,
}

/// `OTEL_TRACES_SAMPLER`'s values, as the specification names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SamplerName {
    /// Every trace.
    #[value(name = "always_on")]
    AlwaysOn,
    /// No trace.
    #[value(name = "always_off")]
    AlwaysOff,
    /// A ratio of traces, by trace id.
    #[value(name = "traceidratio")]
    TraceIdRatio,
    /// The caller's decision; every trace without a caller.
    #[value(name = "parentbased_always_on")]
    ParentbasedAlwaysOn,
    /// The caller's decision; no trace without a caller.
    #[value(name = "parentbased_always_off")]
    ParentbasedAlwaysOff,
    /// The caller's decision; a ratio of traces without a caller.
    #[value(name = "parentbased_traceidratio")]
    ParentbasedTraceIdRatio,
}

/// `key=value` pairs, comma-separated, values percent-decoded (the W3C baggage format the
/// OpenTelemetry variables use).
fn key_values(value: &str) -> Result<Vec<(String, String)>, String> {
    value
        .split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').ok_or_else(|| format!("`{}` is not key=value", pair.trim()))?;
            let value = percent_encoding::percent_decode_str(value.trim()).decode_utf8_lossy().into_owned();
            Ok((key.trim().to_owned(), value))
        })
        .collect()
}

/// Resource attributes.
#[derive(Debug, Clone)]
pub struct Attributes(Vec<(String, String)>);

fn parse_attributes(value: &str) -> Result<Attributes, String> {
    key_values(value).map(Attributes)
}

/// Export headers: their values may be credentials, so only their names are ever shown.
#[derive(Clone)]
pub struct Headers(Vec<(String, SecretString)>);

impl Headers {
    fn parse(value: &str) -> Result<Self, String> {
        Ok(Self(key_values(value)?.into_iter().map(|(name, value)| (name, value.into())).collect()))
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(name, _)| name)).finish()
    }
}

impl TraceConfig {
    /// Where spans go, if anywhere: the traces endpoint as given, else the base endpoint
    /// with `/v1/traces`.
    pub fn endpoint(&self) -> Option<String> {
        if let Some(url) = &self.otel_exporter_otlp_traces_endpoint {
            return Some(url.to_string());
        }
        let base = self.otel_exporter_otlp_endpoint.as_ref()?;
        Some(format!("{}/v1/traces", base.as_str().trim_end_matches('/')))
    }

    fn sampler(&self) -> Sampler {
        let ratio = self.otel_traces_sampler_arg.clamp(0.0, 1.0);
        let parent_based = |root| Sampler::ParentBased(Box::new(root));
        match self.otel_traces_sampler {
            SamplerName::AlwaysOn => Sampler::AlwaysOn,
            SamplerName::AlwaysOff => Sampler::AlwaysOff,
            SamplerName::TraceIdRatio => Sampler::TraceIdRatioBased(ratio),
            SamplerName::ParentbasedAlwaysOn => parent_based(Sampler::AlwaysOn),
            SamplerName::ParentbasedAlwaysOff => parent_based(Sampler::AlwaysOff),
            SamplerName::ParentbasedTraceIdRatio => parent_based(Sampler::TraceIdRatioBased(ratio)),
        }
    }
}

static ON: AtomicBool = AtomicBool::new(false);
static IN_ERRORS: AtomicBool = AtomicBool::new(false);

/// Whether traces are exported: spans are created only then.
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Whether GraphQL errors carry their trace's id (`ERRORS_INCLUDE_TRACE_ID`, traces on).
pub fn in_errors() -> bool {
    IN_ERRORS.load(Ordering::Relaxed)
}

/// Builds the tracer provider for `config`, or `None` when no endpoint is set. Needs a Tokio
/// runtime: exports are sent from it.
pub(super) fn provider(config: &TraceConfig) -> Result<Option<SdkTracerProvider>, String> {
    let Some(endpoint) = config.endpoint() else { return Ok(None) };
    let headers: HashMap<String, String> = config
        .otel_exporter_otlp_headers
        .iter()
        .flat_map(|headers| &headers.0)
        .map(|(name, value)| (name.clone(), value.expose_secret().to_owned()))
        .collect();
    let http = reqwest::Client::builder()
        .timeout(EXPORT_TIMEOUT)
        .user_agent(concat!("telnyx-rooms-graphql/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| format!("OpenTelemetry exporter: {error}"))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(Exporting { http, runtime: tokio::runtime::Handle::current() })
        .with_endpoint(endpoint)
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_timeout(EXPORT_TIMEOUT)
        .with_headers(headers)
        .build()
        .map_err(|error| format!("OpenTelemetry exporter: {error}"))?;
    let queue = config.otel_bsp_max_queue_size as usize;
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(queue)
        .with_max_export_batch_size(MAX_BATCH.min(queue))
        .with_scheduled_delay(Duration::from_secs(1))
        .build();
    let held = Arc::new(AtomicUsize::new(0));
    let exporter = Counted { exporter, held: held.clone() };
    let batches = BatchSpanProcessor::builder(exporter).with_batch_config(batch).build();
    let processor = Bounded { batches, held, queue };
    let attributes = config.otel_resource_attributes.iter().flat_map(|a| &a.0);
    let resource = Resource::builder_empty()
        .with_attributes(attributes.map(|(key, value)| KeyValue::new(key.clone(), value.clone())))
        .with_service_name(config.otel_service_name.clone())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(config.sampler())
        .with_resource(resource)
        .build();
    ON.store(true, Ordering::Relaxed);
    IN_ERRORS.store(config.errors_include_trace_id, Ordering::Relaxed);
    Ok(Some(provider))
}

/// The exporter's HTTP client: the service's own reqwest, on the service's runtime (the
/// SDK's batch thread has none), so no second HTTP stack is linked in.
#[derive(Debug)]
struct Exporting {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for Exporting {
    async fn send_bytes(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let request = self.http.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body);
        let exchange = self.runtime.spawn(async move {
            let response = request.send().await?;
            let (status, headers) = (response.status(), response.headers().clone());
            Ok::<_, reqwest::Error>((status, headers, response.bytes().await?))
        });
        let (status, headers, body) = exchange.await??;
        let mut response = http::Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

/// The SDK's batch processor behind a bound of its own: the SDK drops the spans its full queue
/// refuses without saying how many, so this counts the spans held (queued or being sent) and
/// drops, and counts, those over the bound before the SDK sees them. The SDK's queue is as
/// long as the bound, so it never drops one itself.
#[derive(Debug)]
struct Bounded {
    batches: BatchSpanProcessor,
    held: Arc<AtomicUsize>,
    queue: usize,
}

impl SpanProcessor for Bounded {
    fn on_start(&self, span: &mut Span, cx: &opentelemetry::Context) {
        self.batches.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if self.held.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.held.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!("otel_spans_dropped_total", "reason" => "queue_full").increment(1);
            return;
        }
        self.batches.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.batches.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.batches.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.batches.set_resource(resource);
    }
}

/// The OTLP exporter, counting the spans of every batch whose export failed, and releasing
/// each batch's place in the bound once its export is over.
#[derive(Debug)]
struct Counted {
    exporter: opentelemetry_otlp::SpanExporter,
    held: Arc<AtomicUsize>,
}

impl opentelemetry_sdk::trace::SpanExporter for Counted {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        // Released when the export ends, however it ends (the future could also be dropped).
        let _released = Release(&self.held, spans);
        let result = self.exporter.export(batch).await;
        if result.is_err() {
            metrics::counter!("otel_spans_dropped_total", "reason" => "export_failed").increment(spans as u64);
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.exporter.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.exporter.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.exporter.set_resource(resource);
    }
}

/// Gives back a batch's place in the bound when dropped.
struct Release<'a>(&'a AtomicUsize, usize);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(self.1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Only {
        #[command(flatten)]
        traces: TraceConfig,
    }

    fn parse(args: &[&str]) -> TraceConfig {
        Only::try_parse_from([&["x"], args].concat()).unwrap().traces
    }

    #[test]
    fn no_endpoint_means_no_traces() {
        assert_eq!(parse(&[]).endpoint(), None);
    }

    #[test]
    fn the_base_endpoint_gets_the_traces_path_and_the_traces_endpoint_is_used_as_given() {
        let base = parse(&["--otel-exporter-otlp-endpoint", "http://collector:4318/"]);
        assert_eq!(base.endpoint().as_deref(), Some("http://collector:4318/v1/traces"));
        let both = parse(&[
            "--otel-exporter-otlp-endpoint=http://collector:4318",
            "--otel-exporter-otlp-traces-endpoint=http://other:4318/custom",
        ]);
        assert_eq!(both.endpoint().as_deref(), Some("http://other:4318/custom"));
    }

    #[test]
    fn header_values_are_decoded_and_never_printed() {
        let config = parse(&["--otel-exporter-otlp-headers", "authorization=Bearer%20sekrit, x-team=rooms"]);
        let headers = config.otel_exporter_otlp_headers.clone().unwrap();
        assert_eq!(headers.0[0].0, "authorization");
        assert_eq!(headers.0[0].1.expose_secret(), "Bearer sekrit");
        assert_eq!(headers.0[1].0, "x-team");
        assert!(!format!("{config:?}").contains("sekrit"));
    }

    #[test]
    fn the_default_sampler_follows_the_caller() {
        let config = parse(&[]);
        assert_eq!(config.otel_traces_sampler, SamplerName::ParentbasedAlwaysOn);
        assert!(matches!(config.sampler(), Sampler::ParentBased(_)));
        assert!(Only::try_parse_from(["x", "--otel-exporter-otlp-protocol", "grpc"]).is_err());
    }
}
