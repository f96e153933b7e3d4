//! Relay connections over any page-number list: arguments, loading, and the GraphQL types.
//!
//! [`load`] is the one generic connection builder: it validates the Relay arguments, decides
//! from the selection set what must be fetched (items, or only the total), plans the upstream
//! pages, and cuts the window out of them. Each list only supplies a [`ListEndpoint`] and a
//! node type that names its connection.

use std::borrow::Cow;
use std::sync::Arc;

use async_graphql::{Context, Object, OutputType, TypeName};

use super::Limits;
use crate::error::AppError;
use crate::pagination::{plan, recheck, resolve, CursorCodec, RelayArgs, Slice, WindowOrTotal, MAX_PAGE_SIZE};
use crate::telnyx::ListEndpoint;

/// A GraphQL node type that can be listed in a connection.
pub trait ConnectionNode: OutputType + Send + Sync + 'static {
    /// The connection type's name, e.g. `RoomParticipantConnection`.
    const CONNECTION: &'static str;
    /// The edge type's name, e.g. `RoomParticipantEdge`.
    const EDGE: &'static str;
}

/// Relay's four connection arguments as the client sent them.
#[derive(Debug, Default)]
pub struct ConnectionArgs {
    /// `first`.
    pub first: Option<i32>,
    /// `after`.
    pub after: Option<String>,
    /// `last`.
    pub last: Option<i32>,
    /// `before`.
    pub before: Option<String>,
}

/// `first` when neither `first` nor `last` is given.
const DEFAULT_FIRST: u64 = 20;

/// Complexity units charged per upstream request, so that cost tracks upstream load as well
/// as response size.
const UPSTREAM_REQUEST_COST: usize = super::directives::UPSTREAM_REQUEST as usize;

/// The complexity of a connection field: each of up to `first`/`last` items costs its
/// selection, plus the upstream pages it may take. Aliases and nesting multiply, so a query
/// such as 50 aliases of `first: 1000` is refused before anything runs.
///
/// Values no configuration accepts (negative, or above 10 000) cost nothing here, so that the
/// resolver rejects them as `BAD_USER_INPUT` naming the argument.
pub fn complexity(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let count = |n: Option<i32>| n.map(|n| usize::try_from(n).ok().filter(|&n| n <= 10_000).unwrap_or(0));
    let items = match (count(first), count(last)) {
        (Some(f), Some(l)) => f.min(l),
        (Some(n), None) | (None, Some(n)) => n,
        (None, None) => DEFAULT_FIRST as usize,
    };
    let requests = items.div_ceil(MAX_PAGE_SIZE as usize).max(1) + usize::from(last.is_some());
    items.max(1).saturating_mul(child_complexity).saturating_add(requests * UPSTREAM_REQUEST_COST)
}

impl ConnectionArgs {
    /// Parses the arguments against the connection's cursor codec and the configured maximum.
    fn parse(self, codec: &CursorCodec, max: u64) -> Result<RelayArgs, AppError> {
        let count = |name: &str, value: Option<i32>| {
            value
                .map(|v| match u64::try_from(v) {
                    Ok(v) if v <= max => Ok(v),
                    _ => Err(AppError::bad_input(name, format!("must be between 0 and {max}, got {v}"))),
                })
                .transpose()
        };
        let cursor = |name: &str, value: Option<String>| {
            value.map(|c| codec.decode(&c).map_err(|e| AppError::bad_input(name, format!("cursor {e}")))).transpose()
        };
        let mut args = RelayArgs {
            first: count("first", self.first)?,
            after: cursor("after", self.after)?,
            last: count("last", self.last)?,
            before: cursor("before", self.before)?,
        };
        if args.first.is_none() && args.last.is_none() {
            args.first = Some(DEFAULT_FIRST);
        }
        Ok(args)
    }
}

