//! Runs GraphQL requests around async-graphql's own execution: the document limits of
//! [`crate::guard`] before anything is parsed or validated, a cache of parsed documents (which
//! also serves Apollo's automatic persisted queries), the checks and repairs of
//! [`super::spec`], and codes for async-graphql's errors.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

use futures::stream::{BoxStream, StreamExt};

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{BatchRequest, Request, Response, ServerError, ServerResult, Value};
use sha2::{Digest, Sha256};

use super::documents::{sha256_hex, Documents, Validated};
use super::parser;
use super::plan::{self, Plan};
use super::scope::RoomScope;
use super::shared::{Frame, Shared};
use super::spec::{self, coded, Shape};
use super::EventUpstreams;
use super::Upstream;
use super::{AppSchema, OPERATION_HEADER};
use crate::error::{code_graphql_error, hide_suggestions, rejection_error};
use crate::guard::{self, DocumentLimits};
use crate::telemetry::ftv1;

/// What the HTTP layer allows one request, beyond what the schema does.
#[derive(Debug, Clone, Copy)]
pub struct RequestPolicy {
    /// False for `GET`: a mutation is then refused (`METHOD_NOT_ALLOWED`) without running.
    pub mutations: bool,
    /// Whether `{ _service { sdl } }` may be answered to this caller.
    pub federation_sdl: bool,
    /// Whether the transport streams results (WebSocket, SSE), so subscriptions may run.
    pub streams: bool,
}

/// What a streaming transport tells the executor about an operation it runs.
pub struct Streaming {
    /// The operation's upstreams, which know the event being resolved (its cursor, its
    /// arrival).
    pub upstreams: Arc<EventUpstreams>,
    /// Who the operation reads as: identical subscriptions share a resolution only within one
    /// audience (the upstream credential's digest and the room scope).
    pub audience: String,
}

/// What running one request gives: async-graphql's response, or the response map a
/// compiled plan wrote (which never has errors).
pub enum Answer {
    /// The reference executor's response, checked, repaired and coded.
    Response(Response),
    /// A compiled plan's JSON response map, and the name of the operation it ran.
    Written {
        /// `{"data":{...}}`.
        json: Vec<u8>,
        /// For metrics, when the client did not send `operationName`.
        operation: Option<String>,
    },
}

impl Answer {
    /// The executed operation's name, if it has one.
    pub fn operation(&self) -> Option<&str> {
        match self {
            Answer::Response(response) => response.http_headers.get(OPERATION_HEADER).and_then(|v| v.to_str().ok()),
            Answer::Written { operation, .. } => operation.as_deref(),
        }
    }

    /// The response, unless a plan wrote it.
    pub fn response(&self) -> Option<&Response> {
        match self {
            Answer::Response(response) => Some(response),
            Answer::Written { .. } => None,
        }
    }

    /// Appends the GraphQL response map: `data` is absent, not null, when execution never
    /// started; async-graphql's ordered values are serialised as they are, so the selection
    /// set's order survives.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        #[derive(serde::Serialize)]
        struct Map<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            data: Option<&'a Value>,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            errors: &'a [ServerError],
            #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
            extensions: &'a std::collections::BTreeMap<String, Value>,
        }
        match self {
            Answer::Response(response) => {
                let data = (!super::shared::is_request_error(response)).then_some(&response.data);
                let map = Map { data, errors: &response.errors, extensions: &response.extensions };
                if serde_json::to_writer(&mut *out, &map).is_err() {
                    out.extend_from_slice(br#"{"errors":[{"message":"response not serialisable"}]}"#);
                }
            }
            Answer::Written { json, .. } => out.extend_from_slice(json),
        }
    }
}

/// The most errors one response carries; the rest are summed up in one more, as graphql-js
/// does, so a document full of mistakes cannot make a response of megabytes.
pub const MAX_ERRORS: usize = 100;

