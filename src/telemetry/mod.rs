//! Logs, metrics and traces: set up once per process.
//!
//! # Layout
//! - this module: the `tracing` subscriber (logs, and traces when configured) and the
//!   Prometheus recorder;
//! - `traces`: the OpenTelemetry configuration (the standard `OTEL_*` variables) and export;
//! - `spans`: the spans recorded (HTTP server, GraphQL operation, upstream client, webhook
//!   verification and hand-off, Redis calls, live events) and the W3C trace context they
//!   continue.

mod counters;
pub mod ftv1;
pub mod spans;
pub mod traces;

use std::fmt;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::config::LogFormat;
pub use counters::{count_compiled_plan, count_operation, count_response, record_upstream, upstream_in_flight};
pub use traces::TraceConfig;

/// What must outlive serving: the tracer provider, flushed by [`Telemetry::shutdown`].
#[must_use = "spans are flushed only by Telemetry::shutdown"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still queued (within the exporter's timeout) and stops exporting.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(error) = provider.shutdown() {
                tracing::warn!(%error, "OpenTelemetry: spans were lost at shutdown");
            }
        }
    }
}

/// Installs the global `tracing` subscriber: logs (`RUST_LOG` filters, `info` by default)
/// and, when an OTLP endpoint is configured, traces of this service's own spans (whatever
/// `RUST_LOG` says). Needs a Tokio runtime when traces are on.
pub fn init(format: LogFormat, traces: &TraceConfig) -> Result<Telemetry, String> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(json_lines())
            .with_filter(filter)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_filter(filter).boxed(),
    };
    let provider = traces::provider(traces)?;
    let otel = provider.as_ref().map(|provider| {
        let own = tracing_subscriber::filter::filter_fn(|meta| {
            meta.is_span() && meta.target().starts_with(env!("CARGO_CRATE_NAME"))
        });
        tracing_opentelemetry::layer().with_tracer(provider.tracer(env!("CARGO_CRATE_NAME"))).with_filter(own)
    });
    tracing_subscriber::registry().with(logs).with(otel).init();
    Ok(Telemetry { provider })
}

/// The JSON log lines of `LOG_FORMAT=json`: tracing-subscriber's JSON formatter, events flat,
/// with the request's `trace_id` and `span_id` when it is traced; the [`REQUEST_LINE`] written
/// the same way without it.
pub(crate) fn json_lines(
) -> impl FormatEvent<tracing_subscriber::Registry, tracing_subscriber::fmt::format::JsonFields> + Send + Sync + 'static
{
    WithTraceIds(
        tracing_subscriber::fmt::format().json().flatten_event(true).with_current_span(false).with_span_list(false),
    )
}

/// The name of the event each HTTP request logs (`http::trace`), which [`json_lines`] writes
/// itself: tracing-subscriber's JSON formatter spent 20k instructions on it (it serialises
/// each field through serde into an adaptor that checks every piece is UTF-8), an eighth of
/// a small query's; written here, 10.5k. The line is the same, which a test holds it to.
pub const REQUEST_LINE: &str = "request line";

/// JSON log lines with the request's `trace_id` and `span_id` when it is traced.
struct WithTraceIds<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let ids = ctx
            .event_scope()
            .and_then(|scope| scope.into_iter().find_map(|span| span.extensions().get::<spans::TraceIds>().cloned()));
        if event.metadata().name() == REQUEST_LINE {
            return request_line(&mut writer, event, ids.as_ref());
        }
        let Some(ids) = ids else { return self.0.format_event(ctx, writer, event) };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        // The JSON formatter writes one object and a newline; the ids are hex.
        let object = line.trim_end().strip_suffix('}').ok_or(fmt::Error)?;
        writeln!(writer, r#"{object},"trace_id":"{}","span_id":"{}"}}"#, ids.trace_id, ids.span_id)
    }
}