/// Loads the connection of `endpoint` that `args` ask for, fetching only what the selection
/// set needs; `node` turns each upstream item into its GraphQL node.
pub async fn load<E, N>(
    ctx: &Context<'_>,
    endpoint: E,
    args: ConnectionArgs,
    node: impl Fn(Arc<E::Item>) -> N,
) -> Result<Connection<N>, AppError>
where
    E: ListEndpoint,
    N: ConnectionNode,
{
    let selection = ctx.look_ahead();
    let needs = Needs {
        items: selection.field("edges").exists() || selection.field("nodes").exists(),
        total: selection.field("totalCount").exists() || selection.field("pageInfo").exists(),
    };
    let max = ctx.data_unchecked::<Limits>().max_first_last;
    let (slice, codec) = load_slice(&super::upstream(ctx), max, &endpoint, args, needs).await?;
    Ok(Connection { slice: slice.map(node), codec })
}

/// What a connection's selection set needs fetched.
#[derive(Debug, Clone, Copy)]
pub struct Needs {
    /// Its items (`edges` or `nodes` is selected).
    pub items: bool,
    /// The list's total (`totalCount` or `pageInfo` is selected).
    pub total: bool,
}

/// The window of `endpoint` that `args` ask for (at most `max` items), and the cursors of the
/// connection: [`load`]'s work without a resolver's context, so a compiled plan
/// ([`super::plan`]) pages exactly as the resolver does.
pub async fn load_slice<E: ListEndpoint>(
    upstream: &super::Upstream,
    max: u64,
    endpoint: &E,
    args: ConnectionArgs,
    needs: Needs,
) -> Result<(Slice<Arc<E::Item>>, CursorCodec), AppError> {
    let codec = CursorCodec::for_connection([endpoint.identity().as_str()]);
    let relay = args.parse(&codec, max)?;
    let mut window = match resolve(relay, upstream.known_total(endpoint)) {
        WindowOrTotal::Window(window) => window,
        WindowOrTotal::NeedsTotal => match resolve(relay, Some(upstream.total(endpoint).await?)) {
            WindowOrTotal::Window(window) => window,
            WindowOrTotal::NeedsTotal => unreachable!("resolve always yields a window once the total is known"),
        },
    };
    let mut corrected_once = false;
    let slice = loop {
        if !needs.items || window.is_empty() {
            let total = if needs.items || needs.total { upstream.total(endpoint).await? } else { 0 };
            break Slice::without_items(window, total);
        }
        let pages = upstream.pages(endpoint, &plan(window)).await?;
        let total = upstream.known_total(endpoint).unwrap_or_else(|| {
            pages.iter().map(|(page, list)| page.offset() + list.items.len() as u64).max().unwrap_or(0)
        });
        match recheck(relay, window, total) {
            // A stale `before` cursor on a list that shrank: redo once against the real end.
            Some(corrected) if !corrected_once => (window, corrected_once) = (corrected, true),
            _ => {
                break Slice::assemble(
                    window,
                    total,
                    pages.iter().map(|(page, list)| (page.offset(), list.items.clone())),
                )
            }
        }
    };
    Ok((slice, codec))
}

/// A connection over a list already in memory (a room-scoped caller's rooms), with the same
/// arguments, cursors and `pageInfo` as one over upstream pages. `identity` binds the cursors.
pub fn in_memory<T, N: ConnectionNode>(
    ctx: &Context<'_>,
    identity: &str,
    items: Vec<Arc<T>>,
    args: ConnectionArgs,
    node: impl Fn(Arc<T>) -> N,
) -> Result<Connection<N>, AppError> {
    let codec = CursorCodec::for_connection([identity]);
    let relay = args.parse(&codec, ctx.data_unchecked::<Limits>().max_first_last)?;
    let total = items.len() as u64;
    let WindowOrTotal::Window(window) = resolve(relay, Some(total)) else {
        unreachable!("resolve always yields a window once the total is known")
    };
    let slice = Slice::assemble(window, total, [(0, items)]);
    Ok(Connection { slice: slice.map(node), codec })
}

