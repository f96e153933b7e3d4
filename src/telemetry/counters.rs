//! The metrics every request or upstream attempt records, with their handles kept.
//!
//! `metrics::counter!` with labels builds the series' key and looks it up in the recorder on
//! every call: 300 to 1,500 instructions and an allocation or two each, five times in a query
//! that makes one upstream request. Here each series' handle is looked up once and kept, and a
//! request's increment is a read lock, a short scan or a hash, and an atomic add.
//!
//! The operation name is the client's to choose, so its label is also bounded: after
//! [`MAX_OPERATION_NAMES`] distinct names, new ones are counted under [`OTHER_OPERATIONS`].
//! Without a bound, a client sending a new name with every request would make the recorder,
//! and every scrape, grow without end.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

use metrics::{Counter, Gauge, Histogram};

/// Distinct operation names that get a series of their own in `graphql_operations_total`.
const MAX_OPERATION_NAMES: usize = 1_000;

/// The `operation` label of the names past [`MAX_OPERATION_NAMES`]; no operation name can
/// spell it, since labels keep only `[A-Za-z0-9_]`.
const OTHER_OPERATIONS: &str = "(other)";

/// Counts a GraphQL operation in `graphql_operations_total{operation,code}`.
pub fn count_operation(operation: Option<&str>, code: &str) {
    static OPERATIONS: LazyLock<Operations> = LazyLock::new(|| Operations::new(MAX_OPERATION_NAMES));
    OPERATIONS.count(operation, code);
}

/// Counts an HTTP response in `http_requests_total{status}`.
pub fn count_response(status: u16) {
    static STATUSES: RwLock<Vec<(u16, Counter)>> = RwLock::new(Vec::new());
    if let Some((_, counter)) = STATUSES.read().expect("status counters").iter().find(|(s, _)| *s == status) {
        counter.increment(1);
        return;
    }
    let mut statuses = STATUSES.write().expect("status counters");
    let register = || (status, metrics::counter!("http_requests_total", "status" => status.to_string()));
    kept(&mut statuses, |s| *s == status, register).increment(1);
}

/// Counts a compiled plan's run in `graphql_compiled_plans_total{outcome}`: `answered`, or
/// `fell_back` to async-graphql.
pub fn count_compiled_plan(answered: bool) {
    static ANSWERED: LazyLock<Counter> =
        LazyLock::new(|| metrics::counter!("graphql_compiled_plans_total", "outcome" => "answered"));
    static FELL_BACK: LazyLock<Counter> =
        LazyLock::new(|| metrics::counter!("graphql_compiled_plans_total", "outcome" => "fell_back"));
    if answered { &ANSWERED } else { &FELL_BACK }.increment(1);
}

/// `upstream_in_flight`: upstream requests being sent or read.
pub fn upstream_in_flight() -> &'static Gauge {
    static IN_FLIGHT: LazyLock<Gauge> = LazyLock::new(|| metrics::gauge!("upstream_in_flight"));
    &IN_FLIGHT
}

