//! Pure pagination maths, shared by every page-number REST list.
//!
//! The flow is: GraphQL arguments are parsed into [`RelayArgs`] (cursors decoded by
//! [`cursor::CursorCodec`]), [`window::resolve`] turns them into an absolute window
//! `[start, end)` of the list (or asks for the total first), [`plan::plan`] turns that window
//! into the fewest upstream `page[size]`/`page[number]` requests, and [`window::Slice`]
//! assembles the fetched pages back into exactly the window's items with exact `pageInfo`.
//! Nothing here does I/O, so all of it is property-tested against naive models.

pub mod cursor;
pub mod plan;
pub mod window;

pub use cursor::CursorCodec;
pub use plan::{plan, Page, MAX_PAGE_SIZE};
pub use window::{recheck, resolve, RelayArgs, Slice, Window, WindowOrTotal};