/// The schema plus what runs around it.
pub struct Executor {
    schema: AppSchema,
    /// The same schema with the ftv1 extension, for the requests that ask for a trace: built on
    /// the first, so that a service no gateway asks traces of never builds it, and the others
    /// run without any extension.
    traced: std::sync::OnceLock<AppSchema>,
    /// The same schema validating only what cannot be known in advance (fragment cycles, depth
    /// and complexity), for documents and operations that passed the full validation before,
    /// run with variable values that cannot change its outcome (see [`Validated`]). Built on
    /// first use.
    fast: std::sync::OnceLock<AppSchema>,
    /// The plain schema that only validates (see [`ValidateOnly`]), built on first use.
    validator: std::sync::OnceLock<AppSchema>,
    options: super::SchemaOptions,
    shape: Shape,
    /// Parsed documents by text and by SHA-256 (APQ), bounded; `None` turns caching and APQ
    /// off. Only documents within `limits` are ever cached.
    documents: Option<Documents>,
    introspection: bool,
    /// Whether the federation SDL keeps its `@requiresScopes` (only where scopes are checked).
    scopes_in_sdl: bool,
    limits: DocumentLimits,
    /// Parsing costs about a microsecond a token, so a large document takes milliseconds of
    /// CPU: those are parsed on the blocking pool, a few at a time, so that a stream of them
    /// cannot occupy the async workers that answer everyone else (and `/health`).
    large_parses: tokio::sync::Semaphore,
    /// Subscriptions resolved once for all identical subscribers.
    shared: Shared,
    /// Frames a subscriber of a shared subscription may fall behind.
    subscriber_buffer: usize,
}

/// Documents up to this size parse in well under a millisecond, so inline.
const INLINE_PARSE_BYTES: usize = 4 * 1024;

impl Executor {
    pub(super) fn new(schema: AppSchema, options: &super::SchemaOptions) -> Self {
        let (apq_cache_size, introspection, limits) =
            (options.apq_cache_size, options.introspection, options.document_limits);
        let documents = std::num::NonZeroUsize::new(apq_cache_size).map(Documents::new);
        // Half the cores (at least one) may parse large documents; the rest stay free.
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let large_parses = tokio::sync::Semaphore::new((cores / 2).max(1));
        let scopes_in_sdl = options.scopes_in_sdl;
        let (shared, subscriber_buffer) = (Shared::default(), options.subscriber_buffer);
        Self {
            schema,
            traced: std::sync::OnceLock::new(),
            fast: std::sync::OnceLock::new(),
            validator: std::sync::OnceLock::new(),
            options: *options,
            shape: Shape::of_schema(),
            documents,
            introspection,
            scopes_in_sdl,
            limits,
            large_parses,
            shared,
            subscriber_buffer,
        }
    }

    /// The schema's SDL (what `schema.graphql` holds).
    pub fn sdl(&self) -> String {
        self.schema.sdl()
    }

    /// The federation SDL exactly as `{ _service { sdl } }` serves it here: what a gateway
    /// composes from, so it carries `@requiresScopes` only where this service checks scopes.
    pub fn federation_sdl(&self) -> String {
        let options = async_graphql::SDLExportOptions::new().federation().compose_directive();
        let mut sdl = self.schema.sdl_with_options(options);
        spec::serve_federation_sdl(&mut sdl, self.scopes_in_sdl);
        sdl
    }

    /// Runs every request of a batch concurrently, answering in order.
    pub async fn execute_batch(&self, batch: BatchRequest, policy: RequestPolicy) -> Vec<Answer> {
        match batch {
            BatchRequest::Single(request) => vec![self.execute(request, policy).await],
            BatchRequest::Batch(requests) => {
                futures::future::join_all(requests.into_iter().map(|request| self.execute(request, policy))).await
            }
        }
    }

