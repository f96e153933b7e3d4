//! Relay's cursor algorithm over absolute offsets.
//!
//! A cursor is an item's absolute offset in the list, so `after`/`before` become bounds, and
//! `first`/`last` are applied to them in the order the Relay spec gives ("apply cursors, then
//! first, then last"). Because offsets and the total are known exactly, `hasPreviousPage` and
//! `hasNextPage` are exact too, rather than the lazy `false` the spec permits.

/// Validated Relay connection arguments: cursors already decoded to offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayArgs {
    /// Take at most this many items from the start of the window.
    pub first: Option<u64>,
    /// Offset of the item the window starts after.
    pub after: Option<u64>,
    /// Take at most this many items from the end of the window.
    pub last: Option<u64>,
    /// Offset of the item the window ends before.
    pub before: Option<u64>,
}

/// An absolute, half-open range `[start, end)` of list offsets.
///
/// `end` may lie past the end of the list when the total is not known yet; [`Slice`] clamps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First offset in the window.
    pub start: u64,
    /// One past the last offset in the window.
    pub end: u64,
}

impl Window {
    /// Number of offsets in the window.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the window holds no offsets.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// What [`resolve`] needs before it can name the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowOrTotal {
    /// The window is known; fetching it also reveals the total.
    Window(Window),
    /// `last` without `before` counts back from the end, so the total must be known first.
    NeedsTotal,
}

/// Applies Relay's algorithm to `args`, given the list's total if it is already known.
pub fn resolve(args: RelayArgs, total: Option<u64>) -> WindowOrTotal {
    let start = args.after.map_or(0, |after| after.saturating_add(1));
    let end = match (args.before, total) {
        (Some(before), Some(total)) => before.min(total),
        (Some(before), None) => before,
        (None, Some(total)) => total,
        (None, None) => match (args.first, args.last) {
            (Some(first), None) => start.saturating_add(first),
            _ => return WindowOrTotal::NeedsTotal,
        },
    };
    let start = match total {
        Some(total) => start.min(total).min(end),
        None => start.min(end),
    };
    let end = args.first.map_or(end, |first| end.min(start.saturating_add(first)));
    let start = args.last.map_or(start, |last| start.max(end.saturating_sub(last)));
    WindowOrTotal::Window(Window { start, end })
}

/// Checks a window resolved without the total against the total learnt from fetching it.
///
/// Only a `before` cursor past the end of a list that has shrunk since it was issued makes
/// them differ (`last` then counted back from the stale end); the corrected window is
/// returned so it can be fetched again.
pub fn recheck(args: RelayArgs, guessed: Window, total: u64) -> Option<Window> {
    let end = guessed.end.min(total);
    let clamped = Window { start: guessed.start.min(end), end };
    match resolve(args, Some(total)) {
        WindowOrTotal::Window(actual) if actual != clamped => Some(actual),
        _ => None,
    }
}

/// The items of a window, cut from fetched pages, with what `pageInfo` needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice<T> {
    /// Offset of the window's first item.
    pub start: u64,
    /// One past the window's last item.
    end: u64,
    /// The window's items in list order; empty when only the total was fetched.
    pub items: Vec<T>,
    /// The list's total as reported upstream.
    pub total: u64,
}

impl<T> Slice<T> {
    /// Cuts `window` out of `pages`, each given as `(offset of its first item, its items)`.
    ///
    /// Pages may overlap and may be shorter than asked (the end of the list); items are taken
    /// in offset order, each once, and the window stops at the first gap so that an upstream
    /// that changed between requests can never make us skip an item silently.
    pub fn assemble(window: Window, total: u64, pages: impl IntoIterator<Item = (u64, Vec<T>)>) -> Self {
        let end = window.end.min(total);
        let start = window.start.min(end);
        let mut next = start;
        let mut items = Vec::with_capacity(usize::try_from(end - start).unwrap_or(0));
        let mut pages: Vec<_> = pages.into_iter().collect();
        pages.sort_by_key(|(offset, _)| *offset);
        for (offset, page) in pages {
            if offset > next {
                break;
            }
            for (item_offset, item) in (offset..).zip(page) {
                if item_offset >= end {
                    break;
                }
                if item_offset == next {
                    items.push(item);
                    next += 1;
                }
            }
        }
        Slice { start, end: next, items, total }
    }

    /// The window's bounds without its items, for selections that need only the total and
    /// `pageInfo` (whose cursors are offsets, so they need no items).
    pub fn without_items(window: Window, total: u64) -> Self {
        let end = window.end.min(total);
        Slice { start: window.start.min(end), end, items: Vec::new(), total }
    }

