//! The conformance suite: the behaviour every [`EventStore`] must have.
//!
//! A store proves itself by running every check against fresh, empty stores:
//!
//! ```
//! es_core::conformance::run(|| async { es_core::MemoryStore::new() });
//! ```
//!
//! or, to get one `#[test]` per check, with [`conformance_tests!`](crate::conformance_tests):
//!
//! ```no_run
//! es_core::conformance_tests!(async { es_core::MemoryStore::new() });
//! ```
//!
//! Each check panics with a message that names what the store got wrong.

mod commands;
pub mod model;
mod reads;
mod writes;

use std::future::Future;

use futures::TryStreamExt;

use crate::error::Error;
use crate::root::Root;
use crate::store::{Append, CommandRecord, Commit, Committed, EventStore};
pub use commands::*;
use model::*;
pub use reads::*;
pub use writes::*;

/// Runs `future` to completion on a multi-threaded runtime, so that
/// concurrency checks really run in parallel.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a Tokio runtime for the conformance suite")
        .block_on(future)
}

/// Says that a check was skipped, and why. It writes to the process's
/// stderr, not through `eprintln!`, which the test harness swallows for
/// passing tests: a skip must never pass as a silent success.
#[doc(hidden)]
pub fn skipped(check: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {check}: {why}");
}