/// The [`REQUEST_LINE`] event as tracing-subscriber's JSON formatter writes it (timestamp,
/// level, each field in order, target, then any trace ids), each value through serde_json.
fn request_line(writer: &mut Writer<'_>, event: &Event<'_>, ids: Option<&spans::TraceIds>) -> fmt::Result {
    writer.write_str(r#"{"timestamp":""#)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    write_time(writer, now)?;
    writer.write_str(r#"","level":""#)?;
    writer.write_str(event.metadata().level().as_str())?;
    writer.write_char('"')?;
    let mut fields = JsonFields { writer, result: Ok(()) };
    event.record(&mut fields);
    fields.result?;
    writer.write_str(r#","target":"#)?;
    json_str(writer, event.metadata().target())?;
    if let Some(ids) = ids {
        write!(writer, r#","trace_id":"{}","span_id":"{}""#, ids.trace_id, ids.span_id)?;
    }
    writer.write_str("}\n")
}

/// Writes the time `since_epoch` as tracing-subscriber's `SystemTime` timer does, e.g.
/// `2026-12-07T10:44:36.123456Z`. The date and time of day are formatted once a second per
/// thread, and only the microseconds each time: the timer, through `fmt`, was a quarter of the
/// request line's cost.
fn write_time(writer: &mut Writer<'_>, since_epoch: std::time::Duration) -> fmt::Result {
    use std::cell::Cell;
    /// The second last formatted, and its `YYYY-MM-DDTHH:MM:SS`.
    type Second = Option<(u64, [u8; 19])>;
    thread_local!(static SECOND: Cell<Second> = const { Cell::new(None) });
    let seconds = since_epoch.as_secs();
    let prefix = match SECOND.get() {
        Some((second, prefix)) if second == seconds => prefix,
        _ => {
            let time = i64::try_from(seconds).ok().and_then(|s| chrono::DateTime::from_timestamp(s, 0));
            let text = time.ok_or(fmt::Error)?.format("%Y-%m-%dT%H:%M:%S").to_string();
            let Ok(prefix) = <[u8; 19]>::try_from(text.as_bytes()) else {
                // Past the year 9999 (`+10000-…`, as the timer writes it too): not kept.
                writer.write_str(&text)?;
                return write!(writer, ".{:06}Z", since_epoch.subsec_micros());
            };
            SECOND.set(Some((seconds, prefix)));
            prefix
        }
    };
    let mut micros = *b".000000Z";
    let mut digits = since_epoch.subsec_micros();
    for at in (1..7).rev() {
        micros[at] = b'0' + (digits % 10) as u8;
        digits /= 10;
    }
    writer.write_str(std::str::from_utf8(&prefix).map_err(|_| fmt::Error)?)?;
    writer.write_str(std::str::from_utf8(&micros).map_err(|_| fmt::Error)?)
}

/// Writes `text` as a JSON string: as it is between quotes when it needs no escape (a request
/// line's strings: ids, addresses, paths), else as serde_json escapes it.
fn json_str(writer: &mut Writer<'_>, text: &str) -> fmt::Result {
    if text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        return json(writer, text);
    }
    writer.write_char('"')?;
    writer.write_str(text)?;
    writer.write_char('"')
}

/// Writes `value` as JSON, through one buffer per thread rather than a new one per value.
fn json(writer: &mut Writer<'_>, value: &(impl serde::Serialize + ?Sized)) -> fmt::Result {
    thread_local!(static JSON: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) });
    JSON.with_borrow_mut(|buffer| {
        buffer.clear();
        serde_json::to_writer(&mut *buffer, value).map_err(|_| fmt::Error)?;
        writer.write_str(std::str::from_utf8(buffer).map_err(|_| fmt::Error)?)
    })
}

/// An event's fields as `,"name":value` pairs, valued as tracing-serde values them.
struct JsonFields<'w, 'a> {
    writer: &'w mut Writer<'a>,
    result: fmt::Result,
}

impl JsonFields<'_, '_> {
    /// Writes `,"name":` then `value` with `write`.
    fn field(&mut self, field: &tracing::field::Field, write: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = (|| {
                let name = field.name();
                // A plain name (all of ours) needs no escaping, so no serialiser.
                if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    self.writer.write_str(",\"")?;
                    self.writer.write_str(name)?;
                    self.writer.write_str("\":")?;
                } else {
                    self.writer.write_char(',')?;
                    json(self.writer, name)?;
                    self.writer.write_char(':')?;
                }
                write(self.writer)
            })();
        }
    }

    /// An integer, as serde_json writes it.
    fn integer(&mut self, field: &tracing::field::Field, value: impl itoa::Integer) {
        self.field(field, |writer| writer.write_str(itoa::Buffer::new().format(value)));
    }
}