/// Records one upstream attempt to `route` (a route template, one of a few): its outcome in
/// `upstream_requests_total{endpoint,status}` and its duration in
/// `upstream_request_duration_seconds{endpoint}`. `status` is a status code or a failure's
/// kind, so a bounded set too.
pub fn record_upstream(route: &'static str, status: &str, duration: std::time::Duration) {
    type Series = Vec<(&'static str, Histogram, Codes)>;
    static ROUTES: RwLock<Series> = RwLock::new(Vec::new());
    {
        let routes = ROUTES.read().expect("upstream metrics");
        if let Some((_, histogram, statuses)) = routes.iter().find(|(r, ..)| *r == route) {
            if let Some((_, counter)) = statuses.iter().find(|(s, _)| &**s == status) {
                histogram.record(duration);
                counter.increment(1);
                return;
            }
        }
    }
    let mut routes = ROUTES.write().expect("upstream metrics");
    let index = routes.iter().position(|(r, ..)| *r == route).unwrap_or_else(|| {
        let histogram = metrics::histogram!("upstream_request_duration_seconds", "endpoint" => route);
        routes.push((route, histogram, Vec::new()));
        routes.len() - 1
    });
    let (_, histogram, statuses) = &mut routes[index];
    histogram.record(duration);
    let register = || {
        let counter = metrics::counter!("upstream_requests_total", "endpoint" => route, "status" => status.to_owned());
        (status.into(), counter)
    };
    kept(statuses, |s| &**s == status, register).increment(1);
}

/// The counter in `counters` that `matches`, registered by `register` on first use.
fn kept<K>(
    counters: &mut Vec<(K, Counter)>,
    matches: impl Fn(&K) -> bool,
    register: impl FnOnce() -> (K, Counter),
) -> &Counter {
    let index = counters.iter().position(|(key, _)| matches(key)).unwrap_or_else(|| {
        counters.push(register());
        counters.len() - 1
    });
    &counters[index].1
}

/// The operation label of a name: its `[A-Za-z0-9_]` characters, at most 64 of them.
fn operation_label(name: &str) -> Cow<'_, str> {
    let clean = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if name.len() <= 64 && name.chars().all(clean) {
        return Cow::Borrowed(name);
    }
    Cow::Owned(name.chars().filter(|c| clean(*c)).take(64).collect())
}

type Codes = Vec<(Box<str>, Counter)>;

/// `graphql_operations_total`'s series handles, by operation label, then code (a few each).
struct Operations {
    max_names: usize,
    names: RwLock<HashMap<Box<str>, Codes, foldhash::fast::RandomState>>,
}

impl Operations {
    fn new(max_names: usize) -> Self {
        Self { max_names, names: RwLock::new(HashMap::default()) }
    }

    fn count(&self, operation: Option<&str>, code: &str) {
        let label = operation_label(operation.unwrap_or(""));
        {
            let names = self.names.read().expect("operation counters");
            let codes = match names.get(&*label) {
                Some(codes) => Some(codes),
                None if names.len() >= self.max_names => names.get(OTHER_OPERATIONS),
                None => None,
            };
            if let Some((_, counter)) = codes.and_then(|codes| codes.iter().find(|(c, _)| &**c == code)) {
                counter.increment(1);
                return;
            }
        }
        let mut names = self.names.write().expect("operation counters");
        let name = if names.contains_key(&*label) || names.len() < self.max_names { &*label } else { OTHER_OPERATIONS };
        let codes = names.entry(name.into()).or_default();
        let register = || {
            let counter = metrics::counter!("graphql_operations_total", "operation" => name.to_owned(), "code" => code.to_owned());
            (code.into(), counter)
        };
        kept(codes, |c| &**c == code, register).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::*;

    #[test]
    fn operation_labels_are_bounded() {
        assert_eq!(operation_label("Participants"), "Participants");
        assert_eq!(operation_label("a\"b{c}"), "abc");
        assert_eq!(operation_label(&"x".repeat(500)).len(), 64);
    }

    #[test]
    fn names_past_the_bound_are_counted_together_and_known_ones_keep_their_series() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let operations = Operations::new(3);
        metrics::with_local_recorder(&recorder, || {
            for name in ["A", "B", "C", "D", "E", "A", "B{}"] {
                operations.count(Some(name), "OK");
            }
            operations.count(Some("D"), "BAD_REQUEST");
            operations.count(None, "OK");
        });
        let text = handle.render();
        let count = |operation: &str, code: &str| {
            let series = format!(r#"graphql_operations_total{{operation="{operation}",code="{code}"}} "#);
            text.lines().find_map(|line| line.strip_prefix(series.as_str())).map(|n| n.parse::<u64>().unwrap())
        };
        assert_eq!(count("A", "OK"), Some(2), "{text}");
        assert_eq!(count("B", "OK"), Some(2), "a name is counted under its label: {text}");
        assert_eq!(count("C", "OK"), Some(1), "{text}");
        // D, E and the anonymous operation came after three names were known.
        assert_eq!(count(OTHER_OPERATIONS, "OK"), Some(3), "{text}");
        assert_eq!(count(OTHER_OPERATIONS, "BAD_REQUEST"), Some(1), "{text}");
        assert_eq!(count("D", "OK"), None, "{text}");
    }
}
