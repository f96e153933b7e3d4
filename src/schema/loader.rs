//! Request-scoped upstream access: one cache of loads per GraphQL request and credential.
//!
//! Identical requests within one GraphQL request (aliases, repeated fields, many participants
//! of one session) go upstream once: each key's load is one shared future, kept for the
//! request, which every field asking for it awaits, whether it is still in flight or done;
//! items a list returned are put in as done loads, so looking one up later costs nothing.
//! Nothing outlives the request, so nothing is shared between requests or credentials. Each
//! key's result is its own `Result`, so one failing key never fails another.
//!
//! (This was async-graphql's `DataLoader`, which batches keys for APIs that can fetch many
//! at once. Telnyx's REST cannot, so it only added a spawned task, a timer and a channel to
//! every upstream request, and it did not share loads still in flight.)

use std::any::{Any, TypeId};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared};

use crate::error::AppError;
use crate::pagination::Page;
use crate::telemetry::spans;
use crate::telnyx::{Action, Call, Client, Credential, Identified, ItemEndpoint, ListEndpoint, ListPage};

/// Per-request bounds on upstream work.
#[derive(Debug, Clone)]
pub struct RequestLimits {
    /// When all upstream work for the request must be done.
    pub deadline: tokio::time::Instant,
    /// How many upstream requests it may make.
    pub max_upstream_requests: usize,
    /// The `traceparent` to send upstream.
    pub traceparent: Option<http::HeaderValue>,
}

/// One page of one list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey<E> {
    /// The list.
    pub endpoint: E,
    /// The page of it.
    pub page: Page,
}

/// Fetches pages and items for one GraphQL request.
pub struct UpstreamLoader {
    client: Client,
    call: Call,
    /// Upstream requests this GraphQL request may still make.
    budget: AtomicUsize,
}

impl UpstreamLoader {
    /// Takes one request from the budget, so no query can fan out without bound at run time
    /// (the complexity limit refuses most such queries before they run).
    fn spend(&self) -> Result<(), AppError> {
        self.budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(1))
            .map(drop)
            .map_err(|_| AppError::QueryTooExpensive("it needs more upstream requests than allowed".into()))
    }
}

/// What loading one key of type `Self` gives.
trait Load: Send + Sync + std::hash::Hash + Eq + Clone + 'static {
    type Value: Clone + Send + Sync + 'static;

    /// Loads it, spending one upstream request of the budget.
    fn load(self, loader: Arc<UpstreamLoader>) -> BoxFuture<'static, Self::Value>;
}

impl<E: ListEndpoint> Load for PageKey<E> {
    type Value = Result<Arc<ListPage<E::Item>>, AppError>;

    fn load(self, loader: Arc<UpstreamLoader>) -> BoxFuture<'static, Self::Value> {
        async move {
            loader.spend()?;
            let page = loader.client.list(&loader.call, &self.endpoint, self.page).await?;
            Ok(Arc::new(page))
        }
        .boxed()
    }
}

/// Item keys are the item endpoints themselves (`ParticipantById(id)`, ...).
impl<E: ItemEndpoint> Load for E {
    type Value = Result<Option<Arc<E::Item>>, AppError>;

    fn load(self, loader: Arc<UpstreamLoader>) -> BoxFuture<'static, Self::Value> {
        async move {
            loader.spend()?;
            Ok(loader.client.item(&loader.call, &self).await?.map(Arc::new))
        }
        .boxed()
    }
}

/// A key's load: done (a value a list or a write brought, or a load finished), or running.
#[derive(Clone)]
enum Slot<V> {
    Done(V),
    Running(Shared<BoxFuture<'static, V>>),
}

type Slots<K> = Map<K, Slot<<K as Load>::Value>>;

/// The request's maps, with foldhash (seeded per process) rather than SipHash: their keys (list
/// endpoints with their filters, item ids) were hashed about fifty times per request, a few
/// percent of a small query's CPU, and a map that lives for one request and holds at most its
/// upstream budget's pages and their items has no use for SipHash's resistance to flooding.
type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The upstream as seen by one GraphQL request.
pub struct Upstream {
    /// The loader, or why this request may not reach Telnyx at all (no credential, or a
    /// missing scope): every field that needs upstream data then fails with that error and
    /// nothing is sent, while fields that need none still resolve.
    loader: Result<Arc<UpstreamLoader>, AppError>,
    /// How this request writes to Telnyx, or why it may not.
    writer: Result<(Client, Call), AppError>,
    /// Loads, in flight or done, by key type then key: a key asked for again while its first
    /// load is still running (e.g. the session of each participant) awaits that load.
    loads: Mutex<Map<TypeId, Box<dyn Any + Send>>>,
    /// Totals learnt so far in this request, by endpoint type then endpoint (its filters
    /// included), so that `last` without `before` can skip its counting request.
    totals: Mutex<Map<TypeId, Box<dyn Any + Send>>>,
}

impl Upstream {
    /// Upstream access for one GraphQL request: `read` and `write` are the credential to call
    /// Telnyx with for each, or the error every field needing it fails with.
    pub fn new(
        client: Client,
        read: Result<Credential, AppError>,
        write: Result<Credential, AppError>,
        limits: RequestLimits,
    ) -> Self {
        let call = |credential| Call { credential, deadline: limits.deadline, traceparent: limits.traceparent.clone() };
        let writer = write.map(|credential| (client.clone(), call(credential)));
        let loader = read.map(|credential| {
            let call = call(credential);
            Arc::new(UpstreamLoader { client, call, budget: AtomicUsize::new(limits.max_upstream_requests) })
        });
        Self { loader, writer, loads: Mutex::default(), totals: Mutex::default() }
    }

