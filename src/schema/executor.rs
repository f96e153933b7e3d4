//! Runs GraphQL requests around async-graphql's own execution: a cache of parsed documents
//! (which also serves Apollo's automatic persisted queries), the checks and repairs of
//! [`super::spec`], and codes for async-graphql's errors.

use std::collections::HashMap;

use async_graphql::extensions::apollo_persisted_queries::{CacheStorage, LruCacheStorage};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{BatchRequest, BatchResponse, Request, Response, ServerError, ServerResult, Value};
use sha2::{Digest, Sha256};

use super::spec::{self, coded, Shape};
use super::{AppSchema, OPERATION_HEADER};
use crate::error::code_graphql_error;

/// The schema plus what runs around it.
pub struct Executor {
    schema: AppSchema,
    shape: Shape,
    /// Parsed documents by SHA-256 of their text, bounded; `None` turns caching and APQ off.
    /// Parsing was a tenth of a query's CPU, and clients repeat the same few documents;
    /// APQ's hashes are the same keys, so one cache serves both.
    documents: Option<LruCacheStorage>,
    introspection: bool,
}

impl Executor {
    pub(super) fn new(schema: AppSchema, apq_cache_size: usize, introspection: bool) -> Self {
        let documents = (apq_cache_size > 0).then(|| LruCacheStorage::new(apq_cache_size));
        Self { schema, shape: Shape::of_schema(), documents, introspection }
    }

    /// The schema's SDL (what `schema.graphql` holds).
    pub fn sdl(&self) -> String {
        self.schema.sdl()
    }

    /// Runs every request of a batch concurrently, answering in order.
    pub async fn execute_batch(&self, batch: BatchRequest) -> BatchResponse {
        match batch {
            BatchRequest::Single(request) => BatchResponse::Single(self.execute(request).await),
            BatchRequest::Batch(requests) => BatchResponse::Batch(
                futures::future::join_all(requests.into_iter().map(|request| self.execute(request))).await,
            ),
        }
    }

    /// Runs one request.
    pub async fn execute(&self, mut request: Request) -> Response {
        let document = match self.document(&mut request).await {
            Ok(document) => document,
            Err(error) => return Response::from_errors(vec![error]),
        };
        let operation_name = request.operation_name.clone();
        if let Err(error) = spec::check(&document, operation_name.as_deref(), &request.variables, self.introspection) {
            return Response::from_errors(vec![error]);
        }
        request.set_parsed_query(document.clone());
        let mut response = self.schema.execute(request).await;
        response.errors.iter_mut().for_each(code_graphql_error);
        self.shape.repair(&mut response, &document, operation_name.as_deref());
        if let Some(value) = spec::operation_name(&document, operation_name.as_deref()).and_then(|n| n.parse().ok()) {
            response.http_headers.insert(OPERATION_HEADER, value);
        }
        response
    }

    /// The request's document: from the cache by hash (an APQ request may send only the
    /// hash), else parsed and cached.
    async fn document(&self, request: &mut Request) -> ServerResult<ExecutableDocument> {
        let persisted = request.extensions.remove("persistedQuery");
        let Some(documents) = &self.documents else { return parse(&request.query) };
        let sent_hash = persisted.map(persisted_query_hash).transpose()?;
        if request.query.is_empty() {
            let Some(hash) = sent_hash else { return parse("") };
            return documents.get(hash).await.ok_or_else(|| {
                // Apollo clients resend the full query when they see this.
                coded(ServerError::new("PersistedQueryNotFound", None), "PERSISTED_QUERY_NOT_FOUND")
            });
        }
        let hash = format!("{:x}", Sha256::digest(request.query.as_bytes()));
        if sent_hash.is_some_and(|sent| sent != hash) {
            return Err(coded(ServerError::new("provided sha does not match query", None), "BAD_REQUEST"));
        }
        if let Some(document) = documents.get(hash.clone()).await {
            return Ok(document);
        }
        let document = parse(&request.query)?;
        if request.query.len() <= MAX_CACHED_QUERY_BYTES {
            documents.set(hash, document.clone()).await;
        }
        Ok(document)
    }
}

/// Longer documents are parsed every time, so the cache's memory stays bounded by its size
/// times this.
const MAX_CACHED_QUERY_BYTES: usize = 16 * 1024;

fn parse(query: &str) -> ServerResult<ExecutableDocument> {
    async_graphql::parser::parse_query(query).map_err(|error| coded(ServerError::from(error), "GRAPHQL_PARSE_FAILED"))
}

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
