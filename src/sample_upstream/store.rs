//! The served data, shared by every handler: reads take a snapshot, writes change it.

use std::{
    convert::Infallible,
    sync::{Arc, PoisonError, RwLock},
};

use axum::{extract::FromRequestParts, http::request::Parts};

use super::data::SampleData;

/// The data the upstream serves now.
///
/// A read clones the `Arc` under a brief read lock and then works on that immutable snapshot
/// without any lock, so one request sees one consistent state and the read path costs what it
/// did when the data never changed. A write changes the data in place under the write lock
/// through [`Arc::make_mut`], which copies it only while some snapshot of the old state is
/// still alive: writes are rare, reads are what the benchmarks hammer.
#[derive(Debug)]
pub(super) struct Store {
    data: RwLock<Arc<SampleData>>,
}

impl Store {
    pub(super) fn new(data: Arc<SampleData>) -> Self {
        Self { data: RwLock::new(data) }
    }

    /// The data as of now; later writes do not change it.
    pub(super) fn snapshot(&self) -> Arc<SampleData> {
        // A panic in another request must not take the upstream down with it.
        self.data.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Extracts the data as of the request's arrival, for read handlers.
pub(super) struct Snapshot(pub(super) Arc<SampleData>);

impl FromRequestParts<Arc<Store>> for Snapshot {
    type Rejection = Infallible;

    async fn from_request_parts(_: &mut Parts, store: &Arc<Store>) -> Result<Self, Infallible> {
        Ok(Self(store.snapshot()))
    }
}