    /// Runs one request; with an ftv1 trace in its extensions when it asked for one
    /// ([`ftv1::Requested`]), covering everything from here to its final errors.
    pub async fn execute(&self, mut request: Request, policy: RequestPolicy) -> Answer {
        let trace = ftv1::Recorder::for_request(&mut request);
        let traced = trace
            .as_ref()
            .map(|_| self.traced.get_or_init(|| super::builder(&self.options).extension(ftv1::Ftv1).finish()));
        match self.run(traced, request, policy).await {
            Answer::Response(response) => {
                let mut response = self.finish(response);
                if let Some(trace) = trace {
                    trace.attach(&mut response);
                }
                Answer::Response(response)
            }
            written => written,
        }
    }

    /// Runs one request on a streaming transport: a subscription yields a frame per event;
    /// any other operation one frame. The same checks, limits and repairs apply. A
    /// subscription from now (not resuming after a cursor) shares one resolution, and one
    /// frame per event, with the identical subscriptions of the same audience on this replica
    /// (see [`super::shared`]).
    pub async fn execute_stream(
        self: &Arc<Self>,
        mut request: Request,
        policy: RequestPolicy,
        streaming: Streaming,
    ) -> BoxStream<'static, Arc<Frame>> {
        let query = std::mem::take(&mut request.query);
        let prepared = async {
            let document = self.document_of(&query, request.extensions.remove("persistedQuery")).await?.document;
            let operation_name = request.operation_name.clone();
            let checks = spec::Checks { introspection: self.introspection, policy };
            spec::check(&document, operation_name.as_deref(), &request.variables, checks)?;
            Ok::<_, ServerError>((document, operation_name))
        };
        let (document, operation_name) = match prepared.await {
            Ok(prepared) => prepared,
            Err(error) => {
                let response = self.finish(Response::from_errors(vec![error]));
                return futures::stream::iter([Arc::new(Frame::of(&response, true))]).boxed();
            }
        };
        let key = self.share_key(&request, &query, &document, operation_name.as_deref(), &streaming.audience);
        request.query = query;
        request.set_parsed_query((*document).clone());
        let this = self.clone();
        let upstreams = streaming.upstreams;
        let mut first = true;
        let variables = request.variables.clone();
        let frames = move || {
            let schema = this.schema.clone();
            schema
                .execute_stream(request)
                .map(move |mut response| {
                    this.shape.repair(&mut response, &document, operation_name.as_deref(), Some(&variables));
                    let mut frame = Frame::of(&this.finish(response), std::mem::take(&mut first));
                    frame.received = upstreams.event_received();
                    frame.cursor = upstreams.take_cursor();
                    Arc::new(frame)
                })
                .boxed()
        };
        match key {
            Some(key) => self.shared.join_or_start(key, self.subscriber_buffer, frames),
            None => frames(),
        }
    }

    /// What identical subscriptions share by: the document, operation and variables, and who
    /// runs them; `None` for what must not be shared (anything but a subscription from now,
    /// or a document known only by its APQ hash).
    fn share_key(
        &self,
        request: &Request,
        query: &str,
        document: &ExecutableDocument,
        operation_name: Option<&str>,
        audience: &str,
    ) -> Option<[u8; 32]> {
        let subscription = spec::operation_type(document, operation_name) == Some(OperationType::Subscription);
        let resumes = request.data.contains_key(&std::any::TypeId::of::<super::ResumeAfter>())
            || spec::root_argument_given(document, operation_name, &request.variables, "after");
        if !subscription || resumes || query.is_empty() {
            return None;
        }
        let variables = serde_json::to_string(&request.variables).ok()?;
        let mut digest = Sha256::new();
        for part in [audience, query, operation_name.unwrap_or(""), &variables] {
            digest.update((part.len() as u64).to_le_bytes());
            digest.update(part.as_bytes());
        }
        Some(digest.finalize().into())
    }

    /// Codes every error and caps how many a response carries.
    fn finish(&self, mut response: Response) -> Response {
        for error in &mut response.errors {
            code_graphql_error(error);
            if !self.introspection {
                hide_suggestions(error);
            }
        }
        if response.errors.len() > MAX_ERRORS {
            response.errors.truncate(MAX_ERRORS);
            let message = format!("too many errors: only the first {MAX_ERRORS} are shown");
            response.errors.push(coded(ServerError::new(message, None), "TOO_MANY_ERRORS"));
        }
        if let Some(trace_id) = response.errors.first().and_then(|_| crate::telemetry::spans::error_trace_id()) {
            for error in &mut response.errors {
                error.extensions.get_or_insert_with(Default::default).set("traceId", trace_id.as_str());
            }
        }
        response
    }

    /// Runs a request on `traced` if given, else on the plain schema: the one that validates
    /// in full, or for a document and operation that passed it before, with variable values
    /// that cannot change that, the one that does not again, after the operation's compiled
    /// plan if it has one (see [`super::plan`]).
    async fn run(&self, traced: Option<&AppSchema>, mut request: Request, policy: RequestPolicy) -> Answer {
        let Found { document, validated } = match self.document(&mut request).await {
            Ok(found) => found,
            Err(error) => return Answer::Response(Response::from_errors(vec![error])),
        };
        let operation_name = request.operation_name.clone();
        let checks = spec::Checks { introspection: self.introspection, policy };
        let selected = match spec::check(&document, operation_name.as_deref(), &request.variables, checks) {
            Ok(selected) => selected,
            Err(error) => return Answer::Response(Response::from_errors(vec![error])),
        };
        let asked = operation_name.as_deref();
        let passed = validated.as_ref().and_then(|validated| validated.get(asked));
        let mut skip_validation =
            traced.is_none() && passed.is_some() && spec::variables_plainly_valid(&document, asked, &request.variables);
        let mut plan = passed.clone().flatten().filter(|_| skip_validation);
        let describe = || (spec::operation_name(&document, asked), spec::operation_type(&document, asked));
        let span = crate::telemetry::spans::operation(describe, &request.query);
        // The first time a cached document's operation runs: if it compiles, validate it in
        // full without executing it, and run the plan. (If it does not validate, the schema
        // below validates it again, to answer with its errors.) `tried` keeps what compiling
        // gave otherwise, so that it is not compiled again below.
        let mut tried = None;
        if let (Some(validated), None, None) = (&validated, &passed, traced) {
            let compiled = plan::compile(&document, asked);
            if compiled.is_some() && self.validates(&document, &request).await {
                plan = validated.insert(asked, compiled);
                skip_validation = true;
            } else {
                tried = Some(compiled);
            }
        }
        if let Some(plan) = plan {
            let planned = tracing::Instrument::instrument(self.run_plan(&plan, &request), span.clone()).await;
            crate::telemetry::count_compiled_plan(planned.is_some());
            if let Some(json) = planned {
                return Answer::Written { json, operation: spec::operation_name(&document, asked) };
            }
        }
        let schema = match traced {
            _ if skip_validation => self.fast.get_or_init(|| {
                super::builder(&self.options).validation_mode(async_graphql::ValidationMode::Fast).finish()
            }),
            Some(traced) => traced,
            None => &self.schema,
        };
        request.set_parsed_query((*document).clone());
        // For `_entities`, and for `@skip`/`@include` on variables, which decide the order.
        let variables = (selected.entities || !request.variables.is_empty()).then(|| request.variables.clone());
        // Boxed: async-graphql's future is several KB, which held inline would make this one
        // (and every future awaiting it, up to the handler) as large, plans or not.
        let mut response = tracing::Instrument::instrument(Box::pin(schema.execute(request)), span).await;
        // An operation that passed for the first time is recorded (with its plan); one already
        // recorded is not compiled again.
        if let Some(validated) = validated.filter(|_| !skip_validation && passed.is_none()) {
            if !super::shared::is_request_error(&response) {
                validated.insert(asked, tried.unwrap_or_else(|| plan::compile(&document, asked)));
            }
        }
        if selected.federation_sdl {
            let scopes = self.scopes_in_sdl;
            spec::rewrite_strings(&mut response.data, &|sdl| spec::serve_federation_sdl(sdl, scopes));
        }
        self.shape.repair(&mut response, &document, operation_name.as_deref(), variables.as_ref());
        if let Some(value) = spec::operation_name(&document, operation_name.as_deref()).and_then(|n| n.parse().ok()) {
            response.http_headers.insert(OPERATION_HEADER, value);
        }
        Answer::Response(response)
    }

    /// Whether `request`, whose parsed document is `document`, passes async-graphql's full
    /// validation (with its variable values), found without executing it.
    async fn validates(&self, document: &ExecutableDocument, request: &Request) -> bool {
        let validator = self.validator.get_or_init(|| super::builder(&self.options).extension(ValidateOnly).finish());
        let mut probe = Request::new("").variables(request.variables.clone());
        probe.operation_name = request.operation_name.clone();
        probe.set_parsed_query(document.clone());
        Box::pin(validator.execute(probe)).await.errors.is_empty() // boxed as in `run`
    }

    /// Runs `plan` for `request`, unless its caller is room-scoped (whose checks only the
    /// resolvers make); `None` where async-graphql must answer.
    async fn run_plan(&self, plan: &Plan, request: &Request) -> Option<Vec<u8>> {
        let upstream = request.data.get(&TypeId::of::<Arc<Upstream>>())?.downcast_ref::<Arc<Upstream>>()?;
        let scope = request.data.get(&TypeId::of::<RoomScope>()).and_then(|scope| scope.downcast_ref::<RoomScope>());
        if scope.is_some_and(|scope| scope.rooms().is_some()) {
            return None;
        }
        let limits =
            plan::Limits { max_first_last: self.options.max_first_last, max_complexity: self.options.max_complexity };
        plan.run(upstream, &request.variables, limits).await
    }

    /// Whether `request` would run an operation of `kind` (false where its document cannot
    /// run at all), so the HTTP layer can apply the method rule and pick the response's media
    /// type before anything else runs. A cached document costs a hash and a lookup; a
    /// document without `kind`'s keyword is not even looked up.
    pub async fn is_operation(&self, request: &Request, kind: OperationType) -> bool {
        let keyword = match kind {
            OperationType::Query => "",
            OperationType::Mutation => "mutation",
            OperationType::Subscription => "subscription",
        };
        if !request.query.is_empty() && !request.query.contains(keyword) {
            return false;
        }
        let persisted = request.extensions.get("persistedQuery").cloned();
        let Ok(Found { document, .. }) = self.document_of(&request.query, persisted).await else { return false };
        spec::operation_type(&document, request.operation_name.as_deref()) == Some(kind)
    }

    /// The request's document (see [`Executor::document_of`]).
    async fn document(&self, request: &mut Request) -> ServerResult<Found> {
        let persisted = request.extensions.remove("persistedQuery");
        self.document_of(&request.query, persisted).await
    }

    /// A document: from the cache by its text, or by hash for an APQ request that sends only
    /// the hash (in `persisted`), else checked against the limits, parsed, checked again and
    /// cached. A hash sent with the text must be the text's.
    async fn document_of(&self, query: &str, persisted: Option<Value>) -> ServerResult<Found> {
        let Some(documents) = &self.documents else { return self.parse(query).await.map(Found::uncached) };
        let sent_hash = persisted.map(persisted_query_hash).transpose()?;
        let mismatch = || coded(ServerError::new("provided sha does not match query", None), "BAD_REQUEST");
        if query.is_empty() {
            let Some(hash) = sent_hash else { return self.parse("").await.map(Found::uncached) };
            return documents.by_hash(&hash).map(Found::cached).ok_or_else(|| {
                // Apollo clients resend the full query when they see this.
                coded(ServerError::new("PersistedQueryNotFound", None), "PERSISTED_QUERY_NOT_FOUND")
            });
        }
        if let Some(cached) = documents.by_text(query) {
            if sent_hash.is_some_and(|sent| *sent != *cached.hash) {
                return Err(mismatch());
            }
            return Ok(Found::cached(cached));
        }
        if sent_hash.is_some_and(|sent| sent != sha256_hex(query)) {
            return Err(mismatch());
        }
        let document = self.parse(query).await?;
        if query.len() <= MAX_CACHED_QUERY_BYTES {
            return Ok(Found::cached(documents.insert(query, document)));
        }
        Ok(Found::uncached(document))
    }

    /// Parses `query` once it is known to be within the limits, and checks the result: the
    /// parser and async-graphql's validation recurse and expand fragments without bounds of
    /// their own, so nothing reaches them that could overflow a stack or take seconds. The
    /// linear scan runs first, inline, so refusing an oversized document costs microseconds.
    async fn parse(&self, query: &str) -> ServerResult<ExecutableDocument> {
        guard::scan(query, &self.limits).map_err(|rejection| rejection_error(&rejection))?;
        let document = if query.len() <= INLINE_PARSE_BYTES {
            parse_checked(query, &self.limits)?
        } else {
            let _slot = self.large_parses.acquire().await.map_err(|_| internal_error())?;
            let (query, limits) = (query.to_owned(), self.limits);
            tokio::task::spawn_blocking(move || parse_checked(&query, &limits))
                .await
                .unwrap_or_else(|_| Err(internal_error()))?
        };
        self.shape.check_merging(&document)?;
        Ok(document)
    }
}

