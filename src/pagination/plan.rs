//! Turns a window of offsets into upstream `page[size]`/`page[number]` requests.
//!
//! Upstream pages are aligned: page `n` of size `s` holds offsets `[(n-1)·s, n·s)`, with
//! `1 <= s <= 250`. A window is served by one request whenever some aligned page covers it,
//! taking the smallest such page to minimise over-fetch. Otherwise pages are chosen greedily:
//! from the first uncovered offset, take the aligned page that reaches furthest. For covering a
//! range with intervals that is optimal (the classic interval-cover argument), so the plan uses
//! the fewest requests possible; the last page is again the smallest that covers the rest.

use super::window::Window;

/// The largest `page[size]` Telnyx accepts.
pub const MAX_PAGE_SIZE: u64 = 250;

/// One upstream page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Page {
    /// `page[size]`, within `1..=MAX_PAGE_SIZE`.
    pub size: u64,
    /// `page[number]`, 1-based.
    pub number: u64,
}

impl Page {
    /// The cheapest request that still reports the list's total in its `meta`.
    pub const TOTAL_ONLY: Page = Page { size: 1, number: 1 };

    /// Offset of the page's first item.
    pub fn offset(&self) -> u64 {
        (self.number - 1) * self.size
    }

    fn containing(offset: u64, size: u64) -> Page {
        Page { size, number: offset / size + 1 }
    }

    fn end(&self) -> u64 {
        self.number * self.size
    }
}

/// The fewest aligned pages that together cover `window`; for an empty window, the one
/// request that yields the total.
pub fn plan(window: Window) -> Vec<Page> {
    if window.is_empty() {
        return vec![Page::TOTAL_ONLY];
    }
    let mut pages = Vec::new();
    let mut next = window.start;
    loop {
        if let Some(last) = smallest_covering(next, window.end) {
            pages.push(last);
            return pages;
        }
        let furthest = (1..=MAX_PAGE_SIZE)
            .map(|size| Page::containing(next, size))
            .max_by_key(|page| (page.end(), std::cmp::Reverse(page.size)))
            .expect("page sizes are not empty");
        next = furthest.end();
        pages.push(furthest);
    }
}

/// The smallest aligned page holding all of `[start, end)`, if one exists.
fn smallest_covering(start: u64, end: u64) -> Option<Page> {
    let len = end - start;
    (len..=MAX_PAGE_SIZE).map(|size| Page::containing(start, size)).find(|page| page.end() >= end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The true minimum number of aligned pages covering `[start, end)`, by exhaustive search
    /// over every page size at every step (dynamic programming from the end).
    fn minimum_requests(start: u64, end: u64) -> usize {
        let mut best = vec![0usize; (end - start + 1) as usize];
        for p in (start..end).rev() {
            best[(p - start) as usize] = (1..=MAX_PAGE_SIZE)
                .map(|size| Page::containing(p, size).end().min(end))
                .map(|reach| 1 + best[(reach - start) as usize])
                .min()
                .unwrap();
        }
        best[0]
    }

    fn covered(pages: &[Page]) -> Vec<u64> {
        let mut offsets: Vec<u64> = pages.iter().flat_map(|p| p.offset()..p.end()).collect();
        offsets.sort_unstable();
        offsets.dedup();
        offsets
    }

    proptest! {
        #[test]
        fn plan_covers_the_window_with_the_fewest_valid_pages(start in 0u64..3000, len in 1u64..1001) {
            let window = Window { start, end: start + len };
            let pages = plan(window);
            let covered = covered(&pages);
            prop_assert!((start..start + len).all(|o| covered.binary_search(&o).is_ok()));
            prop_assert!(pages.iter().all(|p| (1..=MAX_PAGE_SIZE).contains(&p.size) && p.number >= 1));
            prop_assert_eq!(pages.len(), minimum_requests(start, start + len));
        }

        #[test]
        fn a_window_inside_one_aligned_page_takes_the_smallest_such_page(start in 0u64..5000, len in 1u64..=250) {
            let window = Window { start, end: start + len };
            let fits = (len..=MAX_PAGE_SIZE).find(|&s| start / s == (start + len - 1) / s);
            let pages = plan(window);
            match fits {
                Some(size) => prop_assert_eq!(pages, vec![Page::containing(start, size)]),
                None => prop_assert!(pages.len() > 1),
            }
        }
    }

    #[test]
    fn an_aligned_window_is_one_exact_page() {
        assert_eq!(plan(Window { start: 40, end: 60 }), vec![Page { size: 20, number: 3 }]);
    }

    #[test]
    fn an_unaligned_window_that_fits_one_page_is_one_request() {
        assert_eq!(plan(Window { start: 5, end: 25 }), vec![Page { size: 25, number: 1 }]);
    }

    #[test]
    fn an_empty_window_asks_only_for_the_total() {
        assert_eq!(plan(Window { start: 7, end: 7 }), vec![Page::TOTAL_ONLY]);
    }

    #[test]
    fn a_thousand_items_from_the_start_are_four_full_pages() {
        let pages = plan(Window { start: 0, end: 1000 });
        assert_eq!(pages.len(), 4);
        assert!(pages.iter().all(|p| p.size == 250));
    }
}
