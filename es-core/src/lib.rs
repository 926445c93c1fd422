//! The core of [es](https://docs.rs/es): event-sourced aggregates with
//! DynamoDB's semantics.
//!
//! Most users depend on the `es` crate, which re-exports this one together
//! with the derive macros. This crate holds:
//!
//! - the traits: [`Aggregate`], [`Event`], [`EventSet`] and [`EventStore`];
//! - [`Root`], the handle on a loaded aggregate, with `commit`, `commit_all`
//!   and `hydrate`, and [`AggregateExt`] with `load`, `find_one`, `find_all`
//!   and `execute`;
//! - [`Transaction`], for atomic commits across aggregates;
//! - [`Error`], whose conflicts, replays and corrupt items name the aggregate,
//!   id and version;
//! - [`MemoryStore`], the embedded store;
//! - [`store`], everything a store implementation needs and users do not:
//!   the records it moves, the limits it checks, the clock, the capacity
//!   formulas and the counters' recording side;
//! - the `conformance` suite every store passes (feature `conformance`), and
//!   the given/when/then [`testing`] harness.
//!
//! Through the facade, with a `Product` aggregate derived as the `es` crate
//! shows:
//!
//! ```
//! # mod doc { include!("../doc/product.rs"); }
//! # use doc::*;
//! # use es::prelude::*;
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! let mut product = Product::load(&store, "sku-1").await?;
//! product.commit(Restocked { amount: 10 }).await?;
//! let done = Product::execute(&store, "sku-1", |p| p.reserve("cart-1", 3)).await?;
//! assert_eq!((done.version, done.root.on_hand), (2, 7));
//! # Ok::<_, es::Error<SoldOut>>(()) }).unwrap();
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod across;
mod aggregate;
pub mod buckets;
mod clock;
mod codec;
mod command;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod erasure;
mod error;
mod event;
mod limits;
mod memory;
mod ops;
pub mod projection;
mod projector;
mod rebuild;
mod root;
mod stats;
pub mod store;
pub mod testing;
mod time;
mod timers;
mod transaction;
mod view;
mod writers;

pub use across::{across, Across, Decision, Done};
pub use aggregate::{Aggregate, Handlers};
pub use clock::{Clock, ManualClock, SystemClock};
pub use command::{Command, Executed, Retry};
pub use error::{Error, Limit, StoreError};
pub use event::{Event, EventSet, HandledBy, IntoEvents, Metadata, Recorded};
pub use memory::{Change, MemoryStore};
pub use ops::AggregateExt;
pub use projection::{Codec, Envelope, Projected, Projection, ProjectionError, RawEvent};
pub use projector::{Halted, Outcome, Projector};
pub use rebuild::{rebuild, Progress, Rebuild, RebuildReport};
pub use root::Root;
pub use stats::{Stats, StatsSnapshot};
pub use store::EventStore;
pub use timers::{
    FireTimer, MemoryTimers, Scheduled, SweepReport, Sweeper, Timer, TimerState, TimerStore,
};
pub use transaction::Transaction;
pub use view::{Commit, MemoryViews, RowWrite, Saved, ViewRow, ViewTable, Views, MAX_COMMIT_ROWS};
pub use writers::{turns, Turns};

/// Items the macros' generated code refers to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::aggregate::HandlerResult;
    pub use crate::event::{
        deserialize_event, deserialize_tagged, is_named, missing_upcaster, serialize_tagged,
        upcast_with, EmptyPayload, EventSeed, PayloadOf,
    };
    pub use crate::projection::{
        aggregate_of, check_ignored, decode_as, handled, personal_of, unreadable, which_aggregate,
        EventOf, ProjectionResult, Route,
    };
    pub use serde;
    pub use serde_json;

    /// Compares two names in a constant, so that two events with one name in
    /// one aggregate fail to compile.
    pub const fn str_eq(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }

    /// Whether two events share a name an item could be stored under: the
    /// name or an alias of one is the name or an alias of the other. Two
    /// events of one aggregate that do fail to compile, as with `str_eq`.
    pub const fn names_overlap(
        a_name: &str,
        a_aliases: &[&str],
        b_name: &str,
        b_aliases: &[&str],
    ) -> bool {
        if str_eq(a_name, b_name) || contains(a_aliases, b_name) || contains(b_aliases, a_name) {
            return true;
        }
        let mut i = 0;
        while i < a_aliases.len() {
            if contains(b_aliases, a_aliases[i]) {
                return true;
            }
            i += 1;
        }
        false
    }

    const fn contains(names: &[&str], name: &str) -> bool {
        let mut i = 0;
        while i < names.len() {
            if str_eq(names[i], name) {
                return true;
            }
            i += 1;
        }
        false
    }
}
