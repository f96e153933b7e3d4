//! Parsed documents, bounded, found by their text (what nearly every request sends) or by the
//! SHA-256 of their text (what an APQ request may send alone).
//!
//! Parsing was a tenth of a query's CPU, and clients repeat the same few documents. Keyed by
//! SHA-256 alone, every request paid for hashing its text and formatting the hash (8% of a
//! `totalCount` query's instructions); keyed by the text, a request pays for one fast hash
//! of it, and the SHA-256 is computed once per document, when it is first parsed.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;
use sha2::{Digest, Sha256};

use super::plan::Plan;

/// A cached document with the SHA-256 of its text (lowercase hex), for checking an APQ hash.
#[derive(Clone)]
pub(super) struct Cached {
    pub document: Arc<ExecutableDocument>,
    pub hash: Arc<str>,
    pub validated: Arc<Validated>,
}

/// The operations of a cached document (by the name a request selects it with) that have
/// passed async-graphql's full validation, each with its compiled plan if it has one.
/// async-graphql validates every request afresh, which was a fifth of a small query's
/// instructions; its outcome depends only on the document, the operation and the variable
/// values, and for the values [`super::spec::variables_plainly_valid`] accepts, not on those
/// either.
#[derive(Default)]
pub(super) struct Validated(Mutex<Vec<Passed>>);

/// An operation's name and plan.
type Passed = (Option<String>, Option<Arc<Plan>>);

impl Validated {
    /// `None` unless `operation` has passed; then its plan, if it compiled to one.
    pub fn get(&self, operation: Option<&str>) -> Option<Option<Arc<Plan>>> {
        let passed = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        passed.iter().find(|(o, _)| o.as_deref() == operation).map(|(_, plan)| plan.clone())
    }

    /// Records that `operation` passed, with its plan, and returns the plan it has now (the
    /// first recorded, if another request got there first). A document has few operations,
    /// and a request's name that selects none never passes.
    pub fn insert(&self, operation: Option<&str>, plan: Option<Plan>) -> Option<Arc<Plan>> {
        let mut passed = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, recorded)) = passed.iter().find(|(o, _)| o.as_deref() == operation) {
            return recorded.clone();
        }
        let plan = plan.map(Arc::new);
        passed.push((operation.map(str::to_owned), plan.clone()));
        plan
    }
}

pub(super) struct Documents(Mutex<Inner>);

struct Inner {
    by_text: LruCache<Arc<str>, Cached>,
    /// SHA-256 → text, for APQ requests that send only the hash. An entry whose text has
    /// left `by_text` finds nothing, and the client sends the whole query again.
    by_hash: LruCache<Arc<str>, Arc<str>>,
}

impl Documents {
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self(Mutex::new(Inner { by_text: LruCache::new(capacity), by_hash: LruCache::new(capacity) }))
    }

    pub fn by_text(&self, text: &str) -> Option<Cached> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).by_text.get(text).cloned()
    }

    pub fn by_hash(&self, hash: &str) -> Option<Cached> {
        let mut inner = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let text = inner.by_hash.get(hash)?.clone();
        inner.by_text.get(&*text).cloned()
    }

    /// Caches `document`, parsed from `text`, under both keys.
    pub fn insert(&self, text: &str, document: ExecutableDocument) -> Cached {
        let cached = Cached { document: Arc::new(document), hash: sha256_hex(text).into(), validated: Arc::default() };
        let text: Arc<str> = text.into();
        let mut inner = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.by_hash.put(cached.hash.clone(), text.clone());
        inner.by_text.put(text, cached.clone());
        cached
    }
}

/// The SHA-256 of `text` as APQ writes it: lowercase hex.
pub(super) fn sha256_hex(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(text).unwrap()
    }

    #[test]
    fn a_document_is_found_by_its_text_and_by_its_sha256_until_it_is_evicted() {
        let documents = Documents::new(NonZeroUsize::new(2).unwrap());
        let first = documents.insert("{ a }", parsed("{ a }"));
        // The hash APQ clients compute for "{ a }".
        assert_eq!(&*first.hash, sha256_hex("{ a }"));
        assert_eq!(first.hash.len(), 64);
        assert!(Arc::ptr_eq(&documents.by_text("{ a }").unwrap().document, &first.document));
        assert!(Arc::ptr_eq(&documents.by_hash(&first.hash).unwrap().document, &first.document));
        assert!(documents.by_text("{ b }").is_none());

        documents.insert("{ b }", parsed("{ b }"));
        documents.by_text("{ a }"); // now the most recently used
        documents.insert("{ c }", parsed("{ c }"));

        assert!(documents.by_text("{ a }").is_some());
        assert!(documents.by_text("{ b }").is_none(), "the least recently used is evicted");
        assert!(documents.by_hash(&sha256_hex("{ b }")).is_none());
        assert!(documents.by_text("{ c }").is_some());
    }
}