/// A page of a list, with Relay's edges, nodes and `pageInfo`.
pub struct Connection<N> {
    slice: Slice<N>,
    codec: CursorCodec,
}

impl<N: ConnectionNode> TypeName for Connection<N> {
    fn type_name() -> Cow<'static, str> {
        Cow::Borrowed(N::CONNECTION)
    }
}

/// A page of a list, following the Relay connection specification.
#[Object(name_type, shareable)]
impl<N: ConnectionNode> Connection<N> {
    /// The items of this page, each with its cursor.
    async fn edges(&self) -> Vec<Edge<'_, N>> {
        self.slice
            .offsets()
            .zip(&self.slice.items)
            .map(|(offset, node)| Edge { node, cursor: self.codec.encode(offset) })
            .collect()
    }

    /// The items of this page, without cursors.
    async fn nodes(&self) -> &[N] {
        &self.slice.items
    }

    /// Where this page lies in the list.
    async fn page_info(&self) -> PageInfo {
        let (start, end) = (self.slice.start, self.slice.end());
        let has_items = end > start;
        PageInfo {
            has_previous_page: self.slice.has_previous_page(),
            has_next_page: self.slice.has_next_page(),
            start_cursor: has_items.then(|| self.codec.encode(start)),
            end_cursor: has_items.then(|| self.codec.encode(end - 1)),
        }
    }

    /// The number of items in the whole list (with the filter applied), across all pages.
    async fn total_count(&self) -> i64 {
        i64::try_from(self.slice.total).unwrap_or(i64::MAX)
    }
}

/// An item of a connection and its cursor.
pub struct Edge<'a, N> {
    node: &'a N,
    cursor: String,
}

impl<N: ConnectionNode> TypeName for Edge<'_, N> {
    fn type_name() -> Cow<'static, str> {
        Cow::Borrowed(N::EDGE)
    }
}

impl<'a, N> Edge<'a, N> {
    /// An edge of `node` at `cursor`.
    pub fn new(node: &'a N, cursor: String) -> Self {
        Self { node, cursor }
    }
}

/// For an edge field (`ctx`), the cursor of the last item of `endpoint`'s list (where Telnyx
/// puts a new item, as its lists are oldest first): one request for the list's total, unless
/// the request knows it, and none when the edge's `cursor` is not selected.
pub async fn last_cursor_if_selected<E: ListEndpoint>(ctx: &Context<'_>, endpoint: &E) -> Result<String, AppError> {
    if !ctx.look_ahead().field("cursor").exists() {
        return Ok(String::new());
    }
    let total = super::upstream(ctx).total(endpoint).await?;
    Ok(CursorCodec::for_connection([endpoint.identity().as_str()]).encode(total.saturating_sub(1)))
}

/// An item of a connection and its cursor.
#[Object(name_type, shareable)]
impl<'a, N: ConnectionNode> Edge<'a, N> {
    /// The item.
    async fn node(&self) -> &N {
        self.node
    }

    /// An opaque cursor for `after`/`before`, valid only for this connection (same list and filter).
    async fn cursor(&self) -> &str {
        &self.cursor
    }
}

/// Relay's page information; both flags are exact, computed from the list's total.
pub struct PageInfo {
    has_previous_page: bool,
    has_next_page: bool,
    start_cursor: Option<String>,
    end_cursor: Option<String>,
}

/// Relay's page information. Both flags are exact in either paging direction.
#[Object(shareable)]
impl PageInfo {
    /// Whether items exist before this page.
    async fn has_previous_page(&self) -> bool {
        self.has_previous_page
    }

    /// Whether items exist after this page.
    async fn has_next_page(&self) -> bool {
        self.has_next_page
    }

    /// The cursor of the first edge; null when the page is empty.
    async fn start_cursor(&self) -> Option<&str> {
        self.start_cursor.as_deref()
    }

    /// The cursor of the last edge; null when the page is empty.
    async fn end_cursor(&self) -> Option<&str> {
        self.end_cursor.as_deref()
    }
}
