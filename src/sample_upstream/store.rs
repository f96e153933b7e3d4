//! The served data, shared by every handler: reads take a snapshot, writes change it.

use std::{
    convert::Infallible,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, PoisonError, RwLock,
    },
};

use axum::{extract::FromRequestParts, http::request::Parts};

use super::{
    data::{uuid_from, SampleData},
    token::Signer,
};

/// Serial of the first id writes hand out: far above the seeded serials, so that created ids
/// never collide with seeded ones, and the same sequence of writes gets the same ids every run.
const FIRST_WRITE_SERIAL: u64 = 1 << 32;

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
    next_serial: AtomicU64,
    /// Signs the client tokens this upstream issues.
    pub(super) signer: Signer,
}

impl Store {
    pub(super) fn new(data: Arc<SampleData>) -> Self {
        Self { data: RwLock::new(data), next_serial: AtomicU64::new(FIRST_WRITE_SERIAL), signer: Signer::random() }
    }

    /// A fresh id for something a write creates.
    pub(super) fn next_id(&self) -> String {
        uuid_from(self.next_serial.fetch_add(1, Ordering::Relaxed))
    }

    /// The data as of now; later writes do not change it.
    pub(super) fn snapshot(&self) -> Arc<SampleData> {
        // A panic in another request must not take the upstream down with it.
        self.data.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Runs `change` on the data under the write lock, so reads that start afterwards see its
    /// effect. A `change` that can fail must check everything before it changes anything: an
    /// error must leave the data as it was.
    pub(super) fn write<T>(&self, change: impl FnOnce(&mut SampleData) -> T) -> T {
        let mut data = self.data.write().unwrap_or_else(PoisonError::into_inner);
        change(Arc::make_mut(&mut data))
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