    fn loader(&self) -> Result<&Arc<UpstreamLoader>, AppError> {
        self.loader.as_ref().map_err(Clone::clone)
    }

    /// `key`'s load: the one this request already made or started, else a new one. It runs
    /// as the fields awaiting it poll it, in their span, so its upstream span is a child of
    /// the operation's.
    async fn load<K: Load>(&self, key: K) -> Result<K::Value, AppError> {
        let loader = self.loader()?.clone();
        let slot = self.with_loads(|loads: &mut Slots<K>| {
            loads.entry(key.clone()).or_insert_with(|| Slot::Running(key.load(loader).shared())).clone()
        });
        Ok(match slot {
            Slot::Done(value) => value,
            Slot::Running(load) => load.await,
        })
    }

    /// Runs `f` on the loads of keys of type `K`.
    fn with_loads<K: Load, R>(&self, f: impl FnOnce(&mut Slots<K>) -> R) -> R {
        f(typed(&mut self.loads.lock().expect("loads lock")))
    }

    /// Fetches `pages` of `endpoint` concurrently, in the order given, and remembers what
    /// they reveal: the list's total and each item.
    pub async fn pages<E: ListEndpoint>(
        &self,
        endpoint: &E,
        pages: &[Page],
    ) -> Result<Vec<(Page, Arc<ListPage<E::Item>>)>, AppError> {
        let loads = pages.iter().map(|&page| async move {
            Ok::<_, AppError>((page, self.load(PageKey { endpoint: endpoint.clone(), page }).await??))
        });
        let pages = futures::future::try_join_all(loads).await?;
        if let Some(total) = total_of(&pages) {
            self.with_totals(|totals: &mut Map<E, u64>| totals.insert(endpoint.clone(), total));
        }
        self.with_loads(|loads: &mut Slots<<E::Item as Identified>::Key>| {
            for item in pages.iter().flat_map(|(_, page)| page.items.iter()) {
                if let Some(key) = item.key() {
                    loads.entry(key).or_insert_with(|| Slot::Done(Ok(Some(item.clone()))));
                }
            }
        });
        Ok(pages)
    }

    /// The list's total: already known in this request, or from one `page[size]=1` request.
    pub async fn total<E: ListEndpoint>(&self, endpoint: &E) -> Result<u64, AppError> {
        if let Some(total) = self.known_total(endpoint) {
            return Ok(total);
        }
        let pages = self.pages(endpoint, &[Page::TOTAL_ONLY]).await?;
        Ok(total_of(&pages).unwrap_or(0))
    }

    /// The list's total if a page of it was already fetched in this request.
    pub fn known_total<E: ListEndpoint>(&self, endpoint: &E) -> Option<u64> {
        self.with_totals(|totals: &mut Map<E, u64>| totals.get(endpoint).copied())
    }

    /// Runs `f` on the totals of endpoints of type `E`.
    fn with_totals<E: ListEndpoint, R>(&self, f: impl FnOnce(&mut Map<E, u64>) -> R) -> R {
        f(typed(&mut self.totals.lock().expect("totals lock")))
    }

    /// One item, from this request's cache or upstream; `None` if Telnyx has no such item.
    pub async fn item<E: ItemEndpoint>(&self, endpoint: E) -> Result<Option<Arc<E::Item>>, AppError> {
        self.load(endpoint).await?
    }
}

impl Upstream {
    /// Sends a write to Telnyx (never twice: see [`Client::act`]). Afterwards, whatever the
    /// outcome, the request forgets everything it read, so later fields show the new state
    /// rather than an earlier read (read-your-writes within one request).
    pub async fn act<T: serde::de::DeserializeOwned>(&self, action: &Action) -> Result<Option<T>, AppError> {
        let (client, call) = self.writer.as_ref().map_err(Clone::clone)?;
        let result = client.act(call, action).await.map_err(AppError::Write);
        self.forget();
        result
    }

    /// Drops every cached page, item and total of this request.
    fn forget(&self) {
        self.loads.lock().expect("loads lock").clear();
        self.totals.lock().expect("totals lock").clear();
    }

