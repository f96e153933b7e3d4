//! Runs GraphQL requests around async-graphql's own execution: automatic persisted queries,
//! one parse, the checks and repairs of [`super::spec`], and codes for async-graphql's errors.

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
    /// Parsed documents by SHA-256 of their text (Apollo's APQ), bounded; `None` turns APQ off.
    persisted: Option<LruCacheStorage>,
    introspection: bool,
}

impl Executor {
    pub(super) fn new(schema: AppSchema, apq_cache_size: usize, introspection: bool) -> Self {
        let persisted = (apq_cache_size > 0).then(|| LruCacheStorage::new(apq_cache_size));
        Self { schema, shape: Shape::of_schema(), persisted, introspection }
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

    /// The request's document: from the APQ cache by hash, or parsed (and cached if a hash
    /// came with it).
    async fn document(&self, request: &mut Request) -> ServerResult<ExecutableDocument> {
        let hash = match (request.extensions.remove("persistedQuery"), &self.persisted) {
            (Some(extension), Some(_)) => Some(persisted_query_hash(extension)?),
            _ => None,
        };
        if let (Some(hash), Some(persisted)) = (&hash, &self.persisted) {
            if request.query.is_empty() {
                return persisted.get(hash.clone()).await.ok_or_else(|| {
                    // Apollo clients resend the full query when they see this.
                    coded(ServerError::new("PersistedQueryNotFound", None), "PERSISTED_QUERY_NOT_FOUND")
                });
            }
            if format!("{:x}", Sha256::digest(request.query.as_bytes())) != *hash {
                return Err(coded(ServerError::new("provided sha does not match query", None), "BAD_REQUEST"));
            }
        }
        let document = async_graphql::parser::parse_query(&request.query)
            .map_err(|error| coded(ServerError::from(error), "GRAPHQL_PARSE_FAILED"))?;
        if let (Some(hash), Some(persisted)) = (hash, &self.persisted) {
            persisted.set(hash, document.clone()).await;
        }
        Ok(document)
    }
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