    /// Offset one past the last item.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The same window with each item mapped.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Slice<U> {
        Slice { start: self.start, end: self.end, items: self.items.into_iter().map(f).collect(), total: self.total }
    }

    /// Relay's `hasPreviousPage`, exact: items exist before the window.
    pub fn has_previous_page(&self) -> bool {
        self.start > 0
    }

    /// Relay's `hasNextPage`, exact: items exist after the window.
    pub fn has_next_page(&self) -> bool {
        self.end() < self.total
    }

    /// Offsets of the items, in order, for their cursors.
    pub fn offsets(&self) -> std::ops::Range<u64> {
        self.start..self.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The Relay spec's algorithm, literally, over a materialised list of offsets.
    fn naive(args: RelayArgs, total: u64) -> Vec<u64> {
        let mut edges: Vec<u64> = (0..total).collect();
        if let Some(after) = args.after {
            edges.retain(|&o| o > after);
        }
        if let Some(before) = args.before {
            edges.retain(|&o| o < before);
        }
        if let Some(first) = args.first {
            edges.truncate(first as usize);
        }
        if let Some(last) = args.last {
            let skip = edges.len().saturating_sub(last as usize);
            edges.drain(..skip);
        }
        edges
    }

    /// The service's flow: resolve without the total where possible, fetch, then recheck.
    fn window_with_total(args: RelayArgs, total: u64) -> Slice<u64> {
        let resolved = |known| match resolve(args, known) {
            WindowOrTotal::Window(w) => Some(w),
            WindowOrTotal::NeedsTotal => None,
        };
        let mut window = resolved(None).or_else(|| resolved(Some(total))).unwrap();
        if let Some(corrected) = recheck(args, window, total) {
            window = corrected;
        }
        let all: Vec<u64> = (0..total).collect();
        Slice::assemble(window, total, [(0, all)])
    }

    fn args() -> impl Strategy<Value = RelayArgs> {
        (
            proptest::option::of(0u64..40),
            proptest::option::of(0u64..60),
            proptest::option::of(0u64..40),
            proptest::option::of(0u64..60),
        )
            .prop_map(|(first, after, last, before)| RelayArgs { first, after, last, before })
    }

    proptest! {
        #[test]
        fn resolve_matches_the_relay_spec_algorithm(args in args(), total in 0u64..50) {
            let slice = window_with_total(args, total);
            prop_assert_eq!(&slice.items, &naive(args, total));
            prop_assert_eq!(slice.offsets().collect::<Vec<_>>(), naive(args, total));
        }

        #[test]
        fn page_info_is_exact(args in args(), total in 0u64..50) {
            let slice = window_with_total(args, total);
            let all: Vec<u64> = (0..total).collect();
            let (first, last) = (slice.items.first(), slice.items.last());
            let before_exists = match first { Some(&f) => f > 0, None => slice.start > 0 };
            let after_exists = match last { Some(&l) => l + 1 < total, None => slice.start < total };
            prop_assert_eq!(slice.has_previous_page(), before_exists && !all.is_empty());
            prop_assert_eq!(slice.has_next_page(), after_exists);
        }

        #[test]
        fn walking_forward_with_after_visits_each_item_once(total in 0u64..120, size in 1u64..30) {
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let slice = window_with_total(RelayArgs { first: Some(size), after, ..Default::default() }, total);
                seen.extend(slice.items.iter().copied());
                if !slice.has_next_page() { break; }
                after = Some(slice.end() - 1);
            }
            prop_assert_eq!(seen, (0..total).collect::<Vec<_>>());
        }

        #[test]
        fn walking_backward_with_before_visits_each_item_once(total in 0u64..120, size in 1u64..30) {
            let mut seen = Vec::new();
            let mut before = None;
            loop {
                let slice = window_with_total(RelayArgs { last: Some(size), before, ..Default::default() }, total);
                seen.splice(0..0, slice.items.iter().copied());
                if !slice.has_previous_page() { break; }
                before = Some(slice.start);
            }
            prop_assert_eq!(seen, (0..total).collect::<Vec<_>>());
        }

        #[test]
        fn assemble_takes_each_offset_once_from_overlapping_pages(
            start in 0u64..60, len in 0u64..60, total in 0u64..100, size in 1u64..40,
        ) {
            let window = Window { start, end: start + len };
            let pages = (0..=(total / size)).map(|n| (n * size, ((n * size)..((n + 1) * size).min(total)).collect()));
            let overlapping = (0..total).step_by(7).map(|o| (o, vec![o]));
            let slice = Slice::assemble(window, total, pages.chain(overlapping));
            let expected: Vec<u64> = (start.min(total)..(start + len).min(total)).collect();
            prop_assert_eq!(slice.items, expected);
        }
    }

    #[test]
    fn first_without_total_needs_no_total() {
        let args = RelayArgs { first: Some(20), after: Some(9), ..Default::default() };
        assert_eq!(resolve(args, None), WindowOrTotal::Window(Window { start: 10, end: 30 }));
    }

    #[test]
    fn last_without_before_needs_the_total() {
        let args = RelayArgs { last: Some(5), ..Default::default() };
        assert_eq!(resolve(args, None), WindowOrTotal::NeedsTotal);
        assert_eq!(resolve(args, Some(12)), WindowOrTotal::Window(Window { start: 7, end: 12 }));
    }

    #[test]
    fn last_with_before_needs_no_total() {
        let args = RelayArgs { last: Some(5), before: Some(3), ..Default::default() };
        assert_eq!(resolve(args, None), WindowOrTotal::Window(Window { start: 0, end: 3 }));
    }

    #[test]
    fn a_window_without_items_still_knows_its_bounds() {
        let slice = Slice::<()>::without_items(Window { start: 5, end: 25 }, 613);
        assert_eq!(slice.offsets(), 5..25);
        assert!(slice.has_previous_page() && slice.has_next_page());
        let past_the_end = Slice::<()>::without_items(Window { start: 600, end: 620 }, 613);
        assert_eq!(past_the_end.offsets(), 600..613);
        assert!(!past_the_end.has_next_page());
    }

    #[test]
    fn assemble_stops_at_a_gap_instead_of_skipping_items() {
        let window = Window { start: 0, end: 6 };
        let slice = Slice::assemble(window, 6, [(0, vec!['a', 'b']), (4, vec!['e', 'f'])]);
        assert_eq!(slice.items, vec!['a', 'b']);
        assert!(slice.has_next_page());
    }
}