/// Ends a request once async-graphql has prepared it (parsed, validated in full, its operation
/// chosen and its variables checked), without executing it: a response without errors says
/// that it passed. async-graphql has no public call that only validates.
struct ValidateOnly;

impl async_graphql::extensions::ExtensionFactory for ValidateOnly {
    fn create(&self) -> Arc<dyn async_graphql::extensions::Extension> {
        Arc::new(ValidateOnly)
    }
}

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for ValidateOnly {
    async fn execute(
        &self,
        _ctx: &async_graphql::extensions::ExtensionContext<'_>,
        _operation_name: Option<&str>,
        _next: async_graphql::extensions::NextExecute<'_>,
    ) -> Response {
        Response::new(async_graphql::Value::Null)
    }
}

/// A request's parsed document, and for a cached one, which of its operations passed the full
/// validation.
struct Found {
    document: Arc<ExecutableDocument>,
    validated: Option<Arc<Validated>>,
}

impl Found {
    fn cached(cached: super::documents::Cached) -> Self {
        Self { document: cached.document, validated: Some(cached.validated) }
    }

    fn uncached(document: ExecutableDocument) -> Self {
        Self { document: Arc::new(document), validated: None }
    }
}

fn parse_checked(query: &str, limits: &DocumentLimits) -> ServerResult<ExecutableDocument> {
    let mut document =
        parser::parse_query(query).map_err(|error| coded(ServerError::from(error), "GRAPHQL_PARSE_FAILED"))?;
    guard::check(&document, limits).map_err(|rejection| rejection_error(&rejection))?;
    spec::expose_typename_directives(&mut document);
    spec::keep_empty_objects(&mut document);
    Ok(document)
}

fn internal_error() -> ServerError {
    coded(ServerError::new("internal error", None), "INTERNAL_SERVER_ERROR")
}

/// Longer documents are parsed every time, so the cache's memory stays bounded by its size
/// times this.
const MAX_CACHED_QUERY_BYTES: usize = 16 * 1024;

/// The `sha256Hash` of an APQ `persistedQuery` extension (version 1 only).
fn persisted_query_hash(extension: Value) -> ServerResult<String> {
    let invalid = || coded(ServerError::new("invalid `persistedQuery` extension", None), "BAD_REQUEST");
    let Value::Object(fields) = extension else { return Err(invalid()) };
    let fields: HashMap<_, _> = fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    match (fields.get("version"), fields.get("sha256Hash")) {
        (Some(Value::Number(version)), Some(Value::String(hash))) if version.as_u64() == Some(1) => {
            Ok(hash.to_ascii_lowercase())
        }
        (Some(_), Some(_)) => {
            Err(coded(ServerError::new("only version 1 of `persistedQuery` is supported", None), "BAD_REQUEST"))
        }
        _ => Err(invalid()),
    }
}