    /// Records what a write answered as the item's current state (`None`: it is gone), so
    /// the payload's fields cost no further request.
    pub async fn prime<E: ItemEndpoint>(&self, key: E, item: Option<Arc<E::Item>>) {
        self.with_loads(|loads: &mut Slots<E>| {
            loads.insert(key, Slot::Done(Ok(item)));
        });
    }
}

/// The map of type `T` among `maps`, one per type, created on first use.
fn typed<T: Default + Send + 'static>(maps: &mut Map<TypeId, Box<dyn Any + Send>>) -> &mut T {
    maps.entry(TypeId::of::<T>())
        .or_insert_with(|| Box::new(T::default()))
        .downcast_mut::<T>()
        .expect("entries are keyed by their type")
}

/// `meta.total_results` of the first page that has it; without any, the end of the furthest
/// page that came back short (which proves where the list ends).
fn total_of<T>(pages: &[(Page, Arc<ListPage<T>>)]) -> Option<u64> {
    pages.iter().find_map(|(_, page)| page.total).or_else(|| {
        pages
            .iter()
            .filter(|(page, list)| (list.items.len() as u64) < page.size)
            .map(|(page, list)| page.offset() + list.items.len() as u64)
            .max()
    })
}

/// How a subscription reaches Telnyx. A subscription outlives any one request's deadline and
/// caches, so each event gets its own [`Upstream`], shared by every subscriber of that event
/// with the same credential (never across credentials): a detail field many subscribers ask
/// for loads once per event. async-graphql resolves a subscription's events one at a time,
/// so the event being resolved is the current one.
pub struct EventUpstreams {
    client: Client,
    read: Result<Credential, AppError>,
    /// Tells credentials apart without holding them as a key (a digest).
    credential_key: String,
    deadline: Duration,
    max_upstream_requests: usize,
    current: Mutex<Arc<Upstream>>,
    /// When the current event reached this process, and its cursor until a transport takes
    /// it (see [`EventUpstreams::take_cursor`]).
    event: Mutex<Option<(std::time::Instant, Option<crate::live::Cursor>)>>,
    /// The span of resolving the current event, when this subscriber started its resolution;
    /// ended by [`EventUpstreams::take_cursor`], once the event's frame is built.
    resolving: Mutex<tracing::Span>,
}

impl EventUpstreams {
    /// For one operation of a subscriber reading with `read` (whose digest is
    /// `credential_key`). Until the first event, the operation has an upstream of its own
    /// that may also `write` (a query or mutation sent over a streaming transport uses it).
    pub fn new(
        client: Client,
        read: Result<Credential, AppError>,
        write: Result<Credential, AppError>,
        credential_key: String,
        deadline: Duration,
        max_upstream_requests: usize,
    ) -> Self {
        let first = Self::upstream(&client, &read, write, deadline, max_upstream_requests, None);
        let current = Mutex::new(Arc::new(first));
        let (event, resolving) = (Mutex::default(), Mutex::new(tracing::Span::none()));
        Self { client, read, credential_key, deadline, max_upstream_requests, current, event, resolving }
    }

    fn upstream(
        client: &Client,
        read: &Result<Credential, AppError>,
        write: Result<Credential, AppError>,
        deadline: Duration,
        max: usize,
        traceparent: Option<http::HeaderValue>,
    ) -> Upstream {
        let limits =
            RequestLimits { deadline: tokio::time::Instant::now() + deadline, max_upstream_requests: max, traceparent };
        Upstream::new(client.clone(), read.clone(), write, limits)
    }

    /// Makes the upstream of `event` (for this subscriber's credential) the current one.
    pub fn enter(&self, event: &crate::live::Delivered) {
        let upstream = {
            let mut shared = event.shared.lock().expect("event state lock");
            let entry = shared.entry(self.credential_key.clone()).or_insert_with(|| {
                let read_only = Err(AppError::Unauthenticated);
                let span = spans::event(event.event.kind.event_type(), event.trace.as_ref());
                let (deadline, max) = (self.deadline, self.max_upstream_requests);
                let upstream =
                    Self::upstream(&self.client, &self.read, read_only, deadline, max, spans::traceparent(&span));
                *self.resolving.lock().expect("resolving lock") = span;
                Arc::new(upstream)
            });
            entry.clone().downcast::<Upstream>().expect("only upstreams are kept per credential")
        };
        *self.current.lock().expect("current upstream lock") = upstream;
        *self.event.lock().expect("event lock") = Some((event.received, Some(event.cursor.clone())));
    }

    /// When the event being resolved reached this process (none before the first event).
    pub fn event_received(&self) -> Option<std::time::Instant> {
        self.event.lock().expect("event lock").as_ref().map(|(received, _)| *received)
    }

    /// The cursor of the event just resolved, once: a result that follows without a new
    /// event (an error ending the stream) gets none. Its resolution is over, so its span ends.
    pub fn take_cursor(&self) -> Option<crate::live::Cursor> {
        drop(std::mem::replace(&mut *self.resolving.lock().expect("resolving lock"), tracing::Span::none()));
        self.event.lock().expect("event lock").as_mut().and_then(|(_, cursor)| cursor.take())
    }

    /// The upstream of the event being resolved.
    pub fn current(&self) -> Arc<Upstream> {
        self.current.lock().expect("current upstream lock").clone()
    }
}