macro_rules! checks {
    ($($(#[doc = $doc:literal])* $name:ident),* $(,)?) => {
        /// The name of every check, in the order [`run`] runs them.
        pub const CHECKS: &[&str] = &[$(stringify!($name)),*];

        /// Runs every check, each against a new store from `factory`.
        pub fn run<S, F, Fut>(factory: F)
        where
            S: EventStore,
            F: Fn() -> Fut,
            Fut: Future<Output = S>,
        {
            block_on(async {
                $( $name(&factory().await).await; )*
            })
        }

        /// Defines one `#[test]` per conformance check, each against a new
        /// store from the given expression (a future that yields the store).
        ///
        /// With `run_if = <bool expr>`, a check whose condition is false
        /// returns at once, printing why; use it for stores that need a
        /// server the developer may not have started.
        ///
        /// With `skip = [<check names>]`, those checks return at once,
        /// printing that they do not hold for this store; say why at the call
        /// site. A generated test, `conformance_skips_name_real_checks`,
        /// fails if a name is not a check, so a renamed check is not skipped
        /// by accident.
        #[macro_export]
        macro_rules! conformance_tests {
            ($factory:expr) => {
                $crate::conformance_tests!($factory, run_if = true, skip = []);
            };
            ($factory:expr, run_if = $cond:expr) => {
                $crate::conformance_tests!($factory, run_if = $cond, skip = []);
            };
            ($factory:expr, run_if = $cond:expr, skip = $skip:expr) => {
                $(
                    $(#[doc = $doc])*
                    #[test]
                    fn $name() {
                        if !$cond {
                            $crate::conformance::skipped(stringify!($name), stringify!($cond));
                            return;
                        }
                        let skip: &[&str] = &$skip;
                        if skip.contains(&stringify!($name)) {
                            $crate::conformance::skipped(stringify!($name), "it does not hold for this store");
                            return;
                        }
                        $crate::conformance::block_on(async {
                            let store = $factory.await;
                            $crate::conformance::$name(&store).await
                        })
                    }
                )*

                #[test]
                fn conformance_skips_name_real_checks() {
                    let skip: &[&str] = &$skip;
                    for name in skip {
                        assert!(
                            $crate::conformance::CHECKS.contains(name),
                            "skip names {name:?}, which is not a conformance check"
                        );
                    }
                }
            };
        }
    };
}

checks! {
    /// Versions run 1, 2, 3, … with no gaps, across single and multi-event commits.
    versions_are_contiguous,
    /// A commit at a stale version fails with `Conflict` and writes nothing.
    stale_commit_conflicts,
    /// A multi-event commit is all or nothing, on one aggregate and across several.
    multi_event_commits_are_atomic,
    /// A rejected event writes nothing and leaves the handle unchanged.
    rejected_events_write_nothing,
    /// Loads follow every page of a history over 1 MB.
    loads_follow_every_page,
    /// `hydrate` reads only the events after the handle's version.
    hydrate_reads_only_new_events,
    /// Backward reads page newest first and stop at the limit.
    backward_reads_page_newest_first,
    /// `list_ids` pages through every id, oldest first, each once.
    list_ids_pages_through_every_id,
    /// `find_all` and `find_one` load every aggregate with its state.
    find_all_loads_every_aggregate,
    /// Many tasks committing at once: exactly one winner per version.
    concurrent_commits_have_one_winner_per_version,
    /// Snapshots bound loads, and a load through a snapshot gives the same state.
    snapshots_bound_loads,
    /// Ids with `#`, `:`, quotes, spaces and emoji round-trip.
    odd_ids_round_trip,
    /// Events without fields commit and load back.
    events_without_fields_round_trip,
    /// Size and id limits are refused before anything is written.
    limits_are_checked_before_writing,
    /// A command record makes a second commit with the same key a no-op.
    command_records_make_commits_idempotent,
    /// Cursors that the store did not hand out are refused with an error.
    foreign_cursors_are_refused,
    /// An append is conditional on its own versions only, as on DynamoDB; a
    /// gap makes the history refuse to load, and no version follows `u64::MAX`.
    appends_are_conditional_on_their_own_versions,
    /// Concurrent transactions over two aggregates each land whole or not at all.
    concurrent_transactions_are_all_or_nothing,
    /// Empty or over-long ids and keys, and bad names, are refused by every call.
    invalid_input_is_refused_everywhere,
    /// A repeated idempotent command answers with its first run, even when its
    /// decision now rejects or does nothing; a key reused elsewhere is refused.
    repeated_commands_report_their_first_run,
    /// A load with no usable snapshot near the end reads forward, page by page.
    loads_without_a_usable_snapshot_read_forward,
    /// An event at version 0 is refused by a commit, and one read anyway is
    /// `Corrupt`, in the same words on every store.
    version_zero_items_are_corrupt,
    /// Metadata ids that are not strings (a castore service may store
    /// numbers) load, and are written back with their types.
    non_string_metadata_ids_round_trip,
    /// A snapshot too large for its item, or for its transaction, is left
    /// out; the commit succeeds, and loads give the same state.
    oversized_snapshot_never_blocks_a_commit,
    /// A newest-first page cut at 1 MB before the snapshot: the load reads
    /// on to it, still at most `SNAPSHOT_EVERY` events.
    cut_backward_pages_still_bound_loads,
    /// A payload that does not fit its type names the field's path, what
    /// was found and what was expected, in the same words on every store.
    decode_errors_name_the_field_and_what_was_found,
    /// A load as of a version gives the state after exactly that version,
    /// through a snapshot at or below it; a history can start after a
    /// version; both refuse a gap as a load does.
    load_as_of_a_version,
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The versions a `Product` holds, gaps and all: read raw, because
/// `history()` refuses a gap.
async fn versions_of<S: EventStore>(store: &S, id: &str) -> Vec<u64> {
    let mut versions = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .read(crate::store::ReadRequest {
                aggregate: "Product",
                id,
                after: 0,
                until: None,
                direction: crate::store::Direction::Forward,
                limit: None,
                cursor: cursor.take(),
            })
            .await
            .expect("read");
        versions.extend(page.items.iter().map(|e| e.version));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return versions,
        }
    }
}

/// The (version, text) of each event in `id`'s history, which holds only
/// `Noted` events.
async fn notes_of<S: EventStore>(store: &S, id: &str) -> Vec<(u64, String)> {
    let root = Root::<Product, S>::new(store, id);
    let history: Vec<_> = root.history().try_collect().await.expect("history");
    history
        .into_iter()
        .map(|r| match r.event {
            ProductEvent::Noted(n) => (r.version, n.text),
            other => panic!("expected only Noted events, got {other:?}"),
        })
        .collect()
}

/// Commits one append straight to the store, past `Root`'s checks.
async fn commit_raw<S: EventStore>(
    store: &S,
    append: Append<S::Payload>,
    command: Option<CommandRecord>,
) -> Result<Committed, Error> {
    store
        .commit(Commit {
            appends: vec![append],
            command,
            exact_conflict: true,
        })
        .await
}
