//! Trusted documents (persisted-query safelisting): the operations a deployment's own
//! frontends were built with, loaded from a manifest at start-up.
//!
//! Two manifest formats are read: Apollo's persisted query manifest
//! (`{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id","body",…}]}`,
//! from `generate-persisted-query-manifest`) and Relay's `persisted_queries.json`
//! (`{"<id>": "<document>"}`, from `relay-compiler` with `persistConfig`). A document is known
//! by its manifest id and by the SHA-256 of its text, which is what Apollo's
//! `extensions.persistedQuery.sha256Hash` and GraphQL over HTTP's `documentId: "sha256:…"` carry.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// What happens to a document that is not in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// It is refused (`PERSISTED_QUERY_NOT_IN_LIST`), and APQ cannot register new ones.
    Enforce,
    /// It runs, and is counted in `/metrics`.
    Allow,
}

/// The loaded manifest.
#[derive(Debug)]
pub struct TrustedDocuments {
    /// Documents by manifest id.
    by_id: HashMap<String, Arc<str>>,
    /// Documents by the lowercase hex SHA-256 of their text.
    by_hash: HashMap<String, Arc<str>>,
    /// What happens to other documents.
    pub mode: Mode,
}

impl TrustedDocuments {
    /// Reads the manifest at `path`; the error says what is wrong with it.
    pub fn load(path: &Path, mode: Mode) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text, mode).map_err(|e| format!("{} is not a trusted-documents manifest: {e}", path.display()))
    }

    /// Parses a manifest in either format.
    pub fn parse(text: &str, mode: Mode) -> Result<Self, String> {
        let json: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let object = json.as_object().ok_or("expected a JSON object")?;
        let mut pairs = Vec::new();
        if object.get("format").and_then(|f| f.as_str()) == Some("apollo-persisted-query-manifest") {
            if object.get("version").and_then(|v| v.as_u64()) != Some(1) {
                return Err("only version 1 of Apollo's manifest is supported".into());
            }
            let operations = object.get("operations").and_then(|o| o.as_array()).ok_or("no `operations` array")?;
            for operation in operations {
                let id = operation.get("id").and_then(|v| v.as_str()).ok_or("an operation without an `id`")?;
                let body = operation.get("body").and_then(|v| v.as_str()).ok_or("an operation without a `body`")?;
                pairs.push((id.to_owned(), body.to_owned()));
            }
        } else {
            for (id, body) in object {
                let body = body.as_str().ok_or_else(|| format!("the document of `{id}` is not a string"))?;
                pairs.push((id.clone(), body.to_owned()));
            }
        }
        let mut documents = Self { by_id: HashMap::new(), by_hash: HashMap::new(), mode };
        for (id, body) in pairs {
            let body: Arc<str> = body.into();
            documents.by_hash.insert(sha256_hex(body.as_bytes()), body.clone());
            documents.by_id.insert(id, body);
        }
        Ok(documents)
    }

    /// The document a request names by id: a manifest id, or `sha256:<hex>`.
    pub fn by_id(&self, id: &str) -> Option<&Arc<str>> {
        match id.strip_prefix("sha256:") {
            Some(hash) => self.by_hash(hash),
            None => self.by_id.get(id),
        }
    }

    /// The document whose text has this SHA-256 (hex, any case).
    pub fn by_hash(&self, hash: &str) -> Option<&Arc<str>> {
        self.by_hash.get(&hash.to_ascii_lowercase())
    }

    /// How many documents the manifest holds.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the manifest is empty.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

use super::sha256_hex;

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "query Q { __typename }";

    #[test]
    fn apollo_manifests_are_read_by_id_and_by_hash() {
        let manifest = serde_json::json!({
            "format": "apollo-persisted-query-manifest",
            "version": 1,
            "operations": [{ "id": "abc", "name": "Q", "type": "query", "body": DOC }],
        });
        let documents = TrustedDocuments::parse(&manifest.to_string(), Mode::Enforce).unwrap();
        assert_eq!(documents.by_id("abc").map(|d| &**d), Some(DOC));
        let hash = sha256_hex(DOC);
        assert_eq!(documents.by_hash(&hash.to_ascii_uppercase()).map(|d| &**d), Some(DOC));
        assert_eq!(documents.by_id(&format!("sha256:{hash}")).map(|d| &**d), Some(DOC));
        assert_eq!(documents.by_id("nope"), None);
    }

    #[test]
    fn relay_manifests_map_ids_to_documents() {
        let documents = TrustedDocuments::parse(&serde_json::json!({ "md5id": DOC }).to_string(), Mode::Allow).unwrap();
        assert_eq!(documents.by_id("md5id").map(|d| &**d), Some(DOC));
        assert_eq!(documents.len(), 1);
    }

    #[test]
    fn a_broken_manifest_says_what_is_wrong() {
        for (text, says) in [
            ("[]", "expected a JSON object"),
            (r#"{"format":"apollo-persisted-query-manifest","version":2,"operations":[]}"#, "version 1"),
            (r#"{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id":"a"}]}"#, "`body`"),
            (r#"{"a": 1}"#, "`a` is not a string"),
        ] {
            let error = TrustedDocuments::parse(text, Mode::Enforce).unwrap_err();
            assert!(error.contains(says), "{error}");
        }
    }
}