impl tracing::field::Visit for JsonFields<'_, '_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        thread_local!(static TEXT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) });
        TEXT.with_borrow_mut(|text| {
            text.clear();
            match fmt::Write::write_fmt(text, format_args!("{value:?}")) {
                Ok(()) => self.field(field, |writer| json_str(writer, text)),
                Err(error) => self.result = Err(error),
            }
        });
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.field(field, |writer| json_str(writer, value));
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.field(field, |writer| json(writer, &value));
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.integer(field, value);
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.integer(field, value);
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.field(field, |writer| writer.write_str(if value { "true" } else { "false" }));
    }
}

/// How often recorded samples are folded into the histograms, scraped or not.
const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(1);

/// The process-wide Prometheus recorder: installed on first use, shared by every app in the
/// process (tests start many).
///
/// Durations are histograms with fixed buckets, not summaries: a fleet's histograms add up
/// across replicas, and the exporter's summary sketch loses its low quantiles once samples
/// span a wide range (one event to 10,000 subscribers showed p0 = p50 = p99). Each recorded
/// sample waits in memory until it is folded into its histogram, which the exporter does only
/// when asked: a thread does it every second, so a service nobody scrapes does not grow by
/// every frame it writes (it grew by 60 MiB over 3 million frames; now it stays flat).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let seconds = [
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5,
                1.0, 2.5, 5.0, 10.0,
            ];
            let durations = Matcher::Suffix("_seconds".into());
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(durations, &seconds)
                .expect("buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (e.g. by an embedding program); then
            // ours still renders, just without what others record.
            let _ = metrics::set_global_recorder(recorder);
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || loop {
                std::thread::sleep(METRICS_UPKEEP);
                upkeep.run_upkeep();
            });
            if let Err(error) = spawned {
                tracing::warn!(%error, "no metrics upkeep thread: samples are folded only when /metrics is scraped");
            }
            handle
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    fn written(since_epoch: Duration) -> String {
        let mut text = String::new();
        write_time(&mut Writer::new(&mut text), since_epoch).unwrap();
        text
    }

    /// tracing-subscriber's timer writes `{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z`, which is
    /// chrono's RFC 3339 with microseconds and `Z` for years up to 9999.
    fn as_the_timer_writes(since_epoch: Duration) -> String {
        let time = chrono::DateTime::from_timestamp(since_epoch.as_secs() as i64, since_epoch.subsec_nanos()).unwrap();
        time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    }

    proptest! {
        #[test]
        fn the_log_time_is_written_as_the_timer_writes_it(seconds in 0u64..253_402_300_800, nanos in 0u32..1_000_000_000) {
            let since_epoch = Duration::new(seconds, nanos);
            prop_assert_eq!(written(since_epoch), as_the_timer_writes(since_epoch));
            // Again within the same second, from the kept date and time of day.
            let later = Duration::new(seconds, (nanos + 1_000) % 1_000_000_000);
            prop_assert_eq!(written(later), as_the_timer_writes(later));
        }
    }

    #[test]
    fn the_log_time_follows_the_second_and_years_past_9999() {
        for since_epoch in
            [Duration::new(59, 999_999_999), Duration::new(60, 0), Duration::new(60, 1_000), Duration::ZERO]
        {
            assert_eq!(written(since_epoch), as_the_timer_writes(since_epoch));
        }
        assert_eq!(written(Duration::new(253_402_300_800, 5_000)), "+10000-01-01T00:00:00.000005Z");
    }
}
